// The alert log (alert_log.hpp): the `alerts` stream, acknowledgements, delivery status, senders' cursors.
#include "vpoint/cache/alert_log.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "mirror_internal.hpp"

namespace vpoint::cache {

namespace json = boost::json;
using boost::asio::awaitable;
using namespace detail;

namespace {

constexpr std::string_view kStream = "alerts";
constexpr std::string_view kAckHash = "alerts:acked";
constexpr std::string_view kDeliveryPrefix = "alert:delivery:";
constexpr std::string_view kCursorPrefix = "alerts:cursor:";
constexpr std::string_view kRedeliverPrefix = "alerts:redeliver:";
constexpr std::string_view kClaimPrefix = "alerts:claim:";
// Longer than the idempotency records (24 h) whose retries it dedupes.
constexpr int kOnceTtlS = 2 * 24 * 3600;

std::string key(std::string_view prefix, std::string_view rest) {
  std::string k(prefix);
  k.append(rest);
  return k;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string str(const json::object& o, std::string_view field) {
  const json::value* v = o.if_contains(field);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// One XRANGE entry [id, [field, value, ...]] -> the alert object (its id is the stream id).
std::optional<json::object> entry_to_alert(const Reply& entry) {
  if (entry.elements.size() != 2) return std::nullopt;
  const auto& fields = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    if (fields[i].str != "json") continue;
    boost::system::error_code ec;
    auto value = json::parse(fields[i + 1].str, ec);
    if (ec || !value.is_object()) return std::nullopt;
    json::object alert = std::move(value.as_object());
    alert["id"] = entry.elements[0].str;
    return alert;
  }
  return std::nullopt;
}

std::vector<StoredAlert> stored_alerts(const Reply& range) {
  std::vector<StoredAlert> out;
  for (const auto& entry : range.elements) {
    if (auto alert = entry_to_alert(entry)) out.push_back({entry.elements[0].str, std::move(*alert)});
  }
  return out;
}

// A webhook target recorded before issue 15 was named by its URL, which may carry a token in its userinfo,
// path or query: shown as scheme://host[:port]/… only.
std::string masked_target(const std::string& target) {
  if (target.find("://") == std::string::npos) return target;  // a name
  auto url = boost::urls::parse_uri(target);
  if (!url) return "(a webhook URL)";
  return std::string(url->scheme()) + "://" + std::string(url->encoded_host_and_port()) + "/…";
}

// HGETALL alert:delivery:<id> -> {"central": {...}, "<webhook name>": {...}}: "central" first, then the
// webhooks by name.
json::object delivery_of(const Reply& hash) {
  json::object out;
  if (hash.type != Reply::Type::array) return out;
  std::vector<std::pair<std::string, std::string>> targets;
  for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2)
    targets.emplace_back(hash.elements[i].str, hash.elements[i + 1].str);
  std::sort(targets.begin(), targets.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.first != "central", a.first) < std::make_pair(b.first != "central", b.first);
  });
  for (auto& [field, value] : targets) {
    std::string target = field.rfind("webhook:", 0) == 0 ? masked_target(field.substr(8)) : field;
    boost::system::error_code ec;
    json::value status = json::parse(value, ec);
    out[target] = ec ? json::value(value) : std::move(status);
  }
  return out;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Command raise_command(const std::string& reason, const std::string& tx, const std::string& body) {
  if (tx.empty()) return cmd("FCALL", "vp_alert", "1", std::string(kStream), reason, tx, body, std::to_string(kOnceTtlS));
  return cmd("FCALL", "vp_alert", "2", std::string(kStream), fmt::format("alerts:once:{{alerts}}:{}:{}", reason, tx),
             reason, tx, body, std::to_string(kOnceTtlS));
}

}  // namespace

std::string iso_time_ms(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
}

awaitable<MirrorResult<std::string>> AlertLog::raise(json::object alert) {
  alert.erase("id");
  if (!alert.contains("time")) alert["time"] = iso_time_ms(now_ms());
  // Delivery to the central system and webhooks is the central link's (issue 6).
  alert["delivery"] = "pending";
  const std::string reason = str(alert, "reason"), tx = str(alert, "transaction_id");
  Command command = raise_command(reason, tx, json::serialize(alert));
  auto added = co_await client_.command(std::move(command), kStream);
  if (!added) co_return Unexpected{from_redis(added.error())};
  if (added->is_error()) co_return Unexpected{from_reply_error(*added)};
  co_return added->str;
}

