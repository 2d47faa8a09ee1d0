// Request bodies of the pack routes (pack_input.hpp).
#include "pack_input.hpp"

#include <algorithm>

#include "vpoint/scanner/gs1.hpp"
#include "vpoint/scanner/normalise.hpp"
#include "vpoint/service/json_body.hpp"

namespace vpoint::service::pack_detail {

namespace json = boost::json;
using cache::Action;
using cache::Operation;
using scanner::ErrorCode;
using scanner::ParseError;

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

Result<Scanned, InputError> from_parse(const Result<scanner::ParseResult, ParseError>& parsed) {
  if (!parsed) {
    if (parsed.error().code == ErrorCode::ambiguous_split && !parsed.error().candidates.empty())
      return Scanned{{}, {}, parsed.error()};
    return Unexpected{InputError{std::nullopt, parsed.error()}};
  }
  if (parsed->kind != scanner::Kind::pack) {
    ParseError e{ErrorCode::missing_field, "gtin", 0,
                 "this is an SSCC (a case or pallet), not a pack: use POST /v1/bulk with {\"sscc\":…}", {}};
    return Unexpected{InputError{std::nullopt, e}};
  }
  return Scanned{parsed->pack, parsed->warnings, std::nullopt};
}

namespace {


// The pack object is checked with exactly the scanner's rules: it is turned into the element string (or
// IFA envelope) it stands for and parsed.
Result<Scanned, InputError> from_pack_object(const json::object& pack, const std::string& path) {
  if (auto problem = check_fields(pack,
                                  {{"gtin", JsonKind::string}, {"ppn", JsonKind::string},
                                   {"serial", JsonKind::string, true}, {"batch", JsonKind::string, true},
                                   {"expiry", JsonKind::string, true}},
                                  path))
    return Unexpected{InputError{std::move(*problem), std::nullopt}};
  auto str = [&](const char* name) -> std::string {
    auto* v = pack.if_contains(name);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  std::string gtin = str("gtin"), ppn = str("ppn"), serial = str("serial"), batch = str("batch"),
              expiry = str("expiry");
  if (gtin.empty() == ppn.empty()) {
    return Unexpected{InputError{Problem{ProblemCode::bad_request, path + "gtin: give exactly one of gtin and ppn",
                                         {{"field", path + "gtin"}}},
                                 std::nullopt}};
  }
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"serial", &serial}, {"batch", &batch},
                             {"expiry", &expiry}, {"gtin", &gtin}, {"ppn", &ppn}}) {
    if (has_control(*value))
      return Unexpected{InputError{std::nullopt, ParseError{ErrorCode::invalid_character, name, 0,
                                                            std::string(name) + ": control characters are not allowed",
                                                            {}}}};
  }
  std::string text;
  if (!gtin.empty()) {
    auto g14 = scanner::gs1::gtin14(gtin);
    if (!g14) {
      bool digits = std::all_of(gtin.begin(), gtin.end(), [](char c) { return c >= '0' && c <= '9'; });
      ErrorCode code = !digits ? ErrorCode::not_numeric
                       : (gtin.size() == 8 || gtin.size() == 12 || gtin.size() == 13 || gtin.size() == 14)
                           ? ErrorCode::invalid_check_digit
                           : ErrorCode::invalid_length;
      return Unexpected{InputError{
          std::nullopt, ParseError{code, "gtin", 0, "gtin: must be a GTIN-8/12/13/14 with a valid check digit", {}}}};
    }
    text = "01" + *g14 + "21" + serial + scanner::kGs + "10" + batch + scanner::kGs + "17" + expiry;
  } else {
    text = std::string("[)>") + scanner::kRs + "06" + scanner::kGs + "9N" + ppn + scanner::kGs + "1T" + batch +
           scanner::kGs + "D" + expiry + scanner::kGs + "S" + serial + scanner::kRs + scanner::kEot;
  }
  auto scanned = from_parse(scanner::parse(text));
  if (scanned && scanned->ambiguous) {  // cannot happen with separators in place; be strict anyway
    return Unexpected{InputError{std::nullopt, *scanned->ambiguous}};
  }
  return scanned;
}

}  // namespace

