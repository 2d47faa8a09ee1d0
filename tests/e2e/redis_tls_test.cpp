// Issue 15: vpointd's [redis] tls settings reach the command connections and the invalidation subscriber,
// against a real redis-server that serves TLS only and demands a client certificate.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <sstream>
#include <thread>

#include "mirror_support.hpp"
#include "redis_server.hpp"
#include "vpoint/cache/import.hpp"
#include "vpoint/service/config.hpp"
#include "vpoint/service/pack_api.hpp"

namespace svc = vpoint::service;
using namespace vpoint::test;

namespace {

RedisServer tls_redis() {
  auto options = mirror_redis_options();
  options.tls = true;
  options.tls_auth_clients = true;
  return RedisServer(options);
}

std::map<std::string, std::string> tls_env(const RedisServer& redis) {
  const auto& files = redis.tls_files();
  return {{"VPOINT_REDIS_URL", "redis://127.0.0.1:" + std::to_string(redis.port())},
          {"VPOINT_REDIS_TLS", "true"},
          {"VPOINT_REDIS_TLS_CA_FILE", files.ca_cert},
          {"VPOINT_REDIS_TLS_CERT_FILE", files.client_cert},
          {"VPOINT_REDIS_TLS_KEY_FILE", files.client_key},
          {"VPOINT_LOCATION_GLN", kHere}};
}

vpoint::Result<std::unique_ptr<svc::PackRuntime>, std::string> start(const std::map<std::string, std::string>& env) {
  auto config = svc::load_config_text("", env);
  if (!config) return vpoint::Unexpected{config.error()};
  vpoint::cache::MirrorOptions mo;
  mo.test_mode = true;
  return svc::PackRuntime::start(*config, std::make_shared<svc::Metrics>(), mo);
}

// Imports a snapshot of `packs` packs through the runtime's mirror and verifies each of `serials`: ok.
void import_and_verify(svc::PackRuntime& rt, int packs, std::initializer_list<const char*> serials) {
  std::istringstream in(small_snapshot(packs));
  auto loaded = boost::asio::co_spawn(rt.io_context(), vpoint::cache::import_snapshot(rt.mirror(), in),
                                      boost::asio::use_future)
                    .get();
  REQUIRE(loaded);
  for (const char* serial : serials) {
    vpoint::cache::PackRequest request{kGtinA, serial, {"pharmacist", kHere}};
    auto verified = boost::asio::co_spawn(rt.io_context(), rt.mirror().verify(request), boost::asio::use_future).get();
    REQUIRE(verified);
    CHECK(verified->outcome == vpoint::cache::Outcome::ok);
  }
}

}  // namespace

TEST_CASE("vpointd reaches a TLS-only Redis with [redis] tls settings, subscriber included", "[e2e][redis][tls]") {
  RedisServer redis = tls_redis();
  auto runtime = start(tls_env(redis));
  REQUIRE(runtime);
  auto& rt = **runtime;
  import_and_verify(rt, 3, {"S001"});
  // The invalidation subscriber speaks TLS too: it subscribes (before issue 15 it refused rediss://).
  bool subscribed = false;
  for (int i = 0; i < 250 && !subscribed; ++i) {
    subscribed = !rt.mirror().invalidations_down_for().has_value();
    if (!subscribed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(subscribed);
}

TEST_CASE("a wrong Redis TLS server name or a missing client certificate stops vpointd with the reason",
          "[e2e][redis][tls]") {
  RedisServer redis = tls_redis();
  auto wrong_name = tls_env(redis);
  wrong_name["VPOINT_REDIS_TLS_SERVER_NAME"] = "redis.other.example";  // the certificate names 127.0.0.1
  auto refused = start(wrong_name);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error(), Catch::Contains("tls"));

  // Without the client certificate the server hangs up after the handshake, which looks like a Redis not
  // answering: either start refuses with the reason, or vpointd stays unconnected (unready) and keeps trying.
  auto no_cert = tls_env(redis);
  no_cert.erase("VPOINT_REDIS_TLS_CERT_FILE");
  no_cert.erase("VPOINT_REDIS_TLS_KEY_FILE");
  auto unauthenticated = start(no_cert);
  if (unauthenticated) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK_FALSE((*unauthenticated)->connected());
  } else {
    CHECK_FALSE(unauthenticated.error().empty());
  }

  auto plain = tls_env(redis);
  plain.erase("VPOINT_REDIS_TLS");
  auto config = svc::load_config_text("", plain);
  REQUIRE_FALSE(config);  // tls_* files without tls = true: a config error, not a silent plain connection
  CHECK_THAT(config.error(), Catch::Contains("[redis] tls"));
}

TEST_CASE("vpointd reaches a Redis Cluster over TLS with [redis] cluster and tls settings", "[e2e][redis][tls][cluster]") {
  auto node_options = mirror_redis_options();
  node_options.tls = true;
  node_options.tls_auth_clients = true;
  RedisCluster cluster(3, node_options);
  const auto& files = cluster.node(0).tls_files();
  std::string seeds;
  for (const auto& s : cluster.seeds()) seeds += (seeds.empty() ? "" : ",") + s;
  auto runtime = start({{"VPOINT_REDIS_CLUSTER", seeds},
                        {"VPOINT_REDIS_TLS", "true"},
                        {"VPOINT_REDIS_TLS_CA_FILE", files.ca_cert},
                        {"VPOINT_REDIS_TLS_CERT_FILE", files.client_cert},
                        {"VPOINT_REDIS_TLS_KEY_FILE", files.client_key},
                        {"VPOINT_LOCATION_GLN", kHere}});
  REQUIRE(runtime);
  // Packs spread over the partitions, hence over all three masters: each one answered over TLS.
  import_and_verify(**runtime, 20, {"S000", "S007", "S013", "S019"});
}
