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

TEST_CASE("the role table grants what issues 5 and 17 list and nothing else", "[service][auth]") {
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
  CHECK(role_allows(Role::returns, P::destroy));  // issue 17: the returns desk destroys returned packs
  CHECK(role_allows(Role::returns, P::returns));
  CHECK_FALSE(role_allows(Role::returns, P::supply));
  CHECK(role_allows(Role::admin, P::alerts));
  CHECK_FALSE(role_allows(Role::admin, P::verify));
  for (Role role : {Role::pharmacy, Role::wholesaler, Role::admin}) CHECK_FALSE(role_allows(role, P::returns));
  CHECK(to_string(P::returns) == "returns");

  auto denied = Authenticator::authorize(Caller{"desk", Role::returns, "4012345000009"}, P::supply);
  REQUIRE(denied);
  CHECK(denied->code == ProblemCode::forbidden);
  CHECK(denied->detail == "role 'returns' may not supply");
}

TEST_CASE("each role's actions and the page's modes come from the tables, in table order", "[service][auth]") {
  using V = std::vector<std::string_view>;
  CHECK(role_actions(Role::pharmacy) == V{"verify", "supply", "destroy", "sample", "free_sample", "undo"});
  CHECK(role_actions(Role::returns) == V{"verify", "destroy", "undo", "bulk_verify", "returns"});
  CHECK(role_actions(Role::admin) == V{"alerts", "import", "status"});
  CHECK(role_modes(Role::pharmacy) == V{"counter", "alerts"});
  CHECK(role_modes(Role::wholesaler) == V{"receipt", "counter", "alerts"});
  CHECK(role_modes(Role::returns) == V{"returns", "alerts"});
  CHECK(role_modes(Role::admin) == V{"alerts"});
}

namespace {
CertConfig cert_entry(std::string name, Role role) {
  CertConfig entry;
  entry.name = std::move(name);
  entry.role = role;
  return entry;
}
ClientCertificate presented(std::string cn, std::string fingerprint, std::string issuer) {
  ClientCertificate cert;
  cert.subject_cn = cn;
  cert.subject = "CN=" + cn;
  cert.fingerprint_sha256 = std::move(fingerprint);
  cert.issuer = std::move(issuer);
  return cert;
}
}  // namespace

TEST_CASE("client certificates map by fingerprint, or by subject together with issuer", "[service][auth]") {
  vpoint::test::TempDir dir;
  vpoint::test::write_file(dir / "x.pem", "");
  Config c;
  c.location.gln = "4012345000009";
  c.tls.cert = c.tls.key = c.tls.client_ca = (dir / "x.pem").string();  // validation checks they exist
  std::string fp(64, 'a');
  auto by_cn = cert_entry("by-cn", Role::pharmacy);
  by_cn.subject_cn = "station-1";
  by_cn.issuer = "CN=ca";
  auto by_subject = cert_entry("by-subject", Role::returns);
  by_subject.subject = "CN=station-9";
  by_subject.issuer = "CN=ca";
  auto pinned_entry = cert_entry("by-fingerprint", Role::wholesaler);
  pinned_entry.fingerprint_sha256 = "AA:" + fp.substr(2);
  c.auth.certs = {by_cn, by_subject, pinned_entry};
  auto table = KeyTable::from_config(c);
  REQUIRE(table);
  auto pinned = table->find_certificate(presented("station-1", fp, "CN=ca"));
  REQUIRE(pinned);
  CHECK(pinned->name == "by-fingerprint");
  CHECK(pinned->certificate);
  auto cn = table->find_certificate(presented("station-1", std::string(64, 'b'), "CN=ca"));
  REQUIRE(cn);
  CHECK(cn->name == "by-cn");
  CHECK(cn->location == "4012345000009");
  auto subject = table->find_certificate(presented("station-9", std::string(64, 'b'), "CN=ca"));
  REQUIRE(subject);
  CHECK(subject->name == "by-subject");
  // The same subject from another CA of the bundle is someone else.
  CHECK_FALSE(table->find_certificate(presented("station-1", std::string(64, 'b'), "CN=other-ca")));
  CHECK_FALSE(table->find_certificate(presented("station-9", std::string(64, 'b'), "CN=other-ca")));
  CHECK_FALSE(table->find_certificate(presented("station-2", std::string(64, 'b'), "CN=ca")));

  // A subject (or CN) without issuer is refused at start, naming the reason (changed in issue 15).
  Config cn_only = c;
  cn_only.auth.certs = {cert_entry("cn-only", Role::pharmacy)};
  cn_only.auth.certs[0].subject_cn = "station-1";
  auto refused = KeyTable::from_config(cn_only);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error(), Catch::Contains("[[auth.certs]] #1 (cn-only) issuer: required with subject_cn"));
}

TEST_CASE("with require_client_cert the certificate decides, a bearer key sent along does not",
          "[service][auth]") {
  vpoint::test::TempDir dir;
  vpoint::test::write_file(dir / "x.pem", "");
  Config c = config_with_keys();
  c.tls.cert = c.tls.key = c.tls.client_ca = (dir / "x.pem").string();
  auto desk = cert_entry("cert-desk", Role::returns);
  desk.subject_cn = "station-1";
  desk.issuer = "CN=ca";
  c.auth.certs = {desk};
  Request with_key{http::verb::get, "/", 11};
  with_key.set(http::field::authorization, "Bearer pharmacy-secret-0001");
  Peer peer;
  peer.tls = true;
  peer.client_certificate = presented("station-1", std::string(64, 'b'), "CN=ca");

  Authenticator optional_cert(*KeyTable::from_config(c));
  auto key_wins = optional_cert.authenticate(with_key, peer);
  REQUIRE(key_wins);
  CHECK(key_wins->name == "pharmacy-desk");

  c.tls.require_client_cert = true;
  Authenticator required_cert(*KeyTable::from_config(c));
  auto cert_wins = required_cert.authenticate(with_key, peer);
  REQUIRE(cert_wins);
  CHECK(cert_wins->name == "cert-desk");
  CHECK(cert_wins->role == Role::returns);
  // An unmapped certificate is not rescued by a valid key.
  peer.client_certificate = presented("station-7", std::string(64, 'b'), "CN=ca");
  auto unmapped = required_cert.authenticate(with_key, peer);
  REQUIRE_FALSE(unmapped);
  CHECK(unmapped.error().code == ProblemCode::unauthorized);
}
