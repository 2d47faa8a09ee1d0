#pragma once
// The rule for URLs vpointd sends data to (the central system, webhooks): https://, or http:// only to a
// loopback address (the simulator next door) unless the operator allowed it (issue 15). One rule for the
// config's validation and the central link's.
#include <string>
#include <string_view>

namespace vpoint::service {

// "" when `url` may be used; otherwise why not, without the setting's name. `allow_setting` names the
// setting that would allow clear text (e.g. "[central] allow_insecure").
std::string check_remote_url(std::string_view url, bool allow_insecure, std::string_view allow_setting);

}  // namespace vpoint::service
