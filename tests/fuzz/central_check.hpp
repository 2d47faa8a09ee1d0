#pragma once
// The oracle of fuzz_central, shared with its replay test (tests/service/fuzz_replay_test.cpp): whatever body the
// central system answers, its readers (service/src/central/central_answers.hpp) accept exactly the JSON objects,
// never invent a pack without code or serial, never name our own transaction as the one that got there first,
// pass on only feed lines newer than the position (in order, none lost), and raise a recall only for a batch
// recalled or withdrawn.
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>

#include "central_answers.hpp"

namespace vpoint::fuzz {

inline bool is_json_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  return !ec && v.is_object();
}

inline bool central_answers_hold(std::string_view body) {
  using namespace vpoint::service::central_detail;
  const bool object = is_json_object(body);

  auto pack = read_pack_answer(body, "04150123456782", "S1");
  if (pack.has_value() != object) return false;
  if (pack && (pack->code.empty() || pack->serial.empty() || (pack->code_key != "gtin" && pack->code_key != "ppn")))
    return false;

  auto rejection = read_rejection_answer(body, "tx-own");
  if (rejection.has_value() != object) return false;
  if (rejection) {
    if (rejection->other_transaction == "tx-own" || !rejection->details.contains("central_status")) return false;
    if (!rejection->other_transaction.empty() &&
        rejection->details.at("conflicting_transaction").as_string() != rejection->other_transaction)
      return false;
  }

  auto results = read_write_back_results(body);
  if (!object && !results.empty()) return false;

  // The body's non-empty lines, to check the feed split against.
  std::vector<std::string_view> all;
  for (std::string_view rest = body; !rest.empty();) {
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (!line.empty()) all.push_back(line);
  }
  for (std::int64_t after : {0, 5}) {
    FeedBody feed = split_feed_body(body, after);
    if (feed.gaps != feed.jumps.size() || feed.lines.size() > all.size()) return false;
    // Kept lines are body lines in their order (a subsequence); a line left out had an integer seq <= after.
    std::size_t next = 0;
    for (const auto& kept : feed.lines) {
      while (next < all.size() && all[next] != kept) {
        auto skipped = split_feed_body(all[next], after);
        if (!skipped.lines.empty()) return false;  // dropped although it would pass alone
        ++next;
      }
      if (next == all.size()) return false;
      ++next;
    }
    for (; next < all.size(); ++next)
      if (!split_feed_body(all[next], after).lines.empty()) return false;
    for (const auto& [expected, got] : feed.jumps)
      if (expected == got || got <= after) return false;
  }

  for (const auto& line : all) {
    auto recall = recall_of(line);
    if (!recall) continue;
    if (recall->state != "recalled" && recall->state != "withdrawn") return false;
    if (recall->claim.rfind("recall:", 0) != 0) return false;
  }
  return true;
}

}  // namespace vpoint::fuzz
