#pragma once
// What the central system answers, read into plain values: the pack look-up, the write-back results, the change
// feed's body and a feed line's recall. No I/O and no coroutines: the callers in this folder do the requests,
// and the fuzz target tests/fuzz/fuzz_central.cpp feeds these functions arbitrary bodies (clang 14, the fuzz
// build, cannot compile this library's coroutines with the sanitizers).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/object.hpp>

#include "vpoint/cache/outbox.hpp"
#include "vpoint/service/central_link.hpp"

namespace vpoint::service::central_detail {

// The string member `key` of o, "" when absent or not a string.
std::string str(const boost::json::object& o, std::string_view key);

// A 200 answer of GET /central/v1/packs/{code}/{serial}: one JSON object. The pack's code and serial fall back
// to what was asked when the answer leaves them out. nullopt: not a JSON object.
std::optional<CentralPack> read_pack_answer(std::string_view body, std::string_view asked_code,
                                            std::string_view asked_serial);

// One entry of a 200 answer of POST /central/v1/transactions.
struct WriteBackVerdict {
  std::string result;  // "accepted" | "rejected" | anything else (left in the outbox, sent again)
  std::string code;    // the central system's reason code of a rejection
  std::optional<std::int64_t> seq;
};
// id -> verdict for every readable entry of {"results": [{"id", "result", "code", "seq"}, ...]}; entries that
// are not objects are skipped, a body that cannot be read gives an empty map (every entry is sent again).
std::unordered_map<std::string, WriteBackVerdict> read_write_back_results(std::string_view body);

// After a rejection: the pack as the central system holds it now (a 200 look-up), and the latest history entry
// that is not our transaction `own_id` (who got there first). nullopt: not a JSON object.
struct RejectionAnswer {
  cache::CentralAnswer::Pack pack;
  std::optional<std::int64_t> seq;  // the answer's "feed_seq"
  boost::json::object details;      // central_status and conflicting_* for the alert
  std::string other_transaction;
};
std::optional<RejectionAnswer> read_rejection_answer(std::string_view body, std::string_view own_id);

// A change feed answer's body (NDJSON): the lines newer than `after` in order, and how many jumps in the
// numbering they showed (changes never seen). Lines that are not JSON or have no integer "seq" are passed on
// as they are: the mirror's apply refuses them with the line named.
struct FeedBody {
  std::vector<std::string> lines;
  std::uint64_t gaps = 0;
  std::vector<std::pair<std::int64_t, std::int64_t>> jumps;  // (expected, got) for each gap
};
FeedBody split_feed_body(std::string_view body, std::int64_t after);

// A feed line that recalls or withdraws a batch (an upsert of a batch with state recalled/withdrawn).
struct RecallChange {
  std::string state;     // "recalled" | "withdrawn"
  std::string code_key;  // "gtin" | "ppn"
  std::string code, batch, expiry, reason;
  boost::json::value seq;  // the line's "seq" as given (null when absent)
  std::string claim;       // the key the instances claim so one of them raises the alert
};
std::optional<RecallChange> recall_of(std::string_view line);

}  // namespace vpoint::service::central_detail
