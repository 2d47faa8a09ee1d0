// Fault: Redis killed (SIGKILL) and restarted under verify + supply load (issue 16). Redis runs with AOF
// appendfsync always, so what it acknowledged survives. Requests in the gap get 503 mirror_unavailable (never a
// hang, never a wrong verdict), vpointd recovers by itself, and every 200-acknowledged supply is in the mirror
// and in the outbox exactly once. The central system holds the write-back (transactions_hold), so the
// outbox keeps every change for the count; afterwards it is released and takes each exactly once.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "fault_support.hpp"
#include "redis_server.hpp"
#include "sync_support.hpp"
#include "vpointd_calls.hpp"
#include "vpointd_process.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;


TEST_CASE("Redis killed and restarted under load: the gap answers 503, vpointd recovers, every acknowledged "
          "supply is in the mirror and the outbox exactly once",
          "[faults][redis]") {
  constexpr std::size_t kPacks = 1500;
  Simulator sim(10, 4000);
  RedisServer redis({.appendonly = true});
  auto packs = scan_packs(sim, kPacks);
  REQUIRE(packs.size() == kPacks);
  VpointdOptions options;
  options.redis_url = redis.url();
  options.central_url = sim.url();
  Vpointd vpointd(options);
  sim.post_json("/admin/faults", R"({"transactions_hold":true})");  // the outbox keeps every change

  // Each pack once: even ones supplied, odd ones verified, in pack order over 16 connections.
  CallBatch load;
  add_supply_verify_calls(load, packs, "redis-restart");
  LoadRunner runner(vpointd.port(), load, 16, 20s);

  REQUIRE(eventually([&] { return load.answered >= kPacks / 4; }, 60s));
  redis.kill();  // SIGKILL: no shutdown, what is not in the AOF is gone
  std::this_thread::sleep_for(1500ms);
  redis.start();  // same port and dir: AOF replayed
  runner.join();

  // Every request got an answer (nothing hung): 200, or 503 mirror_unavailable in the gap.
  std::size_t acknowledged = 0, unavailable = 0;
  std::vector<std::string> others;
  std::vector<std::size_t> acked_supplies;
  std::map<std::size_t, std::string> acked_tx;
  for (std::size_t i = 0; i < kPacks; ++i) {
    const auto& r = load.responses[i];
    if (!r) {
      others.push_back(fmt::format("{}: no answer", i));
    } else if (r->result_int() == 200) {
      ++acknowledged;
      auto v = body_json(*r);
      if (i % 2 == 0 && v.at("verdict") == "ok") {
        acked_supplies.push_back(i);
        acked_tx[i] = std::string(v.at("transaction_id").as_string());
      } else if (v.at("verdict") != "ok") {
        others.push_back(fmt::format("{}: 200 with verdict {}", i, json::serialize(v.at("verdict"))));
      }
    } else if (r->result_int() == 503 && problem_type(*r) == "/problems/mirror_unavailable") {
      ++unavailable;
    } else {
      others.push_back(fmt::format("{}: HTTP {} {}", i, r->result_int(), r->body()));
    }
  }
  INFO("acknowledged " << acknowledged << ", 503 " << unavailable << ", other " << others.size());
  for (const auto& o : others) FAIL_CHECK(o);
  CHECK(unavailable > 0);  // the kill did land in the middle of the load
  CHECK(acked_supplies.size() > 0);

  // Recovery by itself: a verification answers 200 again.
  REQUIRE(eventually([&] {
    return vpointd.request(http::verb::post, "/v1/verify", json::serialize(json::object{{"scan", packs[1].scan}}))
               .result_int() == 200;
  }, 30s));

  // Every acknowledged supply: supplied in the mirror, once in the outbox under its transaction id.
  auto outbox = outbox_transactions(redis);
  const auto [found, lost, doubled] = tally_supplies(vpointd, packs, acked_tx, outbox);
  std::printf("FAULT redis_kill_restart injected=1 sent=%zu acknowledged=%zu found=%zu lost=%zu doubled=%zu\n",
              load.answered.load(), acked_supplies.size(), found, lost, doubled);
  CHECK(lost == 0);
  CHECK(doubled == 0);

  // Released, the central system takes each acknowledged supply exactly once.
  sim.post_json("/admin/faults", R"({"transactions_hold":false})");
  REQUIRE(eventually([&] { return outbox_transactions(redis).empty(); }, 60s));
  auto v = sim.get_json("/admin/transactions?limit=1000000");
  std::map<std::string, int> central;
  for (const auto& t : v.at("transactions").as_array()) ++central[std::string(t.at("id").as_string())];
  for (std::size_t i : acked_supplies) {
    INFO("pack " << i);
    CHECK(central[acked_tx[i]] == 1);
  }
}
