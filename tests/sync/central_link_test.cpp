// The central link against a real vpoint-central-sim and a real redis-server on loopback (issue 6 tests).
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "sync_support.hpp"
#include "vpoint/service/central_http.hpp"
#include "vpoint/service/http_server.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

const std::string kHookSecret = "whsec_test_0123456789abcdef0123456789";  // 32+ bytes

struct SimPack {
  std::string code, serial, batch, expiry;
};

std::vector<SimPack> usable_packs(Simulator& sim, int n) {
  auto v = sim.get_json("/admin/packs?limit=" + std::to_string(n));
  std::vector<SimPack> out;
  for (const auto& p : v.at("packs").as_array()) {
    const auto& o = p.as_object();
    SimPack pack;
    pack.code = std::string(o.contains("gtin") ? o.at("gtin").as_string() : o.at("ppn").as_string());
    pack.serial = std::string(o.at("serial").as_string());
    pack.batch = std::string(o.at("batch").as_string());
    pack.expiry = std::string(o.at("expiry").as_string());
    out.push_back(pack);
  }
  return out;
}

std::int64_t sim_seq(Simulator& sim) { return sim.get_json("/admin/status").at("seq").to_number<std::int64_t>(); }

// Every transaction the simulator received, by id: how often and with which result.
std::map<std::string, std::vector<std::string>> sim_transactions(Simulator& sim) {
  auto v = sim.get_json("/admin/transactions?limit=100000");
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& t : v.at("transactions").as_array())
    out[std::string(t.at("id").as_string())].push_back(std::string(t.at("result").as_string()));
  return out;
}

// A webhook receiver: our HTTP core on a free loopback port, one thread.
service::ServerOptions webhook_receiver_options() {
  service::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = 1;
  return options;
}

}  // namespace

TEST_CASE("an empty mirror loads the central snapshot, is then ready, and matches the central state",
          "[sync][snapshot]") {
  Simulator sim(4, 3000);
  LinkHarness h;
  auto readiness = std::make_shared<service::Readiness>();
  auto options = test_link_options(sim.url(), {.feed = true});
  auto& link = h.start_link(options, readiness);
  REQUIRE(eventually([&] { return link.status().generation > 0 && !link.loading(); }, 30s));

  auto status = link.status();
  auto central = sim.get_json("/admin/status").as_object();
  CHECK(status.import_packs == central.at("seeded_packs").to_number<std::uint64_t>());
  CHECK(status.feed_seq == central.at("seq").to_number<std::int64_t>());
  auto report = h.run(readiness->evaluate());
  CHECK(report.body.at("checks").at("mirror").at("status").as_string() == "ok");

  // Samples: every usable pack of the central system verifies as active, with the same batch, in the mirror.
  auto packs = usable_packs(sim, 60);
  REQUIRE(packs.size() == 60);
  for (const auto& p : packs) {
    cache::PackRequest request{p.code, p.serial, {"pharmacy-1", "4012345000009"}};
    auto verified = h.run(h.mirror().verify(request));
    REQUIRE(verified);
    CHECK(verified->outcome == cache::Outcome::ok);
    CHECK(verified->status == cache::PackStatus::active);
    REQUIRE(verified->stored_batch);
    CHECK(verified->stored_batch->batch == p.batch);
    CHECK(verified->stored_batch->expiry == p.expiry);
  }
  // And a serial the central system does not have is not in the mirror either.
  cache::PackRequest unknown{packs[0].code, "NOSUCHSERIAL1", {"pharmacy-1", "4012345000009"}};
  auto missing = h.run(h.mirror().verify(unknown));
  REQUIRE(missing);
  CHECK(missing->outcome == cache::Outcome::unknown_serial);
}

