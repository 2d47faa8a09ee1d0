#pragma once
// Stable parse error codes. Never renumber, never reuse a value: clients key on the names.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "vpoint/scanner/pack_id.hpp"

namespace vpoint::scanner {

enum class ErrorCode : int {
  empty_input = 1,         // nothing but whitespace / framing
  input_too_long = 2,      // over kMaxInputBytes
  unknown_ai = 3,          // GS1 application identifier not in our table
  ai_repeated = 4,         // the same AI twice with different values
  data_after_end = 5,      // bytes after a complete structure (envelope trailer, fixed field ...)
  invalid_check_digit = 6, // GTIN / SSCC mod-10, PPN mod-97, PZN mod-11
  invalid_length = 7,      // field shorter / longer than its AI or DI allows
  invalid_character = 8,   // character outside the field's character set
  invalid_date = 9,        // expiry not YYMMDD, bad month or day
  missing_field = 10,      // a pack needs product code + serial + batch + expiry; `field` names which
  ambiguous_split = 11,    // lost GS: several splits give a valid pack; `candidates` lists them
  invalid_digital_link = 12,  // GS1 Digital Link URI malformed
  invalid_envelope = 13,   // ISO/IEC 15434 envelope malformed
  unknown_data_identifier = 14,  // ASC MH10 data identifier we do not know
  not_numeric = 15,        // numeric field holds a non-digit
  conflicting_product_code = 16,  // e.g. both 8P GTIN and 9N PPN that disagree, or two product codes
};

// "empty_input", "unknown_ai", ...: the wire name of a code.
std::string_view to_string(ErrorCode code);

struct ParseError {
  ErrorCode code = ErrorCode::empty_input;
  std::string field;    // "gtin", "serial", "batch", "expiry", "nhrn", "sscc", "ai", "input", ...
  std::size_t offset = 0;  // byte offset into the normalised input where the problem starts
  std::string message;  // one sentence a user can act on
  std::vector<PackId> candidates;  // ambiguous_split only
};

}  // namespace vpoint::scanner
