#include "vpoint/cache/audit_log.hpp"

#include <charconv>

#include "mirror_internal.hpp"
#include "mirror_keys.hpp"

namespace vpoint::cache {

using boost::asio::awaitable;
using namespace detail;

namespace {

struct StreamId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
};
std::optional<StreamId> parse_id(std::string_view s) {
  auto dash = s.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == s.size()) return std::nullopt;
  StreamId id;
  auto a = std::from_chars(s.data(), s.data() + dash, id.ms);
  auto b = std::from_chars(s.data() + dash + 1, s.data() + s.size(), id.seq);
  if (a.ec != std::errc() || a.ptr != s.data() + dash || b.ec != std::errc() || b.ptr != s.data() + s.size())
    return std::nullopt;
  return id;
}

int number(std::string_view text, int fallback) {
  int v = fallback;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() ? v : fallback;
}

std::string_view operation_name(std::string_view letter) {
  if (letter == "v") return "verify";
  if (letter == "d") return "decommission";
  if (letter == "u") return "undo";
  if (letter == "r") return "central_rejected";  // vp_settle: the central system rejected transaction tx
  if (letter == "rd") return "returns_decision";  // vp_decision (Mirror::record_decision)
  return letter;
}

std::string status_name(std::string_view n) {
  int v = number(n, -1);
  if (v == -1 && n == "-1") return "";  // no pack (vp_settle: the central system does not know it)
  if (!is_status_number(v)) return std::string(n);
  return std::string(to_string(static_cast<PackStatus>(v)));
}

// An entry as the Functions write it (cache/lua/vpoint.lua): tx, code, serial, op (v|d|u), action (number),
// outcome (number), prev, status (numbers), location, actor, t. nullopt when it is no entry at all.
std::optional<AuditRecord> record_of(int partition, const Reply& entry) {
  if (entry.type != Reply::Type::array || entry.elements.size() != 2 || entry.elements[0].str.empty())
    return std::nullopt;
  AuditRecord r;
  r.id = entry.elements[0].str;
  r.partition = partition;
  std::map<std::string_view, std::string_view> f;
  const auto& kv = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < kv.size(); i += 2) f[kv[i].str] = kv[i + 1].str;
  auto get = [&](std::string_view k) -> std::string_view {
    auto it = f.find(k);
    return it == f.end() ? std::string_view() : it->second;
  };
  std::int64_t t = 0;
  auto tv = get("t");
  if (std::from_chars(tv.data(), tv.data() + tv.size(), t).ec != std::errc() || t <= 0) t = stream_id_ms(r.id).value_or(0);
  r.time_ms = t;
  r.code = get("code");
  r.serial = get("serial");
  r.operation = operation_name(get("op"));
  int action = number(get("action"), 0);
  if (action >= 1 && action <= 7) r.action = to_string(static_cast<Action>(action));
  int outcome = number(get("outcome"), -1);
  r.outcome = outcome >= 0 && outcome <= static_cast<int>(Outcome::batch_mismatch)
                  ? std::string(to_string(static_cast<Outcome>(outcome)))
                  : std::string("unknown");
  if (get("op") == "r") {
    // A rejection settled (vp_settle): the state became central's; who got there first and central's code.
    r.outcome = "rejected";
    r.related_transaction = get("other");
    r.central_code = get("central");
  }
  if (get("op") == "rd") {
    // A returns decision (vp_decision): the decision is the action, statuses are stored by name.
    r.action = get("decision");
    r.outcome = "recorded";
    r.note = get("note");
  }
  r.previous_status = status_name(get("prev"));
  r.status = status_name(get("status"));
  r.location = get("location");
  r.actor = get("actor");
  r.transaction_id = get("tx");
  return r;
}

MirrorError unexpected(std::string what) {
  return MirrorError{MirrorErrorKind::protocol, "audit log: " + std::move(what), std::nullopt};
}

}  // namespace

bool stream_id_less(std::string_view a, std::string_view b) {
  auto x = parse_id(a), y = parse_id(b);
  if (!x || !y) return !x && y;
  return x->ms != y->ms ? x->ms < y->ms : x->seq < y->seq;
}

std::optional<std::int64_t> stream_id_ms(std::string_view id) {
  auto p = parse_id(id);
  if (!p) return std::nullopt;
  return static_cast<std::int64_t>(p->ms);
}

std::string stream_id_successor(std::string_view id) {
  auto p = parse_id(id);
  if (!p) return std::string(id);
  return std::to_string(p->ms) + "-" + std::to_string(p->seq + 1);
}