TEST_CASE("supplies made while the central system is down arrive exactly once and in order when it returns",
          "[sync][writeback]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  import_through_link(h, sim);
  auto packs = usable_packs(sim, 40);
  REQUIRE(packs.size() == 40);

  auto options = test_link_options(sim.url(), {.drain = true});
  h.start_link(options);
  sim.kill();

  // 30 supplies, and for 5 of them an undo right after (same pack, same partition: the undo is only valid at
  // the central system if the supply arrived first).
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) {
    auto result = h.supply(packs[i].code, packs[i].serial);
    REQUIRE(result.outcome == cache::Outcome::ok);
    ids.push_back(result.transaction_id);
    if (i < 5) {
      cache::PackRequest request{packs[i].code, packs[i].serial, {"pharmacy-1", "4012345000009"}};
      auto undone = h.run(h.mirror().undo(request, cache::Action::supply));
      REQUIRE(undone);
      REQUIRE(undone->outcome == cache::Outcome::ok);
      ids.push_back(undone->transaction_id);
    }
  }
  std::this_thread::sleep_for(800ms);
  CHECK(h.outbox_total() == 35);  // nothing leaves the outbox while the central system is away
  CHECK(h.link().status().last_error.find("write-back") != std::string::npos);

  sim.start();
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 20s));
  // A lost answer (the central system applied the batch, then the connection dropped): retried, not doubled.
  sim.post_json("/admin/faults", R"({"drop_after_apply":1})");
  for (int i = 30; i < 36; ++i) ids.push_back(h.supply(packs[i].code, packs[i].serial).transaction_id);
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 20s));
  CHECK(sim.get_json("/admin/faults").at("dropped").to_number<int>() == 1);

  auto received = sim_transactions(sim);
  CHECK(received.size() == ids.size());
  for (const auto& id : ids) {
    INFO("transaction " << id);
    REQUIRE(received.count(id) == 1);
    CHECK(received[id] == std::vector<std::string>{"accepted"});
  }
  CHECK(h.link().status().rejected == 0);
  CHECK(alerts_in_redis(h).empty());
}

TEST_CASE("a supply of a pack dispensed elsewhere first is rejected centrally and raises an alert naming both",
          "[sync][conflict]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  import_through_link(h, sim);
  auto packs = usable_packs(sim, 3);
  const auto& p = packs[1];
  sim.post_json("/admin/packs/" + p.code + "/" + p.serial + "/status",
                R"({"status":"supplied","location":"4099999000007","actor":"pharmacy elsewhere"})");

  auto ours = h.supply(p.code, p.serial);  // the mirror has not heard of it yet (no feed running)
  REQUIRE(ours.outcome == cache::Outcome::ok);
  auto options = test_link_options(sim.url(), {.drain = true});
  h.start_link(options);
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 15s));
  REQUIRE(eventually([&] { return !alerts_in_redis(h).empty(); }, 5s));

  auto alerts = alerts_in_redis(h);
  REQUIRE(alerts.size() == 1);
  const auto& alert = alerts[0];
  CHECK(alert.at("reason").as_string() == "central_rejected");
  CHECK(alert.at("transaction_id").as_string() == ours.transaction_id);
  CHECK(alert.at("nmvs_code").is_string());
  CHECK(alert.at("pack").at("serial").as_string() == p.serial);
  CHECK(alert.at("pack").at("batch").as_string() == p.batch);
  CHECK(alert.at("location").as_string() == "4012345000009");
  const auto& details = alert.at("details").as_object();
  CHECK(details.at("conflicting_location").as_string() == "4099999000007");
  CHECK(details.at("conflicting_event").as_string() == "elsewhere");
  CHECK(details.at("central_status").as_string() == "supplied");
  auto received = sim_transactions(sim);
  REQUIRE(received.count(ours.transaction_id) == 1);
  CHECK(received[ours.transaction_id] == std::vector<std::string>{"rejected"});
  CHECK(h.link().status().rejected == 1);
}

