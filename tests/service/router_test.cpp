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
  // An empty parameter segment does not match, and neither does an encoded slash inside one.
  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/packs//123")));
  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/packs/1%2F2/3")));
  CHECK(std::holds_alternative<Router<int>::NotFound>(router.find(verb::get, "/v1/packs/1%zz/3")));

  auto match = router.find(verb::get, "/v1/verify");
  REQUIRE(std::holds_alternative<Router<int>::MethodNotAllowed>(match));
  CHECK(std::get<Router<int>::MethodNotAllowed>(match).allow == "POST");
  match = router.find(verb::post, "/v1/packs/1/2");
  REQUIRE(std::holds_alternative<Router<int>::MethodNotAllowed>(match));
  CHECK(std::get<Router<int>::MethodNotAllowed>(match).allow == "GET, DELETE");
}
