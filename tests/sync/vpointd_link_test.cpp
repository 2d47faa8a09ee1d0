// The pack routes' use of the central link, end to end through the real vpointd process (issue 6
// "Read-through"): a pack the mirror does not know is looked up live; with the central system unreachable
// `[central] offline` decides — accept (EU 2016/161 Art 29: ok, "source":"offline", warning "unconfirmed",
// re-verified when the link is back, a bad result becomes an alert naming the original transaction) or refuse
// (refused / central_unavailable).
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "redis_server.hpp"
#include "sync_support.hpp"
#include "vpointd_process.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct PackRef {
  std::string key, code, serial, batch, expiry;
  json::object pack_object(const std::string& with_serial = "") const {
    return {{key, code}, {"serial", with_serial.empty() ? serial : with_serial}, {"batch", batch}, {"expiry", expiry}};
  }
};

std::vector<PackRef> packs_of(Simulator& sim, int n) {
  std::vector<PackRef> out;
  auto doc = sim.get_json("/admin/packs?limit=" + std::to_string(n));
  for (const auto& v : doc.at("packs").as_array()) {
    const auto& o = v.as_object();
    std::string key = o.contains("ppn") ? "ppn" : "gtin";
    out.push_back({key, std::string(o.at(key).as_string()), std::string(o.at("serial").as_string()),
                   std::string(o.at("batch").as_string()), std::string(o.at("expiry").as_string())});
  }
  return out;
}

// POST /v1/verify or /v1/decommission (supply) with a structured pack; the answer as JSON (status kept).
struct Answer {
  unsigned status = 0;
  json::object body;
};
Answer call(Vpointd& vpointd, const std::string& route, const json::object& pack, bool supply = false) {
  json::object body{{"pack", pack}};
  if (supply) body["action"] = "supply";
  auto res = vpointd.request(http::verb::post, route, json::serialize(body));
  INFO(route << " -> " << res.result_int() << " " << res.body());
  auto v = json::parse(res.body());
  REQUIRE(v.is_object());
  return {res.result_int(), v.as_object()};
}

bool has_warning(const json::object& body, std::string_view warning) {
  for (const auto& w : body.at("warnings").as_array())
    if (w.is_string() && w.as_string() == warning) return true;
  return false;
}

// A pack known to the central system but not to vpointd's mirror: uploaded while the change feed is held
// (the simulator's feed_hold fault: look-ups see it, the feed does not announce it).
PackRef upload_behind_the_feed(Simulator& sim, const PackRef& like, const std::string& serial) {
  sim.post_json("/admin/faults", R"({"feed_hold":true})");
  PackRef p = like;
  p.serial = serial;
  HttpClient client(sim.port());
  json::object line{{"type", "pack"}, {p.key, p.code}, {"serial", serial}, {"batch", p.batch}};
  auto res = client.request(http::verb::post, "/admin/upload", json::serialize(line) + "\n",
                            {{"Content-Type", "application/x-ndjson"}});
  REQUIRE(res.result_int() == 200);
  return p;
}

std::vector<json::object> alerts(Vpointd& vpointd) {
  std::vector<json::object> out;
  auto doc = vpointd.get_json("/v1/alerts");
  for (const auto& a : doc.at("alerts").as_array()) out.push_back(a.as_object());
  return out;
}

std::optional<json::object> alert_for(Vpointd& vpointd, std::string_view field, std::string_view value,
                                      std::string_view in_pack = "") {
  for (auto& a : alerts(vpointd)) {
    const json::value* v = in_pack.empty() ? a.if_contains(field) : a.at("pack").as_object().if_contains(field);
    if (v && v->is_string() && v->as_string() == value) return a;
  }
  return std::nullopt;
}

}  // namespace

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
  auto supplied = call(vpointd, "/v1/decommission", fresh.pack_object(), true);
  REQUIRE(supplied.body.at("verdict") == "ok");
  std::string tx(supplied.body.at("transaction_id").as_string());
  REQUIRE(eventually([&] { return sim.get_json("/admin/transactions?id=" + tx).at("transactions").as_array().size() == 1; }, 20s));
  CHECK(sim.get_json("/central/v1/packs/" + fresh.code + "/" + fresh.serial).at("status") == "supplied");
}

