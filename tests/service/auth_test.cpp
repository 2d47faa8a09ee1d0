#include <catch2/catch.hpp>

#include "service_support.hpp"
#include "vpoint/service/auth.hpp"

using namespace vpoint::service;

namespace {
Config config_with_keys() {
  Config c;
  c.location.gln = "4012345000009";
  c.auth.keys.push_back(KeyConfig{"pharmacy-desk", "", "pharmacy-secret-0001", Role::pharmacy, ""});
  c.auth.keys.push_back(
      KeyConfig{"goods-in", to_hex(sha256("wholesaler-secret-0002")), "", Role::wholesaler, "4098765000003"});
  return c;
}
}  // namespace

TEST_CASE("sha256 matches the FIPS 180-2 test vector", "[service][auth]") {
  CHECK(to_hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("API keys match by SHA-256 and carry name, role and location", "[service][auth]") {
  auto table = KeyTable::from_config(config_with_keys());
  REQUIRE(table);
  auto pharmacy = table->find_key("pharmacy-secret-0001");
  REQUIRE(pharmacy);
  CHECK(pharmacy->name == "pharmacy-desk");
  CHECK(pharmacy->role == Role::pharmacy);
  CHECK(pharmacy->location == "4012345000009");  // defaults to [location] gln
  auto wholesaler = table->find_key("wholesaler-secret-0002");
  REQUIRE(wholesaler);
  CHECK(wholesaler->name == "goods-in");
  CHECK(wholesaler->location == "4098765000003");
  CHECK_FALSE(table->find_key("wholesaler-secret-000"));
  CHECK_FALSE(table->find_key(""));
}

TEST_CASE("the role table grants what issue 5 lists and nothing else", "[service][auth]") {
  using P = Permission;
  CHECK(role_allows(Role::pharmacy, P::supply));
  CHECK(role_allows(Role::pharmacy, P::free_sample));
  CHECK_FALSE(role_allows(Role::pharmacy, P::export_pack));
  CHECK_FALSE(role_allows(Role::pharmacy, P::bulk));
  CHECK_FALSE(role_allows(Role::pharmacy, P::lock));
  CHECK(role_allows(Role::wholesaler, P::export_pack));
  CHECK(role_allows(Role::wholesaler, P::stolen));
  CHECK(role_allows(Role::wholesaler, P::unlock));
  CHECK_FALSE(role_allows(Role::wholesaler, P::supply));
  CHECK(role_allows(Role::returns, P::bulk_verify));
  CHECK_FALSE(role_allows(Role::returns, P::bulk));
  CHECK_FALSE(role_allows(Role::returns, P::destroy));
  CHECK(role_allows(Role::admin, P::alerts));
  CHECK_FALSE(role_allows(Role::admin, P::verify));

  auto denied = Authenticator::authorize(Caller{"desk", Role::returns, "4012345000009"}, P::destroy);
  REQUIRE(denied);
  CHECK(denied->code == ProblemCode::forbidden);
  CHECK(denied->detail == "role 'returns' may not destroy");
}

TEST_CASE("client certificates map by fingerprint before subject CN", "[service][auth]") {
  vpoint::test::TempDir dir;
  vpoint::test::write_file(dir / "x.pem", "");
  Config c;
  c.location.gln = "4012345000009";
  c.tls.cert = c.tls.key = c.tls.client_ca = (dir / "x.pem").string();  // validation checks they exist
  std::string fp(64, 'a');
  c.auth.certs.push_back(CertConfig{"station-1", "", "by-cn", Role::pharmacy, ""});
  c.auth.certs.push_back(CertConfig{"", "AA:" + fp.substr(2), "by-fingerprint", Role::wholesaler, ""});
  auto table = KeyTable::from_config(c);
  REQUIRE(table);
  auto pinned = table->find_certificate(ClientCertificate{"station-1", fp});
  REQUIRE(pinned);
  CHECK(pinned->name == "by-fingerprint");
  CHECK(pinned->certificate);
  auto by_cn = table->find_certificate(ClientCertificate{"station-1", std::string(64, 'b')});
  REQUIRE(by_cn);
  CHECK(by_cn->name == "by-cn");
  CHECK(by_cn->location == "4012345000009");
  CHECK_FALSE(table->find_certificate(ClientCertificate{"station-2", std::string(64, 'b')}));
}
