// The pack API end to end: real HTTP(S) over loopback, a real redis-server with the mirror loaded from an
// NDJSON snapshot, real barcode images.
#include <array>
#include <atomic>
#include <cctype>
#include <fstream>
#include <functional>
#include <set>
#include <future>
#include <sstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "barcode_images.hpp"
#include "mirror_support.hpp"
#include "redis_server.hpp"
#include "service_support.hpp"
#include "vpoint/cache/import.hpp"
#include "vpoint/service/audit_archive.hpp"
#include "vpoint/service/daemon.hpp"
#include "vpoint/service/pack_api.hpp"

namespace json = boost::json;
namespace svc = vpoint::service;
using vpoint::test::HttpClient;
namespace http = boost::beast::http;

namespace {

constexpr const char* kGtin = "04150123456782";
constexpr const char* kHere = "4012345000009";
constexpr const char* kThere = "4012345000016";

const std::string kConfig = std::string(R"(
[location]
gln = ")") + kHere + R"("
name = "Test pharmacy"
[rules]
repeat_window_s = 30
[[auth.keys]]
name = "pharmacist"
key = "pharmacy-key-0001"
role = "pharmacy"
[[auth.keys]]
name = "other-pharmacist"
key = "other-key-000002"
role = "pharmacy"
location = ")" + kThere + R"("
[[auth.keys]]
name = "goods-in"
key = "wholesaler-key-03"
role = "wholesaler"
[[auth.keys]]
name = "returns"
key = "returns-key-00004"
role = "returns"
[[auth.keys]]
name = "admin"
key = "admin-key-000005"
role = "admin"
)";

std::map<std::string, std::string> bearer(const std::string& key, std::map<std::string, std::string> more = {}) {
  more["Authorization"] = "Bearer " + key;
  more["Content-Type"] = "application/json";
  return more;
}

std::string scan_text(const std::string& serial, const std::string& batch, const std::string& expiry,
                      const std::string& gtin = kGtin) {
  return "01" + gtin + "21" + serial + "\x1d" + "10" + batch + "\x1d" + "17" + expiry;
}

json::object body_of(const vpoint::test::Response& res) {
  auto v = json::parse(res.body());
  REQUIRE(v.is_object());
  return v.as_object();
}

// {"scan": ...} with an optional action.
std::string scan_body(const std::string& scan, const std::string& action = "") {
  json::object o{{"scan", scan}};
  if (!action.empty()) o["action"] = action;
  return json::serialize(o);
}

void check_problem(const vpoint::test::Response& res, unsigned status, const std::string& code) {
  INFO(res.body());
  CHECK(res.result_int() == status);
  CHECK(res[http::field::content_type] == "application/problem+json");
  CHECK(body_of(res).at("type").as_string() == "/problems/" + code);
}

struct E2E {
  explicit E2E(int packs = 20, svc::ServerOptions server_options = {}, std::map<std::string, std::string> env = {})
      : redis(vpoint::test::mirror_redis_options()) {
    env["VPOINT_REDIS_URL"] = redis.url();
    auto config = svc::load_config_text(kConfig, env);
    if (!config) throw std::runtime_error(config.error());
    metrics = std::make_shared<svc::Metrics>();
    vpoint::cache::MirrorOptions mo;
    mo.test_mode = true;
    auto rt = svc::PackRuntime::start(*config, metrics, mo);
    if (!rt) throw std::runtime_error(rt.error());
    runtime = std::move(*rt);
    std::istringstream in(vpoint::test::small_snapshot(packs));
    auto loaded = boost::asio::co_spawn(runtime->io_context(), vpoint::cache::import_snapshot(runtime->mirror(), in),
                                        boost::asio::use_future)
                      .get();
    if (!loaded) throw std::runtime_error(loaded.error().message);
    auto table = svc::KeyTable::from_config(*config);
    if (!table) throw std::runtime_error(table.error());
    auth = std::make_shared<svc::Authenticator>(std::move(*table));
    api = std::make_unique<svc::Api>(auth, metrics);
    readiness = svc::Readiness::with_defaults(*config);
    svc::add_core_routes(*api, readiness, metrics);
    svc::register_pack_routes(*api, runtime->services());
    svc::add_pack_readiness(*readiness, runtime->services());
    server_options.listen = "127.0.0.1:0";
    server_options.threads = 2;
    server = std::make_unique<svc::HttpServer>(server_options, api->handler());
    auto bound = server->start();
    if (!bound) throw std::runtime_error(bound.error());
  }
  ~E2E() {
    server->stop();
    server->wait();
  }

  vpoint::test::Response post(const std::string& target, const std::string& body,
                              const std::string& key = "pharmacy-key-0001",
                              std::map<std::string, std::string> headers = {}) {
    HttpClient client(server->port());
    return client.request(http::verb::post, target, body, bearer(key, std::move(headers)));
  }
  json::object verdict(const std::string& target, const std::string& body, const std::string& key = "pharmacy-key-0001",
                       std::map<std::string, std::string> headers = {}) {
    auto res = post(target, body, key, std::move(headers));
    INFO(res.body());
    REQUIRE(res.result_int() == 200);
    return body_of(res);
  }
  vpoint::test::Response get(const std::string& target, const std::string& key) {
    HttpClient client(server->port());
    return client.get(target, bearer(key));
  }

  vpoint::test::RedisServer redis;
  std::shared_ptr<svc::Metrics> metrics;
  std::unique_ptr<svc::PackRuntime> runtime;
  std::shared_ptr<svc::Authenticator> auth;
  std::unique_ptr<svc::Api> api;
  std::shared_ptr<svc::Readiness> readiness;
  std::unique_ptr<svc::HttpServer> server;
};

std::string str(const json::object& o, const char* key) {
  const auto& v = o.at(key);
  return v.is_string() ? std::string(v.as_string()) : std::string(v.is_null() ? "null" : json::serialize(v));
}

}  // namespace

TEST_CASE("verify answers ok for an active pack and names the product, batch state and expiry", "[e2e][verify]") {
  E2E e;
  auto v = e.verdict("/v1/verify", scan_body(scan_text("S000", "L1", "281231")));
  CHECK(str(v, "verdict") == "ok");
  CHECK(str(v, "status") == "active");
  CHECK(str(v, "reason") == "null");
  CHECK(str(v, "nmvs_code") == "null");
  CHECK(str(v, "alert_id") == "null");
  CHECK(str(v, "source") == "mirror");
  CHECK(str(v, "batch_state") == "active");
  CHECK(v.at("expired").as_bool() == false);
  CHECK(v.at("repeat").as_bool() == false);
  CHECK(v.at("product").at("name").as_string() == "Aspirin 100");
  CHECK(v.at("pack").at("serial").as_string() == "S000");
  CHECK(v.at("warnings").as_array().empty());

  // The same pack as a pack object, by GTIN and by PPN.
  auto o = e.verdict("/v1/verify",
                     R"({"pack":{"gtin":"04150123456782","serial":"S000","batch":"L1","expiry":"281231"}})");
  CHECK(str(o, "verdict") == "ok");
  auto p = e.verdict("/v1/verify", R"({"pack":{"ppn":"110375286414","serial":"S001","batch":"L1","expiry":"281231"}})");
  CHECK(str(p, "verdict") == "ok");
  CHECK(str(p, "status") == "active");
}