TEST_CASE("with the central system down vpointd accepts unknown packs as unconfirmed and alerts on a bad "
          "re-verification naming the original transaction",
          "[sync][vpointd][offline]") {
  Simulator sim(4, 2000);
  RedisServer redis;
  VpointdOptions options;
  options.redis_url = redis.url();
  options.central_url = sim.url();
  Vpointd vpointd(options);
  auto known = packs_of(sim, 2);
  REQUIRE(known.size() == 2);
  // Known centrally (not to the mirror), then dispensed by another pharmacy.
  auto elsewhere = upload_behind_the_feed(sim, known[0], "OFFLINE000001");
  sim.post_json("/admin/packs/" + elsewhere.code + "/" + elsewhere.serial + "/status",
                R"({"status":"supplied","location":"4099999000007","actor":"pharmacy elsewhere"})");
  sim.kill();

  // A pack the mirror knows still verifies from the mirror.
  auto from_mirror = call(vpointd, "/v1/verify", known[1].pack_object());
  CHECK(from_mirror.body.at("verdict") == "ok");
  CHECK(from_mirror.body.at("source") == "mirror");

  auto started = std::chrono::steady_clock::now();
  auto verified = call(vpointd, "/v1/verify", known[1].pack_object("NEVERISSUED01"));
  CHECK(std::chrono::steady_clock::now() - started < 5s);  // the scan does not wait for the dead link
  CHECK(verified.status == 200);
  CHECK(verified.body.at("verdict") == "ok");
  CHECK(verified.body.at("source") == "offline");
  CHECK(verified.body.at("status") == "unknown");
  CHECK(has_warning(verified.body, "unconfirmed"));

  auto supplied = call(vpointd, "/v1/decommission", elsewhere.pack_object(), true);
  CHECK(supplied.status == 200);
  CHECK(supplied.body.at("verdict") == "ok");
  CHECK(supplied.body.at("source") == "offline");
  CHECK(has_warning(supplied.body, "unconfirmed"));
  REQUIRE(supplied.body.at("transaction_id").is_string());
  std::string tx(supplied.body.at("transaction_id").as_string());
  CHECK(alerts(vpointd).empty());  // nothing is known to be wrong yet

  // The central system returns (its fault state with it: the feed flows again); re-verification finds both bad.
  sim.start();
  std::optional<json::object> rejected, unknown;
  REQUIRE(eventually([&] {
    rejected = alert_for(vpointd, "transaction_id", tx);
    unknown = alert_for(vpointd, "serial", "NEVERISSUED01", "pack");
    return rejected && unknown;
  }, 30s));
  CHECK(rejected->at("reason") == "offline_decommission_rejected");
  CHECK(rejected->at("verdict") == "unconfirmed_failed");
  CHECK(rejected->at("pack").at("serial").as_string() == elsewhere.serial);
  CHECK(rejected->at("location") == Vpointd::kLocation);
  CHECK(rejected->at("nmvs_code").is_string());
  CHECK(unknown->at("reason") == "offline_pack_unknown");
  CHECK(unknown->at("nmvs_code") == "NMVS_NC_PC_02");
  // The central system got the offline supply as a transaction of its own, under the original id, and
  // refused it (the pack had been dispensed elsewhere first).
  auto central = sim.get_json("/admin/transactions?id=" + tx).at("transactions").as_array();
  REQUIRE(central.size() == 1);
  CHECK(central[0].at("result") == "rejected");
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

  auto supplied = call(vpointd, "/v1/decommission", known[0].pack_object("NEVERISSUED03"), true);
  CHECK(supplied.body.at("verdict") == "refused");
  CHECK(supplied.body.at("reason") == "central_unavailable");
  CHECK(supplied.body.at("transaction_id").is_null());

  // Packs the mirror knows are still answered from it: refuse only concerns what cannot be checked.
  auto from_mirror = call(vpointd, "/v1/decommission", known[1].pack_object(), true);
  CHECK(from_mirror.body.at("verdict") == "ok");
  CHECK(from_mirror.body.at("source") == "mirror");

  // Nothing was recorded for re-verification: the sim coming back raises no alert.
  sim.start();
  std::string tx(from_mirror.body.at("transaction_id").as_string());
  REQUIRE(eventually([&] { return sim.get_json("/admin/transactions?id=" + tx).at("transactions").as_array().size() == 1; }, 30s));
  std::this_thread::sleep_for(3s);  // > one re-verification round (reverify_interval 2 s)
  CHECK(alerts(vpointd).empty());
}
