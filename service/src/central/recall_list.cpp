// The pack list of a recall alert: audit entries -> packs of the product seen at this site (recall_list.hpp).
#include "recall_list.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::service::central_detail {

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

std::string op_name_of_stream(std::string_view op, std::string_view action_number) {
  if (op == "v") return "verify";
  int n = std::atoi(std::string(action_number).c_str());
  std::string action = n >= 1 && n <= 7 ? std::string(cache::to_string(static_cast<cache::Action>(n)))
                                        : std::string("unknown");
  return op == "u" ? "undo_" + action : action;
}

std::string op_name_of_archive(std::string_view op, std::string_view action) {
  if (op == "verify") return "verify";
  std::string name = action.empty() ? std::string("unknown") : std::string(action);
  return op == "undo" ? "undo_" + name : name;
}

bool stream_outcome_counts(std::string_view outcome_number) {
  int n = std::atoi(std::string(outcome_number).c_str());
  return n != static_cast<int>(cache::Outcome::unknown_product) && n != static_cast<int>(cache::Outcome::unknown_serial);
}

bool archive_outcome_counts(std::string_view outcome_name) {
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
      if (!archive_outcome_counts(text_of(o, "outcome"))) continue;
      collector.add(text_of(o, "code"), text_of(o, "serial"), op_name_of_archive(text_of(o, "op"), text_of(o, "action")),
                    id_ms);
      ++added;
    }
  }
  return added;
}

}  // namespace vpoint::service::central_detail