TEST_CASE("every verdict reason is answered as issue 5 prescribes", "[e2e][reasons]") {
  E2E e;
  SECTION("unknown product is refused, not an alert") {
    auto v = e.verdict("/v1/verify", scan_body(scan_text("X1", "L1", "281231", "09506000134352")));
    CHECK(str(v, "verdict") == "refused");
    CHECK(str(v, "reason") == "unknown_product");
    CHECK(str(v, "nmvs_code") == "NMVS_NC_PC_01");
    CHECK(str(v, "status") == "unknown");
    CHECK(str(v, "alert_id") == "null");
  }
  SECTION("unknown serial raises an alert that admins can list and acknowledge") {
    auto v = e.verdict("/v1/verify", scan_body(scan_text("NOPE99", "L1", "281231")));
    CHECK(str(v, "verdict") == "alert");
    CHECK(str(v, "reason") == "unknown_serial");
    CHECK(str(v, "nmvs_code") == "NMVS_NC_PC_02");
    std::string id = str(v, "alert_id");
    REQUIRE(id != "null");
    auto list = body_of(e.get("/v1/alerts?reason=unknown_serial", "admin-key-000005"));
    REQUIRE(list.at("alerts").as_array().size() == 1);
    auto alert = list.at("alerts").as_array()[0].as_object();
    CHECK(str(alert, "id") == id);
    CHECK(str(alert, "location") == kHere);
    CHECK(str(alert, "actor") == "pharmacist");
    CHECK(str(alert, "delivery") == "pending");
    CHECK(alert.at("acked").as_bool() == false);
    CHECK(body_of(e.get("/v1/alerts?reason=expired", "admin-key-000005")).at("alerts").as_array().empty());
    auto acked = e.post("/v1/alerts/" + id + "/ack", "", "admin-key-000005");
    CHECK(acked.result_int() == 200);
    CHECK(body_of(acked).at("acked").as_bool());
    check_problem(e.post("/v1/alerts/1-999/ack", "", "admin-key-000005"), 404, "not_found");
  }
  SECTION("alert lists are paged: a full page carries next, the since of the page after it") {
    std::vector<std::string> raised;
    for (const char* serial : {"NOPE01", "NOPE02", "NOPE03"})
      raised.push_back(str(e.verdict("/v1/verify", scan_body(scan_text(serial, "L1", "281231"))), "alert_id"));
    auto first = body_of(e.get("/v1/alerts?limit=2", "admin-key-000005"));
    REQUIRE(first.at("alerts").as_array().size() == 2);
    CHECK(first.at("alerts").at(0).at("id").as_string() == raised[0]);
    REQUIRE(first.at("next").is_string());
    CHECK(first.at("next").as_string() == raised[1]);
    auto second = body_of(e.get("/v1/alerts?limit=2&since=" + std::string(first.at("next").as_string()), "admin-key-000005"));
    REQUIRE(second.at("alerts").as_array().size() == 1);
    CHECK(second.at("alerts").at(0).at("id").as_string() == raised[2]);
    CHECK(second.at("next").is_null());
  }
  SECTION("unknown batch, batch mismatch and expiry mismatch are alerts") {
    auto unknown = e.verdict("/v1/verify", scan_body(scan_text("S002", "ZZ9", "281231")));
    CHECK(str(unknown, "verdict") == "alert");
    CHECK(str(unknown, "reason") == "unknown_batch");
    CHECK(str(unknown, "nmvs_code") == "NMVS_FE_LOT_03");
    auto mismatch = e.verdict("/v1/verify", scan_body(scan_text("S002", "L2", "270600")));
    CHECK(str(mismatch, "reason") == "batch_mismatch");
    CHECK(str(mismatch, "nmvs_code") == "NMVS_FE_LOT_13");
    CHECK(str(mismatch, "verdict") == "alert");
    // A destroy naming the wrong batch must not change the pack (the Function checks the stored batch).
    auto wrong_destroy = e.verdict("/v1/decommission", scan_body(scan_text("S002", "L2", "270600"), "destroy"));
    CHECK(str(wrong_destroy, "reason") == "batch_mismatch");
    CHECK(str(wrong_destroy, "verdict") == "alert");
    CHECK(str(wrong_destroy, "status") == "active");
    auto still = e.verdict("/v1/verify", scan_body(scan_text("S002", "L1", "281231")));
    CHECK(str(still, "status") == "active");
    CHECK(str(still, "verdict") == "ok");
    auto expiry = e.verdict("/v1/verify", scan_body(scan_text("S002", "L1", "281130")));
    CHECK(str(expiry, "reason") == "expiry_mismatch");
    CHECK(str(expiry, "verdict") == "alert");
    // Day 00 is the month's last day: the same expiry as 281231.
    auto day00 = e.verdict("/v1/verify", scan_body(scan_text("S002", "L1", "281200")));
    CHECK(str(day00, "verdict") == "ok");
  }
  SECTION("a recalled pack is refused for supply, while destroy stays allowed") {
    auto supply = e.verdict("/v1/decommission", scan_body(scan_text("RECALLED1", "L2", "270600"), "supply"));
    CHECK(str(supply, "verdict") == "refused");
    CHECK(str(supply, "reason") == "recalled");
    CHECK(str(supply, "nmvs_code") == "NMVS_FE_LOT_01");
    CHECK(str(supply, "status") == "active");
    CHECK(str(supply, "batch_state") == "recalled");
    auto destroy = e.verdict("/v1/decommission", scan_body(scan_text("RECALLED1", "L2", "270600"), "destroy"));
    CHECK(str(destroy, "verdict") == "ok");
    CHECK(str(destroy, "status") == "destroyed");
    CHECK(str(destroy, "previous_status") == "active");
    // Destroyed can never be undone (Art 13).
    auto undo = e.verdict("/v1/undo", scan_body(scan_text("RECALLED1", "L2", "270600"), "destroy"));
    CHECK(str(undo, "verdict") != "ok");
  }
  SECTION("verify of an inactive pack is refused without an alert") {
    auto v = e.verdict("/v1/verify", scan_body(scan_text("SUPPLIED1", "L1", "281231")));
    CHECK(str(v, "verdict") == "refused");
    CHECK(str(v, "reason") == "already_inactive");
    CHECK(str(v, "status") == "supplied");
    CHECK(str(v, "alert_id") == "null");
  }
  SECTION("supply, same-location repeat, other-location supply, undo rules") {
    const std::string s = scan_text("S005", "L1", "281231");
    auto first = e.verdict("/v1/decommission", scan_body(s, "supply"));
    CHECK(str(first, "verdict") == "ok");
    CHECK(str(first, "status") == "supplied");
    CHECK(str(first, "previous_status") == "active");
    CHECK(str(first, "transaction_id").size() == 32);
    auto repeat = e.verdict("/v1/decommission", scan_body(s, "supply"));
    CHECK(str(repeat, "verdict") == "refused");
    CHECK(str(repeat, "reason") == "already_inactive");
    CHECK(repeat.at("repeat").as_bool());
    CHECK(str(repeat, "nmvs_code") == "NMVS_NC_PCK_19");
    auto elsewhere = e.verdict("/v1/decommission", scan_body(s, "supply"), "other-key-000002");
    CHECK(str(elsewhere, "verdict") == "alert");
    CHECK(str(elsewhere, "reason") == "already_inactive");
    CHECK_FALSE(elsewhere.at("repeat").as_bool());
    auto undo_there = e.verdict("/v1/undo", scan_body(s, "supply"), "other-key-000002");
    CHECK(str(undo_there, "reason") == "undo_other_location");
    CHECK(str(undo_there, "nmvs_code") == "NMVS_NC_PCK_21");
    auto undo_wrong = e.verdict("/v1/undo", scan_body(s, "sample"));
    CHECK(str(undo_wrong, "reason") == "undo_status_mismatch");
    // Art 13(1)(b): 10 days.
    e.runtime->mirror().set_test_clock_offset(std::chrono::hours(24 * 11));
    auto late = e.verdict("/v1/undo", scan_body(s, "supply"));
    CHECK(str(late, "reason") == "undo_window_passed");
    CHECK(str(late, "nmvs_code") == "NMVS_NC_PCK_20");
    e.runtime->mirror().set_test_clock_offset(std::chrono::milliseconds(0));
    auto undo = e.verdict("/v1/undo", scan_body(s, "supply"));
    CHECK(str(undo, "verdict") == "ok");
    CHECK(str(undo, "status") == "active");
    CHECK(str(undo, "previous_status") == "supplied");

    // The audit trail of the pack lists who did what, where.
    auto pack = body_of(e.get(std::string("/v1/packs/") + kGtin + "/S005", "pharmacy-key-0001"));
    CHECK(str(pack, "status") == "active");
    const auto& history = pack.at("history").as_array();
    REQUIRE(history.size() >= 6);
    CHECK(history.back().at("operation").as_string() == "decommission");  // newest first: the first is last
    CHECK(history.back().at("result").as_string() == "ok");
    CHECK(history.back().at("location").as_string() == kHere);
    CHECK(history.back().at("actor").as_string() == "pharmacist");
    check_problem(e.get(std::string("/v1/packs/") + kGtin + "/NOSUCH", "pharmacy-key-0001"), 404, "not_found");
  }
  SECTION("lock and unlock: a locked pack is refused, unlock only at the same location") {
    const std::string s = scan_text("S006", "L1", "281231");
    CHECK(str(e.verdict("/v1/decommission", scan_body(s, "lock"), "wholesaler-key-03"), "verdict") == "ok");
    auto locked = e.verdict("/v1/verify", scan_body(s));
    CHECK(str(locked, "reason") == "locked");
    CHECK(str(locked, "status") == "locked");
    CHECK(str(e.verdict("/v1/undo", scan_body(s, "lock"), "wholesaler-key-03"), "verdict") == "ok");
    CHECK(str(e.verdict("/v1/verify", scan_body(s)), "verdict") == "ok");
  }
}

