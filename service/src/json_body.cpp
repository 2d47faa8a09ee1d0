#include "vpoint/service/json_body.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/stream_parser.hpp>

namespace vpoint::service {
namespace {

Problem field_problem(std::string field, std::string detail) {
  return Problem{ProblemCode::bad_request, std::move(detail), {{"field", field}}};
}

bool has_kind(const boost::json::value& value, JsonKind kind) {
  switch (kind) {
    case JsonKind::string:
      return value.is_string();
    case JsonKind::integer:
      return value.is_int64() || value.is_uint64();
    case JsonKind::number:
      return value.is_number();
    case JsonKind::boolean:
      return value.is_bool();
    case JsonKind::object:
      return value.is_object();
    case JsonKind::array:
      return value.is_array();
    case JsonKind::any:
      return true;
  }
  return false;
}

}  // namespace

std::string_view to_string(JsonKind kind) {
  switch (kind) {
    case JsonKind::string:
      return "a string";
    case JsonKind::integer:
      return "an integer";
    case JsonKind::number:
      return "a number";
    case JsonKind::boolean:
      return "true or false";
    case JsonKind::object:
      return "an object";
    case JsonKind::array:
      return "an array";
    case JsonKind::any:
      return "any value";
  }
  return "?";
}

bool is_json_content_type(std::string_view content_type) {
  auto semicolon = content_type.find(';');
  std::string_view media = content_type.substr(0, semicolon);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  return boost::beast::iequals(media, "application/json");
}

Result<boost::json::object, Problem> parse_json_object(const Request& request) {
  std::string_view content_type = request[http::field::content_type];
  if (!is_json_content_type(content_type)) {
    std::string got =
        content_type.empty() ? "no Content-Type" : "Content-Type '" + std::string(content_type) + "'";
    return Unexpected{Problem{ProblemCode::unsupported_media_type,
                              "expected Content-Type application/json, got " + got,
                              {{"expected", "application/json"}}}};
  }
  const std::string& body = request.body();
  if (body.find_first_not_of(" \t\r\n") == std::string::npos)
    return Unexpected{Problem{ProblemCode::bad_request, "request body is empty; expected a JSON object", {}}};
  boost::json::stream_parser parser;
  boost::system::error_code ec;
  std::size_t used = parser.write_some(body.data(), body.size(), ec);
  if (!ec && used < body.size()) {
    // write_some stops after one complete value: anything but whitespace after it is an error.
    std::string_view rest(body.data() + used, body.size() - used);
    if (rest.find_first_not_of(" \t\r\n") != std::string_view::npos) {
      return Unexpected{
          Problem{ProblemCode::bad_request,
                  "malformed JSON at byte " + std::to_string(used) + ": extra data after the value",
                  {{"offset", used}}}};
    }
  }
  if (!ec) parser.finish(ec);
  if (ec) {
    return Unexpected{Problem{ProblemCode::bad_request,
                              "malformed JSON at byte " + std::to_string(used) + ": " + ec.message(),
                              {{"offset", used}}}};
  }
  boost::json::value value = parser.release();
  if (!value.is_object())
    return Unexpected{Problem{ProblemCode::bad_request, "request body must be a JSON object", {}}};
  return std::move(value.as_object());
}

std::optional<Problem> check_fields(const boost::json::object& object, std::initializer_list<FieldRule> rules,
                                    std::string_view path) {
  for (const auto& kv : object) {
    bool known = false;
    for (const FieldRule& rule : rules) known = known || rule.name == kv.key();
    if (!known) {
      std::string field = std::string(path).append(kv.key());
      return field_problem(field, "unknown field '" + field + "'");
    }
  }
  for (const FieldRule& rule : rules) {
    std::string field = std::string(path).append(rule.name);
    const boost::json::value* value = object.if_contains(rule.name);
    bool absent = value == nullptr || (rule.nullable && value->is_null());
    if (absent) {
      if (rule.required) return field_problem(field, "missing required field '" + field + "'");
      continue;
    }
    if (!has_kind(*value, rule.kind))
      return field_problem(field, "field '" + field + "' must be " + std::string(to_string(rule.kind)));
  }
  return std::nullopt;
}

}  // namespace vpoint::service