awaitable<MirrorResult<bool>> AlertLog::claim(std::string_view what, std::string_view owner) {
  std::string claim_key = key(kClaimPrefix, what);
  auto set = co_await client_.command(cmd("SET", claim_key, std::string(owner), "NX", "EX", std::to_string(kOnceTtlS)),
                                      claim_key);
  if (!set) co_return Unexpected{from_redis(set.error())};
  co_return set->type == Reply::Type::status;
}

awaitable<MirrorResult<std::vector<json::object>>> AlertLog::with_status(std::vector<json::object> alerts) {
  if (alerts.empty()) co_return alerts;
  Command hmget{"HMGET", std::string(kAckHash)};
  for (const auto& a : alerts) hmget.push_back(std::string(a.at("id").as_string()));
  auto acks = co_await client_.command(std::move(hmget));
  if (!acks) co_return Unexpected{from_redis(acks.error())};
  // Delivery status per target (issue 6: "delivery status visible in GET /v1/alerts"), one pipeline.
  std::vector<Command> reads;
  reads.reserve(alerts.size());
  for (const auto& a : alerts) reads.push_back(cmd("HGETALL", key(kDeliveryPrefix, a.at("id").as_string())));
  auto deliveries = co_await client_.pipeline(std::move(reads));
  for (std::size_t i = 0; i < alerts.size(); ++i) {
    const Reply* r = i < acks->elements.size() ? &acks->elements[i] : nullptr;
    boost::system::error_code ec;
    json::value ack = r && r->type == Reply::Type::string ? json::parse(r->str, ec) : json::value(nullptr);
    alerts[i]["acked"] = !ack.is_null();
    alerts[i]["ack"] = ack;
    if (i >= deliveries.size()) continue;
    if (!deliveries[i]) co_return Unexpected{from_redis(deliveries[i].error())};
    json::object delivery = delivery_of(*deliveries[i]);
    // No record yet: the stored "pending" stands (no sender has tried this alert).
    if (!delivery.empty()) alerts[i]["delivery"] = std::move(delivery);
  }
  co_return alerts;
}

namespace {
// Chunk of one XRANGE / XREVRANGE while filtering.
constexpr std::size_t kChunk = 500;

// The range of a query: XRANGE start end (ascending) or XREVRANGE end start (descending). `since` bounds the
// old end in both orders: exclusive when an id, inclusive when Unix ms; `cursor` the end the page starts from.
struct AlertRange {
  std::string low = "-";
  std::string high = "+";
};
AlertRange alert_range(const AlertQuery& query) {
  AlertRange r;
  if (!query.since.empty()) r.low = is_digits(query.since) ? query.since : "(" + query.since;
  if (!query.cursor.empty()) {
    if (query.descending) r.high = "(" + query.cursor;
    else r.low = "(" + query.cursor;
  }
  return r;
}

Command range_command(bool descending, const AlertRange& r, std::size_t count) {
  if (descending) return cmd("XREVRANGE", std::string(kStream), r.high, r.low, "COUNT", std::to_string(count));
  return cmd("XRANGE", std::string(kStream), r.low, r.high, "COUNT", std::to_string(count));
}

bool matches(const AlertQuery& query, const json::object& alert) {
  if (!query.reason.empty() && str(alert, "reason") != query.reason) return false;
  if (!query.location.empty() && str(alert, "location") != query.location) return false;
  return true;
}
}  // namespace

