#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <csignal>
#include <sstream>

#include <boost/json.hpp>

#include "service_support.hpp"
#include "vpoint/service/daemon.hpp"
#include "vpoint/service/logging.hpp"

using namespace vpoint::service;
using vpoint::test::ClientOptions;
using vpoint::test::HttpClient;

namespace {

const std::string kPharmacyKey = "pharmacy-secret-0001";
const std::string kWholesalerKey = "wholesaler-secret-0002";

std::string keys_toml() {
  return R"(
[location]
gln = "4012345000009"
name = "Test site"
[[auth.keys]]
name = "pharmacy-desk"
key = ")" +
         kPharmacyKey + R"("
role = "pharmacy"
[[auth.keys]]
name = "goods-in"
key_sha256 = ")" +
         to_hex(sha256(kWholesalerKey)) + R"("
role = "wholesaler"
location = "4098765000003"
)";
}

std::map<std::string, std::string> bearer(const std::string& key) {
  return {{"Authorization", "Bearer " + key}};
}

boost::json::object json_of(const vpoint::test::Response& res) {
  return boost::json::parse(res.body()).as_object();
}

void check_problem(const vpoint::test::Response& res, unsigned status, const std::string& code) {
  CHECK(res.result_int() == status);
  CHECK(res[http::field::content_type] == "application/problem+json");
  CHECK(json_of(res).at("type").as_string() == "/problems/" + code);
}

// Test routes standing in for the pack routes: one needs `export`, one any caller.
void add_test_routes(Api& api) {
  auto who = [](ApiContext& ctx) -> asio::awaitable<Reply> {
    co_return json_response(boost::json::object{{"name", ctx.caller->name},
                                                {"role", to_string(ctx.caller->role)},
                                                {"location", ctx.caller->location}});
  };
  api.add(http::verb::post, "/v1/test/export", Access::require(Permission::export_pack), who);
  api.add(http::verb::get, "/v1/test/whoami", Access::caller(), who);
}

struct InProcess {
  std::unique_ptr<Daemon> daemon;
  explicit InProcess(const std::string& toml, std::optional<std::filesystem::path> file = std::nullopt) {
    auto config =
        load_config_text(toml, {{"VPOINT_HTTP_LISTEN", "127.0.0.1:0"}, {"VPOINT_HTTP_THREADS", "2"}});
    if (!config) FAIL(config.error());
    daemon = std::make_unique<Daemon>(
        std::move(*config), file, std::map<std::string, std::string>{{"VPOINT_HTTP_LISTEN", "127.0.0.1:0"}});
    add_test_routes(daemon->api());
    auto bound = daemon->start();
    if (!bound) FAIL(bound.error());
  }
  std::uint16_t port() { return daemon->server().port(); }
};

const vpoint::test::TestPki& pki() {
  static vpoint::test::TempDir dir;
  static vpoint::test::TestPki instance(dir.path);
  return instance;
}

}  // namespace

TEST_CASE("healthz is up and readyz reports every check, unready until the mirror is wired",
          "[service][daemon]") {
  InProcess vpointd(keys_toml() + "[redis]\nurl = \"redis://127.0.0.1:1\"\n");
  HttpClient client(vpointd.port());
  auto health = client.get("/healthz");
  CHECK(health.result_int() == 200);
  CHECK(json_of(health).at("status").as_string() == "up");

  auto ready = client.get("/readyz");
  CHECK(ready.result_int() == 503);
  auto doc = json_of(ready);
  CHECK(doc.at("ready").as_bool() == false);
  const auto& checks = doc.at("checks").as_object();
  for (const char* name : {"redis", "functions", "mirror", "central"}) {
    CAPTURE(name);
    REQUIRE(checks.contains(name));
    CHECK(checks.at(name).as_object().contains("status"));
  }
  CHECK(checks.at("redis").at("status").as_string() == "unknown");
  CHECK(checks.at("central").at("status").as_string() == "not_configured");
  CHECK(checks.at("central").at("required").as_bool() == false);

  // A check plugged in later decides readiness.
  for (const char* name : {"redis", "functions", "mirror"}) {
    vpointd.daemon->readiness().set_check(name, true, []() -> asio::awaitable<CheckResult> {
      co_return CheckResult{CheckState::ok, ""};
    });
  }
  auto now_ready = client.get("/readyz");
  CHECK(now_ready.result_int() == 200);
  CHECK(json_of(now_ready).at("ready").as_bool());
}

