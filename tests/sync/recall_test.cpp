// Recalls through the change feed (issue 6 "Recalls"): the recall alert lists exactly this site's packs of the
// batch from the audit trail, and a later scan of the batch is refused. Real vpoint-central-sim and redis-server.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "sync_support.hpp"
#include "vpoint/service/audit_archive.hpp"
#include "vpoint/service/rules.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kHere = "4012345000009";   // test_link_options' location
constexpr const char* kThere = "4099999000007";  // another pharmacy

struct Pack {
  std::string code, serial, batch, expiry;
};

// The simulator's usable packs grouped by (product, batch).
std::map<std::pair<std::string, std::string>, std::vector<Pack>> packs_by_batch(Simulator& sim) {
  auto v = sim.get_json("/admin/packs?limit=1500");
  std::map<std::pair<std::string, std::string>, std::vector<Pack>> out;
  for (const auto& p : v.at("packs").as_array()) {
    const auto& o = p.as_object();
    Pack pack{std::string(o.contains("gtin") ? o.at("gtin").as_string() : o.at("ppn").as_string()),
              std::string(o.at("serial").as_string()), std::string(o.at("batch").as_string()),
              std::string(o.at("expiry").as_string())};
    out[{pack.code, pack.batch}].push_back(pack);
  }
  return out;
}

std::vector<json::object> alerts_with_reason(LinkHarness& h, const std::string& reason) {
  std::vector<json::object> out;
  for (auto& o : alerts_in_redis(h))
    if (o.at("reason").as_string() == reason) out.push_back(std::move(o));
  return out;
}

cache::PackResult verify_at(LinkHarness& h, const Pack& p, const std::string& location) {
  cache::PackRequest request{p.code, p.serial, {"pharmacist", location}};
  auto r = h.run(h.mirror().verify(request));
  REQUIRE(r);
  REQUIRE(r->outcome == cache::Outcome::ok);
  return *r;
}

scanner::gs1::Date today_utc() {
  auto today = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())};
  return {static_cast<int>(today.year()), static_cast<int>(static_cast<unsigned>(today.month())),
          static_cast<int>(static_cast<unsigned>(today.day()))};
}

// What POST /v1/verify decides for a scanned pack (pack_operation.cpp: check_batch, plan, one mirror call, decide).
service::Decision verify_verdict(LinkHarness& h, const Pack& p) {
  h.mirror().invalidate();
  auto product = h.run(h.mirror().product(p.code));
  REQUIRE(product);
  REQUIRE(*product);
  scanner::PackId id;
  id.gtin = p.code;
  id.serial = p.serial;
  id.batch = p.batch;
  id.expiry = p.expiry;
  service::Intent intent;  // verify
  auto batch = service::check_batch(**product, id, today_utc());
  auto plan = service::plan(intent, batch);
  cache::PackRequest request{p.code, p.serial, {"pharmacist", kHere}};
  auto result = h.run(h.mirror().verify(request));
  REQUIRE(result);
  service::DecideInput input;
  input.intent = intent;
  input.plan = plan;
  input.batch = batch;
  input.result = &*result;
  input.caller = {"pharmacist", kHere};
  return service::decide(input);
}

// A batch with at least `n` packs and another batch of the same product.
struct Chosen {
  std::vector<Pack> batch;
  std::vector<Pack> other_batch;
};
Chosen choose(Simulator& sim, std::size_t n) {
  auto groups = packs_by_batch(sim);
  for (const auto& [key, packs] : groups) {
    if (packs.size() < n || packs[0].code.size() != 14) continue;
    for (const auto& [other_key, other] : groups)
      if (other_key.first == key.first && other_key.second != key.second) return {packs, other};
  }
  FAIL("the simulator has no product with two batches of enough packs");
  return {};
}

}  // namespace

