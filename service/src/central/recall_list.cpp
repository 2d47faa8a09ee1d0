// Recall alerts (recall_list.hpp, link_internal.hpp): a batch recalled or withdrawn in the feed becomes one alert
// for this site listing its packs of that batch (audit entries -> packs of the product seen at this site).
#include "recall_list.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include <future>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "link_internal.hpp"
#include "vpoint/cache/audit_log.hpp"
#include "vpoint/cache/mirror.hpp"

namespace vpoint::service::central_detail {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

RecallCollector::RecallCollector(std::set<std::string> codes, std::string location)
    : codes_(std::move(codes)), location_(std::move(location)) {}

bool RecallCollector::wants(std::string_view code, std::string_view location) const {
  if (!location_.empty() && location != location_) return false;
  return codes_.find(std::string(code)) != codes_.end();
}

void RecallCollector::add(std::string_view code, std::string_view serial, std::string op, std::int64_t time_ms) {
  auto& pack = packs_[{std::string(code), std::string(serial)}];
  if (pack.serial.empty()) {
    pack.code = code;
    pack.serial = serial;
  }
  pack.last_seen_ms = std::max(pack.last_seen_ms, time_ms);
  if (std::find(pack.ops.begin(), pack.ops.end(), op) == pack.ops.end()) pack.ops.push_back(std::move(op));
}

std::vector<PackSighting> RecallCollector::sightings() const {
  std::vector<PackSighting> out;
  out.reserve(packs_.size());
  for (const auto& [key, pack] : packs_) out.push_back(pack);
  std::stable_sort(out.begin(), out.end(),
                   [](const PackSighting& a, const PackSighting& b) { return a.last_seen_ms > b.last_seen_ms; });
  return out;
}

std::string op_name_of(std::string_view op, std::string_view action) {
  if (op == "verify") return "verify";
  // A returns-desk decision (issue 17): "returns_restock", "returns_quarantine", "returns_destroy" (a destroy
  // that changed the status has its own "destroy" decommission entry).
  if (op == "returns_decision") return "returns_" + std::string(action);
  std::string name = action.empty() ? std::string("unknown") : std::string(action);
  return op == "undo" ? "undo_" + name : name;
}

bool outcome_counts(std::string_view outcome_name) {
  return outcome_name != cache::to_string(cache::Outcome::unknown_product) &&
         outcome_name != cache::to_string(cache::Outcome::unknown_serial);
}

namespace {

std::string_view text_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view{};
}

// "audit-YYYY-MM-DD.ndjson" -> the day as Unix ms at 00:00 UTC; -1 when the name is not an archive file.
std::int64_t archive_day_ms(const std::string& name) {
  int y = 0, m = 0, d = 0;
  char tail[16] = {};
  if (name.size() != 23 || std::sscanf(name.c_str(), "audit-%4d-%2d-%2d.%6s", &y, &m, &d, tail) != 4 ||
      std::string_view(tail) != "ndjson")
    return -1;
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return -1;
  return duration_cast<milliseconds>(sys_days{ymd}.time_since_epoch()).count();
}

}  // namespace

Result<std::size_t, std::string> scan_audit_archive(const fs::path& dir, std::int64_t since_ms,
                                                    RecallCollector& collector) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return std::size_t{0};
  constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;
  const std::int64_t first_day = since_ms - since_ms % kDayMs;
  // Prefilter before parsing: the archive writes "code":"<code>" verbatim (audit_archive.cpp to_ndjson).
  std::vector<std::string> needles;
  for (const auto& code : collector.codes()) needles.push_back(fmt::format("\"code\":\"{}\"", code));
  std::size_t added = 0;
  fs::directory_iterator it(dir, ec);
  if (ec) return Unexpected{fmt::format("{}: {}", dir.string(), ec.message())};
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Unexpected{fmt::format("{}: {}", dir.string(), ec.message())};
    std::int64_t day = archive_day_ms(it->path().filename().string());
    if (day < 0 || day < first_day) continue;
    std::ifstream in(it->path());
    if (!in) return Unexpected{fmt::format("{}: {}", it->path().string(), std::strerror(errno))};
    std::string line;
    while (std::getline(in, line)) {
      if (std::none_of(needles.begin(), needles.end(),
                       [&](const std::string& n) { return line.find(n) != std::string::npos; }))
        continue;
      boost::system::error_code jec;
      auto v = json::parse(line, jec);
      if (jec || !v.is_object()) continue;  // a torn last line after a crash
      const auto& o = v.get_object();
      std::string_view id = text_of(o, "id");
      std::int64_t id_ms = std::atoll(std::string(id.substr(0, id.find('-'))).c_str());
      if (id_ms < since_ms) continue;
      if (!collector.wants(text_of(o, "code"), text_of(o, "location"))) continue;
      if (!outcome_counts(text_of(o, "outcome"))) continue;
      collector.add(text_of(o, "code"), text_of(o, "serial"), op_name_of(text_of(o, "op"), text_of(o, "action")),
                    id_ms);
      ++added;
    }
  }
  return added;
}

// ---------------------------------------------------------------------------------------------------------
// The recall alert