TEST_CASE("alerts reach the central system and a webhook that is retried until it acknowledges, signed",
          "[sync][alerts]") {
  Simulator sim(2, 100);
  LinkHarness h;
  struct Received {
    std::mutex mutex;
    int requests = 0;
    std::string body, signature, content_type;
  } received;
  service::HttpServer receiver(webhook_receiver_options(), [&](service::Request& req, const service::Peer&) -> boost::asio::awaitable<service::Reply> {
    std::lock_guard lock(received.mutex);
    ++received.requests;
    received.body = req.body();
    received.signature = std::string(req["Vpoint-Signature"]);
    received.content_type = std::string(req[boost::beast::http::field::content_type]);
    service::Response res{received.requests <= 2 ? boost::beast::http::status::service_unavailable
                                                 : boost::beast::http::status::no_content,
                          11};
    co_return res;
  });
  REQUIRE(receiver.start());
  std::string hook_url = receiver.base_url() + "/hooks/vpoint";

  auto options = test_link_options(sim.url(), {.alerts = true});
  options.webhooks = {service::WebhookConfig{"erp", hook_url, kHookSecret}};
  h.start_link(options);
  json::object alert{{"reason", "already_supplied"}, {"nmvs_code", "NMVS_NC_PCK_19"}, {"verdict", "alert"},
                     {"pack", {{"gtin", "04150123456782"}, {"serial", "ABC123"}}}, {"location", "4012345000009"},
                     {"actor", "pharmacy-1"}, {"transaction_id", "tx-webhook-1"}, {"details", json::object{}}};
  auto id = h.run(h.link().raise_alert(alert));
  REQUIRE(id);

  REQUIRE(eventually([&] { std::lock_guard lock(received.mutex); return received.requests >= 3; }, 15s));
  REQUIRE(eventually([&] {
    const auto status = delivery_status(h, *id, "erp");
    return status.contains("status") && status.at("status") == "delivered";
  }, 5s));
  {
    std::lock_guard lock(received.mutex);
    CHECK(received.requests == 3);  // two 503s, then the 204 ends the retries
    CHECK(received.content_type == "application/json");
    auto body = json::parse(received.body).as_object();
    CHECK(body.at("id").as_string() == *id);
    CHECK(body.at("transaction_id").as_string() == "tx-webhook-1");
    CHECK(body.at("reason").as_string() == "already_supplied");
    // Vpoint-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
    auto comma = received.signature.find(",v1=");
    REQUIRE(received.signature.rfind("t=", 0) == 0);
    REQUIRE(comma != std::string::npos);
    std::string t = received.signature.substr(2, comma - 2);
    std::string v1 = received.signature.substr(comma + 4);
    CHECK(v1 == service::hmac_sha256_hex(kHookSecret, t + "." + received.body));
    CHECK(v1 != service::hmac_sha256_hex("wrong secret", t + "." + received.body));
    CHECK(std::abs(std::stoll(t) - std::time(nullptr)) < 60);
  }
  CHECK(delivery_status(h, *id, "erp").at("attempts").to_number<int>() == 3);
  REQUIRE(eventually([&] { return sim.get_json("/admin/alerts").at("total").to_number<int>() == 1; }, 10s));
  CHECK(sim.get_json("/admin/alerts").at("alerts").at(0).at("id").as_string() == *id);
  receiver.stop();
  receiver.wait();
}

TEST_CASE("an alert a webhook refuses with a 4xx is marked failed and does not hold up later alerts, and redeliver sends it again",
          "[sync][alerts][truth]") {
  Simulator sim(2, 100);
  LinkHarness h;
  struct Received {
    std::mutex mutex;
    bool accept_all = false;
    std::vector<std::string> delivered;  // transaction ids answered 2xx, in order
    int refusals = 0;
  } received;
  service::HttpServer receiver(webhook_receiver_options(), [&](service::Request& req, const service::Peer&) -> boost::asio::awaitable<service::Reply> {
    std::lock_guard lock(received.mutex);
    std::string tx(json::parse(req.body()).at("transaction_id").as_string());
    bool refuse = tx == "tx-refused" && !received.accept_all;
    if (refuse) ++received.refusals;
    else received.delivered.push_back(tx);
    co_return service::Response{refuse ? boost::beast::http::status::unprocessable_entity
                                       : boost::beast::http::status::no_content,
                                11};
  });
  REQUIRE(receiver.start());
  std::string hook_url = receiver.base_url() + "/hooks/vpoint";
  auto options = test_link_options(sim.url(), {.alerts = true});
  options.webhooks = {service::WebhookConfig{"erp", hook_url, kHookSecret}};
  h.start_link(options);
  auto raise = [&](const std::string& tx) {
    json::object alert{{"reason", "unknown_serial"}, {"nmvs_code", "NMVS_NC_PC_02"}, {"verdict", "alert"},
                       {"pack", {{"gtin", "04150123456782"}, {"serial", tx}}}, {"location", "4012345000009"},
                       {"actor", "pharmacy-1"}, {"transaction_id", tx}, {"details", json::object{}}};
    auto id = h.run(h.link().raise_alert(alert));
    REQUIRE(id);
    return *id;
  };
  std::string refused = raise("tx-refused");
  std::string later = raise("tx-later");
  std::string hook_field = "webhook:erp";
  auto delivery = [&](const std::string& id) -> std::string {
    const auto status = delivery_status(h, id, "erp");
    return status.contains("status") ? std::string(status.at("status").as_string()) : std::string();
  };
  REQUIRE(eventually([&] { return delivery(later) == "delivered"; }, 15s));
  CHECK(delivery(refused) == "failed");
  {
    std::lock_guard lock(received.mutex);
    CHECK(received.refusals == 1);  // a 4xx is final: not retried by itself
    CHECK(received.delivered == std::vector<std::string>{"tx-later"});
  }
  cache::AlertLog store(h.client());
  auto listed = h.run(store.list(cache::AlertQuery{}));
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  // Keyed by the webhook's name: its URL (which may carry a token) is not shown (issue 15).
  CHECK((*listed)[0].at("delivery").at("erp").at("status").as_string() == "failed");
  CHECK((*listed)[0].at("delivery").at("erp").at("last_error").as_string() == "HTTP 422");
  CHECK(json::serialize((*listed)[0]).find(hook_url) == std::string::npos);
  // The central system took both (it did not refuse).
  REQUIRE(eventually([&] { return sim.get_json("/admin/alerts").at("total").to_number<int>() == 2; }, 10s));

  // The receiver is fixed; the operator sends the refused alert again.
  {
    std::lock_guard lock(received.mutex);
    received.accept_all = true;
  }
  auto queued = h.run(store.redeliver(refused));
  REQUIRE(queued);
  REQUIRE(*queued);
  CHECK(**queued == std::vector<std::string>{hook_field});
  REQUIRE(eventually([&] { return delivery(refused) == "delivered"; }, 15s));
  {
    std::lock_guard lock(received.mutex);
    CHECK(received.delivered == std::vector<std::string>{"tx-later", "tx-refused"});
  }
  receiver.stop();
  receiver.wait();
}

