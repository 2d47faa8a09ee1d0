// GS1 rules: AI table, check digits, dates, character set 82, element strings, lost-GS repair.
#include <catch2/catch.hpp>
#include <set>

#include "vectors.hpp"
#include "vpoint/scanner/gs1.hpp"

namespace gs1 = vpoint::scanner::gs1;
using vpoint::scanner::ErrorCode;
using vpoint::scanner::Kind;

using vpoint::test::ctl;  // '|' in a vector stands for GS (0x1D)
using vpoint::test::mark;
using vpoint::test::opts;

TEST_CASE("the AI table holds the AIs of medicine packs and logistic labels", "[gs1][ai]") {
  for (const char* ai : {"00", "01", "02", "10", "11", "17", "21", "240", "241", "30", "37", "400", "710",
                         "711", "712", "713", "714", "715"}) {
    CAPTURE(ai);
    REQUIRE(gs1::ai_spec(ai) != nullptr);
  }
  CHECK(gs1::ai_spec("01")->fixed_length());
  CHECK(gs1::ai_spec("01")->max_length == 14);
  CHECK_FALSE(gs1::ai_spec("10")->fixed_length());
  CHECK(gs1::ai_spec("21")->max_length == 20);
  CHECK(gs1::ai_spec("715")->max_length == 20);
  CHECK(gs1::ai_spec("05") == nullptr);
  CHECK(gs1::find_ai("3103001234")->ai == "3103");
}

TEST_CASE("the AI table is prefix-free, so an AI is found without look-ahead", "[gs1][ai]") {
  std::set<std::string_view> seen;
  for (const auto& a : gs1::kAiTable) {
    for (const auto& b : gs1::kAiTable) {
      if (&a != &b) {
        CAPTURE(a.ai, b.ai);
        CHECK(b.ai.substr(0, a.ai.size()) != a.ai);
      }
    }
    CHECK(a.min_length >= 1);
    CHECK(a.min_length <= a.max_length);
  }
}

TEST_CASE("GTIN and SSCC check digits follow GS1 mod 10", "[gs1][check]") {
  CHECK(gs1::check_digit("0950600013435") == '2');
  CHECK(gs1::check_digit_ok("09506000134352"));
  CHECK_FALSE(gs1::check_digit_ok("09506000134353"));
  CHECK(gs1::check_digit_ok("376123450000000009"));  // SSCC
  CHECK_FALSE(gs1::check_digit_ok("376123450000000001"));
  CHECK_FALSE(gs1::check_digit_ok("0950600013435X"));
  CHECK(gs1::gtin14("96385074") == "00000096385074");        // GTIN-8
  CHECK(gs1::gtin14("036000291452") == "00036000291452");    // GTIN-12 (UPC-A)
  CHECK(gs1::gtin14("4150037528643") == "04150037528643");   // GTIN-13 (NTIN)
  CHECK(gs1::gtin14("09506000134352") == "09506000134352");  // GTIN-14
  CHECK_FALSE(gs1::gtin14("9638507"));                       // 7 digits is no GTIN
  CHECK_FALSE(gs1::gtin14("96385075"));                      // bad check digit
}

TEST_CASE("character set 82 excludes space, #, $, @, brackets, backslash, caret, backquote, braces, bar and tilde", "[gs1][charset]") {
  for (char c : std::string("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")) {
    CAPTURE(c);
    CHECK(gs1::in_cset82(c));
  }
  for (char c : std::string(" #$@[\\]^`{|}~\x1D\x7F")) {
    CAPTURE(c);
    CHECK_FALSE(gs1::in_cset82(c));
  }
}

TEST_CASE("two-digit years follow the GS1 sliding century window", "[gs1][date]") {
  CHECK(gs1::full_year(25, 2025) == 2025);
  CHECK(gs1::full_year(75, 2025) == 2075);  // 50 ahead
  CHECK(gs1::full_year(76, 2025) == 1976);  // 49 back
  CHECK(gs1::full_year(99, 2025) == 1999);
  CHECK(gs1::full_year(10, 2080) == 2110);  // near a century's end the window crosses it
  CHECK(gs1::full_year(30, 2080) == 2130);
  CHECK(gs1::full_year(31, 2080) == 2031);
}

