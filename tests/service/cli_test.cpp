// The `vpoint` admin commands as a user runs them: the real build/bin/vpoint binary against a real
// redis-server holding a mirror, outbox entries, link status and alerts (issue 6 "`vpoint` CLI").
#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <set>
#include <sstream>

#include <boost/json.hpp>

#include "mirror_support.hpp"
#include "redis_server.hpp"
#include "service_support.hpp"
#include "vpoint/service/alerts.hpp"
#include "vpoint/cache/link_record.hpp"
#include "vpoint/service/central_link.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

ProcessOutput vpoint_cli(std::vector<std::string> args) {
  args.insert(args.begin(), VPOINT_CLI_PATH);
  return run_process(args, 20s);
}

std::vector<json::object> ndjson(const std::string& text) {
  std::vector<json::object> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto v = json::parse(line);
    REQUIRE(v.is_object());
    out.push_back(v.as_object());
  }
  return out;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A delivery status object as a sender records it.
json::object delivery_status(std::string_view text) { return json::parse(text).as_object(); }

std::string raise(MirrorFixture& f, cache::AlertLog& store, std::string reason, std::string serial,
                  std::string tx) {
  service::NewAlert alert;
  alert.reason = std::move(reason);
  alert.nmvs_code = "NMVS_NC_PC_02";
  alert.pack = json::object{{"gtin", kGtinA}, {"serial", std::move(serial)}};
  alert.location = kHere;
  alert.actor = "pharmacist";
  alert.transaction_id = std::move(tx);
  auto id = f.run(store.raise(service::alert_object(alert)));
  REQUIRE(id);
  return *id;
}

}  // namespace

TEST_CASE("vpoint status shows outbox depth per partition, feed position and last sync", "[cli][status]") {
  MirrorFixture f;
  f.load(small_snapshot(20, 42));
  // Three supplies: three outbox entries, in the partitions of their packs.
  std::map<int, int> expected;
  for (const char* serial : {"S001", "S002", "S003"}) {
    auto r = f.decommission(f.request(kGtinA, serial), cache::Action::supply);
    REQUIRE(r.outcome == cache::Outcome::ok);
    ++expected[cache::Mirror::partition_of(kGtinA, serial)];
  }
  const auto last_sync_ms = now_ms() - 1500;
  f.redis.cli({"HSET", std::string(cache::kLinkStatusKey), "state", "following", "feed_seq", "42", "central_seq",
               "45", "last_sync_ms", std::to_string(last_sync_ms), "instance", "site-a:1", "last_error", ""});

  auto out = vpoint_cli({"status", "--redis", f.redis.url(), "--json"});
  INFO(out.output);
  REQUIRE(out.exit_code == 0);
  auto status = json::parse(out.output).as_object();
  CHECK(status.at("feed_seq").to_number<std::int64_t>() == 42);
  CHECK(status.at("generation").to_number<std::int64_t>() >= 1);
  CHECK(status.at("outbox").at("total").to_number<std::int64_t>() == 3);
  const auto& partitions = status.at("outbox").at("partitions").as_object();
  CHECK(partitions.size() == expected.size());
  for (const auto& [p, n] : expected) CHECK(partitions.at(std::to_string(p)).to_number<int>() == n);
  CHECK(status.at("link").at("state").as_string() == "following");
  CHECK(status.at("link").at("central_seq").as_string() == "45");

  auto text = vpoint_cli({"status", "--redis", f.redis.url()});
  const auto age_bound_ms = now_ms() - last_sync_ms;  // the largest age the CLI can have seen
  INFO(text.output);
  REQUIRE(text.exit_code == 0);
  CHECK(text.output.find("feed position 42") != std::string::npos);
  CHECK(text.output.find("following (instance site-a:1), central head 45, last sync ") != std::string::npos);
  // The age printed: 1.5 s when written plus however long it took until the CLI read it (a sanitizer build is
  // slow): a margin that holds on any build, not a speed check.
  std::smatch age;
  REQUIRE(std::regex_search(text.output, age, std::regex(R"(last sync (\d+\.\d) s ago)")));
  const double seconds = std::stod(age[1].str());
  CHECK(seconds >= 1.4);
  CHECK(seconds <= static_cast<double>(age_bound_ms) / 1000.0 + 0.1);
  CHECK(text.output.find("outbox     3 entries in " + std::to_string(expected.size()) + " partitions") !=
        std::string::npos);
  for (const auto& [p, n] : expected)
    CHECK(text.output.find("ob:{" + std::to_string(p) + "}  " + std::to_string(n)) != std::string::npos);
}