TEST_CASE("scanning faults are repaired instead of raising an alert", "[e2e][repair]") {
  E2E e;
  // Caps lock: serial and batch arrive in the wrong case.
  auto caps = e.verdict("/v1/decommission", scan_body(scan_text("s007", "l1", "281231"), "supply"));
  CHECK(str(caps, "verdict") == "ok");
  CHECK(str(caps, "alert_id") == "null");
  CHECK(caps.at("pack").at("serial").as_string() == "S007");
  CHECK(str(caps, "repair") == "caps_lock");
  REQUIRE(caps.at("warnings").as_array().size() == 1);
  CHECK(caps.at("warnings").as_array()[0].as_string() == "scan_repaired");
  CHECK(body_of(e.get("/v1/alerts", "admin-key-000005")).at("alerts").as_array().empty());
}

TEST_CASE("role rules: 401 without a valid key, 403 for an operation outside the role", "[e2e][roles]") {
  E2E e;
  const std::string s = scan_body(scan_text("S008", "L1", "281231"), "supply");
  {
    HttpClient client(e.server->port());
    check_problem(client.request(http::verb::post, "/v1/verify", s, {{"Content-Type", "application/json"}}), 401,
                  "unauthorized");
  }
  check_problem(e.post("/v1/verify", s, "wrong-key"), 401, "unauthorized");
  check_problem(e.post("/v1/decommission", s, "wholesaler-key-03"), 403, "forbidden");   // no supply
  check_problem(e.post("/v1/decommission", scan_body(scan_text("S008", "L1", "281231"), "export")), 403,
                "forbidden");                                                          // pharmacy: no export
  check_problem(e.post("/v1/decommission", s, "returns-key-00004"), 403, "forbidden");
  check_problem(e.post("/v1/verify", s, "admin-key-000005"), 403, "forbidden");
  check_problem(e.get(std::string("/v1/alerts?location=") + kThere, "pharmacy-key-0001"), 403, "forbidden");
  check_problem(e.post("/v1/returns/decision", R"({"scan":"x","decision":"quarantine"})", "pharmacy-key-0001"), 403,
                "forbidden");
  check_problem(e.post("/v1/bulk", R"({"items":[{"scan":"x"}]})", "pharmacy-key-0001"), 403, "forbidden");
  check_problem(e.post("/v1/bulk", R"({"operation":"decommission","action":"destroy","items":[{"scan":"x"}]})",
                       "returns-key-00004"),
                403, "forbidden");
  // Nothing changed on the way.
  CHECK(str(e.verdict("/v1/verify", scan_body(scan_text("S008", "L1", "281231"))), "status") == "active");
}

TEST_CASE("an idempotent retry returns the first answer and changes nothing", "[e2e][idempotency]") {
  E2E e;
  const std::string s = scan_body(scan_text("S009", "L1", "281231"), "supply");
  auto first = e.verdict("/v1/decommission", s, "pharmacy-key-0001", {{"Idempotency-Key", "order-17"}});
  auto again = e.verdict("/v1/decommission", s, "pharmacy-key-0001", {{"Idempotency-Key", "order-17"}});
  CHECK(str(first, "verdict") == "ok");
  CHECK(str(again, "verdict") == "ok");
  CHECK(str(again, "transaction_id") == str(first, "transaction_id"));
  CHECK(again.at("replay").as_bool());
  auto pack = body_of(e.get(std::string("/v1/packs/") + kGtin + "/S009", "pharmacy-key-0001"));
  int decommissions = 0;
  for (const auto& h : pack.at("history").as_array())
    if (h.at("operation").as_string() == "decommission") ++decommissions;
  CHECK(decommissions == 1);
}

TEST_CASE("a pack's history comes newest first in pages of limit entries, followed by next_cursor",
          "[e2e][audit][limits]") {
  E2E e;
  const std::string s = scan_body(scan_text("S011", "L1", "281231"));
  HttpClient client(e.server->port());
  for (int i = 0; i < 250; ++i)
    REQUIRE(client.request(http::verb::post, "/v1/verify", s, bearer("pharmacy-key-0001")).result_int() == 200);
  std::vector<std::string> ids;
  std::string target = std::string("/v1/packs/") + kGtin + "/S011";
  std::vector<std::size_t> pages;
  json::value cursor = nullptr;
  do {
    std::string url = target + (cursor.is_null() ? std::string() : "?cursor=" + std::string(cursor.as_string()));
    auto page = body_of(e.get(url, "pharmacy-key-0001"));
    pages.push_back(page.at("history").as_array().size());
    for (const auto& h : page.at("history").as_array()) ids.emplace_back(h.at("id").as_string());
    cursor = page.at("next_cursor");
  } while (!cursor.is_null() && pages.size() < 10);
  CHECK(pages == std::vector<std::size_t>{100, 100, 50});  // default limit 100
  REQUIRE(ids.size() == 250);
  for (std::size_t i = 1; i < ids.size(); ++i) CHECK(svc::stream_id_less(ids[i], ids[i - 1]));  // newest first
  auto small = body_of(e.get(target + "?limit=7", "pharmacy-key-0001"));
  CHECK(small.at("history").as_array().size() == 7);
  CHECK(small.at("history").at(0).at("id").as_string() == ids[0]);
  check_problem(e.get(target + "?limit=1001", "pharmacy-key-0001"), 400, "bad_request");
  check_problem(e.get(target + "?limit=0", "pharmacy-key-0001"), 400, "bad_request");
  check_problem(e.get(target + "?cursor=garbage", "pharmacy-key-0001"), 400, "bad_request");
  check_problem(e.get(target + "?page=2", "pharmacy-key-0001"), 400, "bad_request");
  // Query strings are percent-decoded ('+' a space): an encoded parameter name is still that parameter, a
  // malformed escape is refused naming the query.
  CHECK(body_of(e.get(target + "?%6Cimit=7", "pharmacy-key-0001")).at("history").as_array().size() == 7);
  auto malformed = e.get(target + "?limit=%zz", "pharmacy-key-0001");
  check_problem(malformed, 400, "bad_request");
  CHECK(body_of(malformed).at("field") == "query");
}