TEST_CASE("expiry day 00 means the last day of the month, leap years included", "[gs1][date]") {
  using D = gs1::Date;
  CHECK(gs1::expiry_date("261200", 2025) == D{2026, 12, 31});
  CHECK(gs1::expiry_date("270200", 2025) == D{2027, 2, 28});
  CHECK(gs1::expiry_date("280200", 2025) == D{2028, 2, 29});
  CHECK(gs1::expiry_date("000200", 2075) == D{2100, 2, 28});  // 2100 is no leap year
  CHECK(gs1::expiry_date("000200", 2025) == D{2000, 2, 29});
  CHECK(gs1::expiry_date("260400", 2025) == D{2026, 4, 30});
  CHECK(gs1::expiry_date("260415", 2025) == D{2026, 4, 15});
  CHECK(gs1::expiry_date("280229", 2025) == D{2028, 2, 29});
  CHECK_FALSE(gs1::expiry_date("270229", 2025));
  CHECK_FALSE(gs1::expiry_date("261301", 2025));
  CHECK_FALSE(gs1::expiry_date("260001", 2025));
  CHECK_FALSE(gs1::expiry_date("260431", 2025));
  CHECK_FALSE(gs1::expiry_date("2604", 2025));
  CHECK_FALSE(gs1::expiry_date("26O415", 2025));
  CHECK(gs1::iso_date(D{2028, 2, 29}) == "2028-02-29");
  CHECK(gs1::expiry_date("261231").has_value());  // reference year 0 = this year
}

TEST_CASE("field values are checked against their AI row", "[gs1][validate]") {
  struct V {
    const char* ai;
    const char* value;
    std::optional<ErrorCode> code;
    const char* marked;  // value with the offending byte marked
  };
  const V vectors[] = {
      {"01", "09506000134352", {}, ""},
      {"01", "09506000134353", ErrorCode::invalid_check_digit, "0950600013435*3*"},
      {"01", "0950600013435", ErrorCode::invalid_length, "*0*950600013435"},
      {"01", "0950600O134352", ErrorCode::not_numeric, "0950600*O*134352"},
      {"00", "376123450000000009", {}, ""},
      {"00", "376123450000000008", ErrorCode::invalid_check_digit, "37612345000000000*8*"},
      {"21", "ABCdef-123/.:;<=>?_", {}, ""},
      {"21", "12345678901234567890", {}, ""},
      {"21", "123456789012345678901", ErrorCode::invalid_length, "12345678901234567890*1*"},
      {"21", "", ErrorCode::invalid_length, "*"},
      {"21", "AB CD", ErrorCode::invalid_character, "AB* *CD"},
      {"10", "LOT#7", ErrorCode::invalid_character, "LOT*#*7"},
      {"10", "LOT~7", ErrorCode::invalid_character, "LOT*~*7"},
      {"17", "261231", {}, ""},
      {"17", "261200", {}, ""},
      {"17", "261331", ErrorCode::invalid_date, "26*1*331"},
      {"17", "260231", ErrorCode::invalid_date, "2602*3*1"},
      {"17", "26123", ErrorCode::invalid_length, "*2*6123"},
      {"11", "250100", {}, ""},
      {"710", "03752864", {}, ""},
      {"715", "0777-3105-02", {}, ""},
      {"711", "34009 1234", ErrorCode::invalid_character, "34009* *1234"},
      {"712", "123456789012345678901", ErrorCode::invalid_length, "12345678901234567890*1*"},
      {"37", "12", {}, ""},
      {"37", "1x", ErrorCode::not_numeric, "1*x*"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.ai, v.value);
    const auto err = gs1::validate(*gs1::ai_spec(v.ai), v.value, 0, 2025);
    if (!v.code) {
      CHECK_FALSE(err);
      continue;
    }
    REQUIRE(err);
    CHECK(err->code == *v.code);
    CHECK(mark(v.value, err->offset) == v.marked);
    CHECK(err->field == std::string(gs1::ai_spec(v.ai)->field));
    CHECK(err->message.find("(AI " + std::string(v.ai) + ")") != std::string::npos);
  }
}

