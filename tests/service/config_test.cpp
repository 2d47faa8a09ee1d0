#include <catch2/catch.hpp>

#include "service_support.hpp"
#include "vpoint/service/config.hpp"

using namespace vpoint::service;

namespace {
std::string error_of(const std::string& toml, const std::map<std::string, std::string>& env = {}) {
  auto config = load_config_text(toml, env);
  return config ? std::string("<valid>") : config.error();
}
}  // namespace

TEST_CASE("an empty config is valid and has the documented defaults", "[service][config]") {
  auto config = load_config_text("");
  REQUIRE(config);
  CHECK(config->http.listen == "127.0.0.1:8080");
  CHECK(config->http.threads == 0);
  CHECK(config->http.body_limit == 8u * 1024 * 1024);
  CHECK(config->central.offline == OfflineMode::record);
  CHECK(config->central.bulk_read_through_max == 100);
  CHECK(config->rules.repeat_window_s == 30);
  CHECK(config->audit.retention_days == 1830);
  CHECK(config->log.level == "info");
}

TEST_CASE("a full config file is read into the option structs", "[service][config]") {
  auto config = load_config_text(R"(
[http]
listen = "[::1]:0"
threads = 2
body_limit = 65536
idle_timeout_s = 5
[redis]
cluster = ["127.0.0.1:7000", "127.0.0.1:7001"]
password = "pw"
min_replicas_ack = 1
[central]
url = "http://127.0.0.1:9000"
offline = "refuse"
[location]
gln = "4012345000009"
name = "Apotheke am Markt"
[rules]
repeat_window_s = 10
[[auth.keys]]
name = "desk-1"
key = "a-demo-key-of-16+chars"
role = "pharmacy"
[[auth.keys]]
name = "admin"
key_sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
role = "admin"
location = "4098765000003"
[[webhooks]]
name = "erp"
url = "https://127.0.0.1:9443/hook"
secret = "0123456789abcdef0123456789abcdef"
[[webhooks]]
url = "http://[::1]:9444/hook"
secret = "fedcba9876543210fedcba9876543210"
[audit]
dir = "/var/lib/vpoint/audit"
retention_days = 3650
[log]
level = "debug"
)");
  REQUIRE(config);
  CHECK(config->http.listen == "[::1]:0");
  CHECK(config->http.threads == 2);
  CHECK(config->http.body_limit == 65536);
  CHECK(config->redis.cluster == std::vector<std::string>{"127.0.0.1:7000", "127.0.0.1:7001"});
  CHECK(config->redis.min_replicas_ack == 1);
  CHECK(config->central.offline == OfflineMode::refuse);
  CHECK(config->location.name == "Apotheke am Markt");
  REQUIRE(config->auth.keys.size() == 2);
  CHECK(config->auth.keys[1].role == Role::admin);
  CHECK(config->auth.keys[1].location == "4098765000003");
  REQUIRE(config->webhooks.size() == 2);
  CHECK(config->webhooks[0].name == "erp");
  CHECK(config->webhooks[0].secret == "0123456789abcdef0123456789abcdef");
  CHECK(config->webhooks[1].name == "webhook-2");  // unnamed: by position
  CHECK(config->audit.retention_days == 3650);
}