TEST_CASE("every route answers each role as the role table says: 200, 401 without a key, 403 without the right",
          "[e2e][auth][access]") {
  E2E e(60);
  // A real alert to acknowledge, and a real image to scan.
  const std::string alert_id = str(e.verdict("/v1/verify", scan_body(scan_text("NOPE42", "L1", "281231"))), "alert_id");
  REQUIRE(alert_id != "null");
  auto png = vpoint::test::to_png(
      vpoint::test::render(vpoint::test::Symbology::gs1_datamatrix, "[01]04150123456782[21]S030[10]L1[17]281231"));
  const std::string image(png.begin(), png.end());
  auto pack = [](int n) { return scan_body(scan_text("S0" + std::to_string(n), "L1", "281231")); };
  auto with_action = [](const std::string& serial, const std::string& action) {
    return scan_body(scan_text(serial, "L1", "281231"), action);
  };
  auto bulk_of = [&](const std::string& operation, const std::string& action, int n) {
    json::object body{{"operation", operation},
                      {"items", json::array{json::object{{"scan", scan_text("S0" + std::to_string(n), "L1", "281231")}}}}};
    if (!action.empty()) body["action"] = action;
    return json::serialize(body);
  };
  // Callers: none, then one key per role.
  const std::vector<std::string> keys{"", "pharmacy-key-0001", "wholesaler-key-03", "returns-key-00004",
                                      "admin-key-000005"};
  struct Row {
    std::string route;  // as Api::routes() names it
    http::verb method;
    // The request each caller sends (per caller: a state change must not be refused for the pack's state).
    std::function<std::string(std::size_t caller)> target, body;
    std::string content_type;
    std::array<unsigned, 5> expected;  // none, pharmacy, wholesaler, returns, admin
  };
  auto fixed = [](std::string v) { return [v](std::size_t) { return v; }; };
  const std::vector<Row> table{
      {"GET /", http::verb::get, fixed("/"), fixed(""), "", {200, 200, 200, 200, 200}},
      {"GET /openapi.json", http::verb::get, fixed("/openapi.json"), fixed(""), "", {200, 200, 200, 200, 200}},
      {"GET /healthz", http::verb::get, fixed("/healthz"), fixed(""), "", {200, 200, 200, 200, 200}},
      {"GET /readyz", http::verb::get, fixed("/readyz"), fixed(""), "", {200, 200, 200, 200, 200}},
      {"GET /metrics", http::verb::get, fixed("/metrics"), fixed(""), "", {200, 200, 200, 200, 200}},
      {"POST /v1/verify", http::verb::post, fixed("/v1/verify"), fixed(pack(10)), "application/json",
       {401, 200, 200, 200, 403}},
      {"POST /v1/decommission", http::verb::post, fixed("/v1/decommission"),
       [&](std::size_t c) { return with_action("S01" + std::to_string(c), "supply"); }, "application/json",
       {401, 200, 403, 403, 403}},
      {"POST /v1/decommission", http::verb::post, fixed("/v1/decommission"),
       [&](std::size_t c) { return with_action("S02" + std::to_string(c), "export"); }, "application/json",
       {401, 403, 200, 403, 403}},
      {"POST /v1/decommission", http::verb::post, fixed("/v1/decommission"),
       [&](std::size_t c) { return with_action("S04" + std::to_string(c), "destroy"); }, "application/json",
       {401, 200, 200, 200, 403}},
      {"POST /v1/undo", http::verb::post, fixed("/v1/undo"),
       [&](std::size_t c) { return with_action("S01" + std::to_string(c), "supply"); }, "application/json",
       {401, 200, 200, 200, 403}},
      {"POST /v1/undo", http::verb::post, fixed("/v1/undo"),
       [&](std::size_t c) { return with_action("S03" + std::to_string(c), "lock"); }, "application/json",
       {401, 403, 200, 403, 403}},
      {"POST /v1/bulk", http::verb::post, fixed("/v1/bulk"), [&](std::size_t) { return bulk_of("verify", "", 5); },
       "application/json", {401, 403, 200, 200, 403}},
      {"POST /v1/bulk", http::verb::post, fixed("/v1/bulk"),
       [&](std::size_t c) { return bulk_of("decommission", "export", 31 + static_cast<int>(c)); }, "application/json",
       {401, 403, 200, 403, 403}},
      {"POST /v1/scan", http::verb::post, fixed("/v1/scan"), fixed(image), "image/png", {401, 200, 200, 200, 403}},
      {"GET /v1/packs/{code}/{serial}", http::verb::get, fixed(std::string("/v1/packs/") + kGtin + "/S001"), fixed(""),
       "", {401, 200, 200, 200, 200}},
      {"GET /v1/me", http::verb::get, fixed("/v1/me"), fixed(""), "", {401, 200, 200, 200, 200}},
      // Every role reads and acknowledges its own location's alerts (all callers here are at kHere).
      {"GET /v1/alerts", http::verb::get, fixed("/v1/alerts"), fixed(""), "", {401, 200, 200, 200, 200}},
      {"POST /v1/alerts/{id}/ack", http::verb::post, fixed("/v1/alerts/" + alert_id + "/ack"), fixed(""), "",
       {401, 200, 200, 200, 200}},
      {"POST /v1/returns/decision", http::verb::post, fixed("/v1/returns/decision"),
       [&](std::size_t c) {
         return json::serialize(json::object{{"scan", scan_text("S05" + std::to_string(c), "L1", "281231")},
                                             {"decision", "quarantine"}});
       },
       "application/json", {401, 403, 403, 200, 403}},
  };
  // Every registered route has a row (a new route without one fails here).
  std::set<std::string> covered;
  for (const Row& row : table) covered.insert(row.route);
  for (const std::string& route : e.api->routes()) {
    INFO("route without a row in the role table: " << route);
    CHECK(covered.count(route) == 1);
  }
  CHECK(covered.size() == std::set<std::string>(e.api->routes().begin(), e.api->routes().end()).size());

  for (const Row& row : table) {
    for (std::size_t c = 0; c < keys.size(); ++c) {
      HttpClient client(e.server->port());
      std::map<std::string, std::string> headers;
      if (!keys[c].empty()) headers["Authorization"] = "Bearer " + keys[c];
      if (!row.content_type.empty()) headers["Content-Type"] = row.content_type;
      auto res = client.request(row.method, row.target(c), row.body(c), headers);
      INFO(row.route << " " << row.body(c).substr(0, 80) << " as " << (keys[c].empty() ? "nobody" : keys[c]) << ": "
                     << res.body().substr(0, 300));
      CHECK(res.result_int() == row.expected[c]);
    }
  }
  // A wrong key is a 401 everywhere a key is needed.
  check_problem(e.post("/v1/verify", pack(10), "not-a-configured-key"), 401, "unauthorized");
}

