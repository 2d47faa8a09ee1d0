#pragma once
// The snapshot's pack lines (import.cpp): the DOM path (boost::json) and the hand-written fast path for the
// common line, which must agree field for field; tests/fuzz/fuzz_pack_line.cpp checks that they do.
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

namespace vpoint::cache::detail {

// Field `name` as a string, or nullptr when absent / not a string.
const boost::json::string* get_string(const boost::json::object& o, std::string_view name);
inline std::string_view sv(const boost::json::string* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view{};
}

// The fields of a pack line. A null data() means the field is absent (or not a string), as get_string's
// nullptr: the DOM path and the fast path below fill it the same way, so on_pack's checks and messages are
// the same for both.
struct PackFields {
  std::string_view gtin{}, ppn{}, serial{}, batch{}, status{};
  bool has_gtin = false, has_ppn = false, has_status = false;
  std::string status_json;  // "status" present but not a string: its JSON text (an unknown status)
};

PackFields pack_fields(const boost::json::object& o);

// Fast path for the common pack line, {"type":"pack","gtin":"…","serial":"…","batch":"…","status":"…"} in
// any order and with optional whitespace: every value a plain string (printable ASCII, no escapes), every
// key one of these, each at most once, "type" equal to "pack", nothing after the object. Anything else
// (escapes, non-ASCII, numbers, unknown or repeated keys, other types, malformed JSON) returns false and
// the line takes the full boost::json parse, so its result and error messages are exactly the DOM path's.
// Why: the DOM parse was most of the importer's ~6 us per pack (docs/benchmarks.md "mirror").
bool scan_pack_line(std::string_view line, PackFields& f);

}  // namespace vpoint::cache::detail
