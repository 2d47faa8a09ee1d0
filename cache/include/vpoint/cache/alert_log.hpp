#pragma once
// The alert log: every alert vpoint raises (pack routes, central link, recalls), in one Redis stream `alerts`,
// with its acknowledgement and its delivery status per target (the central system, each webhook). One writer
// rule: an alert is raised once per (reason, transaction) - a retried transaction gets the first alert's id -
// atomically in one Function call (vp_alert in cache/lua/vpoint.lua). Keys (docs/design.md "Alerts"):
//   alerts                                 stream: reason, tx, json (the alert object; its id is the stream id)
//   alerts:once:{alerts}:<reason>:<tx>     the first alert's id, 48 h (same slot as the stream)
//   alerts:claim:<what>                    one-off claims (a recall announced to every instance), 48 h
//   alerts:acked                           hash id -> {"by","at"}
//   alert:delivery:<id>                    hash target -> {"status","attempts","at","last_error",…}
//   alerts:cursor:<target>                 the last id a target's sender has finished with
//   alerts:redeliver:<target>              list of ids an operator asked to send to that target again
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/redis.hpp"

namespace vpoint::cache {

struct AlertQuery {
  std::string since;   // lower bound: alert id (exclusive) or Unix ms (inclusive); "" = from the start
  std::string reason;  // "" = any
  std::size_t limit = 100;
  std::string location;        // "" = any; else only alerts whose "location" is this GLN
  std::optional<bool> acked;   // nullopt = any; else only acknowledged (true) or unacknowledged (false) alerts
  bool descending = false;     // newest first (the range is read with XREVRANGE)
  std::string cursor;          // an AlertPage::next: continue strictly after it in the query's order ("" = none)
  // Entries examined (matching or not) per call; 0 = no bound. When reached, the page ends early and its `next`
  // says where the scan stopped.
  std::size_t max_examined = 0;
};

// One page of alerts and where to continue.
struct AlertPage {
  std::vector<boost::json::object> alerts;
  // "" = nothing more in this direction. Else the id to continue after (AlertQuery::cursor, or `since` in
  // ascending order): the last alert shown when the page is full, the last entry examined when the scan
  // bound stopped it first.
  std::string next;
  bool scan_limited = false;  // the page ended at max_examined, not at `limit` or the end of the range
};

// One alert as stored: its id and its object (with "id").
struct StoredAlert {
  std::string id;
  boost::json::object alert;
};

// "2025-01-31T12:00:00.123Z"
std::string iso_time_ms(std::int64_t unix_ms);

class AlertLog {
 public:
  // The Functions library must be loaded (Mirror::start()). `client` must outlive the log.
  explicit AlertLog(Client& client) : client_(client) {}

  // The name of the Lease (cache::Lease) that one instance holds while it delivers to `target`.
  static std::string delivery_lease_name(std::string_view target) { return "alerts:" + std::string(target); }

  // Appends `alert` ("time" filled when missing, "delivery":"pending", "id" dropped: the stream id is the id)
  // and returns its id. With a "transaction_id", one alert per (reason, transaction): a retry returns the first
  // alert's id and appends nothing.
  boost::asio::awaitable<MirrorResult<std::string>> raise(boost::json::object alert);
  // True for the first caller that claims `what` (e.g. "recall:<code>:<batch>:<state>:<seq>"), false after.
  boost::asio::awaitable<MirrorResult<bool>> claim(std::string_view what, std::string_view owner);

  // At most query.limit alerts matching reason, location and acked, oldest first (newest first with
  // `descending`), read from the stream in chunks until the page is full, the range ends or max_examined
  // entries were looked at. Each alert carries "acked", "ack" and "delivery": the string "pending" until a sender
  // recorded an attempt, then an object target -> status ("central", each webhook by its URL).
  boost::asio::awaitable<MirrorResult<AlertPage>> page(const AlertQuery& query);
  // page(query).alerts.
  boost::asio::awaitable<MirrorResult<std::vector<boost::json::object>>> list(const AlertQuery& query);
  // Marks an alert acknowledged (the first acknowledgement stands); nullopt when no alert has that id, or when
  // `only_location` is given and the alert's "location" is another one (it is then left alone).
  boost::asio::awaitable<MirrorResult<std::optional<boost::json::object>>> ack(std::string_view id,
                                                                              std::string_view actor,
                                                                              std::string_view only_location = {});
  // Queues the alert again for every target whose delivery "failed"; returns those targets (empty: none had
  // failed), nullopt when no alert has that id.
  boost::asio::awaitable<MirrorResult<std::optional<std::vector<std::string>>>> redeliver(std::string_view id);
  // Alerts in the stream.
  boost::asio::awaitable<MirrorResult<std::int64_t>> size();

  // The senders' side (central link): `target` is "central" or "webhook:<url>".
  // The next alerts after the target's cursor, oldest first.
  boost::asio::awaitable<MirrorResult<std::vector<StoredAlert>>> next_for(std::string_view target, std::size_t count);
  // A target renamed (webhooks were keyed by URL before issue 15, by name since): the new name takes over
  // the old one's cursor when it has none yet, so nothing is sent twice or skipped. True when it did.
  boost::asio::awaitable<MirrorResult<bool>> adopt_cursor(std::string_view old_target, std::string_view new_target);
  // The target is done with everything up to `id`.
  boost::asio::awaitable<MirrorResult<bool>> advance(std::string_view target, std::string_view id);
  // The target's delivery status of one alert (`status` is an object with at least "status").
  boost::asio::awaitable<MirrorResult<bool>> record_delivery(std::string_view id, std::string_view target,
                                                             const boost::json::object& status);
  // An alert an operator asked to send to `target` again (redeliver), taken off its list; nullopt when none.
  boost::asio::awaitable<MirrorResult<std::optional<StoredAlert>>> take_redelivery(std::string_view target);
  // Puts a taken redelivery back in front (the sender stopped before an answer).
  boost::asio::awaitable<MirrorResult<bool>> return_redelivery(std::string_view target, std::string_view id);

 private:
  boost::asio::awaitable<MirrorResult<std::vector<boost::json::object>>> with_status(
      std::vector<boost::json::object> alerts);
  Client& client_;
};

}  // namespace vpoint::cache