TEST_CASE("50 concurrent supplies of one pack: exactly one ok", "[e2e][concurrency]") {
  E2E e;
  const std::string s = scan_body(scan_text("S010", "L1", "281231"), "supply");
  std::atomic<int> ok{0}, refused{0}, alert{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      try {
        HttpClient client(e.server->port());
        auto res = client.request(http::verb::post, "/v1/decommission", s,
                                  bearer(i % 2 ? "pharmacy-key-0001" : "other-key-000002"));
        auto v = json::parse(res.body()).as_object();
        std::string verdict(v.at("verdict").as_string());
        (verdict == "ok" ? ok : verdict == "refused" ? refused : alert)++;
      } catch (...) {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 1);
  CHECK(other == 0);
  CHECK(ok + refused + alert == 50);
}

TEST_CASE("bulk verifies 10 000 packs in item order with a summary and an SSCC expands to its packs",
          "[e2e][bulk]") {
  E2E e(10000);
  json::array items;
  for (int i = 0; i < 10000; ++i) {
    char serial[16];
    std::snprintf(serial, sizeof serial, "S%03d", i);
    items.push_back(json::object{{"scan", scan_text(serial, "L1", "281231")}});
  }
  auto res = e.post("/v1/bulk", json::serialize(json::object{{"operation", "verify"}, {"items", items}}),
                    "wholesaler-key-03");
  REQUIRE(res.result_int() == 200);
  auto b = body_of(res);
  const auto& results = b.at("results").as_array();
  REQUIRE(results.size() == 10000);
  CHECK(results[1234].at("pack").at("serial").as_string() == "S1234");
  CHECK(results[1234].at("index").as_int64() == 1234);
  CHECK(b.at("summary").at("total").as_int64() == 10000);
  CHECK(b.at("summary").at("by_verdict").at("ok").as_int64() == 10000);

  items.emplace_back(json::object{{"scan", "garbage"}});
  check_problem(e.post("/v1/bulk", json::serialize(json::object{{"items", items}}), "wholesaler-key-03"), 400,
                "bad_request");

  auto mixed = body_of(e.post("/v1/bulk",
                              json::serialize(json::object{
                                  {"operation", "decommission"},
                                  {"action", "destroy"},
                                  {"items", json::array{json::object{{"scan", scan_text("S020", "L1", "281231")}},
                                                        json::object{{"scan", "01123"}}}}}),
                              "wholesaler-key-03"));
  CHECK(mixed.at("results").as_array()[0].at("verdict").as_string() == "ok");
  CHECK(mixed.at("results").as_array()[1].at("reason").as_string() == "parse_error");
  CHECK(mixed.at("summary").at("by_reason").at("parse_error").as_int64() == 1);

  auto agg = body_of(e.post("/v1/bulk", R"({"sscc":"340123450000000017"})", "returns-key-00004"));
  REQUIRE(agg.at("results").as_array().size() == 2);
  CHECK(agg.at("results").as_array()[0].at("verdict").as_string() == "ok");
  CHECK(agg.at("results").as_array()[1].at("pack").at("serial").as_string() == "S001");
  check_problem(e.post("/v1/bulk", R"({"sscc":"340123450000000024"})", "returns-key-00004"), 404, "not_found");
}

TEST_CASE("an image of a GS1 DataMatrix is decoded and the pack supplied", "[e2e][scan]") {
  E2E e;
  auto png = vpoint::test::to_png(
      vpoint::test::render(vpoint::test::Symbology::gs1_datamatrix, "[01]04150123456782[21]S011[10]L1[17]281231"));
  HttpClient client(e.server->port());
  auto res = client.request(http::verb::post, "/v1/scan?operation=decommission&action=supply",
                            std::string(png.begin(), png.end()),
                            {{"Authorization", "Bearer pharmacy-key-0001"}, {"Content-Type", "image/png"}});
  INFO(res.body());
  REQUIRE(res.result_int() == 200);
  auto b = body_of(res);
  REQUIRE(b.at("results").as_array().size() == 1);
  auto r = b.at("results").as_array()[0].as_object();
  CHECK(str(r, "verdict") == "ok");
  CHECK(str(r, "status") == "supplied");
  CHECK(r.at("symbol").at("format").as_string() == "DataMatrix");
  check_problem(client.request(http::verb::post, "/v1/scan", "not an image",
                               {{"Authorization", "Bearer pharmacy-key-0001"}, {"Content-Type", "image/png"}}),
                422, "invalid_scan");
  check_problem(client.request(http::verb::post, "/v1/scan", "{}",
                               {{"Authorization", "Bearer pharmacy-key-0001"}, {"Content-Type", "application/json"}}),
                415, "unsupported_media_type");
}

TEST_CASE("bad input of every kind gets the right problem and the server stays healthy", "[e2e][bad-input]") {
  svc::ServerOptions options;
  options.body_limit = 64 * 1024;
  E2E e(20, options);
  check_problem(e.post("/v1/verify", "{\"scan\":"), 400, "bad_request");
  check_problem(e.post("/v1/verify", R"({"scan":42})"), 400, "bad_request");
  check_problem(e.post("/v1/verify", R"({"scan":"x","colour":"red"})"), 400, "bad_request");
  check_problem(e.post("/v1/verify", R"({})"), 400, "bad_request");
  check_problem(e.post("/v1/verify", R"({"pack":{"gtin":"04150123456782","serial":"S1"}})"), 400, "bad_request");
  check_problem(e.post("/v1/decommission", scan_body(scan_text("S001", "L1", "281231"), "sell")), 400,
                "bad_request");
  check_problem(e.post("/v1/decommission", scan_body(scan_text("S001", "L1", "281231"))), 400, "bad_request");
  check_problem(e.post("/v1/verify", std::string(100 * 1024, 'x')), 413, "payload_too_large");
  {
    HttpClient client(e.server->port());
    check_problem(client.request(http::verb::post, "/v1/verify", "scan=1",
                                 {{"Authorization", "Bearer pharmacy-key-0001"}, {"Content-Type", "text/plain"}}),
                  415, "unsupported_media_type");
  }
  auto invalid = e.post("/v1/verify", scan_body("0104150123456783" "21S1"));
  check_problem(invalid, 422, "invalid_scan");
  CHECK(body_of(invalid).at("error").at("code").as_string() == "invalid_check_digit");
  auto bad_pack =
      e.post("/v1/verify", R"({"pack":{"gtin":"04150123456782","serial":"S 1","batch":"L1","expiry":"281231"}})");
  check_problem(bad_pack, 422, "invalid_scan");
  CHECK(body_of(bad_pack).at("error").at("field").as_string() == "serial");
  check_problem(e.post("/v1/verify", scan_body(scan_text("S001", "L1", "281399"))), 422, "invalid_scan");
  check_problem(e.post("/v1/nothing", "{}"), 404, "not_found");
  check_problem(e.get("/v1/verify", "pharmacy-key-0001"), 405, "method_not_allowed");
  check_problem(e.get("/v1/alerts?since=abc", "admin-key-000005"), 400, "bad_request");
  check_problem(e.post("/v1/verify", scan_body(scan_text("S001", "L1", "281231")), "pharmacy-key-0001",
                       {{"Idempotency-Key", std::string(200, 'k')}}),
                400, "bad_request");
  HttpClient client(e.server->port());
  CHECK(client.get("/healthz").result_int() == 200);
  auto ready = client.get("/readyz");
  INFO(ready.body());
  CHECK(ready.result_int() == 200);
  CHECK(str(e.verdict("/v1/verify", scan_body(scan_text("S001", "L1", "281231"))), "verdict") == "ok");
  auto metrics = client.get("/metrics").body();
  CHECK(metrics.find("vpoint_verdicts_total{reason=\"none\",route=\"/v1/verify\",verdict=\"ok\"}") !=
        std::string::npos);
}

TEST_CASE("HTTPS serves the pack API", "[e2e][tls]") {
  vpoint::test::TempDir dir;
  vpoint::test::TestPki pki(dir.path);
  svc::ServerOptions options;
  options.tls.cert = pki.server_cert;
  options.tls.key = pki.server_key;
  E2E e(20, options);
  vpoint::test::ClientOptions co;
  co.tls = true;
  co.ca = pki.ca;
  HttpClient client(e.server->port(), co);
  auto res = client.request(http::verb::post, "/v1/verify", scan_body(scan_text("S003", "L1", "281231")),
                            bearer("pharmacy-key-0001"));
  REQUIRE(res.result_int() == 200);
  CHECK(body_of(res).at("verdict").as_string() == "ok");
}

TEST_CASE("Redis down: 503 mirror_unavailable with Retry-After, not ready, and the process keeps serving",
          "[e2e][outage]") {
  E2E e;
  e.redis.kill();
  auto res = e.post("/v1/verify", scan_body(scan_text("S004", "L1", "281231")));
  check_problem(res, 503, "mirror_unavailable");
  CHECK(res[http::field::retry_after] == "1");
  HttpClient client(e.server->port());
  CHECK(client.get("/readyz").result_int() == 503);
  CHECK(client.get("/healthz").result_int() == 200);
}

TEST_CASE("a product change published on the invalidation channel reaches the product cache",
          "[e2e][invalidation]") {
  E2E e;
  CHECK(str(e.verdict("/v1/verify", scan_body(scan_text("S012", "L1", "281231"))), "verdict") == "ok");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!e.runtime->subscribed() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(e.runtime->subscribed());
  REQUIRE(e.runtime->mirror().cached_products() >= 1);
  e.redis.cli({"PUBLISH", "vpoint:invalidate", kGtin});
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (e.runtime->mirror().cached_products() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(e.runtime->mirror().cached_products() == 0);
}

// ---- POST /v1/scan limits (issue 15): refused from the header, decoded off the HTTP threads, bounded ----

namespace {

// A real PNG whose header claims width x height (the pixel data stays that of a tiny image): what an attacker
// sends to make a server allocate and decode a huge image. stb reads the header only before refusing.
std::string png_claiming(std::uint32_t width, std::uint32_t height) {
  auto png = vpoint::test::to_png(vpoint::test::render(vpoint::test::Symbology::gs1_datamatrix, "[01]04150123456782[21]S001"));
  std::string bytes(png.begin(), png.end());
  for (int i = 0; i < 4; ++i) {
    bytes[16 + i] = static_cast<char>((width >> (24 - 8 * i)) & 0xff);   // IHDR width, big endian
    bytes[20 + i] = static_cast<char>((height >> (24 - 8 * i)) & 0xff);  // IHDR height
  }
  return bytes;
}

vpoint::test::Response post_image(E2E& e, const std::string& image, const std::string& type = "image/png") {
  HttpClient client(e.server->port());
  return client.request(http::verb::post, "/v1/scan", image,
                        {{"Authorization", "Bearer pharmacy-key-0001"}, {"Content-Type", type}});
}

}  // namespace

TEST_CASE("an image over max_pixels is refused from its header with 422 image_too_large", "[e2e][scan][limits]") {
  E2E e(20, {}, {{"VPOINT_SCAN_MAX_PIXELS", "1000000"}});
  auto huge = post_image(e, png_claiming(10000, 10000));  // 100 Mpx claimed in a few hundred bytes
  INFO(huge.body());
  check_problem(huge, 422, "image_too_large");
  auto b = body_of(huge);
  CHECK(b.at("max_pixels").to_number<std::uint64_t>() == 1000000);
  CHECK(b.at("field") == "image");
  check_problem(post_image(e, png_claiming(1001, 1000)), 422, "image_too_large");  // just over
  // Under the limit: decoded as usual.
  auto ok = post_image(e, std::string(png_claiming(0, 0).size(), '\0'));
  CHECK(ok.result_int() == 422);  // not an image at all: invalid_scan, not image_too_large
  auto png = vpoint::test::to_png(vpoint::test::render(vpoint::test::Symbology::gs1_datamatrix,
                                                       "[01]04150123456782[21]S002[10]L1[17]281231"));
  auto fine = post_image(e, std::string(png.begin(), png.end()));
  INFO(fine.body());
  CHECK(fine.result_int() == 200);
}

TEST_CASE("images are decoded on the decode pool, never on an HTTP thread", "[e2e][scan][limits]") {
  E2E e;
  auto png = vpoint::test::to_png(vpoint::test::render(vpoint::test::Symbology::gs1_datamatrix,
                                                       "[01]04150123456782[21]S003[10]L1[17]281231"));
  REQUIRE(post_image(e, std::string(png.begin(), png.end())).result_int() == 200);
  REQUIRE(post_image(e, std::string(png.begin(), png.end())).result_int() == 200);
  HttpClient client(e.server->port());
  std::string metrics = client.get("/metrics").body();
  INFO(metrics);
  CHECK(metrics.find("vpoint_scan_decodes_total{thread=\"decode\"} 2") != std::string::npos);
  CHECK(metrics.find("vpoint_scan_decodes_total{thread=\"http\"} 0") != std::string::npos);
}

TEST_CASE("a full decode pool answers 503 busy with Retry-After, and text scans go on meanwhile", "[e2e][scan][limits]") {
  E2E e(20, {}, {{"VPOINT_SCAN_WORKERS", "1"}, {"VPOINT_SCAN_QUEUE", "0"}});
  // A noisy 2 400 x 2 400 photo: a decode that takes a while (no barcode in it).
  vpoint::test::Gray blank{2400, 2400, std::vector<std::uint8_t>(2400u * 2400u, 200)};
  auto jpeg = vpoint::test::to_jpeg(vpoint::test::add_noise(blank, 60.0, 7), 90);
  const std::string photo(jpeg.begin(), jpeg.end());
  std::vector<std::future<vpoint::test::Response>> sent;
  for (int i = 0; i < 4; ++i)
    sent.push_back(std::async(std::launch::async, [&] { return post_image(e, photo, "image/jpeg"); }));
  // While the photos are in the pool: a text scan is answered (the HTTP threads are free).
  auto text = e.post("/v1/verify", scan_body(scan_text("S004", "L1", "281231")));
  CHECK(text.result_int() == 200);
  int busy = 0, decoded = 0;
  for (auto& f : sent) {
    auto res = f.get();
    if (res.result_int() == 503) {
      ++busy;
      check_problem(res, 503, "busy");
      CHECK(res[http::field::retry_after] == "1");
    } else {
      ++decoded;
      CHECK(res.result_int() == 422);  // decoded: no barcode in the noise
    }
  }
  std::printf("4 photos at once with 1 decode worker and no queue: %d decoded, %d answered busy\n", decoded, busy);
  CHECK(decoded >= 1);
  CHECK(busy >= 1);
}

// ---------------------------------------------------------------------------------------------------------
// Issue 17: GET /v1/me, alerts for every role scoped to its location, POST /v1/returns/decision.

TEST_CASE("GET /v1/me names the caller, its role, location, allowed actions and the page's modes", "[e2e][me]") {
  E2E e;
  auto me = [&](const std::string& key) {
    auto res = e.get("/v1/me", key);
    INFO(res.body());
    REQUIRE(res.result_int() == 200);
    return body_of(res);
  };
  auto names = [](const json::value& v) {
    std::vector<std::string> out;
    for (const auto& x : v.as_array()) out.emplace_back(x.as_string());
    return out;
  };
  auto pharmacy = me("pharmacy-key-0001");
  CHECK(pharmacy.at("name") == "pharmacist");
  CHECK(pharmacy.at("role") == "pharmacy");
  CHECK(pharmacy.at("location") == kHere);
  CHECK(pharmacy.at("certificate") == false);
  CHECK(names(pharmacy.at("actions")) ==
        std::vector<std::string>{"verify", "supply", "destroy", "sample", "free_sample", "undo"});
  CHECK(names(pharmacy.at("modes")) == std::vector<std::string>{"counter", "alerts"});
  CHECK(me("other-key-000002").at("location") == kThere);
  auto wholesaler = me("wholesaler-key-03");
  CHECK(names(wholesaler.at("actions")) ==
        std::vector<std::string>{"verify", "destroy", "sample", "undo", "bulk", "bulk_verify", "export", "stolen",
                                 "lock", "unlock"});
  CHECK(names(wholesaler.at("modes")) == std::vector<std::string>{"receipt", "counter", "alerts"});
  auto returns = me("returns-key-00004");
  CHECK(names(returns.at("actions")) == std::vector<std::string>{"verify", "destroy", "undo", "bulk_verify", "returns"});
  CHECK(names(returns.at("modes")) == std::vector<std::string>{"returns", "alerts"});
  auto admin = me("admin-key-000005");
  CHECK(names(admin.at("actions")) == std::vector<std::string>{"alerts", "import", "status"});
  CHECK(names(admin.at("modes")) == std::vector<std::string>{"alerts"});
  HttpClient client(e.server->port());
  check_problem(client.get("/v1/me", {}), 401, "unauthorized");
  check_problem(e.get("/v1/me", "not-a-configured-key"), 401, "unauthorized");
}

// Issue 18: the API description served as GET /openapi.json is the file service/openapi/openapi.json, byte for byte,
// and it documents exactly the routes the router has (tests/api checks the schemas against real answers).
TEST_CASE("openapi: GET /openapi.json documents every registered route and no route that is not registered",
          "[e2e][openapi]") {
  E2E e;
  HttpClient client(e.server->port());
  auto res = client.get("/openapi.json", {});
  REQUIRE(res.result_int() == 200);
  CHECK(res[http::field::content_type] == "application/json");
  CHECK(res[http::field::cache_control] == "no-cache");
  std::ifstream file(std::string(VPOINT_SOURCE_DIR) + "/service/openapi/openapi.json", std::ios::binary);
  REQUIRE(file);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  CHECK(res.body() == text);  // an edit to the file re-runs the configure step and re-embeds it

  const json::object doc = body_of(res);
  CHECK(std::string(doc.at("openapi").as_string()).substr(0, 4) == "3.1.");
  const std::set<std::string> methods{"get", "put", "post", "delete", "options", "head", "patch", "trace"};
  std::set<std::string> documented;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, operation] : item.as_object()) {
      if (methods.count(std::string(method)) == 0) continue;  // parameters, summary, … of the path item
      std::string name(method);
      for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(name + " " + std::string(path));
    }
  }
  const std::set<std::string> registered(e.api->routes().begin(), e.api->routes().end());
  REQUIRE(registered.size() >= 15);
  for (const std::string& route : registered) {
    INFO("registered but not in openapi.json: " << route);
    CHECK(documented.count(route) == 1);
  }
  for (const std::string& route : documented) {
    INFO("in openapi.json but not registered: " << route);
    CHECK(registered.count(route) == 1);
  }
  // The document names the two ways to authenticate.
  const auto& schemes = doc.at("components").as_object().at("securitySchemes").as_object();
  CHECK(schemes.at("apiKey").as_object().at("scheme") == "bearer");
  CHECK(schemes.at("mutualTLS").as_object().at("type") == "mutualTLS");
}