TEST_CASE("missing, malformed and wrong API keys get 401 unauthorized", "[service][daemon][auth]") {
  InProcess vpointd(keys_toml());
  HttpClient client(vpointd.port());
  auto none = client.get("/v1/test/whoami");
  check_problem(none, 401, "unauthorized");
  CHECK(none[http::field::www_authenticate] == "Bearer");
  check_problem(client.get("/v1/test/whoami", {{"Authorization", "Basic dXNlcjpwdw=="}}), 401,
                "unauthorized");
  check_problem(client.get("/v1/test/whoami", bearer(kPharmacyKey + "x")), 401, "unauthorized");
  check_problem(client.get("/v1/test/whoami", bearer(to_hex(sha256(kWholesalerKey)))), 401, "unauthorized");
  // Open routes need no key.
  CHECK(client.get("/healthz").result_int() == 200);
}

TEST_CASE("keys identify the caller and a role without the permission gets 403 forbidden",
          "[service][daemon][auth]") {
  InProcess vpointd(keys_toml());
  HttpClient client(vpointd.port());
  auto pharmacy = client.get("/v1/test/whoami", bearer(kPharmacyKey));
  REQUIRE(pharmacy.result_int() == 200);
  CHECK(json_of(pharmacy).at("name").as_string() == "pharmacy-desk");
  CHECK(json_of(pharmacy).at("location").as_string() == "4012345000009");

  auto denied = client.request(http::verb::post, "/v1/test/export", "{}", bearer(kPharmacyKey));
  check_problem(denied, 403, "forbidden");
  CHECK(json_of(denied).at("permission").as_string() == "export");

  // The wholesaler's key is configured only as its SHA-256.
  auto allowed = client.request(http::verb::post, "/v1/test/export", "{}", bearer(kWholesalerKey));
  REQUIRE(allowed.result_int() == 200);
  CHECK(json_of(allowed).at("name").as_string() == "goods-in");
  CHECK(json_of(allowed).at("role").as_string() == "wholesaler");
  CHECK(json_of(allowed).at("location").as_string() == "4098765000003");
}

TEST_CASE("unknown routes get 404 and wrong methods 405 with Allow, as problems", "[service][daemon]") {
  InProcess vpointd(keys_toml());
  HttpClient client(vpointd.port());
  check_problem(client.get("/v1/nothing"), 404, "not_found");
  auto wrong = client.request(http::verb::delete_, "/healthz");
  check_problem(wrong, 405, "method_not_allowed");
  CHECK(wrong[http::field::allow] == "GET");
  CHECK(client.get("/healthz").result_int() == 200);
}

TEST_CASE("metrics count requests per route and status in Prometheus text format",
          "[service][daemon][metrics]") {
  InProcess vpointd(keys_toml());
  HttpClient client(vpointd.port());
  for (int i = 0; i < 3; ++i) client.get("/healthz");
  client.get("/v1/test/whoami");
  client.get("/no/such/route/42");
  auto res = client.get("/metrics");
  REQUIRE(res.result_int() == 200);
  CHECK_THAT(std::string(res[http::field::content_type]), Catch::StartsWith("text/plain; version=0.0.4"));
  const std::string& text = res.body();
  CHECK_THAT(text, Catch::Contains("# TYPE vpoint_http_requests_total counter"));
  CHECK_THAT(text,
             Catch::Contains(R"(vpoint_http_requests_total{method="GET",route="/healthz",status="200"} 3)"));
  CHECK_THAT(text, Catch::Contains(
                       R"(vpoint_http_requests_total{method="GET",route="/v1/test/whoami",status="401"} 1)"));
  // Unmatched paths share one label: a scanner of random URLs cannot blow up the series count.
  CHECK_THAT(text,
             Catch::Contains(R"(vpoint_http_requests_total{method="GET",route="unmatched",status="404"} 1)"));
  CHECK_THAT(text, Catch::Contains("# TYPE vpoint_http_request_duration_seconds histogram"));
  CHECK_THAT(
      text,
      Catch::Contains(
          R"(vpoint_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 3)"));
}

