#include <catch2/catch.hpp>

#include <set>

#include <boost/json/parse.hpp>

#include "vpoint/service/problem.hpp"

using namespace vpoint::service;

TEST_CASE("problem codes keep their numbers, names and statuses", "[service][problem]") {
  // Clients key on these: a change here is a breaking API change (issue 5).
  struct Row {
    ProblemCode code;
    int value;
    const char* name;
    unsigned status;
  };
  const Row rows[] = {
      {ProblemCode::bad_request, 1, "bad_request", 400},
      {ProblemCode::invalid_scan, 2, "invalid_scan", 422},
      {ProblemCode::unauthorized, 3, "unauthorized", 401},
      {ProblemCode::forbidden, 4, "forbidden", 403},
      {ProblemCode::not_found, 5, "not_found", 404},
      {ProblemCode::method_not_allowed, 6, "method_not_allowed", 405},
      {ProblemCode::payload_too_large, 7, "payload_too_large", 413},
      {ProblemCode::unsupported_media_type, 8, "unsupported_media_type", 415},
      {ProblemCode::mirror_unavailable, 9, "mirror_unavailable", 503},
      {ProblemCode::rate_limited, 10, "rate_limited", 429},
      {ProblemCode::internal, 11, "internal", 500},
      {ProblemCode::header_too_large, 12, "header_too_large", 431},
      {ProblemCode::restock_refused, 16, "restock_refused", 409},
  };
  std::set<std::string> titles;
  for (const Row& row : rows) {
    CAPTURE(row.name);
    CHECK(static_cast<int>(row.code) == row.value);
    CHECK(to_string(row.code) == row.name);
    CHECK(static_cast<unsigned>(http_status(row.code)) == row.status);
    CHECK(titles.insert(std::string(problem_title(row.code))).second);
  }
}

TEST_CASE("a problem response is RFC 9457 problem+json with the stable type", "[service][problem]") {
  Response res = problem_response(ProblemCode::unsupported_media_type, "expected application/json",
                                  {{"expected", "application/json"}, {"status", 999}});
  CHECK(res.result_int() == 415);
  CHECK(res[http::field::content_type] == "application/problem+json");
  auto doc = boost::json::parse(res.body()).as_object();
  CHECK(doc.at("type").as_string() == "/problems/unsupported_media_type");
  CHECK(doc.at("title").as_string() == "Unsupported Media Type");
  CHECK(doc.at("status").to_number<int>() == 415);  // an extension member cannot override it
  CHECK(doc.at("detail").as_string() == "expected application/json");
  CHECK(doc.at("expected").as_string() == "application/json");
}
