// Offline scans: vp_offline / vp_offline_settle (cache/lua/vpoint.lua) and the ordered stream.
#include "vpoint/cache/offline.hpp"

#include <fmt/format.h>

#include "mirror_internal.hpp"

namespace vpoint::cache {

using boost::asio::awaitable;
using namespace detail;

namespace {

// One hash tag for the placeholders and the stream: record() is a single-slot call in Cluster.
constexpr std::string_view kStreamKey = "offline:{vpoint:offline}";

std::string placeholder_key(std::string_view code, std::string_view serial) {
  return fmt::format("pend:{{vpoint:offline}}:{}:{}", code, serial);
}

Command record_command(const std::string& key, const OfflineScan& scan, const std::string& token,
                       std::int64_t window_ms, std::int64_t clock_offset_ms) {
  return cmd("FCALL", "vp_offline", "2", key, std::string(kStreamKey), std::string(operation_letter(scan.operation)),
             scan.operation == Operation::verify ? std::string("0") : std::to_string(static_cast<int>(scan.action)),
             scan.code, scan.serial, scan.batch, scan.expiry, scan.location, scan.actor, scan.transaction_id, token,
             std::to_string(window_ms), std::to_string(clock_offset_ms));
}

MirrorError protocol(std::string message) {
  return MirrorError{MirrorErrorKind::protocol, std::move(message), std::nullopt};
}

}  // namespace

OfflineQueue::OfflineQueue(Mirror& mirror) : mirror_(mirror) {}

awaitable<MirrorResult<OfflineResult>> OfflineQueue::record(OfflineScan scan, std::string idempotency_token) {
  if (scan.code.empty() || scan.code.size() > 20 || scan.serial.empty() || scan.serial.size() > 20)
    co_return Unexpected{MirrorError{MirrorErrorKind::bad_request, "code, serial: must be 1-20 characters", std::nullopt}};
  if (scan.transaction_id.empty()) scan.transaction_id = random_transaction_id();
  const auto window_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(mirror_.options().undo_window).count();
  std::string key = placeholder_key(scan.code, scan.serial);
  // Built outside the co_await: GCC 12 mishandles conditional temporaries in a co_await's full expression.
  Command command = record_command(key, scan, idempotency_token, window_ms, mirror_.test_clock_offset().count());
  auto reply = co_await mirror_.client().command(std::move(command), key);
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  if (reply->type != Reply::Type::array || reply->elements.size() != 10)
    co_return Unexpected{protocol("vp_offline: unexpected reply shape")};
  const auto& e = reply->elements;
  auto outcome = reply_int(e[0]), previous = reply_int(e[1]), status = reply_int(e[2]), at = reply_int(e[5]),
       now = reply_int(e[8]);
  if (!outcome || !previous || !status || !at || !now || *outcome < 0 ||
      *outcome > static_cast<int>(Outcome::batch_mismatch) || *previous < 0 || *previous > 7 || *status < 0 ||
      *status > 7)
    co_return Unexpected{protocol("vp_offline: value out of range")};
  OfflineResult r;
  r.outcome = static_cast<Outcome>(*outcome);
  r.previous = static_cast<PackStatus>(*previous);
  r.status = static_cast<PackStatus>(*status);
  if (r.previous != PackStatus::active) {
    r.pending = DecommissionRecord{static_cast<Action>(*previous), e[3].str, e[4].str, *at, e[6].str};
  }
  r.transaction_id = e[7].str;
  r.redis_time_ms = *now;
  r.replay = e[9].str == "1";
  co_return r;
}

awaitable<MirrorResult<bool>> OfflineQueue::pending(std::string code, std::string serial) {
  std::string key = placeholder_key(code, serial);
  auto reply = co_await mirror_.client().command(cmd("EXISTS", key), key);
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  co_return reply->type == Reply::Type::integer && reply->integer > 0;
}

awaitable<MirrorResult<std::vector<OfflineScan>>> OfflineQueue::head(std::size_t count) {
  auto reply = co_await mirror_.client().command(
      cmd("XRANGE", std::string(kStreamKey), "-", "+", "COUNT", std::to_string(count)), kStreamKey);
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  std::vector<OfflineScan> out;
  for (const Reply& entry : reply->elements) {
    if (entry.elements.size() != 2) co_return Unexpected{protocol("offline stream: unexpected entry shape")};
    auto f = hash_reply(entry.elements[1]);
    OfflineScan s;
    s.id = entry.elements[0].str;
    const std::string& op = f["op"];
    s.operation = op == "d" ? Operation::decommission : op == "u" ? Operation::undo : Operation::verify;
    auto action = reply_int(Reply{Reply::Type::string, f["action"], 0, {}});
    if (s.operation != Operation::verify) {
      if (!action || *action < 1 || *action > 7) co_return Unexpected{protocol("offline stream: bad action")};
      s.action = static_cast<Action>(*action);
    }
    s.code = f["code"];
    s.serial = f["serial"];
    s.batch = f["batch"];
    s.expiry = f["expiry"];
    s.location = f["location"];
    s.actor = f["actor"];
    s.transaction_id = f["tx"];
    s.time_ms = reply_int(Reply{Reply::Type::string, f["t"], 0, {}}).value_or(0);
    out.push_back(std::move(s));
  }
  co_return out;
}

awaitable<MirrorResult<bool>> OfflineQueue::settle(const OfflineScan& scan) {
  std::string key = placeholder_key(scan.code, scan.serial);
  auto reply = co_await mirror_.client().command(
      cmd("FCALL", "vp_offline_settle", "2", key, std::string(kStreamKey), scan.id, scan.transaction_id), key);
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  co_return reply->type == Reply::Type::integer && reply->integer == 1;
}

awaitable<MirrorResult<std::int64_t>> OfflineQueue::depth() {
  auto reply = co_await mirror_.client().command(cmd("XLEN", std::string(kStreamKey)), kStreamKey);
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  co_return reply->type == Reply::Type::integer ? reply->integer : 0;
}

}  // namespace vpoint::cache