awaitable<MirrorResult<AlertPage>> AlertLog::page(const AlertQuery& query) {
  AlertRange range = alert_range(query);
  AlertPage out;
  std::size_t examined = 0;
  std::string last_examined;
  bool ended = false;
  // Filtering happens here, so chunks are read until `limit` matches, the range ends or the scan bound.
  while (out.alerts.size() < query.limit) {
    std::size_t count = kChunk;
    if (query.max_examined > 0) {
      if (examined >= query.max_examined) {
        out.scan_limited = true;
        break;
      }
      count = std::min(count, query.max_examined - examined);
    }
    auto chunk = co_await client_.command(range_command(query.descending, range, count));
    if (!chunk) co_return Unexpected{from_redis(chunk.error())};
    if (chunk->is_error()) co_return Unexpected{from_reply_error(*chunk)};
    std::vector<json::object> candidates;
    std::vector<std::string> candidate_ids;  // stream ids in order, to end the page at the right entry
    for (const auto& entry : chunk->elements) {
      auto alert = entry_to_alert(entry);
      if (!alert || !matches(query, *alert)) continue;
      candidate_ids.push_back(entry.elements[0].str);
      candidates.push_back(std::move(*alert));
    }
    std::vector<bool> keep(candidates.size(), true);
    if (query.acked && !candidates.empty()) {
      Command hmget{"HMGET", std::string(kAckHash)};
      for (const auto& id : candidate_ids) hmget.push_back(id);
      auto acks = co_await client_.command(std::move(hmget));
      if (!acks) co_return Unexpected{from_redis(acks.error())};
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        const bool acked = i < acks->elements.size() && acks->elements[i].type == Reply::Type::string;
        keep[i] = acked == *query.acked;
      }
    }
    // Entries of this chunk up to the one that fills the page count as examined.
    std::size_t c = 0;
    for (const auto& entry : chunk->elements) {
      const std::string& id = entry.elements.empty() ? std::string() : entry.elements[0].str;
      ++examined;
      last_examined = id;
      if (c < candidates.size() && candidate_ids[c] == id) {
        if (keep[c]) out.alerts.push_back(std::move(candidates[c]));
        ++c;
      }
      if (out.alerts.size() >= query.limit) break;
    }
    if (chunk->elements.size() < count) {
      ended = true;
      break;
    }
    if (query.descending) range.high = "(" + last_examined;
    else range.low = "(" + last_examined;
  }
  if (out.alerts.size() >= query.limit && !out.alerts.empty()) {
    out.next = std::string(out.alerts.back().at("id").as_string());
  } else if (!ended && !last_examined.empty()) {
    out.scan_limited = true;
    out.next = last_examined;
  }
  auto merged = co_await with_status(std::move(out.alerts));
  if (!merged) co_return Unexpected{merged.error()};
  out.alerts = std::move(*merged);
  co_return out;
}

awaitable<MirrorResult<std::vector<json::object>>> AlertLog::list(const AlertQuery& query) {
  auto page = co_await this->page(query);
  if (!page) co_return Unexpected{page.error()};
  co_return std::move(page->alerts);
}

awaitable<MirrorResult<std::optional<json::object>>> AlertLog::ack(std::string_view id_in, std::string_view actor,
                                                                   std::string_view only_location) {
  std::string id(id_in);
  auto range = co_await client_.command(cmd("XRANGE", std::string(kStream), id, id));
  if (!range) co_return Unexpected{from_redis(range.error())};
  // A malformed id is an error reply from Redis: for the API it is simply no such alert.
  if (range->is_error() || range->elements.empty()) co_return std::optional<json::object>{};
  if (!only_location.empty()) {
    auto stored = entry_to_alert(range->elements[0]);
    if (!stored || str(*stored, "location") != only_location) co_return std::optional<json::object>{};
  }
  json::object ack{{"by", actor}, {"at", iso_time_ms(now_ms())}};
  // HSETNX: the first acknowledgement stands (a repeated ack changes nothing).
  auto set = co_await client_.command(cmd("HSETNX", std::string(kAckHash), id, json::serialize(ack)));
  if (!set) co_return Unexpected{from_redis(set.error())};
  auto alert = entry_to_alert(range->elements[0]);
  if (!alert) co_return std::optional<json::object>{};
  std::vector<json::object> one{std::move(*alert)};
  auto merged = co_await with_status(std::move(one));
  if (!merged) co_return Unexpected{merged.error()};
  co_return std::optional<json::object>{std::move(merged->front())};
}

