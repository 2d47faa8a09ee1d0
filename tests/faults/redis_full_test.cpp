// Fault: Redis at maxmemory with noeviction (issue 16). Redis then refuses every write: a decommission, an undo
// and a bulk decommission are refused with 503 mirror_full (Retry-After) and change nothing; a verification is
// still answered, from a read-only look (vp_look), with the warning audit_unavailable, and its audit entry,
// which could not be stored, is counted (vpoint_audit_lost_total) and logged (audit_lost). When room returns,
// changes are accepted again, and every acknowledged change is in the outbox exactly once.
#include <catch2/catch.hpp>

#include <cstdio>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "fault_support.hpp"
#include "vpointd_calls.hpp"
#include "vpointd_process.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::size_t count_of(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("Redis full: changes are refused with 503 mirror_full and change nothing, verifications answer with "
          "audit_unavailable and every lost audit entry is counted and logged",
          "[faults][redis]") {
  Simulator sim(10, 40);
  RedisServer redis;
  auto packs = scan_packs(sim, 6);
  REQUIRE(packs.size() == 6);
  VpointdOptions options;
  options.redis_url = redis.url();
  options.central_url = sim.url();
  constexpr const char* kDockKey = "test-wholesaler-key-01";  // goods receipt: bulk decommissions
  options.extra_toml = fmt::format("[[auth.keys]]\nname = \"dock-1\"\nkey = \"{}\"\nrole = \"wholesaler\"\n", kDockKey);
  Vpointd vpointd(options);
  sim.post_json("/admin/faults", R"({"transactions_hold":true})");  // the outbox keeps every change

  auto call = [&](const std::string& route, const ScanPack& pack, std::string action = "") {
    json::object body{{"scan", pack.scan}};
    if (!action.empty()) body["action"] = action;
    return vpointd.request(http::verb::post, route, json::serialize(body));
  };
  std::size_t sent = 0;
  std::vector<std::string> acknowledged;  // transaction ids of the 200-acknowledged changes

  auto supplied = call("/v1/decommission", packs[0], "supply");
  ++sent;
  REQUIRE(supplied.result_int() == 200);
  REQUIRE(body_json(supplied).at("verdict") == "ok");
  acknowledged.emplace_back(body_json(supplied).at("transaction_id").as_string());

  // Full: Redis' own used memory is over the limit from now on.
  redis.cli({"CONFIG", "SET", "maxmemory", "1"});

  // Changes: refused, nothing changed, the client told to come back.
  auto refused = call("/v1/decommission", packs[1], "supply");
  auto undo = call("/v1/undo", packs[0], "supply");
  json::array items{json::object{{"scan", packs[2].scan}}, json::object{{"scan", packs[3].scan}}};
  auto bulk = vpointd.request(
      http::verb::post, "/v1/bulk",
      json::serialize(json::object{{"operation", "decommission"}, {"action", "export"}, {"items", items}}),
      kDockKey);
  sent += 3;
  for (const auto* r : {&refused, &undo, &bulk}) {
    INFO(r->body());
    CHECK(r->result_int() == 503);
    CHECK(problem_type(*r) == "/problems/mirror_full");
    CHECK(r->find(http::field::retry_after) != r->end());
  }

  // Verifications: answered from the mirror as it is, in both directions, each with the warning.
  auto active = call("/v1/verify", packs[1]);
  auto inactive = call("/v1/verify", packs[0]);
  sent += 2;
  REQUIRE(active.result_int() == 200);
  REQUIRE(inactive.result_int() == 200);
  auto a = body_json(active), b = body_json(inactive);
  CHECK(a.at("verdict") == "ok");  // the refused supply changed nothing
  CHECK(a.at("status") == "active");
  CHECK(has_warning(a, "audit_unavailable"));
  CHECK(b.at("verdict") != "ok");  // the acknowledged supply holds
  CHECK(b.at("status") == "supplied");
  CHECK(has_warning(b, "audit_unavailable"));

  // Never silent: counted and logged, one per verification.
  auto metrics = vpointd.request(http::verb::get, "/metrics", "", "").body();
  CHECK(metrics.find("vpoint_audit_lost_total 2") != std::string::npos);
  CHECK(count_of(vpointd.output(), "\"audit_lost\"") == 2);
  CHECK(count_of(vpointd.output(), "\"mirror_full\"") >= 3);

  // Room again: the same supply is accepted, and a verification is audited again (no warning).
  redis.cli({"CONFIG", "SET", "maxmemory", "0"});
  auto again = call("/v1/decommission", packs[1], "supply");
  auto verified = call("/v1/verify", packs[2]);
  sent += 2;
  REQUIRE(again.result_int() == 200);
  CHECK(body_json(again).at("verdict") == "ok");
  acknowledged.emplace_back(body_json(again).at("transaction_id").as_string());
  REQUIRE(verified.result_int() == 200);
  CHECK_FALSE(has_warning(body_json(verified), "audit_unavailable"));

  auto outbox = outbox_transactions(redis);
  std::size_t found = 0, lost = 0, doubled = 0;
  for (const auto& tx : acknowledged) {
    const int copies = outbox.count(tx) ? outbox[tx] : 0;
    if (copies >= 1) ++found;
    else ++lost;
    if (copies > 1) ++doubled;
  }
  CHECK(outbox.size() == acknowledged.size());  // the refused changes left nothing behind
  std::printf("FAULT redis_full injected=1 sent=%zu acknowledged=%zu found=%zu lost=%zu doubled=%zu\n", sent,
              acknowledged.size(), found, lost, doubled);
  CHECK(lost == 0);
  CHECK(doubled == 0);
}