TEST_CASE("alerts: each role sees and acknowledges its own location's, admin every location's", "[e2e][alerts]") {
  E2E e;
  auto raise = [&](const std::string& serial, const std::string& key) {
    auto id = str(e.verdict("/v1/verify", scan_body(scan_text(serial, "L1", "281231")), key), "alert_id");
    REQUIRE(id != "null");
    return id;
  };
  const std::string here1 = raise("NOPE1", "pharmacy-key-0001");
  const std::string there1 = raise("NOPE2", "other-key-000002");
  const std::string here2 = raise("NOPE3", "returns-key-00004");
  auto ids = [&](const std::string& target, const std::string& key) {
    auto res = e.get(target, key);
    INFO(target << ": " << res.body());
    REQUIRE(res.result_int() == 200);
    std::vector<std::string> out;
    const json::object page = body_of(res);
    for (const auto& a : page.at("alerts").as_array()) out.emplace_back(a.at("id").as_string());
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(ids("/v1/alerts", "pharmacy-key-0001") == V{here1, here2});
  CHECK(ids("/v1/alerts", "wholesaler-key-03") == V{here1, here2});
  CHECK(ids("/v1/alerts", "other-key-000002") == V{there1});
  CHECK(ids(std::string("/v1/alerts?location=") + kThere, "other-key-000002") == V{there1});
  CHECK(ids("/v1/alerts", "admin-key-000005") == V{here1, there1, here2});
  CHECK(ids(std::string("/v1/alerts?location=") + kThere, "admin-key-000005") == V{there1});
  CHECK(ids("/v1/alerts?order=desc", "admin-key-000005") == V{here2, there1, here1});

  // Another location's alerts: 403 naming the field; a malformed GLN or parameter: 400 naming it.
  auto forbidden = e.get(std::string("/v1/alerts?location=") + kThere, "pharmacy-key-0001");
  check_problem(forbidden, 403, "forbidden");
  CHECK(body_of(forbidden).at("field") == "location");
  for (const char* bad : {"location=4012345000001", "location=401234500000", "acked=yes", "order=newest",
                          "cursor=abc", "since=x", "limit=0", "colour=red"}) {
    auto res = e.get(std::string("/v1/alerts?") + bad, "admin-key-000005");
    INFO(bad);
    check_problem(res, 400, "bad_request");
  }

  // Acknowledging: own location yes (the caller's name recorded), another location's is "not found".
  check_problem(e.post("/v1/alerts/" + here1 + "/ack", "", "other-key-000002"), 404, "not_found");
  auto acked = e.verdict("/v1/alerts/" + here1 + "/ack", "", "returns-key-00004");
  CHECK(acked.at("acked") == true);
  CHECK(acked.at("ack").at("by") == "returns");
  CHECK(e.verdict("/v1/alerts/" + there1 + "/ack", "", "admin-key-000005").at("ack").at("by") == "admin");
  CHECK(ids("/v1/alerts?acked=true", "pharmacy-key-0001") == V{here1});
  CHECK(ids("/v1/alerts?acked=false", "pharmacy-key-0001") == V{here2});
  CHECK(ids("/v1/alerts?acked=false", "admin-key-000005") == V{here2});

  // Paging: ascending "next" is the last id shown (usable as since or cursor); descending "next" is a cursor
  // to the older page, null at the end.
  auto page1 = body_of(e.get("/v1/alerts?limit=1", "admin-key-000005"));
  REQUIRE(page1.at("next") == json::value(here1));
  CHECK(ids("/v1/alerts?limit=1&since=" + here1, "admin-key-000005") == V{there1});
  CHECK(ids("/v1/alerts?limit=1&cursor=" + here1, "admin-key-000005") == V{there1});
  std::vector<std::string> newest_first;
  std::string target = "/v1/alerts?order=desc&limit=2";
  for (int pages = 0; pages < 5; ++pages) {
    auto page = body_of(e.get(target, "admin-key-000005"));
    CHECK(page.at("scan_limited") == false);
    for (const auto& a : page.at("alerts").as_array()) newest_first.emplace_back(a.at("id").as_string());
    if (page.at("next").is_null()) break;
    target = "/v1/alerts?order=desc&limit=2&cursor=" + std::string(page.at("next").as_string());
  }
  CHECK(newest_first == V{here2, there1, here1});
  // `since` is the lower bound in both orders.
  CHECK(ids("/v1/alerts?order=desc&since=" + here1, "admin-key-000005") == V{here2, there1});
}

namespace {
json::object decision_body(const std::string& scan, const std::string& decision, const std::string& note = "") {
  json::object o{{"scan", scan}, {"decision", decision}};
  if (!note.empty()) o["note"] = note;
  return o;
}
}  // namespace

TEST_CASE("returns decision: restock only when the pack verifies ok, quarantine always, destroy decommissions",
          "[e2e][returns]") {
  E2E e;
  const std::string key = "returns-key-00004";
  auto decide = [&](const json::object& body, std::map<std::string, std::string> headers = {}) {
    return e.post("/v1/returns/decision", json::serialize(body), key, std::move(headers));
  };
  auto history_of = [&](const std::string& serial) {
    auto res = e.get(std::string("/v1/packs/") + kGtin + "/" + serial, key);
    INFO(res.body());
    REQUIRE(res.result_int() == 200);
    return body_of(res);
  };

  // restock of an active pack in date: accepted, the decision in the pack's history with its note.
  auto restock = decide(decision_body(scan_text("S001", "L1", "281231"), "restock", "unopened, customer return"));
  INFO(restock.body());
  REQUIRE(restock.result_int() == 200);
  auto r = body_of(restock);
  CHECK(r.at("decision") == "restock");
  CHECK(r.at("recorded") == true);
  CHECK(r.at("restock_allowed") == true);
  CHECK(r.at("verification").at("verdict") == "ok");
  CHECK(r.at("verification").at("status") == "active");
  CHECK(r.at("verification").at("product").at("name") == "Aspirin 100");
  CHECK(r.at("decommission").is_null());
  CHECK(!r.at("advice").as_string().empty());
  auto pack = history_of("S001");
  const auto& latest = pack.at("history").at(0).as_object();
  CHECK(latest.at("id") == r.at("audit_id"));
  CHECK(latest.at("operation") == "returns_decision");
  CHECK(latest.at("action") == "restock");
  CHECK(latest.at("note") == "unopened, customer return");
  CHECK(latest.at("location") == kHere);
  CHECK(latest.at("actor") == "returns");
  CHECK(pack.at("history").at(1).at("operation") == "verify");  // the verification came first, audited as usual
  CHECK(pack.at("status") == "active");

  // restock of a supplied pack, of a recalled batch's pack, of an unknown pack: 409 with the verification,
  // nothing recorded.
  for (const std::string& scan : {scan_text("SUPPLIED1", "L1", "281231"), scan_text("RECALLED1", "L2", "270600"),
                                  scan_text("NOPE9", "L1", "281231")}) {
    auto refused = decide(decision_body(scan, "restock"));
    INFO(refused.body());
    check_problem(refused, 409, "restock_refused");
    auto p = body_of(refused);
    CHECK(p.at("field") == "decision");
    CHECK(p.at("restock_allowed") == false);
    CHECK(p.at("verification").at("verdict") != "ok");
  }
  const json::object supplied = history_of("SUPPLIED1");
  for (const auto& h : supplied.at("history").as_array()) CHECK(h.at("operation") != "returns_decision");

  // quarantine is accepted whatever the verdict.
  auto quarantine = decide(decision_body(scan_text("RECALLED1", "L2", "270600"), "quarantine"));
  REQUIRE(quarantine.result_int() == 200);
  auto q = body_of(quarantine);
  CHECK(q.at("restock_allowed") == false);
  CHECK(q.at("verification").at("verdict") == "refused");
  CHECK(q.at("verification").at("reason") == "recalled");
  CHECK(history_of("RECALLED1").at("history").at(0).at("action") == "quarantine");

  // destroy decommissions the pack (the same transaction as POST /v1/decommission, outbox included).
  auto destroy = decide(decision_body(scan_text("S002", "L1", "281231"), "destroy"));
  REQUIRE(destroy.result_int() == 200);
  auto d = body_of(destroy);
  CHECK(d.at("decommission").at("verdict") == "ok");
  CHECK(d.at("decommission").at("status") == "destroyed");
  CHECK(d.at("decommission").at("action") == "destroy");
  auto destroyed = history_of("S002");
  CHECK(destroyed.at("status") == "destroyed");
  CHECK(destroyed.at("history").at(0).at("operation") == "returns_decision");
  CHECK(destroyed.at("history").at(0).at("status") == "destroyed");
  CHECK(destroyed.at("history").at(1).at("operation") == "decommission");

  // destroy of a pack that is no longer active: recorded (it is physically destroyed), the status change refused.
  auto again = decide(decision_body(scan_text("SUPPLIED1", "L1", "281231"), "destroy"));
  REQUIRE(again.result_int() == 200);
  auto a = body_of(again);
  CHECK(a.at("recorded") == true);
  CHECK(a.at("decommission").at("verdict") != "ok");
  CHECK(a.at("decommission").at("status") == "supplied");
  CHECK(history_of("SUPPLIED1").at("status") == "supplied");
  CHECK(history_of("SUPPLIED1").at("history").at(0).at("action") == "destroy");

  // The pack object instead of a scan.
  json::object by_pack{{"pack", json::object{{"gtin", kGtin}, {"serial", "S003"}, {"batch", "L1"}, {"expiry", "281231"}}},
                       {"decision", "quarantine"}};
  CHECK(decide(by_pack).result_int() == 200);

  // Counted by decision.
  auto metrics = e.get("/metrics", key).body();
  CHECK(metrics.find(R"(vpoint_returns_decisions_total{decision="restock",result="recorded"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(vpoint_returns_decisions_total{decision="restock",result="restock_refused"} 3)") !=
        std::string::npos);
}

TEST_CASE("returns decision: bad requests are refused naming the field, and a retry with the same key replays",
          "[e2e][returns]") {
  E2E e;
  const std::string key = "returns-key-00004";
  auto post = [&](const std::string& body, const std::string& who = "returns-key-00004",
                  std::map<std::string, std::string> headers = {}) {
    return e.post("/v1/returns/decision", body, who, std::move(headers));
  };
  const std::string scan = scan_text("S004", "L1", "281231");
  auto field_of = [](const vpoint::test::Response& res) { return std::string(body_of(res).at("field").as_string()); };
  auto bad = post(json::serialize(json::object{{"scan", scan}, {"decision", "quarantine"}, {"colour", "red"}}));
  check_problem(bad, 400, "bad_request");
  CHECK(field_of(bad) == "colour");
  bad = post(json::serialize(json::object{{"scan", scan}}));
  check_problem(bad, 400, "bad_request");
  CHECK(field_of(bad) == "decision");
  bad = post(json::serialize(decision_body(scan, "resell")));
  check_problem(bad, 400, "bad_request");
  CHECK(field_of(bad) == "decision");
  bad = post(json::serialize(decision_body(scan, "quarantine", std::string(501, 'x'))));
  check_problem(bad, 400, "bad_request");
  CHECK(field_of(bad) == "note");
  bad = post(json::serialize(decision_body(scan, "quarantine", "line\nbreak")));
  check_problem(bad, 400, "bad_request");
  CHECK(field_of(bad) == "note");
  bad = post(json::serialize(json::object{{"decision", "quarantine"}}));
  check_problem(bad, 400, "bad_request");
  CHECK(field_of(bad) == "scan");
  check_problem(post(json::serialize(decision_body("01041501234567822", "quarantine"))), 422, "invalid_scan");
  // Only the returns role; destroy also needs the destroy permission (which the returns role has).
  check_problem(post(json::serialize(decision_body(scan, "quarantine")), "wholesaler-key-03"), 403, "forbidden");
  check_problem(post(json::serialize(decision_body(scan, "destroy")), "admin-key-000005"), 403, "forbidden");
  HttpClient client(e.server->port());
  check_problem(client.request(http::verb::post, "/v1/returns/decision", json::serialize(decision_body(scan, "quarantine")),
                               {{"Content-Type", "application/json"}}),
                401, "unauthorized");

  // A retry with the same Idempotency-Key: the same audit entry, replay true, one decision in the history.
  const std::string body = json::serialize(decision_body(scan, "destroy", "crushed box"));
  auto first = post(body, key, {{"Idempotency-Key", "return-77"}});
  auto retry = post(body, key, {{"Idempotency-Key", "return-77"}});
  REQUIRE(first.result_int() == 200);
  REQUIRE(retry.result_int() == 200);
  auto f = body_of(first), r = body_of(retry);
  CHECK(f.at("replay") == false);
  CHECK(r.at("replay") == true);
  CHECK(r.at("audit_id") == f.at("audit_id"));
  CHECK(r.at("decommission").at("verdict") == "ok");  // the destroy replayed, not refused as already destroyed
  CHECK(r.at("decommission").at("transaction_id") == f.at("decommission").at("transaction_id"));
  auto pack = body_of(e.get(std::string("/v1/packs/") + kGtin + "/S004", key));
  int decisions = 0, decommissions = 0;
  for (const auto& h : pack.at("history").as_array()) {
    if (h.at("operation") == "returns_decision") ++decisions;
    if (h.at("operation") == "decommission") ++decommissions;
  }
  CHECK(decisions == 1);
  CHECK(decommissions == 1);
}
