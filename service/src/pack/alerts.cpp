#include "vpoint/service/alerts.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

namespace vpoint::service {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

// Commands are built in a plain function: GCC 12 miscompiles braced string lists inside coroutines.
template <class... A>
cache::Command cmd(A&&... args) {
  return cache::Command{std::string(std::forward<A>(args))...};
}

constexpr std::string_view kTxKeyPrefix = "alerts:tx:";
constexpr int kTxKeyTtlS = 2 * 24 * 3600;  // longer than the idempotency records (24 h) it dedupes for

cache::MirrorError unavailable(const cache::RedisError& e) {
  return cache::MirrorError{cache::MirrorErrorKind::unavailable, "mirror unavailable: " + e.message, e};
}
cache::MirrorError reply_error(const cache::Reply& r) {
  return cache::MirrorError{cache::MirrorErrorKind::protocol, "alerts: " + r.str, std::nullopt};
}

// One XRANGE entry [id, [field, value, ...]] -> the alert object (its id is the stream id).
std::optional<json::object> entry_to_alert(const cache::Reply& entry) {
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

// HGETALL alert:delivery:<id> -> {"central": {...}, "<webhook url>": {...}}.
// Targets in a stable order: "central" first, then the webhooks by URL.
json::object delivery_of(const cache::Reply& hash) {
  json::object out;
  if (hash.type != cache::Reply::Type::array) return out;
  std::vector<std::pair<std::string, std::string>> targets;
  for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2)
    targets.emplace_back(hash.elements[i].str, hash.elements[i + 1].str);
  std::sort(targets.begin(), targets.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.first != "central", a.first) < std::make_pair(b.first != "central", b.first);
  });
  for (auto& [field, value] : targets) {
    std::string target = field.rfind("webhook:", 0) == 0 ? field.substr(8) : field;
    boost::system::error_code ec;
    json::value status = json::parse(value, ec);
    out[target] = ec ? json::value(value) : std::move(status);
  }
  return out;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string iso_time_ms(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
}

awaitable<cache::MirrorResult<std::string>> AlertStore::raise(const NewAlert& alert) {
  std::string tx_key;
  if (!alert.transaction_id.empty()) {
    tx_key = std::string(kTxKeyPrefix) + alert.transaction_id;
    auto known = co_await client_.command(cmd("GET", tx_key));
    if (!known) co_return vpoint::Unexpected{unavailable(known.error())};
    if (known->type == cache::Reply::Type::string) co_return known->str;  // a retry: the first alert stands
  }
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  json::object body{{"time", iso_time_ms(now_ms)},
                    {"reason", alert.reason},
                    {"nmvs_code", alert.nmvs_code.empty() ? json::value(nullptr) : json::value(alert.nmvs_code)},
                    {"verdict", alert.verdict},
                    {"pack", alert.pack},
                    {"location", alert.location},
                    {"actor", alert.actor},
                    {"transaction_id", alert.transaction_id.empty() ? json::value(nullptr)
                                                                    : json::value(alert.transaction_id)},
                    {"details", alert.details},
                    // Delivery to the central system and webhooks is the central link's (issue 6).
                    {"delivery", "pending"}};
  auto added = co_await client_.command(cmd("XADD", std::string(kAlertStream), "*", "reason", alert.reason, "tx",
                                            alert.transaction_id, "json", json::serialize(body)));
  if (!added) co_return vpoint::Unexpected{unavailable(added.error())};
  if (added->is_error()) co_return vpoint::Unexpected{reply_error(*added)};
  std::string id = added->str;
  if (!tx_key.empty()) {
    auto set = co_await client_.command(cmd("SET", tx_key, id, "EX", std::to_string(kTxKeyTtlS)));
    if (!set) co_return vpoint::Unexpected{unavailable(set.error())};
  }
  co_return id;
}

awaitable<cache::MirrorResult<std::vector<json::object>>> AlertStore::with_acks(std::vector<json::object> alerts) {
  if (alerts.empty()) co_return alerts;
  cache::Command hmget{"HMGET", std::string(kAlertAckHash)};
  for (const auto& a : alerts) hmget.push_back(std::string(a.at("id").as_string()));
  auto acks = co_await client_.command(std::move(hmget));
  if (!acks) co_return vpoint::Unexpected{unavailable(acks.error())};
  // Delivery status per target (issue 6: "delivery status visible in GET /v1/alerts"), one pipeline.
  std::vector<cache::Command> reads;
  reads.reserve(alerts.size());
  for (const auto& a : alerts) reads.push_back(cmd("HGETALL", std::string(kAlertDeliveryPrefix) + std::string(a.at("id").as_string())));
  auto deliveries = co_await client_.pipeline(std::move(reads));
  for (std::size_t i = 0; i < alerts.size(); ++i) {
    const cache::Reply* r = i < acks->elements.size() ? &acks->elements[i] : nullptr;
    boost::system::error_code ec;
    json::value ack = r && r->type == cache::Reply::Type::string ? json::parse(r->str, ec) : json::value(nullptr);
    alerts[i]["acked"] = !ack.is_null();
    alerts[i]["ack"] = ack;
    if (i >= deliveries.size()) continue;
    if (!deliveries[i]) co_return vpoint::Unexpected{unavailable(deliveries[i].error())};
    json::object delivery = delivery_of(*deliveries[i]);
    // No record yet: the stored "pending" stands (no sender has tried this alert).
    if (!delivery.empty()) alerts[i]["delivery"] = std::move(delivery);
  }
  co_return alerts;
}

