// JSON of parse results: the `vpoint parse` contract, byte for byte.
#include <catch2/catch.hpp>
#include <boost/json/serialize.hpp>

#include "vpoint/scanner/json.hpp"

using namespace vpoint::scanner;

namespace {
std::string line(std::string_view scan) {
  ParseOptions o;
  o.reference_year = 2025;
  return boost::json::serialize(to_json(parse(scan, o), 2025));
}
}  // namespace

TEST_CASE("a pack is serialised exactly as the CLI contract says", "[json]") {
  CHECK(line("]d2010950600013435221S1\x1D" "10L1\x1D" "1728020071003752864") ==
        R"({"ok":true,"kind":"pack","scheme":"gs1","gtin":"09506000134352","ppn":null,"serial":"S1","batch":"L1",)"
        R"("expiry":"280200","expiry_date":"2028-02-29","nhrn":{"ai":"710","value":"03752864"},"sscc":null,)"
        R"("element_string":"010950600013435221S1\u001d10L1\u001d1728020071003752864","warnings":[]})");
}

TEST_CASE("a PPN pack has a null gtin and the envelope as element string", "[json]") {
  CHECK(line("[)><RS>06<GS>9N110375286414<GS>1TB1<GS>D261231<GS>SS1<RS><EOT>") ==
        R"({"ok":true,"kind":"pack","scheme":"ppn","gtin":null,"ppn":"110375286414","serial":"S1","batch":"B1",)"
        R"("expiry":"261231","expiry_date":"2026-12-31","nhrn":null,"sscc":null,)"
        R"("element_string":"[)>\u001e06\u001d9N110375286414\u001d1TB1\u001dD261231\u001dSS1\u001e\u0004","warnings":[]})");
}

TEST_CASE("an SSCC has null pack fields", "[json]") {
  CHECK(line("00376123450000000009") ==
        R"({"ok":true,"kind":"sscc","scheme":"gs1","gtin":null,"ppn":null,"serial":null,"batch":null,)"
        R"("expiry":null,"expiry_date":null,"nhrn":null,"sscc":"376123450000000009",)"
        R"("element_string":"00376123450000000009","warnings":[]})");
}

TEST_CASE("a repaired scan carries the gs_recovered warning", "[json]") {
  const auto s = line("010950600013435221ABCDEF10XYZ\x1D" "17261231");
  CHECK(s.find(R"("serial":"ABCDEF","batch":"XYZ")") != std::string::npos);
  CHECK(s.find(R"("warnings":["gs_recovered"])") != std::string::npos);
}

TEST_CASE("an error carries code, field, offset, message and candidates", "[json]") {
  CHECK(line("0109506000134353") ==
        R"({"ok":false,"error":{"code":"invalid_check_digit","field":"gtin","offset":15,)"
        R"("message":"The GTIN (AI 01) check digit is 3 but the GS1 mod-10 rule gives 2.","candidates":[]}})");
  const auto s = line("0109506000134352172612312112AB10CD10EF");
  CHECK(s.find(R"("code":"ambiguous_split")") != std::string::npos);
  CHECK(s.find(R"("candidates":[{"scheme":"gs1","gtin":"09506000134352","ppn":null,"serial":"12AB","batch":"CD10EF",)"
               R"("expiry":"261231","expiry_date":"2026-12-31","nhrn":null},{)") != std::string::npos);
}