TEST_CASE("read-through finds packs the mirror lacks, 404s stay unknown, an absent central system is reported fast",
          "[sync][readthrough]") {
  Simulator sim(2, 200);
  LinkHarness h;
  auto options = test_link_options(sim.url(), {});
  auto& link = h.start_link(options);
  auto packs = usable_packs(sim, 2);

  auto found = h.run(link.read_through(packs[0].code, packs[0].serial));
  REQUIRE(found.status == service::ReadThroughStatus::found);
  REQUIRE(found.pack);
  CHECK(found.pack->batch == packs[0].batch);
  CHECK(found.pack->expiry == packs[0].expiry);
  CHECK(found.pack->status == "active");
  CHECK(found.cached);  // written into the mirror (cache::cache_pack): verify answers from it now
  cache::PackRequest cached_request{packs[0].code, packs[0].serial, {"pharmacy-1", "4012345000009"}};
  auto from_mirror = h.run(h.mirror().verify(cached_request));
  REQUIRE(from_mirror);
  CHECK(from_mirror->outcome == cache::Outcome::ok);
  CHECK(from_mirror->stored_batch->batch == packs[0].batch);

  auto unknown = h.run(link.read_through(packs[0].code, "NOSUCHSERIAL9"));
  CHECK(unknown.status == service::ReadThroughStatus::not_found);

  sim.kill();
  auto started = std::chrono::steady_clock::now();
  auto offline = h.run(link.read_through(packs[1].code, packs[1].serial));
  CHECK(offline.status == service::ReadThroughStatus::unavailable);
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  CHECK(link.offline_mode() == service::OfflineMode::record);
}

TEST_CASE("a change made in the central system is seen by a verification within the feed latency",
          "[sync][feed]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  auto options = test_link_options(sim.url(), {.feed = true});
  auto& link = h.start_link(options);
  REQUIRE(eventually([&] { return link.status().state == service::LinkState::following; }, 30s));
  auto packs = usable_packs(sim, 3);
  const auto& p = packs[0];
  sim.post_json("/admin/packs/" + p.code + "/" + p.serial + "/status",
                R"({"status":"supplied","location":"4099999000007","actor":"pharmacy elsewhere"})");
  sim.post_json("/admin/batches/" + packs[2].code + "/" + packs[2].batch + "/recall", R"({"reason":"test recall"})");
  cache::PackRequest request{p.code, p.serial, {"pharmacy-1", "4012345000009"}};
  // Feed latency: one long-poll round trip (the simulator wakes waiting polls at once).
  REQUIRE(eventually([&] {
    auto verified = h.run(h.mirror().verify(request));
    return verified && verified->status == cache::PackStatus::supplied;
  }, 5s));
  REQUIRE(eventually([&] {
    h.mirror().invalidate();
    auto batch = h.run(h.mirror().batch(packs[2].code, packs[2].batch));
    return batch && *batch && (*batch)->state == cache::BatchState::recalled;
  }, 5s));
  CHECK(link.status().feed_seq == sim_seq(sim));
  // The recall alert follows the applied change (it first reads the audit trail for this site's packs).
  std::vector<json::object> alerts;
  REQUIRE(eventually([&] {
    alerts = alerts_in_redis(h);
    return !alerts.empty();
  }, 5s));
  CHECK(alerts.back().at("reason").as_string() == "batch_recalled");
}