TEST_CASE("vpoint status names the Redis it cannot reach and exits 1", "[cli][status]") {
  const std::string url = "redis://127.0.0.1:" + std::to_string(free_port());
  auto out = vpoint_cli({"status", "--redis", url});
  INFO(out.output);
  CHECK(out.exit_code == 1);
  CHECK(out.output.find(url) != std::string::npos);
}

TEST_CASE("vpoint import, status and alerts reach a TLS-only Redis with the --tls options", "[cli][tls]") {
  auto options = mirror_redis_options();
  options.tls = true;
  options.tls_auth_clients = true;
  RedisServer redis(options);
  const auto& files = redis.tls_files();
  const std::vector<std::string> tls{"--redis", "redis://127.0.0.1:" + std::to_string(redis.port()), "--tls",
                                     "--tls-ca-file", files.ca_cert, "--tls-cert-file", files.client_cert,
                                     "--tls-key-file", files.client_key};
  auto with = [&](std::vector<std::string> args, const std::vector<std::string>& extra) {
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  TempDir dir;
  write_file(dir / "snapshot.ndjson", small_snapshot(5));
  auto imported = vpoint_cli(with({"import", (dir / "snapshot.ndjson").string(), "--quiet"}, tls));
  INFO(imported.output);
  REQUIRE(imported.exit_code == 0);
  auto status = vpoint_cli(with({"status", "--json"}, tls));
  INFO(status.output);
  REQUIRE(status.exit_code == 0);
  CHECK(json::parse(status.output).at("generation").to_number<std::int64_t>() >= 1);
  auto alerts = vpoint_cli(with({"alerts", "--json"}, tls));
  INFO(alerts.output);
  CHECK(alerts.exit_code == 0);
  // Without the client certificate the server refuses: exit 1, naming the Redis.
  auto refused = vpoint_cli({"status", "--redis", "redis://127.0.0.1:" + std::to_string(redis.port()), "--tls",
                             "--tls-ca-file", files.ca_cert});
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find(std::to_string(redis.port())) != std::string::npos);
  // A certificate without its key is a usage error.
  CHECK(vpoint_cli({"status", "--tls", "--tls-cert-file", files.client_cert}).exit_code == 2);
}

