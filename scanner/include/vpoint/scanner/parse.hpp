#pragma once
// Scanner text (any of: GS1 element string with or without AIM prefix / FNC1, human-readable
// "(01)...(21)...", GS1 Digital Link URI, IFA/PPN ISO/IEC 15434 envelope) -> a validated pack
// identifier or SSCC, or a precise ParseError.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "vpoint/scanner/error.hpp"
#include "vpoint/scanner/pack_id.hpp"
#include "vpoint/scanner/result.hpp"

namespace vpoint::scanner {

inline constexpr std::size_t kMaxInputBytes = 4096;

struct ParseOptions {
  // Extra stand-ins a site's scanners send for GS (0x1D), on top of the built-in ones
  // (<GS>, {GS}, ^], \x1D, \u001d, U+241D). Replaced only when the input holds no real GS.
  std::vector<std::string> extra_gs_standins = {};
  // Year used for the GS1 century window of YYMMDD (49 back, 50 ahead). 0 = the current year.
  int reference_year = 0;
};

enum class Kind { pack, sscc };

struct ParseResult {
  Kind kind = Kind::pack;
  PackId pack;                // kind == pack
  std::string sscc;           // kind == sscc (18 digits); empty otherwise
  std::string element_string; // canonical GS1 element string, GS (0x1D) after variable-length fields
  std::vector<std::string> warnings;  // stable codes, e.g. "gs_recovered"
};

Result<ParseResult, ParseError> parse(std::string_view scan, const ParseOptions& options = {});

}  // namespace vpoint::scanner