TEST_CASE("config errors name the bad setting", "[service][config]") {
  struct Case {
    const char* toml;
    const char* error;
  };
  const Case cases[] = {
      {"[redis]\nurl = \"http://x\"", "[redis] url: must start with redis:// or rediss://"},
      {"[redis]\nulr = \"redis://x\"", "[redis] ulr: unknown setting"},
      {"[redsi]\nurl = \"redis://x\"", "[redsi]: unknown section"},
      {"[http]\nthreads = \"two\"", "[http] threads: must be a non-negative integer"},
      {"[http]\nthreads = -1", "[http] threads: must be a non-negative integer"},
      {"[http]\nlisten = \"127.0.0.1\"", "[http] listen: expected host:port, e.g. 127.0.0.1:8080"},
      {"[http]\nlisten = \"127.0.0.1:99999\"", "[http] listen: port must be a number from 0 to 65535"},
      {"[http]\nlisten = \"example.org:80\"",
       "[http] listen: 'example.org' is not an IPv4 address, [IPv6] address or localhost"},
      {"[tls]\nkey = \"k.pem\"", "[tls] cert: required when [tls] key is set"},
      {"[tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"",
       "[tls] cert: file '/nonexistent/c.pem' does not exist"},
      {"[redis]\nurl = \"redis://a:1\"\ncluster = [\"b:2\"]",
       "[redis] cluster: set either [redis] url or [redis] cluster, not both"},
      {"[redis]\ncluster = [\"nohost\"]", "[redis] cluster: 'nohost' is not host:port"},
      {"[central]\noffline = \"maybe\"", "[central] offline: must be \"record\" or \"refuse\""},
      // issue 12: the old value that answered ok to unconfirmed packs is refused by name, with the new values.
      {"[central]\noffline = \"accept\"",
       "[central] offline: \"accept\" is no longer a value: use \"record\" (answer unconfirmed, record the scan and "
       "check it when the central system is back) or \"refuse\""},
      {"[location]\ngln = \"4012345000008\"",
       "[location] gln: '4012345000008' is not a GLN (13 digits with a valid check digit)"},
      {"[log]\nlevel = \"loud\"",
       "[log] level: 'loud' is not one of trace, debug, info, warn, error, critical, off"},
      {"[[auth.keys]]\nname = \"a\"\nkey = \"0123456789abcdef\"\nrole = \"boss\"",
       "[[auth.keys]] #1 role: 'boss' is not one of pharmacy, wholesaler, returns, admin"},
      {"[[auth.keys]]\nname = \"a\"\nkey = \"0123456789abcdef\"\nrole = \"admin\"\ncolour = \"red\"",
       "[[auth.keys]] #1 colour: unknown setting"},
      {"[[auth.keys]]\nname = \"a\"\nrole = \"admin\"\nlocation = \"4012345000009\"",
       "[[auth.keys]] #1 (a): set exactly one of key_sha256 or key"},
      {"[[auth.keys]]\nname = \"a\"\nkey_sha256 = \"abc\"\nrole = \"admin\"\nlocation = \"4012345000009\"",
       "[[auth.keys]] #1 (a) key_sha256: must be 64 hex digits"},
      {"[[auth.keys]]\nname = \"a\"\nkey = \"0123456789abcdef\"\nrole = \"admin\"",
       "[[auth.keys]] #1 (a) location: required when [location] gln is not set"},
      {"[[webhooks]]\nurl = \"ftp://x\"\nsecret = \"s\"",
       "[[webhooks]] #1 (webhook-1) url: must start with http:// or https://"},
      // issue 15: clear-text HTTP only to loopback; webhook secrets of at least 32 bytes; unique names.
      {"[[webhooks]]\nname = \"erp\"\nurl = \"http://erp.example:80/hook\"\nsecret = \"0123456789abcdef0123456789abcdef\"",
       "[[webhooks]] #1 (erp) url: http:// sends in clear text; only loopback addresses may use it (use https://, "
       "or set [[webhooks]] #1 (erp) allow_insecure = true)"},
      {"[[webhooks]]\nname = \"erp\"\nurl = \"https://erp.example/hook\"\nsecret = \"short\"",
       "[[webhooks]] #1 (erp) secret: must be at least 32 bytes (alerts are signed with it; e.g. openssl rand -hex "
       "32)"},
      {"[[webhooks]]\nname = \"a\"\nurl = \"https://x/\"\nsecret = \"0123456789abcdef0123456789abcdef\"\n"
       "[[webhooks]]\nname = \"a\"\nurl = \"https://y/\"\nsecret = \"0123456789abcdef0123456789abcdef\"",
       "[[webhooks]] #2 (a) name: used twice"},
      {"[central]\nurl = \"http://10.1.2.3:8090\"",
       "[central] url: http:// sends in clear text; only loopback addresses may use it (use https://, or set "
       "[central] allow_insecure = true)"},
      {"[central]\nurl = \"https://nmvs.example\"\nclient_cert = \"/nonexistent/c.pem\"",
       "[central] client_cert: client_cert and client_key go together"},
      {"[central]\nurl = \"https://nmvs.example\"\ntoken_file = \"/nonexistent/token\"",
       "[central] token_file: file '/nonexistent/token' does not exist"},
      {"[redis]\nurl = \"redis://x:1\"\ntls_ca_file = \"/nonexistent/ca.pem\"",
       "[redis] tls: the tls_* settings need [redis] tls = true (or a rediss:// url)"},
      {"[redis]\nurl = \"rediss://x:1\"\ntls_ca_file = \"/nonexistent/ca.pem\"",
       "[redis] tls_ca_file: file '/nonexistent/ca.pem' does not exist"},
      {"[http]\nmax_connections = 3", "[http] max_connections: must be 16-1000000"},
      {"[http]\nbulk_deadline_s = 0", "[http] bulk_deadline_s: must be 1-3600"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.toml);
    CHECK(error_of(c.toml) == c.error);
  }
  CHECK_THAT(error_of("[http\nlisten = 1"), Catch::StartsWith("line 1, column"));
  // Loopback and explicitly allowed clear-text URLs pass.
  CHECK(error_of("[central]\nurl = \"http://localhost:8090\"") == "<valid>");
  CHECK(error_of("[central]\nurl = \"http://[::1]:8090\"") == "<valid>");
  CHECK(error_of("[central]\nurl = \"http://10.1.2.3:8090\"\nallow_insecure = true") == "<valid>");
}

