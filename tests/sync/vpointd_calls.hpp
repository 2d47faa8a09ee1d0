#pragma once
// Calls a test makes on a real vpointd and the simulator behind it (the pack routes' use of the central link):
// packs the simulator knows, verify/decommission/undo requests, packs uploaded behind the change feed, alerts.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "sync_support.hpp"
#include "vpointd_process.hpp"

namespace vpoint::test {

struct PackRef {
  std::string key, code, serial, batch, expiry;  // key: "gtin" or "ppn"
  boost::json::object pack_object(const std::string& with_serial = "") const;
};

// Usable (active, unexpired, not recalled) packs of the simulator, as GET /admin/packs lists them.
std::vector<PackRef> packs_of(Simulator& sim, int n);

// The same with the text a scanner sends for each (GET /admin/packs?scan=1): load tests post it as "scan".
struct ScanPack {
  std::string code, serial, scan;
};
std::vector<ScanPack> scan_packs(Simulator& sim, std::size_t n);

// A pack's answer (HTTP status kept).
struct Answer {
  unsigned status = 0;
  boost::json::object body;
};
// POST `route` with {"pack": …} (and "action" when given: decommission and undo).
Answer call(Vpointd& vpointd, const std::string& route, const boost::json::object& pack,
            const std::string& action = "", const std::map<std::string, std::string>& headers = {});
// POST `route` with any JSON body.
Answer call_json(Vpointd& vpointd, const std::string& route, const boost::json::object& body,
                 const std::map<std::string, std::string>& headers = {},
                 const std::string& key = Vpointd::kPharmacyKey);

bool has_warning(const boost::json::object& body, std::string_view warning);

// A pack known to the central system but not to vpointd's mirror: uploaded while the change feed is held
// (the simulator's feed_hold fault: look-ups see it, the feed does not announce it).
PackRef upload_behind_the_feed(Simulator& sim, const PackRef& like, const std::string& serial);

std::vector<boost::json::object> alerts(Vpointd& vpointd);
// The first alert whose `field` (or pack.`field` with in_pack) is `value`.
std::optional<boost::json::object> alert_for(Vpointd& vpointd, std::string_view field, std::string_view value,
                                             bool in_pack = false);

}  // namespace vpoint::test
