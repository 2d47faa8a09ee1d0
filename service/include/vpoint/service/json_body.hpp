#pragma once
// JSON request bodies: the checks every JSON route needs, each failure turned into the right problem
// (wrong Content-Type -> 415 unsupported_media_type; empty, malformed, not an object, unknown field, missing
// field, wrong type -> 400 bad_request naming the field). Oversize bodies never get here: the server core
// answers 413 while reading.
#include <initializer_list>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "vpoint/scanner/result.hpp"
#include "vpoint/service/http_types.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service {

// Content-Type is application/json (any case, parameters such as charset ignored).
bool is_json_content_type(std::string_view content_type);

// Checks Content-Type and parses the body, which must be one JSON object.
Result<boost::json::object, Problem> parse_json_object(const Request& request);

enum class JsonKind { string, integer, number, boolean, object, array, any };
std::string_view to_string(JsonKind kind);

struct FieldRule {
  std::string_view name;
  JsonKind kind = JsonKind::string;
  bool required = false;
  bool nullable = false;  // null allowed (counts as absent)
};

// Unknown members, missing required members and wrong types, in that order of report; the problem names the
// field as `path` + name (path like "pack." for nested objects) in detail and in the "field" member.
std::optional<Problem> check_fields(const boost::json::object& object, std::initializer_list<FieldRule> rules,
                                    std::string_view path = "");

}  // namespace vpoint::service