awaitable<MirrorResult<std::vector<AuditRecord>>> AuditLog::latest(int partition, std::size_t count) {
  const std::string key = audit_key(partition);
  auto reply = co_await client_.command(cmd("XREVRANGE", key, "+", "-", "COUNT", std::to_string(count)), key);
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  std::vector<AuditRecord> out;
  out.reserve(reply->elements.size());
  for (const auto& e : reply->elements)
    if (auto r = record_of(partition, e)) out.push_back(std::move(*r));
  co_return out;
}

awaitable<MirrorResult<std::vector<std::vector<AuditRecord>>>> AuditLog::read(const std::vector<AuditRange>& ranges,
                                                                           std::size_t count,
                                                                           std::vector<std::size_t>* raw_counts) {
  std::vector<Command> reads;
  std::vector<std::string> routing;
  reads.reserve(ranges.size());
  for (const auto& r : ranges) {
    std::string start = !r.after.empty() ? "(" + r.after : r.from_ms > 0 ? std::to_string(r.from_ms) : std::string("-");
    std::string end = r.before_ms > 0 ? "(" + std::to_string(r.before_ms) + "-0" : std::string("+");
    reads.push_back(cmd("XRANGE", audit_key(r.partition), std::move(start), std::move(end), "COUNT", std::to_string(count)));
    routing.push_back(audit_key(r.partition));
  }
  std::vector<std::vector<AuditRecord>> out(ranges.size());
  if (raw_counts) raw_counts->assign(ranges.size(), 0);
  if (ranges.empty()) co_return out;
  auto replies = co_await client_.pipeline(std::move(reads), std::move(routing));
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (i >= replies.size()) co_return Unexpected{unexpected("fewer replies than reads")};
    if (!replies[i]) co_return Unexpected{from_redis(replies[i].error())};
    if (replies[i]->is_error()) co_return Unexpected{from_reply_error(*replies[i])};
    if (raw_counts) (*raw_counts)[i] = replies[i]->elements.size();
    for (const auto& e : replies[i]->elements)
      if (auto r = record_of(ranges[i].partition, e)) out[i].push_back(std::move(*r));
  }
  co_return out;
}

awaitable<MirrorResult<std::vector<std::string>>> AuditLog::watermarks(const std::vector<int>& partitions) {
  std::vector<std::string> out(partitions.size());
  if (partitions.empty()) co_return out;
  Command hmget = cmd("HMGET", std::string(kAuditWatermarkKey));
  for (int p : partitions) hmget.push_back(std::to_string(p));
  auto reply = co_await client_.command(std::move(hmget), std::string(kAuditWatermarkKey));
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  if (reply->elements.size() != partitions.size()) co_return Unexpected{unexpected("HMGET watermarks: unexpected reply")};
  for (std::size_t i = 0; i < out.size(); ++i)
    if (reply->elements[i].type == Reply::Type::string) out[i] = reply->elements[i].str;
  co_return out;
}

awaitable<MirrorResult<std::size_t>> AuditLog::set_watermarks(const std::map<int, std::string>& marks) {
  if (marks.empty()) co_return std::size_t{0};
  Command hset = cmd("HSET", std::string(kAuditWatermarkKey));
  for (const auto& [p, id] : marks) {
    hset.push_back(std::to_string(p));
    hset.push_back(id);
  }
  auto reply = co_await client_.command(std::move(hset), std::string(kAuditWatermarkKey));
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  co_return marks.size();
}

awaitable<MirrorResult<std::size_t>> AuditLog::trim_through(const std::map<int, std::string>& marks) {
  if (marks.empty()) co_return std::size_t{0};
  std::vector<Command> trims;
  std::vector<std::string> routing;
  for (const auto& [p, id] : marks) {
    // XTRIM MINID keeps ids >= its argument: everything up to `id` goes.
    trims.push_back(cmd("XTRIM", audit_key(p), "MINID", stream_id_successor(id)));
    routing.push_back(audit_key(p));
  }
  auto replies = co_await client_.pipeline(std::move(trims), std::move(routing));
  std::size_t removed = 0;
  for (const auto& r : replies) {
    if (!r) co_return Unexpected{from_redis(r.error())};
    if (r->is_error()) co_return Unexpected{from_reply_error(*r)};
    removed += static_cast<std::size_t>(std::max<long long>(0, r->integer));
  }
  co_return removed;
}

awaitable<MirrorResult<std::int64_t>> AuditLog::now_ms() {
  auto time = co_await client_.command(cmd("TIME"));
  if (!time) co_return Unexpected{from_redis(time.error())};
  if (time->is_error()) co_return Unexpected{from_reply_error(*time)};
  if (time->type != Reply::Type::array || time->elements.size() != 2) co_return Unexpected{unexpected("TIME: unexpected reply")};
  auto s = reply_int(time->elements[0]), us = reply_int(time->elements[1]);
  if (!s || !us) co_return Unexpected{unexpected("TIME: unexpected reply")};
  co_return *s * 1000 + *us / 1000;
}

}  // namespace vpoint::cache
