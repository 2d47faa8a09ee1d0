// parse(): normalise the scanner text, pick the syntax by its first bytes, parse and validate.
#include "vpoint/scanner/parse.hpp"

#include "vpoint/scanner/digital_link.hpp"
#include "vpoint/scanner/gs1.hpp"
#include "vpoint/scanner/normalise.hpp"
#include "vpoint/scanner/ppn.hpp"

namespace vpoint::scanner {

Result<ParseResult, ParseError> parse(std::string_view scan, const ParseOptions& options) {
  if (scan.size() > kMaxInputBytes) {
    // Checked before any work: no scanner symbol holds more (a Data Matrix at most 3116 bytes).
    return Unexpected{ParseError{ErrorCode::input_too_long, "input", kMaxInputBytes,
                                 "The scan has " + std::to_string(scan.size()) + " bytes; the limit is " +
                                     std::to_string(kMaxInputBytes) + " bytes.",
                                 {}}};
  }
  std::string buffer;  // used only when stand-ins are replaced
  const std::string_view text = normalise_view(scan, options.extra_gs_standins, buffer);
  if (text.empty()) {
    return Unexpected{ParseError{ErrorCode::empty_input, "input", 0,
                                 "The scan is empty (nothing but spaces, line ends or framing).", {}}};
  }
  if (digital_link::looks_like_uri(text)) return digital_link::parse(text, options);
  if (text.substr(0, 3) == "[)>") return ppn::parse_envelope(text, options);
  if (text.front() == '(') return gs1::parse_human_readable(text, options);
  return gs1::parse_element_string(text, options);
}

}  // namespace vpoint::scanner