TEST_CASE("X-Request-Id is echoed when sane and generated otherwise", "[service][daemon]") {
  InProcess vpointd(keys_toml());
  HttpClient client(vpointd.port());
  CHECK(client.get("/healthz", {{"X-Request-Id", "scan-station-7:0042"}})["X-Request-Id"] ==
        "scan-station-7:0042");
  std::string generated(client.get("/healthz", {{"X-Request-Id", "bad id with spaces"}})["X-Request-Id"]);
  CHECK(generated.size() == 32);
  CHECK(generated != std::string(client.get("/healthz")["X-Request-Id"]));
}

TEST_CASE("reload_keys swaps the key table from the rewritten file and keeps it on errors",
          "[service][daemon][auth]") {
  vpoint::test::TempDir dir;
  auto file = dir / "vpointd.toml";
  vpoint::test::write_file(file, keys_toml());
  InProcess vpointd(keys_toml(), file);
  HttpClient client(vpointd.port());
  REQUIRE(client.get("/v1/test/whoami", bearer(kPharmacyKey)).result_int() == 200);

  vpoint::test::write_file(file, R"(
[location]
gln = "4012345000009"
[[auth.keys]]
name = "returns-desk"
key = "returns-secret-0003"
role = "returns"
)");
  CHECK(vpointd.daemon->reload_keys() == "");
  check_problem(client.get("/v1/test/whoami", bearer(kPharmacyKey)), 401, "unauthorized");
  auto fresh = client.get("/v1/test/whoami", bearer("returns-secret-0003"));
  REQUIRE(fresh.result_int() == 200);
  CHECK(json_of(fresh).at("name").as_string() == "returns-desk");

  vpoint::test::write_file(file, "[[auth.keys]]\nname = \"x\"\nrole = \"emperor\"\n");
  CHECK(vpointd.daemon->reload_keys() ==
        file.string() +
            ": [[auth.keys]] #1 role: 'emperor' is not one of pharmacy, wholesaler, returns, admin");
  CHECK(client.get("/v1/test/whoami", bearer("returns-secret-0003")).result_int() == 200);
}

// keys_toml() plus HTTPS with client certificates checked against `client_ca`, and `tail` (cert entries...).
std::string mtls_toml(const std::string& client_ca, const std::string& tail) {
  return keys_toml() + "[tls]\ncert = \"" + pki().server_cert + "\"\nkey = \"" + pki().server_key +
         "\"\nclient_ca = \"" + client_ca + "\"\n" + tail;
}

TEST_CASE("a mapped client certificate identifies the caller and an unmapped one gets 401",
          "[service][daemon][tls]") {
  InProcess vpointd(mtls_toml(pki().ca, "[[auth.certs]]\nsubject_cn = \"station-1\"\nissuer = \"CN=ca\"\n"
                                         "name = \"station-1-desk\"\nrole = \"wholesaler\"\n"));
  ClientOptions with_cert{true, pki().ca, pki().client_cert, pki().client_key};
  HttpClient client(vpointd.port(), with_cert);
  auto res = client.request(http::verb::post, "/v1/test/export", "{}");
  REQUIRE(res.result_int() == 200);
  CHECK(json_of(res).at("name").as_string() == "station-1-desk");
  CHECK(json_of(res).at("location").as_string() == "4012345000009");
  // A bearer key on the same connection wins over the certificate.
  CHECK(json_of(client.get("/v1/test/whoami", bearer(kPharmacyKey))).at("name").as_string() ==
        "pharmacy-desk");

  // Same CA but no mapping entry (fingerprint pins another certificate).
  InProcess other(mtls_toml(pki().ca, "[[auth.certs]]\nfingerprint_sha256 = \"" + std::string(64, 'a') +
                                       "\"\nname = \"someone\"\nrole = \"pharmacy\"\n"));
  auto unmapped = HttpClient(other.port(), with_cert).get("/v1/test/whoami");
  check_problem(unmapped, 401, "unauthorized");
  CHECK_THAT(json_of(unmapped).at("detail").as_string().c_str(), Catch::Contains("CN=station-1"));
}