namespace {

struct RecallList {
  json::array packs;  // [{"serial","last_seen","ops","status"}], most recently seen first
  std::size_t total = 0;
  bool truncated = false;
  std::string error;  // the list may be incomplete: why
};

// This site's packs of (code, batch) in the audit trail of the lookback window: the streams au:{P} (1 024
// XRANGEs pipelined per round, from MIN id = now - lookback) and the archive files; each pack's batch comes
// from Mirror::peek (audit entries carry none).
asio::awaitable<RecallList> recall_list(LinkContext& link, const std::string& code, const std::string& batch) {
  RecallList out;
  std::set<std::string> codes{code};
  auto product = co_await link.mirror.product(code);
  if (product && *product) {
    // Audit entries carry the code the mirror keyed the pack by; a feed line may name the other one.
    const cache::Product& known = **product;
    codes.insert(known.code);
    if (!known.gtin.empty()) codes.insert(known.gtin);
    if (!known.ppn.empty()) codes.insert(known.ppn);
  }
  RecallCollector collector(std::move(codes), link.options.location);
  const std::int64_t since_ms =
      unix_ms_now() - std::chrono::duration_cast<std::chrono::milliseconds>(link.options.recall_lookback).count();
  std::vector<cache::AuditRange> open(cache::kPartitions);
  for (int p = 0; p < cache::kPartitions; ++p) open[p] = cache::AuditRange{p, "", since_ms, 0};
  const std::size_t per_read = std::max<std::size_t>(link.options.recall_scan_batch, 1);
  cache::AuditLog audit(link.redis);
  while (!open.empty()) {
    if (co_await stop_requested()) break;
    std::vector<std::size_t> raw;
    auto read = co_await audit.read(open, per_read, &raw);
    if (!read) {
      out.error = "audit streams: " + read.error().message;
      break;
    }
    std::vector<cache::AuditRange> still_open;
    for (std::size_t i = 0; i < read->size(); ++i) {
      for (const auto& e : (*read)[i]) {
        if (!collector.wants(e.code, e.location) || !outcome_counts(e.outcome)) continue;
        collector.add(e.code, e.serial, op_name_of(e.operation, e.action), cache::stream_id_ms(e.id).value_or(0));
      }
      if (raw[i] >= per_read && !(*read)[i].empty()) {
        cache::AuditRange next = open[i];
        next.after = (*read)[i].back().id;
        still_open.push_back(std::move(next));
      }
    }
    open = std::move(still_open);
  }
  if (!link.options.audit_dir.empty()) {
    // Entries older than a few minutes live in the archive files: read them off the io_context threads.
    auto scan = std::async(std::launch::async, [&] { return scan_audit_archive(link.options.audit_dir, since_ms, collector); });
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (scan.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    auto scanned = scan.get();
    if (!scanned) out.error = "audit archive: " + scanned.error();
  }
  // Keep the packs of the recalled batch; peek in slices so that one pipeline stays small.
  auto seen = collector.sightings();
  constexpr std::size_t kSlice = 1000;
  for (std::size_t from = 0; from < seen.size(); from += kSlice) {
    std::vector<std::pair<std::string, std::string>> slice;
    for (std::size_t i = from; i < std::min(seen.size(), from + kSlice); ++i) slice.emplace_back(seen[i].code, seen[i].serial);
    auto peeked = co_await link.mirror.peek_many(std::move(slice));
    for (std::size_t k = 0; k < peeked.size(); ++k) {
      if (!peeked[k]) {
        out.error = "peeking the mirror: " + peeked[k].error().message;
        continue;
      }
      if (!*peeked[k] || (*peeked[k])->batch != batch) continue;
      ++out.total;
      if (out.packs.size() >= link.options.recall_list_cap) {
        out.truncated = true;
        continue;
      }
      const PackSighting& s = seen[from + k];
      json::array ops;
      for (const auto& op : s.ops) ops.push_back(json::value(op));
      out.packs.push_back(json::object{{"serial", s.serial},
                                       {"last_seen", iso_time_ms(s.last_seen_ms)},
                                       {"ops", std::move(ops)},
                                       {"status", cache::to_string((*peeked[k])->status)}});
    }
  }
  co_return out;
}

}  // namespace

// A batch recalled or withdrawn through the feed: one alert for this site (issue 6 "Recalls") that lists
// the packs of that batch this site received or verified in the last recall_lookback, so stock can be pulled.
asio::awaitable<void> announce_recalls(LinkContext& link, const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    auto change = recall_of(line);
    if (!change) continue;
    // Every instance follows the feed: the first to claim this change raises the alert, the others skip it.
    auto claimed = co_await link.alerts.claim(change->claim, link.options.instance_id);
    if (claimed && !*claimed) continue;
    RecallList list = co_await recall_list(link, change->code, change->batch);
    json::object pack{{change->code_key, change->code}, {"batch", change->batch}, {"expiry", change->expiry}};
    json::object details{{"batch_reason", change->reason},
                         {"feed_seq", change->seq},
                         {"lookback_days", std::chrono::duration_cast<std::chrono::hours>(link.options.recall_lookback).count() / 24},
                         {"packs", std::move(list.packs)},
                         {"packs_total", list.total},
                         {"truncated", list.truncated}};
    if (!list.error.empty()) details["packs_error"] = list.error;
    json::object alert{{"reason", change->state == "recalled" ? "batch_recalled" : "batch_withdrawn"},
                       {"nmvs_code", nullptr},
                       {"verdict", change->state},
                       {"pack", std::move(pack)},
                       {"location", link.options.location},
                       {"actor", "central"},
                       {"transaction_id", nullptr},
                       {"details", std::move(details)}};
    co_await link.raise_alert(std::move(alert));
  }
}

}  // namespace vpoint::service::central_detail