awaitable<MirrorResult<std::optional<std::vector<std::string>>>> AlertLog::redeliver(std::string_view id_in) {
  using Targets = std::optional<std::vector<std::string>>;
  std::string id(id_in);
  auto range = co_await client_.command(cmd("XRANGE", std::string(kStream), id, id));
  if (!range) co_return Unexpected{from_redis(range.error())};
  if (range->is_error() || range->elements.empty()) co_return Targets{};
  std::string delivery_key = key(kDeliveryPrefix, id);
  auto hash = co_await client_.command(cmd("HGETALL", delivery_key));
  if (!hash) co_return Unexpected{from_redis(hash.error())};
  std::vector<std::string> targets;
  for (std::size_t i = 0; i + 1 < hash->elements.size(); i += 2) {
    boost::system::error_code ec;
    auto status = json::parse(hash->elements[i + 1].str, ec);
    if (ec || !status.is_object()) continue;
    if (str(status.as_object(), "status") != "failed") continue;
    const std::string& target = hash->elements[i].str;
    // "retrying" again until the sender's next answer; the sender takes the id before new alerts.
    status.as_object()["status"] = "retrying";
    status.as_object()["redelivery_requested"] = true;
    auto set = co_await client_.command(cmd("HSET", delivery_key, target, json::serialize(status)));
    if (!set) co_return Unexpected{from_redis(set.error())};
    auto queued = co_await client_.command(cmd("RPUSH", key(kRedeliverPrefix, target), id));
    if (!queued) co_return Unexpected{from_redis(queued.error())};
    targets.push_back(target);
  }
  co_return Targets{std::move(targets)};
}

awaitable<MirrorResult<std::int64_t>> AlertLog::size() {
  auto len = co_await client_.command(cmd("XLEN", std::string(kStream)));
  if (!len) co_return Unexpected{from_redis(len.error())};
  co_return len->type == Reply::Type::integer ? len->integer : 0;
}

awaitable<MirrorResult<std::vector<StoredAlert>>> AlertLog::next_for(std::string_view target, std::size_t count) {
  auto cursor = co_await client_.command(cmd("GET", key(kCursorPrefix, target)));
  if (!cursor) co_return Unexpected{from_redis(cursor.error())};
  std::string after = cursor->is_nil() ? "-" : "(" + cursor->str;
  auto read = co_await client_.command(cmd("XRANGE", std::string(kStream), after, "+", "COUNT", std::to_string(count)));
  if (!read) co_return Unexpected{from_redis(read.error())};
  if (read->is_error()) co_return Unexpected{from_reply_error(*read)};
  co_return stored_alerts(*read);
}

awaitable<MirrorResult<bool>> AlertLog::adopt_cursor(std::string_view old_target, std::string_view new_target) {
  auto old_cursor = co_await client_.command(cmd("GET", key(kCursorPrefix, old_target)));
  if (!old_cursor) co_return Unexpected{from_redis(old_cursor.error())};
  if (old_cursor->is_nil()) co_return false;
  auto set = co_await client_.command(cmd("SET", key(kCursorPrefix, new_target), old_cursor->str, "NX"));
  if (!set) co_return Unexpected{from_redis(set.error())};
  co_return !set->is_nil();
}

awaitable<MirrorResult<bool>> AlertLog::advance(std::string_view target, std::string_view id) {
  auto set = co_await client_.command(cmd("SET", key(kCursorPrefix, target), std::string(id)));
  if (!set) co_return Unexpected{from_redis(set.error())};
  co_return true;
}

awaitable<MirrorResult<bool>> AlertLog::record_delivery(std::string_view id, std::string_view target,
                                                        const json::object& status) {
  auto set = co_await client_.command(
      cmd("HSET", key(kDeliveryPrefix, id), std::string(target), json::serialize(status)));
  if (!set) co_return Unexpected{from_redis(set.error())};
  co_return true;
}

awaitable<MirrorResult<std::optional<StoredAlert>>> AlertLog::take_redelivery(std::string_view target) {
  auto again = co_await client_.command(cmd("LPOP", key(kRedeliverPrefix, target)));
  if (!again) co_return Unexpected{from_redis(again.error())};
  if (again->type != Reply::Type::string) co_return std::optional<StoredAlert>{};
  auto one = co_await client_.command(cmd("XRANGE", std::string(kStream), again->str, again->str));
  if (!one) {
    // Keep the operator's request: it is taken again on the next round.
    co_await client_.command(cmd("LPUSH", key(kRedeliverPrefix, target), again->str));
    co_return Unexpected{from_redis(one.error())};
  }
  auto alerts = stored_alerts(*one);
  if (alerts.empty()) co_return std::optional<StoredAlert>{};  // trimmed away meanwhile: nothing to send
  co_return std::optional<StoredAlert>{std::move(alerts.front())};
}

awaitable<MirrorResult<bool>> AlertLog::return_redelivery(std::string_view target, std::string_view id) {
  auto pushed = co_await client_.command(cmd("LPUSH", key(kRedeliverPrefix, target), std::string(id)));
  if (!pushed) co_return Unexpected{from_redis(pushed.error())};
  co_return true;
}

}  // namespace vpoint::cache