TEST_CASE("vpoint alerts lists alerts with delivery status and acknowledgement, filtered", "[cli][alerts]") {
  MirrorFixture f;
  cache::AlertLog store(f.client);
  const auto before_ms = now_ms();
  std::string first = raise(f, store, "unknown_serial", "FAKE1", "tx-1");
  std::string second = raise(f, store, "batch_mismatch", "S001", "tx-2");
  std::string third = raise(f, store, "unknown_serial", "FAKE2", "tx-3");
  // What the central link's senders record (central_link.cpp deliver_to).
  REQUIRE(f.run(store.record_delivery(first, "central", delivery_status(R"({"status":"delivered","attempts":1,"at":"2026-11-28T01:00:00.000Z"})"))));
  REQUIRE(f.run(store.record_delivery(first, "webhook:erp", delivery_status(R"({"status":"retrying","attempts":3,"at":"2026-11-28T01:00:02.000Z","last_error":"HTTP 503"})"))));
  // Before issue 15 webhooks were keyed by URL, which may carry a token: such records show masked.
  REQUIRE(f.run(store.record_delivery(first, "webhook:https://user:tok3n@hooks.example:8443/in?key=s3cr3t", delivery_status(R"({"status":"delivered","attempts":1,"at":"2026-11-28T01:00:00.000Z"})"))));

  SECTION("--json gives one alert per line, as GET /v1/alerts, with delivery per target") {
    auto out = vpoint_cli({"alerts", "--redis", f.redis.url(), "--json"});
    INFO(out.output);
    REQUIRE(out.exit_code == 0);
    auto alerts = ndjson(out.output);
    REQUIRE(alerts.size() == 3);
    CHECK(alerts[0].at("id").as_string() == first);
    CHECK(alerts[0].at("reason").as_string() == "unknown_serial");
    CHECK(alerts[0].at("pack").at("serial").as_string() == "FAKE1");
    const auto& delivery = alerts[0].at("delivery").as_object();
    CHECK(delivery.at("central").at("status").as_string() == "delivered");
    CHECK(delivery.at("erp").at("status").as_string() == "retrying");
    CHECK(delivery.at("erp").at("attempts").to_number<int>() == 3);
    CHECK(delivery.at("erp").at("last_error").as_string() == "HTTP 503");
    CHECK(delivery.at("https://hooks.example:8443/…").at("status").as_string() == "delivered");
    CHECK(out.output.find("tok3n") == std::string::npos);
    CHECK(out.output.find("s3cr3t") == std::string::npos);
    // No sender has tried the others yet.
    CHECK(alerts[1].at("delivery").as_string() == "pending");
    CHECK(alerts[1].at("acked").as_bool() == false);
  }

  SECTION("--reason, --limit and --since filter") {
    auto by_reason = vpoint_cli({"alerts", "--redis", f.redis.url(), "--json", "--reason", "unknown_serial"});
    REQUIRE(by_reason.exit_code == 0);
    auto unknown = ndjson(by_reason.output);
    REQUIRE(unknown.size() == 2);
    CHECK(unknown[0].at("id").as_string() == first);
    CHECK(unknown[1].at("id").as_string() == third);

    auto limited = vpoint_cli({"alerts", "--redis", f.redis.url(), "--json", "--limit", "1"});
    REQUIRE(limited.exit_code == 0);
    auto one = ndjson(limited.output);
    REQUIRE(one.size() == 1);
    CHECK(one[0].at("id").as_string() == first);

    // An alert id is exclusive: what comes after the last one seen.
    auto after = vpoint_cli({"alerts", "--redis", f.redis.url(), "--json", "--since", first});
    REQUIRE(after.exit_code == 0);
    auto later = ndjson(after.output);
    REQUIRE(later.size() == 2);
    CHECK(later[0].at("id").as_string() == second);

    auto recent = vpoint_cli({"alerts", "--redis", f.redis.url(), "--json", "--since", "1h"});
    REQUIRE(recent.exit_code == 0);
    CHECK(ndjson(recent.output).size() == 3);
    auto by_ms = vpoint_cli({"alerts", "--redis", f.redis.url(), "--json", "--since", std::to_string(before_ms - 1)});
    REQUIRE(by_ms.exit_code == 0);
    CHECK(ndjson(by_ms.output).size() == 3);
    auto future = vpoint_cli({"alerts", "--redis", f.redis.url(), "--json", "--since", "2999-01-01T00:00:00Z"});
    REQUIRE(future.exit_code == 0);
    CHECK(ndjson(future.output).empty());
  }

  SECTION("the table shows id, time, reason, verdict, pack, delivery and acknowledgement") {
    auto out = vpoint_cli({"alerts", "--redis", f.redis.url()});
    INFO(out.output);
    REQUIRE(out.exit_code == 0);
    std::istringstream in(out.output);
    std::string header, row1, row2;
    std::getline(in, header);
    std::getline(in, row1);
    std::getline(in, row2);
    for (const char* column : {"ID", "TIME", "REASON", "VERDICT", "PACK", "DELIVERY", "ACKED"})
      CHECK(header.find(column) != std::string::npos);
    CHECK(row1.rfind(first, 0) == 0);
    CHECK(row1.find("unknown_serial") != std::string::npos);
    CHECK(row1.find(std::string(kGtinA) + "/FAKE1") != std::string::npos);
    CHECK(row1.find("central=delivered erp=retrying(3)") != std::string::npos);
    CHECK(row1.substr(row1.size() - 2) == "no");
    CHECK(row2.find("pending") != std::string::npos);
  }

  SECTION("ack records who acknowledged; the first acknowledgement stands") {
    auto acked = vpoint_cli({"alerts", "ack", second, "--actor", "alice", "--redis", f.redis.url()});
    INFO(acked.output);
    REQUIRE(acked.exit_code == 0);
    auto alert = json::parse(acked.output).as_object();
    CHECK(alert.at("id").as_string() == second);
    CHECK(alert.at("acked").as_bool());
    CHECK(alert.at("ack").at("by").as_string() == "alice");

    auto again = vpoint_cli({"alerts", "--redis", f.redis.url(), "ack", second, "--actor", "bob"});
    REQUIRE(again.exit_code == 0);
    CHECK(json::parse(again.output).at("ack").at("by").as_string() == "alice");

    auto table = vpoint_cli({"alerts", "--redis", f.redis.url()});
    REQUIRE(table.exit_code == 0);
    CHECK(table.output.find("yes (alice)") != std::string::npos);
    auto listed = ndjson(vpoint_cli({"alerts", "--redis", f.redis.url(), "--json"}).output);
    REQUIRE(listed.size() == 3);
    CHECK_FALSE(listed[0].at("acked").as_bool());
    CHECK(listed[1].at("acked").as_bool());

    auto unknown = vpoint_cli({"alerts", "ack", "1-0", "--actor", "alice", "--redis", f.redis.url()});
    CHECK(unknown.exit_code == 1);
    CHECK(unknown.output.find("no alert 1-0") != std::string::npos);
  }
}

