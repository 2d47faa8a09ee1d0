// Fault: vpointd started while Redis is down (issue 16). It starts unready (health up, readiness down, pack
// calls refused, never answered from nothing), connects when Redis comes, checks its settings then, and
// becomes ready by itself; an evicting maxmemory-policy found then still stops it, naming the setting.
#include <catch2/catch.hpp>

#include <cstdio>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "redis_server.hpp"
#include "sync_support.hpp"
#include "vpointd_process.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

TEST_CASE("vpointd started while Redis is down starts unready and becomes ready by itself when Redis comes",
          "[faults][redis]") {
  Simulator sim(4, 200);
  RedisServer redis;
  redis.kill();
  VpointdOptions options;
  options.redis_url = redis.url();
  options.central_url = sim.url();
  options.wait_ready = false;
  Vpointd vpointd(options);

  CHECK(vpointd.request(http::verb::get, "/healthz").result_int() == 200);
  CHECK(vpointd.request(http::verb::get, "/readyz").result_int() == 503);
  auto packs = sim.get_json("/admin/packs?scan=1&limit=1").at("packs").as_array();
  REQUIRE(packs.size() == 1);
  const std::string verify = json::serialize(json::object{{"scan", packs[0].at("scan")}});
  auto early = vpointd.request(http::verb::post, "/v1/verify", verify);
  INFO(early.body());
  CHECK(early.result_int() != 200);  // nothing to answer from: refused, never a verdict
  CHECK(early.result_int() >= 500);

  redis.start();
  REQUIRE(eventually([&] { return vpointd.request(http::verb::get, "/readyz").result_int() == 200; }, 60s));
  auto answer = vpointd.request(http::verb::post, "/v1/verify", verify);
  INFO(answer.body());
  REQUIRE(answer.result_int() == 200);
  CHECK(json::parse(answer.body()).at("verdict") == "ok");
  CHECK(vpointd.output().find("redis_unavailable_at_start") != std::string::npos);
  const int acknowledged = answer.result_int() == 200 ? 1 : 0;
  const int found = acknowledged && json::parse(answer.body()).at("verdict") == "ok" ? 1 : 0;
  // Two verifications sent: the one while Redis was down (refused, so not acknowledged) and the one after.
  std::printf("FAULT redis_down_at_start injected=1 sent=2 acknowledged=%d found=%d lost=%d doubled=0\n",
              acknowledged, found, acknowledged - found);
}

TEST_CASE("vpointd waiting for Redis stops with the reason when Redis then shows an evicting policy",
          "[faults][redis]") {
  RedisServer redis({.extra_args = {"--maxmemory-policy", "allkeys-lru"}});
  redis.kill();
  VpointdOptions options;
  options.redis_url = redis.url();
  options.wait_ready = false;
  Vpointd vpointd(options);
  CHECK(vpointd.request(http::verb::get, "/readyz").result_int() == 503);
  redis.start();
  auto code = vpointd.wait_exit(30s);
  REQUIRE(code);
  CHECK(*code == 1);
  INFO(vpointd.output());
  CHECK(vpointd.output().find("maxmemory-policy") != std::string::npos);
}