TEST_CASE("element strings with fields in any order give the same pack", "[gs1][element]") {
  const char* inputs[] = {
      "010950600013435221ABC123|10L0T-7|17261231",
      "010950600013435217261231" "10L0T-7|21ABC123",
      "17261231010950600013435210L0T-7|21ABC123",
      "21ABC123|10L0T-7|17261231|0109506000134352",  // GS after fixed-length fields is tolerated
      "010950600013435221ABC123|10L0T-7|17261231|",   // trailing FNC1 too
  };
  for (const char* in : inputs) {
    CAPTURE(in);
    const auto r = gs1::parse_element_string(ctl(in), opts());
    REQUIRE(r);
    CHECK(r->kind == Kind::pack);
    CHECK(r->pack.gtin == "09506000134352");
    CHECK(r->pack.serial == "ABC123");
    CHECK(r->pack.batch == "L0T-7");
    CHECK(r->pack.expiry == "261231");
    CHECK(r->element_string == ctl("010950600013435221ABC123|10L0T-7|17261231"));
    CHECK(r->warnings.empty());
  }
}

TEST_CASE("the canonical element string puts NHRN last without a trailing GS", "[gs1][element]") {
  const auto r = gs1::parse_element_string(ctl("71003752864|0104150037528643|10B1|21S1|17280200"), opts());
  REQUIRE(r);
  REQUIRE(r->pack.nhrn);
  CHECK(r->pack.nhrn->ai == "710");
  CHECK(r->pack.nhrn->value == "03752864");
  CHECK(r->element_string == ctl("010415003752864321S1|10B1|1728020071003752864"));
  CHECK(gs1::human_readable(r->pack) == "(01)04150037528643(21)S1(10)B1(17)280200(710)03752864");
}

TEST_CASE("element string errors name the field and point at the byte", "[gs1][element]") {
  struct V {
    const char* in;
    ErrorCode code;
    const char* field;
    const char* marked;
  };
  const V vectors[] = {
      {"0109506000134353", ErrorCode::invalid_check_digit, "gtin", "010950600013435*3*"},
      {"01095060001343", ErrorCode::invalid_length, "gtin", "01*0*95060001343"},
      {"0109506000134352059", ErrorCode::unknown_ai, "ai", "0109506000134352*0*59"},
      {"0109506000134352X", ErrorCode::unknown_ai, "ai", "0109506000134352*X*"},
      {"010950600013435221A|21B|10L|17261231", ErrorCode::ai_repeated, "serial", "010950600013435221A|*2*1B|10L|17261231"},
      {"010950600013435217261231|10L", ErrorCode::missing_field, "serial", "010950600013435217261231|10L*"},
      {"010950600013435221S|10L", ErrorCode::missing_field, "expiry", "010950600013435221S|10L*"},
      {"010950600013435221S|17261231", ErrorCode::missing_field, "batch", "010950600013435221S|17261231*"},
      {"21S|10L|17261231", ErrorCode::missing_field, "gtin", "21S|10L|17261231*"},
      {"010950600013435221S|10L|17261331", ErrorCode::invalid_date, "expiry", "010950600013435221S|10L|1726*1*331"},
      {"010950600013435221S$|10L|17261231", ErrorCode::invalid_character, "serial", "010950600013435221S*$*|10L|17261231"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.in);
    const std::string in = ctl(v.in);
    const auto r = gs1::parse_element_string(in, opts());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == v.code);
    CHECK(r.error().field == v.field);
    CHECK(mark(in, r.error().offset) == v.marked);
    CHECK_FALSE(r.error().message.empty());
  }
}

TEST_CASE("a repeated AI with the same value is accepted", "[gs1][element]") {
  const auto r = gs1::parse_element_string(ctl("010950600013435221S|10L|1726123121S|0109506000134352"), opts());
  REQUIRE(r);
  CHECK(r->pack.serial == "S");
}

TEST_CASE("a scan holding only an SSCC is a case label", "[gs1][sscc]") {
  auto r = gs1::parse_element_string("00376123450000000009", opts());
  REQUIRE(r);
  CHECK(r->kind == Kind::sscc);
  CHECK(r->sscc == "376123450000000009");
  CHECK(r->element_string == "00376123450000000009");
  // A logistic label: SSCC with content, count and batch is still a case label.
  r = gs1::parse_element_string(ctl("0037612345000000000902095060001343523712|10L1"), opts());
  REQUIRE(r);
  CHECK(r->kind == Kind::sscc);
}