TEST_CASE("webhook signatures are HMAC-SHA256 over \"<t>.<body>\"", "[sync][alerts]") {
  // RFC 4231 test case 2 ("Jefe"), as a check that the OpenSSL call is the right one.
  CHECK(service::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(service::webhook_signature("Jefe", 1700000000, "{}") ==
        "t=1700000000,v1=" + service::hmac_sha256_hex("Jefe", "1700000000.{}"));
}

TEST_CASE("central URLs are parsed into origins with clear errors", "[sync][http]") {
  auto o = service::parse_origin("https://central.example:8443/api/");
  REQUIRE(o);
  CHECK(o->tls);
  CHECK(o->host == "central.example");
  CHECK(o->port == "8443");
  CHECK(o->base_path == "/api");
  auto plain = service::parse_origin("http://127.0.0.1");
  REQUIRE(plain);
  CHECK(plain->port == "80");
  CHECK(!service::parse_origin("ftp://x/"));
  CHECK(service::parse_origin("ftp://x/").error().find("http://") != std::string::npos);
}

TEST_CASE("two instances on one mirror: one drainer per partition, nothing doubled, a stopped one's share moves",
          "[sync][writeback][leases]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  import_through_link(h, sim);
  auto packs = usable_packs(sim, 120);
  REQUIRE(packs.size() == 120);

  auto options = test_link_options(sim.url(), {.drain = true});
  options.lease_ttl = 3000ms;
  auto first_options = options;
  first_options.instance_id = "instance-a";
  auto& first = h.start_link(first_options);
  // Instance A takes every free lease on its first round; only then does B start competing.
  REQUIRE(eventually([&] {
    auto owner = h.run(h.client().command({"GET", "vpoint:lease:outbox:0"}));
    return owner && owner->type == cache::Reply::Type::string && owner->str == "instance-a";
  }, 5s));
  auto second_options = options;
  second_options.instance_id = "instance-b";
  service::CentralLink second(h.io().get_executor(), h.client(), h.mirror(), second_options);
  second.start();

  std::vector<std::string> ids;
  for (int i = 0; i < 60; ++i) ids.push_back(h.supply(packs[i].code, packs[i].serial).transaction_id);
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 20s));
  // Every range is held by A, so B normally sends nothing; on a loaded machine a renewal can come late and B
  // may take a range over. Either way each transaction is applied once centrally (checked below).
  CHECK(first.status().sent + second.status().sent >= 60);
  CHECK(first.status().sent > 0);

  // A stops; B takes its partitions over once A's leases expire and sends what came after.
  h.stop_link();
  for (int i = 60; i < 120; ++i) ids.push_back(h.supply(packs[i].code, packs[i].serial).transaction_id);
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 20s));
  CHECK(second.status().sent >= 60);
  second.stop();

  auto received = sim_transactions(sim);
  CHECK(received.size() == ids.size());
  for (const auto& id : ids) {
    INFO("transaction " << id);
    REQUIRE(received.count(id) == 1);
    CHECK(received[id] == std::vector<std::string>{"accepted"});  // applied once centrally
  }
}

TEST_CASE("a feed position the central system no longer has (410) makes the link load a new snapshot",
          "[sync][feed][snapshot]") {
  Simulator sim(4, 1500);
  LinkHarness h;
  import_through_link(h, sim);
  auto before = h.run(h.mirror().feed_position());
  REQUIRE(before);
  // E.g. the central system was restored from a backup older than our position.
  REQUIRE(h.run(h.client().command({"SET", "mirror:seq:" + std::to_string(before->first), "999999"})));
  auto packs = usable_packs(sim, 2);
  sim.post_json("/admin/packs/" + packs[0].code + "/" + packs[0].serial + "/status",
                R"({"status":"supplied","location":"4099999000007","actor":"pharmacy elsewhere"})");

  auto options = test_link_options(sim.url(), {.feed = true});
  auto& link = h.start_link(options);
  REQUIRE(eventually([&] {
    return link.status().generation > before->first && link.status().state == service::LinkState::following;
  }, 30s));
  auto after = h.run(h.mirror().feed_position());
  REQUIRE(after);
  CHECK(after->first > before->first);
  CHECK(after->second == sim_seq(sim));  // back in step with the central system's real position
  cache::PackRequest request{packs[0].code, packs[0].serial, {"pharmacy-1", "4012345000009"}};
  auto verified = h.run(h.mirror().verify(request));
  REQUIRE(verified);
  CHECK(verified->status == cache::PackStatus::supplied);  // the change made meanwhile is in the new snapshot
}