awaitable<cache::MirrorResult<std::vector<json::object>>> AlertStore::list(const AlertQuery& query) {
  // `since` is exclusive when it is an alert id (the last one the client saw), a time when it is a number.
  std::string start = "-";
  if (!query.since.empty()) start = is_digits(query.since) ? query.since : "(" + query.since;
  std::vector<json::object> out;
  const std::size_t page = 500;
  // Filtering by reason happens here, so read pages until `limit` matches or the stream ends.
  for (;;) {
    auto range =
        co_await client_.command(cmd("XRANGE", std::string(kAlertStream), start, "+", "COUNT", std::to_string(page)));
    if (!range) co_return vpoint::Unexpected{unavailable(range.error())};
    if (range->is_error()) co_return vpoint::Unexpected{reply_error(*range)};
    for (const auto& entry : range->elements) {
      auto alert = entry_to_alert(entry);
      if (!alert) continue;
      if (!query.reason.empty() && alert->at("reason").as_string() != query.reason) continue;
      out.push_back(std::move(*alert));
      if (out.size() >= query.limit) break;
    }
    if (out.size() >= query.limit || range->elements.size() < page) break;
    start = "(" + range->elements.back().elements[0].str;
  }
  co_return co_await with_acks(std::move(out));
}

awaitable<cache::MirrorResult<std::optional<json::object>>> AlertStore::ack(std::string_view id_in,
                                                                           std::string_view actor) {
  std::string id(id_in);
  auto range = co_await client_.command(cmd("XRANGE", std::string(kAlertStream), id, id));
  if (!range) co_return vpoint::Unexpected{unavailable(range.error())};
  // A malformed id is an error reply from Redis: for the API it is simply no such alert.
  if (range->is_error() || range->elements.empty()) co_return std::optional<json::object>{};
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  json::object ack{{"by", actor}, {"at", iso_time_ms(now_ms)}};
  // HSETNX: the first acknowledgement stands (a repeated ack changes nothing).
  auto set = co_await client_.command(cmd("HSETNX", std::string(kAlertAckHash), id, json::serialize(ack)));
  if (!set) co_return vpoint::Unexpected{unavailable(set.error())};
  auto alert = entry_to_alert(range->elements[0]);
  if (!alert) co_return std::optional<json::object>{};
  std::vector<json::object> one{std::move(*alert)};
  auto merged = co_await with_acks(std::move(one));
  if (!merged) co_return vpoint::Unexpected{merged.error()};
  co_return std::optional<json::object>{std::move(merged->front())};
}

awaitable<cache::MirrorResult<std::optional<std::vector<std::string>>>> AlertStore::redeliver(std::string_view id_in) {
  using Targets = std::optional<std::vector<std::string>>;
  std::string id(id_in);
  auto range = co_await client_.command(cmd("XRANGE", std::string(kAlertStream), id, id));
  if (!range) co_return vpoint::Unexpected{unavailable(range.error())};
  if (range->is_error() || range->elements.empty()) co_return Targets{};
  std::string delivery_key = std::string(kAlertDeliveryPrefix) + id;
  auto hash = co_await client_.command(cmd("HGETALL", delivery_key));
  if (!hash) co_return vpoint::Unexpected{unavailable(hash.error())};
  std::vector<std::string> targets;
  for (std::size_t i = 0; i + 1 < hash->elements.size(); i += 2) {
    boost::system::error_code ec;
    auto status = json::parse(hash->elements[i + 1].str, ec);
    if (ec || !status.is_object()) continue;
    const auto* state = status.as_object().if_contains("status");
    if (!state || !state->is_string() || state->as_string() != "failed") continue;
    const std::string& target = hash->elements[i].str;
    // "retrying" again until the sender's next answer; then the sender takes the id before new alerts.
    status.as_object()["status"] = "retrying";
    status.as_object()["redelivery_requested"] = true;
    auto set = co_await client_.command(cmd("HSET", delivery_key, target, json::serialize(status)));
    if (!set) co_return vpoint::Unexpected{unavailable(set.error())};
    auto queued = co_await client_.command(cmd("RPUSH", alert_redeliver_key(target), id));
    if (!queued) co_return vpoint::Unexpected{unavailable(queued.error())};
    targets.push_back(target);
  }
  co_return Targets{std::move(targets)};
}

}  // namespace vpoint::service