TEST_CASE("client certificates: subject and issuer must both match, expired and unknown-CA ones are refused",
          "[service][daemon][tls]") {
  // client_ca trusts two CAs; station-1 is mapped by CN together with the issuer CN=ca.
  InProcess vpointd(mtls_toml(pki().ca_bundle, "[[auth.certs]]\nsubject_cn = \"station-1\"\nissuer = \"CN=ca\"\n"
                                                "name = \"station-1-desk\"\nrole = \"pharmacy\"\n"));
  ClientOptions genuine{true, pki().ca, pki().client_cert, pki().client_key};
  CHECK(json_of(HttpClient(vpointd.port(), genuine).get("/v1/test/whoami")).at("name").as_string() ==
        "station-1-desk");
  // Same CN, signed by the other trusted CA: before issue 15 a CN-only entry let it in.
  ClientOptions impostor{true, pki().ca, pki().impostor_cert, pki().impostor_key};
  auto refused = HttpClient(vpointd.port(), impostor).get("/v1/test/whoami");
  check_problem(refused, 401, "unauthorized");
  CHECK_THAT(json_of(refused).at("detail").as_string().c_str(), Catch::Contains("issuer 'CN=other-ca'"));
  // Expired (same CA, same CN) and unknown CA: the TLS handshake itself fails.
  auto handshake_refused = [&](const std::string& cert, const std::string& key) {
    try {
      HttpClient client(vpointd.port(), ClientOptions{true, pki().ca, cert, key});
      client.get("/v1/test/whoami");
      return false;
    } catch (const std::exception&) {
      return true;
    }
  };
  CHECK(handshake_refused(pki().expired_cert, pki().expired_key));
  CHECK(handshake_refused(pki().rogue_cert, pki().rogue_key));
}

TEST_CASE("with require_client_cert the certificate's identity wins over a bearer key", "[service][daemon][tls]") {
  InProcess vpointd(mtls_toml(pki().ca, "require_client_cert = true\n[[auth.certs]]\nfingerprint_sha256 = \"" +
                                         pki().client_fingerprint + "\"\nname = \"till-1\"\nrole = \"returns\"\n"));
  HttpClient client(vpointd.port(), ClientOptions{true, pki().ca, pki().client_cert, pki().client_key});
  auto res = client.get("/v1/test/whoami", bearer(kPharmacyKey));
  REQUIRE(res.result_int() == 200);
  CHECK(json_of(res).at("name").as_string() == "till-1");
  CHECK(json_of(res).at("role").as_string() == "returns");
}

TEST_CASE("vpointd raises its open-file limit to the hard limit and keeps 64 descriptors spare",
          "[service][daemon][limits]") {
  rlimit before{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &before) == 0);
  OpenFiles files = raise_open_file_limit(10000);
  rlimit after{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &after) == 0);
  CHECK(after.rlim_cur == before.rlim_max);  // soft raised to hard
  CHECK(files.before == before.rlim_cur);
  CHECK(files.limit == after.rlim_cur);
  CHECK(files.max_connections == std::min<std::uint64_t>(10000, after.rlim_cur - 64));
  CHECK(raise_open_file_limit(100).max_connections == 100);  // the configured value when it is lower
}

TEST_CASE("vpointd exits 2 with a message naming the bad setting", "[service][vpointd]") {
  vpoint::test::TempDir dir;
  vpoint::test::write_file(dir / "bad.toml", "[redis]\nurl = \"localhost:6379\"\n");
  vpoint::test::Process vpointd({VPOINTD_PATH, "--config", (dir / "bad.toml").string()}, dir / "out.log");
  CHECK(vpointd.wait_exit(std::chrono::seconds(10)) == 2);
  CHECK_THAT(vpointd.output(), Catch::Contains("[redis] url: must start with redis:// or rediss://"));
}

