// Issue 15, access: the central link to a national system that demands mutual TLS and a bearer token (the
// simulator with --tls-cert/--client-ca/--token-file), and refusals without them.
#include <catch2/catch.hpp>

#include <boost/json/value.hpp>

#include "sync_support.hpp"

using namespace vpoint;
using namespace vpoint::test;
using namespace std::chrono_literals;

namespace {

const std::string kToken = "central-token-0123456789abcdef";

struct SecureCentral {
  TempDir dir;
  TestPki pki{dir.path};
  std::string token_file = (dir / "token").string();
  std::unique_ptr<Simulator> sim;

  SecureCentral() {
    write_file(token_file, kToken + "\n");
    sim = std::make_unique<Simulator>(
        2, 200,
        std::vector<std::string>{"--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--client-ca", pki.ca,
                                 "--token-file", token_file},
        ClientOptions{true, pki.ca, pki.client_cert, pki.client_key}, kToken);
  }

  // What vpointd's [central] ca_file / client_cert / client_key / token_file give the link.
  service::CentralLinkOptions link_options(LinkRoles roles) const {
    auto options = test_link_options(sim->url(), roles);
    options.ca_file = pki.ca;
    options.client_cert = pki.client_cert;
    options.client_key = pki.client_key;
    options.token = kToken;
    return options;
  }
};

std::string code_of(const boost::json::value& pack) {
  const auto& o = pack.as_object();
  return std::string(o.contains("gtin") ? o.at("gtin").as_string() : o.at("ppn").as_string());
}

}  // namespace

TEST_CASE("the central link works over mutual TLS with a bearer token: snapshot, look-up and write-back",
          "[sync][access][tls]") {
  SecureCentral central;
  REQUIRE(central.sim->url().rfind("https://127.0.0.1:", 0) == 0);
  auto packs = central.sim->get_json("/admin/packs?limit=2").at("packs").as_array();
  REQUIRE(packs.size() == 2);
  const std::string code = code_of(packs[0]);
  const std::string serial(packs[0].at("serial").as_string());

  LinkHarness h;
  auto& link = h.start_link(central.link_options({.feed = true, .drain = true}));
  REQUIRE(eventually([&] { return link.status().generation > 0 && !link.loading(); }, 30s));
  auto lookup = h.run(link.read_through(code_of(packs[1]), std::string(packs[1].at("serial").as_string())));
  CHECK(lookup.status == service::ReadThroughStatus::found);

  auto supplied = h.supply(code, serial);
  REQUIRE(supplied.outcome == cache::Outcome::ok);
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 20s));
  auto sent = central.sim->get_json("/admin/transactions?limit=10").at("transactions").as_array();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].at("id").as_string() == supplied.transaction_id);
  CHECK(sent[0].at("result").as_string() == "accepted");
}

TEST_CASE("without the client certificate, with another CA or without the token the central system refuses the link",
          "[sync][access][tls]") {
  SecureCentral central;
  const std::string code = code_of(central.sim->get_json("/admin/packs?limit=1").at("packs").at(0));
  LinkHarness h;
  auto read_through = [&](service::CentralLinkOptions options) {
    auto& link = h.start_link(std::move(options));
    auto result = h.run(link.read_through(code, "ANYSERIAL1"));
    h.stop_link();
    return std::make_pair(result.status, result.detail);
  };

  auto no_cert = central.link_options({});
  no_cert.client_cert.clear();
  no_cert.client_key.clear();
  auto refused = read_through(no_cert);
  CHECK(refused.first == service::ReadThroughStatus::unavailable);
  CHECK_FALSE(refused.second.empty());

  auto wrong_ca = central.link_options({});
  wrong_ca.ca_file = central.pki.rogue_cert;  // the server's certificate does not chain to it
  CHECK(read_through(wrong_ca).first == service::ReadThroughStatus::unavailable);

  auto no_token = central.link_options({});
  no_token.token.clear();
  auto unauthorized = read_through(no_token);
  CHECK(unauthorized.first == service::ReadThroughStatus::unavailable);
  CHECK(unauthorized.second == "HTTP 401");

  // And the complete settings get an answer (the serial is unknown: not_found, not unavailable).
  CHECK(read_through(central.link_options({})).first == service::ReadThroughStatus::not_found);
}

TEST_CASE("the link refuses clear-text http:// to a remote address unless allowed", "[sync][access]") {
  auto options = test_link_options("http://192.0.2.10:8090", {});
  CHECK_THAT(service::validate(options), Catch::Contains("[central] url: http:// sends in clear text"));
  options.allow_insecure = true;
  CHECK(service::validate(options).empty());
  options.url = "http://127.0.0.1:8090";
  options.allow_insecure = false;
  options.webhooks = {service::WebhookConfig{"erp", "http://192.0.2.11/hook", std::string(32, 's')}};
  CHECK_THAT(service::validate(options), Catch::Contains("[[webhooks]] #1 url: http:// sends in clear text"));
  options.webhooks[0].url = "https://erp.example/hook";
  options.webhooks[0].secret = "short";
  CHECK_THAT(service::validate(options), Catch::Contains("secret: must be at least 32 bytes"));
}