std::string_view scan_text_of(const json::object& obj) {
  const json::value* scan = obj.if_contains("scan");
  return scan && scan->is_string() ? std::string_view(scan->as_string()) : std::string_view();
}

Result<Scanned, InputError> read_pack_input(const json::object& obj, const std::string& path) {
  const json::value* scan = obj.if_contains("scan");
  const json::value* pack = obj.if_contains("pack");
  if (scan && scan->is_null()) scan = nullptr;
  if (pack && pack->is_null()) pack = nullptr;
  if ((scan == nullptr) == (pack == nullptr)) {
    return Unexpected{InputError{
        Problem{ProblemCode::bad_request, path + "scan: give exactly one of \"scan\" and \"pack\"",
                {{"field", path + "scan"}}},
        std::nullopt}};
  }
  if (scan) return from_parse(scanner::parse(scan->as_string()));
  return from_pack_object(pack->as_object(), path + "pack.");
}

std::optional<Problem> parse_action_field(const json::object& obj, bool required, std::optional<Action>& out) {
  const json::value* v = obj.if_contains("action");
  if (v == nullptr || v->is_null()) {
    if (!required) return std::nullopt;
    return Problem{ProblemCode::bad_request, "action: required", {{"field", "action"}}};
  }
  out = cache::parse_action(v->as_string());
  if (!out)
    return Problem{ProblemCode::bad_request,
                   "action: must be one of supply, destroy, export, sample, free_sample, stolen, lock",
                   {{"field", "action"}}};
  return std::nullopt;
}

Result<std::string, Problem> idempotency_key(const Request& request) {
  auto it = request.find("Idempotency-Key");
  if (it == request.end()) return std::string();
  std::string_view key = it->value();
  bool sane = !key.empty() && key.size() <= 128 &&
              std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (!sane)
    return Unexpected{Problem{ProblemCode::bad_request,
                              "Idempotency-Key: 1-128 visible ASCII characters", {{"field", "Idempotency-Key"}}}};
  return std::string(key);
}


Result<SingleBody, Problem> read_single_body(const Request& request, bool change) {
  auto obj = parse_json_object(request);
  if (!obj) return Unexpected{std::move(obj.error())};
  std::optional<Problem> shape =
      change ? check_fields(*obj, {{"scan", JsonKind::string, false, true},
                                   {"pack", JsonKind::object, false, true},
                                   {"action", JsonKind::string, true}})
             : check_fields(*obj, {{"scan", JsonKind::string, false, true}, {"pack", JsonKind::object, false, true}});
  if (shape) return Unexpected{std::move(*shape)};
  SingleBody out{std::move(*obj), std::nullopt};
  if (change)
    if (auto p = parse_action_field(out.object, true, out.action)) return Unexpected{std::move(*p)};
  return out;
}

std::string_view to_string(ReturnsDecision decision) {
  switch (decision) {
    case ReturnsDecision::restock: return "restock";
    case ReturnsDecision::quarantine: return "quarantine";
    case ReturnsDecision::destroy: return "destroy";
  }
  return "quarantine";
}

Result<DecisionBody, Problem> read_decision_body(const Request& request) {
  auto obj = parse_json_object(request);
  if (!obj) return Unexpected{std::move(obj.error())};
  if (auto shape = check_fields(*obj, {{"scan", JsonKind::string, false, true},
                                       {"pack", JsonKind::object, false, true},
                                       {"decision", JsonKind::string, true},
                                       {"note", JsonKind::string, false, true}}))
    return Unexpected{std::move(*shape)};
  DecisionBody out{std::move(*obj)};
  const std::string_view decision = out.object.at("decision").as_string();
  if (decision == "restock") out.decision = ReturnsDecision::restock;
  else if (decision == "quarantine") out.decision = ReturnsDecision::quarantine;
  else if (decision == "destroy") out.decision = ReturnsDecision::destroy;
  else
    return Unexpected{Problem{ProblemCode::bad_request, "decision: must be one of restock, quarantine, destroy",
                              {{"field", "decision"}}}};
  if (const json::value* note = out.object.if_contains("note"); note && note->is_string()) {
    const std::string_view text = note->get_string();
    if (text.size() > 500 || has_control(text))
      return Unexpected{Problem{ProblemCode::bad_request,
                                "note: at most 500 characters, no control characters", {{"field", "note"}}}};
    out.note = std::string(text);
  }
  return out;
}

