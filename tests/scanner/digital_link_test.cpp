// GS1 Digital Link URIs on newer packs (QR codes).
#include <catch2/catch.hpp>

#include "vectors.hpp"
#include "vpoint/scanner/digital_link.hpp"

namespace dl = vpoint::scanner::digital_link;
using vpoint::scanner::ErrorCode;
using vpoint::scanner::Kind;

using vpoint::test::mark;
using vpoint::test::opts;

TEST_CASE("Digital Link URIs in their usual spellings give the pack", "[digital_link]") {
  struct V {
    const char* uri;
    const char* serial;
    const char* batch;
  };
  const V vectors[] = {
      {"https://id.gs1.org/01/09506000134352/10/L0T-7/21/ABC123?17=261231", "ABC123", "L0T-7"},
      {"HTTPS://example.com/01/09506000134352/10/L0T-7/21/ABC123?17=261231", "ABC123", "L0T-7"},
      {"http://example.com/gtin/09506000134352/lot/L0T-7/ser/ABC123?exp=261231", "ABC123", "L0T-7"},
      {"https://brand.example/products/de/01/09506000134352/10/L0T-7/21/ABC123?linkType=all&17=261231",
       "ABC123", "L0T-7"},
      {"https://id.gs1.org/01/9506000134352/10/L0T-7/21/ABC123/?17=261231", "ABC123", "L0T-7"},  // GTIN-13
      {"https://id.gs1.org/01/09506000134352/10/L%2F7%25/21/A%20B?17=261231", "A B", "L/7%"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.uri);
    const auto r = dl::parse(v.uri, opts());
    if (std::string(v.serial) == "A B") {
      // A decoded space is outside character set 82: a clear error on the serial.
      REQUIRE_FALSE(r);
      CHECK(r.error().code == ErrorCode::invalid_character);
      CHECK(r.error().field == "serial");
      continue;
    }
    REQUIRE(r);
    CHECK(r->kind == Kind::pack);
    CHECK(r->pack.gtin == "09506000134352");
    CHECK(r->pack.serial == v.serial);
    CHECK(r->pack.batch == v.batch);
    CHECK(r->pack.expiry == "261231");
  }
}

TEST_CASE("percent-encoded values are decoded", "[digital_link]") {
  const auto r = dl::parse("https://id.gs1.org/01/09506000134352/10/L%2F7%25/21/A%3C1%3E?17=261231&710=0375286%34", opts());
  REQUIRE(r);
  CHECK(r->pack.batch == "L/7%");
  CHECK(r->pack.serial == "A<1>");
  REQUIRE(r->pack.nhrn);
  CHECK(r->pack.nhrn->value == "03752864");
}

TEST_CASE("a pack survives the round trip through its Digital Link URI", "[digital_link]") {
  vpoint::scanner::PackId p;
  p.gtin = "09506000134352";
  p.serial = "A/B%C";
  p.batch = "L 7";  // not a legal batch, but the encoder must still be reversible
  p.batch = "L&7";
  p.expiry = "261200";
  const auto uri = dl::to_uri(p, "https://example.com/");
  const auto r = dl::parse(uri, opts());
  REQUIRE(r);
  CHECK(r->pack == p);
}

TEST_CASE("an SSCC Digital Link is a case label", "[digital_link]") {
  const auto r = dl::parse("https://id.gs1.org/00/376123450000000009", opts());
  REQUIRE(r);
  CHECK(r->kind == Kind::sscc);
  CHECK(r->sscc == "376123450000000009");
}

TEST_CASE("malformed Digital Links are refused with the field and offset", "[digital_link]") {
  struct V {
    const char* uri;
    ErrorCode code;
    const char* field;
    const char* marked;
  };
  const V vectors[] = {
      {"https://id.gs1.org/product/42", ErrorCode::invalid_digital_link, "uri", "https://id.gs1.org*/*product/42"},
      {"https://id.gs1.org/01/09506000134352/10", ErrorCode::invalid_digital_link, "uri",
       "https://id.gs1.org/01/09506000134352/*1*0"},
      {"https://id.gs1.org/01/%zz", ErrorCode::invalid_digital_link, "uri", "*h*ttps://id.gs1.org/01/%zz"},
      {"https://id.gs1.org/01/09506000134353/10/L/21/S?17=261231", ErrorCode::invalid_check_digit, "gtin",
       "https://id.gs1.org/01/0950600013435*3*/10/L/21/S?17=261231"},
      {"https://id.gs1.org/01/09506000134352/10/L/21/S?17=261331", ErrorCode::invalid_date, "expiry",
       "https://id.gs1.org/01/09506000134352/10/L/21/S?17=26*1*331"},
      {"https://id.gs1.org/01/09506000134352/10/L/21/S", ErrorCode::missing_field, "expiry",
       "https://id.gs1.org/01/09506000134352/10/L/21/S*"},
      {"https://id.gs1.org/01/09506000134352/10/L/99x/S?17=261231", ErrorCode::unknown_ai, "ai",
       "https://id.gs1.org/01/09506000134352/10/L/*9*9x/S?17=261231"},
      {"https://id.gs1.org/01/09506000134352/10/L/21/S?17=261231&10=M", ErrorCode::ai_repeated, "batch",
       "https://id.gs1.org/01/09506000134352/10/L/21/S?17=261231&*1*0=M"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.uri);
    const auto r = dl::parse(v.uri, opts());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == v.code);
    CHECK(r.error().field == v.field);
    CHECK(mark(v.uri, r.error().offset) == v.marked);
  }
}
