// Reading the central system's answers (central_answers.hpp).
#include "central_answers.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

namespace vpoint::service::central_detail {

namespace json = boost::json;

namespace {

std::optional<json::object> object_of(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

std::optional<std::int64_t> int_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_int64()) return v->get_int64();
  return std::nullopt;
}

}  // namespace

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::optional<CentralPack> read_pack_answer(std::string_view body, std::string_view asked_code,
                                            std::string_view asked_serial) {
  auto o = object_of(body);
  if (!o) return std::nullopt;
  CentralPack pack;
  pack.object = std::move(*o);
  pack.code_key = pack.object.contains("gtin") ? "gtin" : "ppn";
  pack.code = str(pack.object, pack.code_key);
  pack.serial = str(pack.object, "serial");
  pack.batch = str(pack.object, "batch");
  pack.expiry = str(pack.object, "expiry");
  pack.status = str(pack.object, "status");
  if (pack.code.empty()) pack.code = std::string(asked_code);
  if (pack.serial.empty()) pack.serial = std::string(asked_serial);
  return pack;
}

std::unordered_map<std::string, WriteBackVerdict> read_write_back_results(std::string_view body) {
  std::unordered_map<std::string, WriteBackVerdict> by_id;
  auto o = object_of(body);
  if (!o) return by_id;
  const json::value* results = o->if_contains("results");
  if (!results || !results->is_array()) return by_id;
  for (const auto& e : results->get_array()) {
    if (!e.is_object()) continue;
    const auto& entry = e.get_object();
    by_id[str(entry, "id")] = WriteBackVerdict{str(entry, "result"), str(entry, "code"), int_member(entry, "seq")};
  }
  return by_id;
}

std::optional<RejectionAnswer> read_rejection_answer(std::string_view body, std::string_view own_id) {
  auto o = object_of(body);
  if (!o) return std::nullopt;
  RejectionAnswer out;
  out.pack = cache::CentralAnswer::Pack{true, str(*o, "status"), str(*o, "batch")};
  out.seq = int_member(*o, "feed_seq");
  out.details["central_status"] = str(*o, "status");
  const json::value* h = o->if_contains("history");
  if (!h || !h->is_array()) return out;
  const auto& history = h->get_array();
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (!it->is_object()) continue;
    const auto& entry = it->get_object();
    std::string other = str(entry, "transaction");
    if (other == own_id) continue;
    out.other_transaction = other;
    out.details["conflicting_transaction"] = other;
    out.details["conflicting_location"] = str(entry, "location");
    out.details["conflicting_actor"] = str(entry, "actor");
    out.details["conflicting_event"] = str(entry, "event");
    if (const json::value* t = entry.if_contains("time")) out.details["conflicting_time"] = *t;
    break;
  }
  return out;
}

FeedBody split_feed_body(std::string_view body, std::int64_t after) {
  FeedBody out;
  std::int64_t expected = after + 1;
  while (!body.empty()) {
    auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    if (line.empty()) continue;
    // Gaps: the feed numbers every change; a jump means changes we never saw (reported, not fatal: the lines
    // we have are still newer than the mirror).
    if (auto o = object_of(line)) {
      if (auto n = int_member(*o, "seq")) {
        if (*n <= after) continue;  // already applied (idempotent replay)
        if (*n != expected) {
          ++out.gaps;
          out.jumps.emplace_back(expected, *n);
        }
        expected = *n + 1;
      }
    }
    out.lines.emplace_back(line);
  }
  return out;
}

std::optional<RecallChange> recall_of(std::string_view line) {
  auto o = object_of(line);
  if (!o) return std::nullopt;
  if (str(*o, "type") != "batch" || str(*o, "op") == "delete") return std::nullopt;
  RecallChange out;
  out.state = str(*o, "state");
  if (out.state != "recalled" && out.state != "withdrawn") return std::nullopt;
  out.code_key = o->contains("gtin") ? "gtin" : "ppn";
  out.code = str(*o, out.code_key);
  out.batch = str(*o, "batch");
  out.expiry = str(*o, "expiry");
  out.reason = str(*o, "reason");
  const json::value* seq = o->if_contains("seq");
  if (seq) out.seq = *seq;
  out.claim = fmt::format("recall:{}:{}:{}:{}", out.code, out.batch, out.state, seq ? json::serialize(*seq) : "-");
  return out;
}

}  // namespace vpoint::service::central_detail