const json::array* BulkBody::items() const {
  const json::value* v = object.if_contains("items");
  return v && v->is_array() ? &v->get_array() : nullptr;
}

Result<BulkBody, Problem> read_bulk_body(const Request& request) {
  auto obj = parse_json_object(request);
  if (!obj) return Unexpected{std::move(obj.error())};
  if (auto shape = check_fields(*obj, {{"operation", JsonKind::string, false, true},
                                       {"action", JsonKind::string, false, true},
                                       {"items", JsonKind::array, false, true},
                                       {"sscc", JsonKind::string, false, true}}))
    return Unexpected{std::move(*shape)};
  BulkBody out;
  out.object = std::move(*obj);
  const json::value* items = out.object.if_contains("items");
  const json::value* sscc = out.object.if_contains("sscc");
  if (items && items->is_null()) items = nullptr;
  if (sscc && sscc->is_null()) sscc = nullptr;
  if ((items == nullptr) == (sscc == nullptr))
    return Unexpected{Problem{ProblemCode::bad_request, "items: give exactly one of \"items\" and \"sscc\"",
                              {{"field", "items"}}}};
  if (sscc) out.sscc = std::string(sscc->get_string());
  if (const json::value* v = out.object.if_contains("operation"); v && !v->is_null()) {
    std::string_view name = v->get_string();
    if (name == "verify") out.operation = Operation::verify;
    else if (name == "decommission") out.operation = Operation::decommission;
    else if (name == "undo") out.operation = Operation::undo;
    else
      return Unexpected{Problem{ProblemCode::bad_request, "operation: must be verify, decommission or undo",
                                {{"field", "operation"}}}};
  }
  if (auto p = parse_action_field(out.object, out.operation != Operation::verify, out.action))
    return Unexpected{std::move(*p)};
  // A verification changes nothing: an action with it is not understood, so it is refused (as POST /v1/verify
  // refuses the member), not silently ignored.
  if (out.operation == Operation::verify && out.action)
    return Unexpected{Problem{ProblemCode::bad_request,
                              "action: only with operation decommission or undo (a verification takes none)",
                              {{"field", "action"}}}};
  return out;
}

Result<BulkItems, Problem> read_bulk_items(const json::array& items, std::size_t max_items) {
  if (items.size() > max_items)
    return Unexpected{Problem{ProblemCode::bad_request, "items: at most " + std::to_string(max_items) + " per request",
                              {{"field", "items"}}}};
  if (items.empty()) return Unexpected{Problem{ProblemCode::bad_request, "items: empty", {{"field", "items"}}}};
  BulkItems out;
  out.items.reserve(items.size());
  out.scan_texts.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string path = "items[" + std::to_string(i) + "].";
    if (!items[i].is_object())
      return Unexpected{Problem{ProblemCode::bad_request, path + ": must be an object",
                                {{"field", "items[" + std::to_string(i) + "]"}}}};
    const json::object& item = items[i].get_object();
    if (auto shape = check_fields(item, {{"scan", JsonKind::string, false, true},
                                         {"pack", JsonKind::object, false, true}},
                                  path))
      return Unexpected{std::move(*shape)};
    out.items.push_back(read_pack_input(item, path));
    out.scan_texts.push_back(scan_text_of(item));
  }
  return out;
}

}  // namespace vpoint::service::pack_detail