TEST_CASE("vpointd takes env overrides, logs JSON lines, reloads keys on SIGHUP and drains on SIGTERM",
          "[service][vpointd]") {
  vpoint::test::TempDir dir;
  auto file = dir / "vpointd.toml";
  // Port 1 would fail (privileged): the environment override must win.
  vpoint::test::write_file(file, "[http]\nlisten = \"127.0.0.1:1\"\n" + keys_toml());
  vpoint::test::Process vpointd({VPOINTD_PATH, "--config", file.string()}, dir / "out.log",
                                {{"VPOINT_HTTP_LISTEN", "127.0.0.1:0"}, {"VPOINT_HTTP_THREADS", "1"}});
  REQUIRE(vpointd.wait_for_output("\"event\":\"listening\"", std::chrono::seconds(10)));
  auto port = vpoint::test::listening_port(vpointd.output());
  REQUIRE(port);
  {
    HttpClient client(*port);
    CHECK(client.get("/healthz", bearer(kPharmacyKey)).result_int() == 200);
  }

  vpoint::test::write_file(file, "[http]\nlisten = \"127.0.0.1:1\"\n" + keys_toml() +
                                     "[[auth.keys]]\nname = \"admin\"\nkey = \"admin-secret-00004\"\nrole = "
                                     "\"admin\"\n");
  vpointd.signal(SIGHUP);
  REQUIRE(vpointd.wait_for_output("\"event\":\"keys_reloaded\",\"entries\":3", std::chrono::seconds(10)));
  CHECK(HttpClient(*port).get("/healthz").result_int() == 200);

  vpointd.signal(SIGTERM);
  CHECK(vpointd.wait_exit(std::chrono::seconds(15)) == 0);
  std::string log = vpointd.output();
  CHECK_THAT(log, Catch::Contains("\"event\":\"stopped\""));
  CHECK(log.find(kPharmacyKey) == std::string::npos);  // no secrets in logs

  // Every line is one JSON object; the request line carries the documented fields.
  std::istringstream lines(log);
  bool saw_request = false;
  for (std::string line; std::getline(lines, line);) {
    CAPTURE(line);
    boost::system::error_code ec;
    auto value = boost::json::parse(line, ec);
    REQUIRE_FALSE(ec);
    const auto& object = value.as_object();
    CHECK(object.contains("ts"));
    CHECK(object.contains("level"));
    if (object.at("event").as_string() == "request" && object.at("route").as_string() == "/healthz") {
      saw_request = true;
      for (const char* field : {"request_id", "method", "status", "latency_us", "caller"})
        CHECK(object.contains(field));
    }
  }
  CHECK(saw_request);
}

TEST_CASE("with a metrics key, /metrics needs it and /readyz shows its checks only to its holder, and /healthz stays open",
          "[service][daemon][metrics][access]") {
  InProcess vpointd(keys_toml() + "\n[http]\nmetrics_key = \"metrics-key-0123456789\"\n");
  HttpClient client(vpointd.port());
  CHECK(client.get("/healthz").result_int() == 200);
  auto anonymous = client.get("/metrics");
  CHECK(anonymous.result_int() == 401);
  CHECK(anonymous.body().find("vpoint_http_requests_total") == std::string::npos);
  CHECK(client.get("/metrics", {{"Authorization", "Bearer wrong-key-0123456789"}}).result_int() == 401);
  CHECK(client.get("/metrics", {{"Authorization", "Bearer metrics-key-012345678"}}).result_int() == 401);  // a prefix
  auto with_key = client.get("/metrics", {{"Authorization", "Bearer metrics-key-0123456789"}});
  CHECK(with_key.result_int() == 200);
  CHECK_THAT(with_key.body(), Catch::Contains("vpoint_http_requests_total"));
  auto ready_anonymous = boost::json::parse(client.get("/readyz").body()).as_object();
  CHECK(ready_anonymous.contains("ready"));
  CHECK_FALSE(ready_anonymous.contains("checks"));
  auto ready_key =
      boost::json::parse(client.get("/readyz", {{"Authorization", "Bearer metrics-key-0123456789"}}).body()).as_object();
  CHECK(ready_key.contains("checks"));
}

TEST_CASE("plain HTTP on an address other than loopback needs allow_plaintext", "[service][config][access]") {
  auto refused = load_config_text("[http]\nlisten = \"0.0.0.0:8080\"\n");
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error(), Catch::Contains("[http] listen") && Catch::Contains("allow_plaintext"));
  CHECK_FALSE(load_config_text("[http]\nlisten = \"10.1.2.3:8080\"\n"));
  CHECK_FALSE(load_config_text("[http]\nlisten = \"[::]:8080\"\n"));
  CHECK(load_config_text("[http]\nlisten = \"0.0.0.0:8080\"\nallow_plaintext = true\n"));
  CHECK(load_config_text("[http]\nlisten = \"127.0.0.1:8080\"\n"));
  CHECK(load_config_text("[http]\nlisten = \"[::1]:8080\"\n"));
  CHECK(load_config_text("[http]\nlisten = \"localhost:8080\"\n"));
  auto short_key = load_config_text("[http]\nmetrics_key = \"short\"\n");
  REQUIRE_FALSE(short_key);
  CHECK_THAT(short_key.error(), Catch::Contains("[http] metrics_key"));
}
