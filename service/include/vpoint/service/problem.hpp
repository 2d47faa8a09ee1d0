#pragma once
// The ONE place that maps error codes to HTTP status and RFC 9457 problem+json (style.md "Errors").
// Wire form: {"type":"/problems/<code>","title":…,"status":…,"detail":…, …extra members}.
#include <string>
#include <string_view>

#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>

#include "vpoint/service/http_types.hpp"

namespace vpoint::service {

// Stable problem codes (issue 5). Clients key on the names: never renumber, never reuse a value.
enum class ProblemCode : int {
  bad_request = 1,             // 400 malformed request, malformed JSON, wrong field type, unknown field
  invalid_scan = 2,            // 422 the scanner text / image could not be parsed into a pack
  unauthorized = 3,            // 401 missing or wrong API key / unmapped client certificate
  forbidden = 4,               // 403 the caller's role does not allow the operation
  not_found = 5,               // 404 no such route or resource
  method_not_allowed = 6,      // 405 route exists, other methods only (Allow header lists them)
  payload_too_large = 7,       // 413 body over [http] body_limit
  unsupported_media_type = 8,  // 415 wrong Content-Type
  mirror_unavailable = 9,      // 503 Redis cannot be reached in time
  rate_limited = 10,           // 429
  internal = 11,               // 500 a bug; detail never leaks internals
  header_too_large = 12,       // 431 request line + headers over the header limit (RFC 6585 §5)
  image_too_large = 13,        // 422 an image over [scan] max_pixels (refused from its header, never decoded)
  busy = 14,                   // 503 every worker of a bounded pool is taken (Retry-After); retry shortly
  mirror_full = 15,            // 503 Redis is at maxmemory and refuses writes: the change was not made
  restock_refused = 16,        // 409 a returned pack may go back to stock only when it verifies ok (issue 17)
};

std::string_view to_string(ProblemCode code);      // "bad_request", ...
std::string_view problem_title(ProblemCode code);  // "Bad Request", ...
boost::beast::http::status http_status(ProblemCode code);

inline constexpr std::string_view kProblemContentType = "application/problem+json";

struct Problem {
  ProblemCode code = ProblemCode::internal;
  std::string detail;         // one sentence a user can act on; names the field when there is one
  boost::json::object extra;  // extension members (RFC 9457 §3.2), e.g. {"field":"serial"}
};

// The problem document as JSON (type, title, status, detail, then extra members).
boost::json::object problem_json(const Problem& problem);

// A complete response: status, Content-Type application/problem+json, body. Version 1.1; the session
// fixes version and keep-alive to match the request.
Response problem_response(const Problem& problem);
Response problem_response(ProblemCode code, std::string detail, boost::json::object extra = {});

}  // namespace vpoint::service