TEST_CASE("a recall alert lists exactly this site's packs of the batch, and later scans are refused as recalled",
          "[sync][recall]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  auto options = test_link_options(sim.url(), {.feed = true, .drain = true});
  auto& link = h.start_link(options);
  REQUIRE(eventually([&] { return link.status().state == service::LinkState::following; }, 30s));

  auto chosen = choose(sim, 5);
  const auto& lot = chosen.batch;
  // This site: received (verified) two packs, supplied one after verifying it; another pharmacy verified a
  // fourth; this site verified a pack of another batch of the same product.
  verify_at(h, lot[0], kHere);
  verify_at(h, lot[1], kHere);
  verify_at(h, lot[2], kHere);
  verify_at(h, lot[1], kHere);
  h.supply(lot[2].code, lot[2].serial, kHere);
  verify_at(h, lot[3], kThere);
  verify_at(h, chosen.other_batch[0], kHere);
  // The supply reaches the central system before the recall: sent after it, it would be rejected (recalled
  // batch) and the pack would be active again here too, as central says (issue 14).
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 10s));

  sim.post_json("/admin/batches/" + lot[0].code + "/" + lot[0].batch + "/recall", R"({"reason":"sterility"})");
  std::vector<json::object> recalls;
  REQUIRE(eventually([&] {
    recalls = alerts_with_reason(h, "batch_recalled");
    return !recalls.empty();
  }, 10s));
  REQUIRE(recalls.size() == 1);
  const auto& alert = recalls[0];
  INFO(json::serialize(alert));
  CHECK(alert.at("verdict").as_string() == "recalled");
  CHECK(alert.at("pack").at("gtin").as_string() == lot[0].code);
  CHECK(alert.at("pack").at("batch").as_string() == lot[0].batch);
  CHECK(alert.at("location").as_string() == kHere);
  const auto& details = alert.at("details").as_object();
  CHECK(details.at("batch_reason").as_string() == "sterility");
  CHECK(details.at("lookback_days").to_number<int>() == 90);
  CHECK(details.at("truncated").as_bool() == false);
  CHECK(details.at("packs_total").to_number<int>() == 3);
  CHECK_FALSE(details.contains("packs_error"));

  std::map<std::string, json::object> listed;
  for (const auto& p : details.at("packs").as_array()) listed[std::string(p.at("serial").as_string())] = p.as_object();
  std::set<std::string> serials;
  for (const auto& [serial, p] : listed) serials.insert(serial);
  CHECK(serials == std::set<std::string>{lot[0].serial, lot[1].serial, lot[2].serial});
  REQUIRE(listed.size() == 3);
  CHECK(json::serialize(listed[lot[0].serial].at("ops")) == R"(["verify"])");
  CHECK(json::serialize(listed[lot[1].serial].at("ops")) == R"(["verify"])");
  CHECK(json::serialize(listed[lot[2].serial].at("ops")) == R"(["verify","supply"])");
  CHECK(listed[lot[0].serial].at("status").as_string() == "active");
  CHECK(listed[lot[2].serial].at("status").as_string() == "supplied");
  CHECK(listed[lot[0].serial].at("last_seen").as_string().size() == 24);  // 2026-11-28T01:02:03.456Z

  // Every later scan of the batch is refused as recalled (NMVS_FE_LOT_01), not an alert; the other batch is fine.
  auto refused = verify_verdict(h, lot[4]);
  CHECK(refused.verdict == service::Verdict::refused);
  CHECK(refused.reason == service::Reason::recalled);
  CHECK(refused.nmvs_code == "NMVS_FE_LOT_01");
  auto fine = verify_verdict(h, chosen.other_batch[0]);
  CHECK(fine.verdict == service::Verdict::ok);

}

TEST_CASE("a withdrawal alert caps its pack list and says it was truncated", "[sync][recall]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  auto options = test_link_options(sim.url(), {.feed = true, .drain = true});
  options.recall_list_cap = 2;
  auto& link = h.start_link(options);
  REQUIRE(eventually([&] { return link.status().state == service::LinkState::following; }, 30s));
  auto lot = choose(sim, 4).batch;
  for (int i = 0; i < 4; ++i) verify_at(h, lot[i], kHere);

  sim.post_json("/admin/batches/" + lot[0].code + "/" + lot[0].batch + "/withdraw", R"({"reason":"market exit"})");
  std::vector<json::object> withdrawals;
  REQUIRE(eventually([&] {
    withdrawals = alerts_with_reason(h, "batch_withdrawn");
    return !withdrawals.empty();
  }, 10s));
  const auto& details = withdrawals[0].at("details").as_object();
  INFO(json::serialize(details));
  CHECK(withdrawals[0].at("verdict").as_string() == "withdrawn");
  CHECK(details.at("packs").as_array().size() == 2);
  CHECK(details.at("packs_total").to_number<int>() == 4);
  CHECK(details.at("truncated").as_bool() == true);
}

TEST_CASE("packs whose audit entries were archived and trimmed from Redis are still listed in a recall",
          "[sync][recall]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  TempDir audit_dir;
  auto options = test_link_options(sim.url(), {.feed = true, .drain = true});
  options.audit_dir = audit_dir.path.string();
  auto& link = h.start_link(options);
  REQUIRE(eventually([&] { return link.status().state == service::LinkState::following; }, 30s));
  auto lot = choose(sim, 3).batch;
  verify_at(h, lot[0], kHere);
  verify_at(h, lot[1], kHere);

  // The archiver moves the entries into the daily files and trims them from the streams. It takes entries
  // strictly older than Redis' current millisecond (min_age 0): let that millisecond pass.
  std::this_thread::sleep_for(5ms);
  service::AuditArchiveOptions archive_options;
  archive_options.dir = audit_dir.path;
  archive_options.min_age = std::chrono::seconds(0);
  auto archive = service::AuditArchive::open(h.io().get_executor(), h.client(), archive_options);
  REQUIRE(archive);
  auto round = h.run((*archive)->archive_once());
  REQUIRE(round);
  CHECK(round->archived >= 2);
  for (int i = 0; i < 2; ++i) {
    std::string key = "au:{" + std::to_string(cache::Mirror::partition_of(lot[i].code, lot[i].serial)) + "}";
    auto len = h.run(h.client().command({"XLEN", key}));
    REQUIRE(len);
    CHECK(len->integer == 0);
  }
  // One more verification that is still in its stream.
  verify_at(h, lot[2], kHere);

  sim.post_json("/admin/batches/" + lot[0].code + "/" + lot[0].batch + "/recall", R"({"reason":"sterility"})");
  std::vector<json::object> recalls;
  REQUIRE(eventually([&] {
    recalls = alerts_with_reason(h, "batch_recalled");
    return !recalls.empty();
  }, 10s));
  const auto& details = recalls[0].at("details").as_object();
  INFO(json::serialize(details));
  std::set<std::string> serials;
  for (const auto& p : details.at("packs").as_array()) serials.insert(std::string(p.at("serial").as_string()));
  CHECK(serials == std::set<std::string>{lot[0].serial, lot[1].serial, lot[2].serial});
  CHECK_FALSE(details.contains("packs_error"));
}
