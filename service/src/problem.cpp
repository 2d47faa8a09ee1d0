#include "vpoint/service/problem.hpp"

#include <array>

#include <boost/json/serialize.hpp>

namespace vpoint::service {
namespace {

struct ProblemRow {
  ProblemCode code;
  std::string_view name;
  std::string_view title;
  http::status status;
};

// Indexed by code value - 1; a row per code, in code order (checked in problem_test).
constexpr std::array<ProblemRow, 16> kProblems{{
    {ProblemCode::bad_request, "bad_request", "Bad Request", http::status::bad_request},
    {ProblemCode::invalid_scan, "invalid_scan", "Invalid Scan", http::status::unprocessable_entity},
    {ProblemCode::unauthorized, "unauthorized", "Unauthorized", http::status::unauthorized},
    {ProblemCode::forbidden, "forbidden", "Forbidden", http::status::forbidden},
    {ProblemCode::not_found, "not_found", "Not Found", http::status::not_found},
    {ProblemCode::method_not_allowed, "method_not_allowed", "Method Not Allowed",
     http::status::method_not_allowed},
    {ProblemCode::payload_too_large, "payload_too_large", "Payload Too Large",
     http::status::payload_too_large},
    {ProblemCode::unsupported_media_type, "unsupported_media_type", "Unsupported Media Type",
     http::status::unsupported_media_type},
    {ProblemCode::mirror_unavailable, "mirror_unavailable", "Mirror Unavailable",
     http::status::service_unavailable},
    {ProblemCode::rate_limited, "rate_limited", "Too Many Requests", http::status::too_many_requests},
    {ProblemCode::internal, "internal", "Internal Server Error", http::status::internal_server_error},
    {ProblemCode::header_too_large, "header_too_large", "Request Header Fields Too Large",
     http::status::request_header_fields_too_large},
    {ProblemCode::image_too_large, "image_too_large", "Image Too Large", http::status::unprocessable_entity},
    {ProblemCode::busy, "busy", "Busy", http::status::service_unavailable},
    {ProblemCode::mirror_full, "mirror_full", "Mirror Full", http::status::service_unavailable},
    {ProblemCode::restock_refused, "restock_refused", "Restock Refused", http::status::conflict},
}};

const ProblemRow& row(ProblemCode code) {
  auto index = static_cast<std::size_t>(code) - 1;
  if (index >= kProblems.size()) return kProblems[static_cast<std::size_t>(ProblemCode::internal) - 1];
  return kProblems[index];
}

}  // namespace

std::string_view to_string(ProblemCode code) { return row(code).name; }
std::string_view problem_title(ProblemCode code) { return row(code).title; }
http::status http_status(ProblemCode code) { return row(code).status; }

boost::json::object problem_json(const Problem& problem) {
  const ProblemRow& r = row(problem.code);
  boost::json::object doc;
  doc["type"] = std::string("/problems/").append(r.name);
  doc["title"] = r.title;
  doc["status"] = static_cast<unsigned>(r.status);
  doc["detail"] = problem.detail;
  // Extension members never override the standard ones (RFC 9457 §3.2 keeps those meanings fixed).
  for (const auto& kv : problem.extra) {
    if (!doc.contains(kv.key())) doc[kv.key()] = kv.value();
  }
  return doc;
}

Response problem_response(const Problem& problem) {
  Response res{http_status(problem.code), 11};
  res.set(http::field::content_type, kProblemContentType);
  res.set(http::field::cache_control, "no-store");
  res.body() = boost::json::serialize(problem_json(problem));
  res.prepare_payload();
  return res;
}

Response problem_response(ProblemCode code, std::string detail, boost::json::object extra) {
  return problem_response(Problem{code, std::move(detail), std::move(extra)});
}

}  // namespace vpoint::service
