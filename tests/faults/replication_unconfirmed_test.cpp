// Fault: fewer replicas than [redis] min_replicas_ack (issue 16). A change Redis applied but no replica has yet
// could be lost by a failover: it is still answered (it is on the master, and the outbox will sync it), but with
// the warning replication_unconfirmed, logged and counted (vpoint_changes_unreplicated_total). Both directions:
// with no replica every supply carries the warning; once a replica has synced, a supply carries none; a
// verification (no WAIT) never does.
#include <catch2/catch.hpp>

#include <cstdio>
#include <thread>

#include <boost/json/serialize.hpp>

#include "fault_support.hpp"
#include "vpointd_calls.hpp"
#include "vpointd_process.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// The value of a counter without labels in the Prometheus text, -1 when absent.
double counter_value(const std::string& metrics, const std::string& name) {
  auto at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("fewer replicas than min_replicas_ack: a supply is answered with replication_unconfirmed and counted, "
          "and without the warning once a replica has synced",
          "[faults][redis]") {
  Simulator sim(10, 40);
  RedisServer master;
  auto packs = scan_packs(sim, 3);
  REQUIRE(packs.size() == 3);
  VpointdOptions options;
  options.redis_url = master.url();
  options.central_url = sim.url();
  options.redis_extra = "min_replicas_ack = 1\n";
  Vpointd vpointd(options);
  sim.post_json("/admin/faults", R"({"transactions_hold":true})");  // the outbox keeps every change
  auto supply = [&](const ScanPack& pack) {
    return vpointd.request(http::verb::post, "/v1/decommission",
                           json::serialize(json::object{{"scan", pack.scan}, {"action", "supply"}}));
  };
  auto unreplicated = [&] {
    return counter_value(vpointd.request(http::verb::get, "/metrics", "", "").body(),
                         "vpoint_changes_unreplicated_total");
  };

  // No replica: the supply is done (on the master, in the outbox) and says that no replica has it yet.
  auto first = supply(packs[0]);
  REQUIRE(first.result_int() == 200);
  auto a = body_json(first);
  CHECK(a.at("verdict") == "ok");
  CHECK(a.at("status") == "supplied");
  CHECK(has_warning(a, "replication_unconfirmed"));
  CHECK(unreplicated() == 1);
  CHECK(vpointd.output().find("\"replication_unconfirmed\"") != std::string::npos);

  // A verification changes nothing, waits for no replica and warns of nothing.
  auto verified =
      vpointd.request(http::verb::post, "/v1/verify", json::serialize(json::object{{"scan", packs[1].scan}}));
  REQUIRE(verified.result_int() == 200);
  CHECK_FALSE(has_warning(body_json(verified), "replication_unconfirmed"));
  CHECK(unreplicated() == 1);

  // A replica attached and synced: the next supply is acknowledged by it, without the warning.
  RedisServer replica;
  replica.cli({"REPLICAOF", "127.0.0.1", std::to_string(master.port())});
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (replica.cli({"INFO", "replication"}).find("master_link_status:up") == std::string::npos) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(100ms);
  }
  // And the master counts it: online, and acknowledging (WAIT, as vpointd sends it, answers 1 at once). Until
  // then a WAIT within vpointd's 100 ms may still miss it on a loaded machine (seen under ASan in CI).
  while (master.cli({"INFO", "replication"}).find("state=online") == std::string::npos ||
         master.cli({"WAIT", "1", "100"}) != "1") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(100ms);
  }
  auto second = supply(packs[2]);
  REQUIRE(second.result_int() == 200);
  auto b = body_json(second);
  CHECK(b.at("verdict") == "ok");
  CHECK_FALSE(has_warning(b, "replication_unconfirmed"));
  CHECK(unreplicated() == 1);

  // Warned or not, both acknowledged supplies are in the outbox once, to reach the central system.
  auto outbox = outbox_transactions(master);
  std::size_t found = 0, lost = 0, doubled = 0;
  for (const auto* answer : {&a, &b}) {
    const std::string tx(answer->at("transaction_id").as_string());
    const int copies = outbox.count(tx) ? outbox[tx] : 0;
    if (copies >= 1) ++found;
    else ++lost;
    if (copies > 1) ++doubled;
  }
  std::printf("FAULT replication_unconfirmed injected=1 sent=3 acknowledged=2 found=%zu lost=%zu doubled=%zu\n",
              found, lost, doubled);
  CHECK(lost == 0);
  CHECK(doubled == 0);
}
