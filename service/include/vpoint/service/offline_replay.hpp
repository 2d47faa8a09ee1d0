#pragma once
// Replay of scans recorded while the central system could not be asked (EU 2016/161 Art 29, issue 12): the
// central link finds the pack (mirror, or a live look-up that caches it), then hands the scan to the pack
// routes, which answer it from the mirror exactly as at the counter, under the original transaction id. A
// decommission that passes changes the mirror and goes to the central system through the outbox; an answer
// that is not ok becomes an alert naming the original transaction (raised by the link).
#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/offline.hpp"

namespace vpoint::service {

struct OfflineReplay {
  std::string verdict;    // "ok", "refused", "alert", "unconfirmed"
  std::string reason;     // "" when none
  std::string nmvs_code;  // "" when none
  boost::json::object answer;  // the whole pack answer, as the counter would have seen it
};

using OfflineReplayer =
    std::function<boost::asio::awaitable<cache::MirrorResult<OfflineReplay>>(cache::OfflineScan scan)>;

}  // namespace vpoint::service