TEST_CASE("a lost GS with exactly one valid reading is repaired with a warning", "[gs1][repair]") {
  struct V {
    const char* in;
    const char* serial;
    const char* batch;
  };
  const V vectors[] = {
      {"010950600013435221ABCDEF10XYZ|17261231", "ABCDEF", "XYZ"},  // GS lost after the serial
      {"010950600013435221ABCDEF10XYZ17261231", "ABCDEF", "XYZ"},   // both GS lost
      {"01095060001343521726123110B-7721S9", "S9", "B-77"},         // batch first, serial glued
      {"0109506000134352172612311012AB21S9", "S9", "12AB"},         // a glued AI after digits
  };
  for (const auto& v : vectors) {
    CAPTURE(v.in);
    const auto r = gs1::parse_element_string(ctl(v.in), opts());
    REQUIRE(r);
    CHECK(r->pack.serial == v.serial);
    CHECK(r->pack.batch == v.batch);
    CHECK(r->pack.expiry == "261231");
    CHECK(r->warnings == std::vector<std::string>{"gs_recovered"});
    CHECK(r->element_string == ctl("010950600013435221" + std::string(v.serial) + "|10" + v.batch + "|17261231"));
  }
}

TEST_CASE("a lost GS with several valid readings fails with every candidate", "[gs1][repair]") {
  const std::string in = "0109506000134352172612312112AB10CD10EF";
  const auto r = gs1::parse_element_string(in, opts());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::ambiguous_split);
  REQUIRE(r.error().candidates.size() == 2);
  CHECK(r.error().candidates[0].serial == "12AB");
  CHECK(r.error().candidates[0].batch == "CD10EF");
  CHECK(r.error().candidates[1].serial == "12AB10CD");
  CHECK(r.error().candidates[1].batch == "EF");
  for (const auto& c : r.error().candidates) {
    CHECK(c.gtin == "09506000134352");
    CHECK(c.expiry == "261231");
  }
}

TEST_CASE("a lost GS with no valid reading reports the plain error", "[gs1][repair]") {
  // "XYZ" holds no pack AI: nothing to split at, the batch is simply missing.
  const auto r = gs1::parse_element_string("010950600013435217261231" "21ABCXYZ", opts());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::missing_field);
  CHECK(r.error().field == "batch");
}

TEST_CASE("a pathological glued run is bounded and ends in an error", "[gs1][repair]") {
  std::string in = "010950600013435217261231";
  for (int i = 0; i < 1000; ++i) in += "10";
  const auto r = gs1::parse_element_string(in, opts());
  REQUIRE_FALSE(r);
}

TEST_CASE("the human-readable form is parsed like the element string", "[gs1][hri]") {
  struct V {
    const char* in;
    const char* serial;
    const char* batch;
  };
  const V vectors[] = {
      {"(01)09506000134352(21)ABC123(10)L0T-7(17)261231", "ABC123", "L0T-7"},
      {"(01) 09506000134352 (21) ABC123 (10) L0T-7 (17) 261231", "ABC123", "L0T-7"},
      {"(01)09506000134352(21)A(B)C(10)L(7)(17)261231", "A(B)C", "L(7)"},  // '(' is legal data
  };
  for (const auto& v : vectors) {
    CAPTURE(v.in);
    const auto r = gs1::parse_human_readable(v.in, opts());
    REQUIRE(r);
    CHECK(r->pack.serial == v.serial);
    CHECK(r->pack.batch == v.batch);
    CHECK(r->pack.expiry == "261231");
  }
  for (const char* bad : {"(01)09506000134352(05)A", "(01)09506000134352(99X)A"}) {
    CAPTURE(bad);
    const auto r = gs1::parse_human_readable(bad, opts());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::unknown_ai);
    CHECK(r.error().offset == 19);
  }
  const auto r = gs1::parse_human_readable("(01)09506000134352(21)S(10)L", opts());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::missing_field);
  CHECK(r.error().field == "expiry");
}
