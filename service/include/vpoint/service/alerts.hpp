#pragma once
// Alert records (issue 5 "alert" verdicts; object shape of issue 6): written by the service to the Redis
// stream `alerts` (not inside the pack Function: alerts are not part of a pack's slot), listed and
// acknowledged through the API. Delivery to the central system and webhooks is the central link's job:
// new alerts carry "delivery":"pending".
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/redis.hpp"

namespace vpoint::service {

inline constexpr std::string_view kAlertStream = "alerts";
inline constexpr std::string_view kAlertAckHash = "alerts:acked";
// Hash alert:delivery:<alert id>, written by the central link's senders: field = target ("central" or
// "webhook:<url>"), value = {"status":"delivered"|"retrying","attempts":n,"at":…,"last_error":…}.
// "failed": the target refused the alert with a 4xx (not 408/429); it is not retried by itself.
inline constexpr std::string_view kAlertDeliveryPrefix = "alert:delivery:";
// List alerts:redeliver:<target> of alert ids an operator asked to send again (AlertStore::redeliver); the
// target's sender takes them before new alerts.
inline constexpr std::string_view kAlertRedeliverPrefix = "alerts:redeliver:";
inline std::string alert_redeliver_key(std::string_view target) {
  return std::string(kAlertRedeliverPrefix) + std::string(target);
}

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

struct AlertQuery {
  std::string since;   // alert id (stream id) or Unix ms; "" = from the start
  std::string reason;  // "" = any
  std::size_t limit = 100;
};

// "2025-01-31T12:00:00.123Z"
std::string iso_time_ms(std::int64_t unix_ms);

class AlertStore {
 public:
  explicit AlertStore(cache::Client& client) : client_(client) {}

  // Appends the alert and returns its id. A retry of the same transaction (idempotent replay) returns the
  // first alert's id and appends nothing.
  boost::asio::awaitable<cache::MirrorResult<std::string>> raise(const NewAlert& alert);
  // Oldest first, at most query.limit. Each alert carries "acked", "ack" and "delivery": the string
  // "pending" until a sender recorded an attempt, then an object target -> status ("central", and each
  // webhook by its URL).
  boost::asio::awaitable<cache::MirrorResult<std::vector<boost::json::object>>> list(const AlertQuery& query);
  // Queues the alert again for every target whose delivery "failed" (vpoint alerts redeliver); returns those
  // targets (empty: none had failed), nullopt when no alert has that id.
  boost::asio::awaitable<cache::MirrorResult<std::optional<std::vector<std::string>>>> redeliver(std::string_view id);
  // Marks an alert acknowledged (by whom, when); nullopt when no alert has that id.
  boost::asio::awaitable<cache::MirrorResult<std::optional<boost::json::object>>> ack(std::string_view id,
                                                                                      std::string_view actor);

 private:
  boost::asio::awaitable<cache::MirrorResult<std::vector<boost::json::object>>> with_acks(
      std::vector<boost::json::object> alerts);
  cache::Client& client_;
};

}  // namespace vpoint::service
