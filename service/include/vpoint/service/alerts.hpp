#pragma once
// Alerts raised by the pack routes (issue 5 "alert" verdicts; object shape of issue 6). They are stored by the
// cache module's AlertLog (cache/alert_log.hpp: one stream, one de-duplication rule for every writer), listed
// and acknowledged through the API; delivery to the central system and webhooks is the central link's job.
#include <string>

#include <boost/json/object.hpp>

#include "vpoint/cache/alert_log.hpp"

namespace vpoint::service {

using cache::iso_time_ms;

struct NewAlert {
  std::string reason;
  std::string nmvs_code;
  std::string verdict = "alert";
  boost::json::object pack;
  std::string location;
  std::string actor;
  std::string transaction_id;  // of the operation that raised it (dedupes idempotent retries)
  boost::json::object details;
};

// The alert object AlertLog::raise() stores (docs/cli.md "The alert object").
boost::json::object alert_object(const NewAlert& alert);

}  // namespace vpoint::service