TEST_CASE("vpoint alerts refuses bad input with exit 2 and names the flag", "[cli][alerts]") {
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{"alerts", "--limit", "0"}, "--limit"},
      {{"alerts", "--limit", "many"}, "--limit"},
      {{"alerts", "--since", "yesterday"}, "--since"},
      {{"alerts", "--since", "2026-02-30"}, "--since"},
      {{"alerts", "--reason", "Bad Reason!"}, "--reason"},
      {{"alerts", "--redis", "http://127.0.0.1:6379"}, "--redis"},
      {{"alerts", "ack", "not-an-id", "--actor", "alice"}, "id"},
      {{"alerts", "ack", "1700000000000-0"}, "--actor"},
      {{"alerts", "--no-such-flag"}, "--no-such-flag"},
  };
  for (const auto& c : cases) {
    auto out = vpoint_cli(c.args);
    INFO(c.args.back() << ": " << out.output);
    CHECK(out.exit_code == 2);
    CHECK(out.output.find(c.named) != std::string::npos);
  }
  // Nothing to connect to: exit 1 with the URL named, not a hang.
  const std::string url = "redis://127.0.0.1:" + std::to_string(free_port());
  auto down = vpoint_cli({"alerts", "--redis", url});
  INFO(down.output);
  CHECK(down.exit_code == 1);
  CHECK(down.output.find(url) != std::string::npos);
}

TEST_CASE("vpoint alerts redeliver queues a failed delivery again for the target that refused it",
          "[cli][alerts][truth]") {
  MirrorFixture f;
  cache::AlertLog store(f.client);
  std::string refused = raise(f, store, "unknown_serial", "FAKE1", "tx-1");
  std::string fine = raise(f, store, "unknown_serial", "FAKE2", "tx-2");
  // What the central link's senders record: the webhook refused the first alert with a 4xx (issue 12).
  REQUIRE(f.run(store.record_delivery(refused, "central", delivery_status(R"({"status":"delivered","attempts":1,"at":"2026-11-28T01:00:00.000Z"})"))));
  REQUIRE(f.run(store.record_delivery(refused, "webhook:erp", delivery_status(R"({"status":"failed","attempts":1,"at":"2026-11-28T01:00:02.000Z","last_error":"HTTP 422"})"))));
  REQUIRE(f.run(store.record_delivery(fine, "central", delivery_status(R"({"status":"delivered","attempts":1,"at":"2026-11-28T01:00:00.000Z"})"))));

  auto table = vpoint_cli({"alerts", "--redis", f.redis.url()});
  REQUIRE(table.exit_code == 0);
  CHECK(table.output.find("erp=failed(1)") != std::string::npos);

  auto out = vpoint_cli({"alerts", "redeliver", refused, "--redis", f.redis.url()});
  INFO(out.output);
  REQUIRE(out.exit_code == 0);
  CHECK(out.output.find(refused + ": queued for redelivery to webhook:erp") != std::string::npos);
  CHECK(out.output.find("central") == std::string::npos);  // delivered there: not sent again
  // The webhook's sender takes it before new alerts; the central system's has nothing to send again.
  auto queued = f.run(store.take_redelivery("webhook:erp"));
  REQUIRE(queued);
  REQUIRE(*queued);
  CHECK((*queued)->id == refused);
  REQUIRE(f.run(store.return_redelivery("webhook:erp", refused)));
  CHECK_FALSE(*f.run(store.take_redelivery("central")));
  auto listed = ndjson(vpoint_cli({"alerts", "--redis", f.redis.url(), "--json"}).output);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].at("delivery").at("erp").at("status").as_string() == "retrying");

  // Nothing failed: nothing to send again (exit 1, said plainly); no such alert: exit 1.
  auto nothing = vpoint_cli({"alerts", "redeliver", fine, "--redis", f.redis.url()});
  CHECK(nothing.exit_code == 1);
  CHECK(nothing.output.find("has no failed delivery") != std::string::npos);
  auto unknown = vpoint_cli({"alerts", "redeliver", "1-0", "--redis", f.redis.url()});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.output.find("no alert 1-0") != std::string::npos);
  auto bad = vpoint_cli({"alerts", "redeliver", "not-an-id", "--redis", f.redis.url()});
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("must be an alert id") != std::string::npos);
}
