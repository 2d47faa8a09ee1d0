#pragma once
// Request bodies of the pack routes, read and checked without I/O: {"scan": "..."} or {"pack": {...}} per pack,
// the single routes' and the bulk route's envelopes, the action and the Idempotency-Key. Kept out of
// the pack routes' coroutines so the fuzz target tests/fuzz/fuzz_request.cpp can compile it alone (clang 14, the
// fuzz build, cannot compile coroutines with the sanitizers).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/scanner/result.hpp"
#include "vpoint/service/http_types.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service::pack_detail {

struct Scanned {
  scanner::PackId pack;
  std::vector<std::string> warnings;
  // ambiguous_split (lost GS): no pack yet; the candidates are tried against the mirror.
  std::optional<scanner::ParseError> ambiguous;
};

struct InputError {
  std::optional<Problem> problem;            // malformed request: 400
  std::optional<scanner::ParseError> parse;  // the scanner's rules refused it: 422 invalid_scan
};

// A control character (C0 or DEL): refused in pack fields and path parameters.
bool has_control(std::string_view s);

// The scanner's result as a pack input (an SSCC is refused: it names a case, not a pack).
Result<Scanned, InputError> from_parse(const Result<scanner::ParseResult, scanner::ParseError>& parsed);
// {"scan": "..."} or {"pack": {...}} of a request or bulk item; `path` prefixes field names ("items[3].").
Result<Scanned, InputError> read_pack_input(const boost::json::object& obj, const std::string& path);
// The scanner text of a request or bulk item ("" when it gave a pack object).
std::string_view scan_text_of(const boost::json::object& obj);

// "action" (already checked to be a string or null): required for changes.
std::optional<Problem> parse_action_field(const boost::json::object& obj, bool required,
                                          std::optional<cache::Action>& out);
// The Idempotency-Key header ("" when absent): 1-128 visible ASCII characters.
Result<std::string, Problem> idempotency_key(const Request& request);

// POST /v1/verify (change = false), /v1/decommission and /v1/undo (change = true): Content-Type, one JSON object
// with exactly the route's members of the right types, and for changes a known action. The pack input itself
// is read afterwards (read_pack_input), once the caller is known to be allowed.
struct SingleBody {
  boost::json::object object;
  std::optional<cache::Action> action;
};
Result<SingleBody, Problem> read_single_body(const Request& request, bool change);

// POST /v1/returns/decision (issue 17): the pack as POST /v1/verify takes it ({"scan"} or {"pack"}), "decision"
// (required: restock, quarantine or destroy) and "note" (optional, at most 500 characters, no control
// characters). Unknown members are refused naming the field.
enum class ReturnsDecision { restock, quarantine, destroy };
std::string_view to_string(ReturnsDecision decision);
struct DecisionBody {
  boost::json::object object;
  ReturnsDecision decision = ReturnsDecision::quarantine;
  std::string note;
};
Result<DecisionBody, Problem> read_decision_body(const Request& request);

// POST /v1/bulk: the envelope (operation, action, exactly one of items and sscc).
struct BulkBody {
  boost::json::object object;
  cache::Operation operation = cache::Operation::verify;
  std::optional<cache::Action> action;
  std::string sscc;  // as given, "" with items; checked by the handler (an SSCC rule error is a 422 like a scan's)
  // The "items" array, nullptr when the body names an sscc.
  const boost::json::array* items() const;
};
Result<BulkBody, Problem> read_bulk_body(const Request& request);

// The items of a bulk body: at most max_items, not empty, each an object with exactly one of scan and pack.
// One result per item (an item's own scan error does not refuse the request); a malformed item refuses it.
struct BulkItems {
  std::vector<Result<Scanned, InputError>> items;
  std::vector<std::string_view> scan_texts;  // views into the array's strings
};
Result<BulkItems, Problem> read_bulk_items(const boost::json::array& items, std::size_t max_items);

}  // namespace vpoint::service::pack_detail
