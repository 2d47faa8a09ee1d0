#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "vpoint/service/json_body.hpp"

using namespace vpoint::service;

namespace {
Request json_request(std::string body, std::string content_type = "application/json") {
  Request req{http::verb::post, "/v1/verify", 11};
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body() = std::move(body);
  return req;
}
}  // namespace

TEST_CASE("JSON bodies: content type, syntax and shape map to the right problems", "[service][json]") {
  struct Case {
    const char* body;
    const char* content_type;
    ProblemCode code;
    const char* detail_part;
  };
  const Case cases[] = {
      {R"({"scan":"x"})", "text/plain", ProblemCode::unsupported_media_type, "text/plain"},
      {R"({"scan":"x"})", "", ProblemCode::unsupported_media_type, "no Content-Type"},
      {"", "application/json", ProblemCode::bad_request, "empty"},
      {R"({"scan":)", "application/json", ProblemCode::bad_request, "malformed JSON at byte"},
      {R"({"scan":"x"} trailing)", "application/json", ProblemCode::bad_request, "extra data"},
      {R"(["scan"])", "application/json", ProblemCode::bad_request, "must be a JSON object"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body, c.content_type);
    auto result = parse_json_object(json_request(c.body, c.content_type));
    REQUIRE_FALSE(result);
    CHECK(result.error().code == c.code);
    CHECK_THAT(result.error().detail, Catch::Contains(c.detail_part));
  }
  auto ok = parse_json_object(json_request(R"( {"scan":"x"} )", "Application/JSON; charset=utf-8"));
  REQUIRE(ok);
  CHECK(ok->at("scan").as_string() == "x");
}

TEST_CASE("field rules name the unknown, missing or mistyped field", "[service][json]") {
  auto check = [](const char* text) {
    return check_fields(boost::json::parse(text).as_object(),
                        {{"gtin", JsonKind::string, true},
                         {"serial", JsonKind::string, true},
                         {"count", JsonKind::integer},
                         {"note", JsonKind::string, false, true}},
                        "pack.");
  };
  CHECK_FALSE(check(R"({"gtin":"1","serial":"2","count":3,"note":null})"));
  auto unknown = check(R"({"gtin":"1","serial":"2","colour":"red"})");
  REQUIRE(unknown);
  CHECK(unknown->detail == "unknown field 'pack.colour'");
  CHECK(unknown->extra.at("field").as_string() == "pack.colour");
  auto missing = check(R"({"gtin":"1"})");
  REQUIRE(missing);
  CHECK(missing->detail == "missing required field 'pack.serial'");
  auto wrong = check(R"({"gtin":"1","serial":2})");
  REQUIRE(wrong);
  CHECK(wrong->detail == "field 'pack.serial' must be a string");
  auto fraction = check(R"({"gtin":"1","serial":"2","count":1.5})");
  REQUIRE(fraction);
  CHECK(fraction->detail == "field 'pack.count' must be an integer");
}
