// The pack routes' use of the central link, end to end through the real vpointd process (issue 6
// "Read-through"): a pack the mirror does not know is looked up live; with the central system unreachable
// `[central] offline` decides: record (truth_test.cpp: unconfirmed, replayed later) or refuse (refused /
// central_unavailable, here).
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "redis_server.hpp"
#include "sync_support.hpp"
#include "vpointd_calls.hpp"
#include "vpointd_process.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;


TEST_CASE("vpointd verifies a pack its mirror lacks through a live look-up at the central system",
          "[sync][vpointd][readthrough]") {
  Simulator sim(4, 2000);
  RedisServer redis;
  VpointdOptions options;
  options.redis_url = redis.url();
  options.central_url = sim.url();
  Vpointd vpointd(options);
  auto known = packs_of(sim, 1);
  REQUIRE(known.size() == 1);

  auto fresh = upload_behind_the_feed(sim, known[0], "READTHRU00001");
  // The mirror does not have it (GET /v1/packs reads the mirror only)...
  auto before = vpointd.request(http::verb::get, "/v1/packs/" + fresh.code + "/" + fresh.serial);
  CHECK(before.result_int() == 404);
  // ...yet a verification finds it: looked up live, cached, verified from the mirror.
  auto verified = call(vpointd, "/v1/verify", fresh.pack_object());
  CHECK(verified.status == 200);
  CHECK(verified.body.at("verdict") == "ok");
  CHECK(verified.body.at("status") == "active");
  CHECK(verified.body.at("source") == "mirror");
  CHECK(!has_warning(verified.body, "unconfirmed"));
  auto after = vpointd.request(http::verb::get, "/v1/packs/" + fresh.code + "/" + fresh.serial);
  CHECK(after.result_int() == 200);
  CHECK(sim.get_json("/admin/faults").at("feed_hold") == true);  // not through the feed

  // A serial the central system does not know either stays unknown (no offline answer: it was reachable).
  auto unknown = call(vpointd, "/v1/verify", known[0].pack_object("NOSUCHSERIAL01"));
  CHECK(unknown.status == 200);
  CHECK(unknown.body.at("verdict") != "ok");
  CHECK(unknown.body.at("reason") == "unknown_serial");
  CHECK(unknown.body.at("source") == "mirror");

  // And a supply of the looked-up pack is written back like any other.
  auto supplied = call(vpointd, "/v1/decommission", fresh.pack_object(), "supply");
  REQUIRE(supplied.body.at("verdict") == "ok");
  std::string tx(supplied.body.at("transaction_id").as_string());
  REQUIRE(eventually([&] { return sim.get_json("/admin/transactions?id=" + tx).at("transactions").as_array().size() == 1; }, 20s));
  CHECK(sim.get_json("/central/v1/packs/" + fresh.code + "/" + fresh.serial).at("status") == "supplied");
}

TEST_CASE("with central offline = refuse an unknown pack is refused as central_unavailable while the central "
          "system is down",
          "[sync][vpointd][offline]") {
  Simulator sim(4, 2000);
  RedisServer redis;
  VpointdOptions options;
  options.redis_url = redis.url();
  options.central_url = sim.url();
  options.offline = "refuse";
  Vpointd vpointd(options);
  auto known = packs_of(sim, 2);
  REQUIRE(known.size() == 2);
  sim.kill();

  auto verified = call(vpointd, "/v1/verify", known[0].pack_object("NEVERISSUED02"));
  CHECK(verified.status == 200);
  CHECK(verified.body.at("verdict") == "refused");
  CHECK(verified.body.at("reason") == "central_unavailable");
  CHECK(verified.body.at("source") == "offline");
  CHECK(!has_warning(verified.body, "unconfirmed"));

  auto supplied = call(vpointd, "/v1/decommission", known[0].pack_object("NEVERISSUED03"), "supply");
  CHECK(supplied.body.at("verdict") == "refused");
  CHECK(supplied.body.at("reason") == "central_unavailable");
  CHECK(supplied.body.at("transaction_id").is_null());

  // Packs the mirror knows are still answered from it: refuse only concerns what cannot be checked.
  auto from_mirror = call(vpointd, "/v1/decommission", known[1].pack_object(), "supply");
  CHECK(from_mirror.body.at("verdict") == "ok");
  CHECK(from_mirror.body.at("source") == "mirror");

  // Nothing was recorded for re-verification: the sim coming back raises no alert.
  sim.start();
  std::string tx(from_mirror.body.at("transaction_id").as_string());
  REQUIRE(eventually([&] { return sim.get_json("/admin/transactions?id=" + tx).at("transactions").as_array().size() == 1; }, 30s));
  std::this_thread::sleep_for(3s);  // > one re-verification round (reverify_interval 2 s)
  CHECK(alerts(vpointd).empty());
}
