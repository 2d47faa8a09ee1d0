#include <catch2/catch.hpp>

#include "vpoint/service/router.hpp"

using namespace vpoint::service;
using boost::beast::http::verb;

TEST_CASE("router extracts path parameters and prefers literal segments", "[service][router]") {
  Router<int> router;
  router.add(verb::get, "/v1/packs/{gtin}/{serial}", 1);
  router.add(verb::post, "/v1/alerts/{id}/ack", 2);
  router.add(verb::get, "/v1/alerts/stats/ack", 3);
  router.add(verb::post, "/v1/verify", 4);

  auto match = router.find(verb::get, "/v1/packs/04150000000019/AB%2BC%20D?x=1");
  auto* found = std::get_if<Router<int>::Found>(&match);
  REQUIRE(found != nullptr);
  CHECK(*found->handler == 1);
  CHECK(found->pattern == "/v1/packs/{gtin}/{serial}");
  CHECK(found->params.get("gtin") == "04150000000019");
  CHECK(found->params.get("serial") == "AB+C D");

  match = router.find(verb::get, "/v1/alerts/stats/ack");
  REQUIRE(std::holds_alternative<Router<int>::Found>(match));
  CHECK(*std::get<Router<int>::Found>(match).handler == 3);
}

TEST_CASE("router answers not found and method not allowed with the allowed methods", "[service][router]") {
  Router<int> router;
  router.add(verb::post, "/v1/verify", 1);
  router.add(verb::get, "/v1/packs/{gtin}/{serial}", 2);
  router.add(verb::delete_, "/v1/packs/{gtin}/{serial}", 3);

  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/nothing")));
  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/packs/123")));
  // An empty parameter segment does not match, nor does a malformed escape or an encoded NUL.
  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/packs//123")));
  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/packs/1%zz/3")));
  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/packs/1%00/3")));

  auto match = router.find(verb::get, "/v1/verify");
  REQUIRE(std::holds_alternative<Router<int>::MethodNotAllowed>(match));
  CHECK(std::get<Router<int>::MethodNotAllowed>(match).allow == "POST");
  match = router.find(verb::post, "/v1/packs/1/2");
  REQUIRE(std::holds_alternative<Router<int>::MethodNotAllowed>(match));
  CHECK(std::get<Router<int>::MethodNotAllowed>(match).allow == "GET, DELETE");
}

TEST_CASE("router decodes an encoded slash inside a segment after splitting the path", "[service][router][truth]") {
  // GS1 charset 82 allows '/' in a serial: "A/B" travels as "A%2FB" and must reach the handler as one value
  // (issue 12: a false unknown-serial alert otherwise).
  Router<int> router;
  router.add(verb::get, "/v1/packs/{code}/{serial}", 1);
  auto match = router.find(verb::get, "/v1/packs/04150000000019/A%2FB");
  REQUIRE(std::holds_alternative<Router<int>::Found>(match));
  CHECK(std::get<Router<int>::Found>(match).params.get("serial") == "A/B");
  match = router.find(verb::get, "/v1/packs/04150000000019/A%2541%3FB+C&D");
  REQUIRE(std::holds_alternative<Router<int>::Found>(match));
  CHECK(std::get<Router<int>::Found>(match).params.get("serial") == "A%41?B+C&D");
  // An unencoded slash still separates segments: one more segment is another route.
  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/packs/04150000000019/A/B")));
}
