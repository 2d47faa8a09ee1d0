// Wire names of the parse error codes (error.hpp): stable, clients key on them.
#include "vpoint/scanner/error.hpp"

namespace vpoint::scanner {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::empty_input: return "empty_input";
    case ErrorCode::input_too_long: return "input_too_long";
    case ErrorCode::unknown_ai: return "unknown_ai";
    case ErrorCode::ai_repeated: return "ai_repeated";
    case ErrorCode::data_after_end: return "data_after_end";
    case ErrorCode::invalid_check_digit: return "invalid_check_digit";
    case ErrorCode::invalid_length: return "invalid_length";
    case ErrorCode::invalid_character: return "invalid_character";
    case ErrorCode::invalid_date: return "invalid_date";
    case ErrorCode::missing_field: return "missing_field";
    case ErrorCode::ambiguous_split: return "ambiguous_split";
    case ErrorCode::invalid_digital_link: return "invalid_digital_link";
    case ErrorCode::invalid_envelope: return "invalid_envelope";
    case ErrorCode::unknown_data_identifier: return "unknown_data_identifier";
    case ErrorCode::not_numeric: return "not_numeric";
    case ErrorCode::conflicting_product_code: return "conflicting_product_code";
  }
  return "unknown_error";
}

}  // namespace vpoint::scanner
