#include "vpoint/service/alerts.hpp"

namespace vpoint::service {

namespace json = boost::json;

json::object alert_object(const NewAlert& alert) {
  return json::object{{"reason", alert.reason},
                      {"nmvs_code", alert.nmvs_code.empty() ? json::value(nullptr) : json::value(alert.nmvs_code)},
                      {"verdict", alert.verdict},
                      {"pack", alert.pack},
                      {"location", alert.location},
                      {"actor", alert.actor},
                      {"transaction_id", alert.transaction_id.empty() ? json::value(nullptr)
                                                                      : json::value(alert.transaction_id)},
                      {"details", alert.details}};
}

}  // namespace vpoint::service