TEST_CASE("VPOINT_<SECTION>_<KEY> variables override the file", "[service][config]") {
  auto config = load_config_text("[http]\nlisten = \"127.0.0.1:8080\"\n[redis]\nurl = \"redis://a:6379\"\n",
                                 {{"VPOINT_HTTP_LISTEN", "127.0.0.1:0"},
                                  {"VPOINT_REDIS_URL", "rediss://b:6380"},
                                  {"VPOINT_HTTP_THREADS", "3"},
                                  {"VPOINT_CENTRAL_OFFLINE", "refuse"},
                                  {"VPOINT_SOMETHING_ELSE", "ignored: not one of our sections"}});
  REQUIRE(config);
  CHECK(config->http.listen == "127.0.0.1:0");
  CHECK(config->redis.url == "rediss://b:6380");
  CHECK(config->http.threads == 3);
  CHECK(config->central.offline == OfflineMode::refuse);

  CHECK(error_of("", {{"VPOINT_REDIS_URL", "localhost:6379"}}) ==
        "[redis] url: must start with redis:// or rediss://");
  CHECK(error_of("", {{"VPOINT_HTTP_THREADS", "many"}}) ==
        "VPOINT_HTTP_THREADS ([http] threads): must be a non-negative integer");
  CHECK(error_of("", {{"VPOINT_REDIS_ULR", "redis://x"}}) ==
        "VPOINT_REDIS_ULR: no such setting in [redis] (see docs/config.md)");
}

TEST_CASE("load_config names the file it could not read", "[service][config]") {
  auto config = load_config(std::filesystem::path("/nonexistent/vpointd.toml"), {});
  REQUIRE_FALSE(config);
  CHECK(config.error() == "cannot read config file '/nonexistent/vpointd.toml'");
}

TEST_CASE("the former offline mode accept is refused at start with the new values named", "[service][config][truth]") {
  // issue 12: "accept" answered ok to packs nobody could confirm; an old config must not start quietly.
  auto config = load_config_text("[central]\nurl = \"http://127.0.0.1:9\"\noffline = \"accept\"\n");
  REQUIRE_FALSE(config);
  CHECK(config.error().find("[central] offline") != std::string::npos);
  CHECK(config.error().find("\"record\"") != std::string::npos);
  CHECK(config.error().find("\"refuse\"") != std::string::npos);
  auto record = load_config_text("[central]\noffline = \"record\"\nbulk_read_through_max = 7\n");
  REQUIRE(record);
  CHECK(record->central.offline == OfflineMode::record);
  CHECK(record->central.bulk_read_through_max == 7);
}
