// parse(): the entry point. Realistic FMD scans as scanners send them, and every error code.
#include <catch2/catch.hpp>

#include "vectors.hpp"
#include "vpoint/scanner/parse.hpp"

using namespace vpoint::scanner;

using vpoint::test::opts;

namespace {
const std::string kGsStr = "\x1D";
}  // namespace

TEST_CASE("realistic FMD scans from handheld and wedge scanners give the same pack", "[parse]") {
  const std::string scans[] = {
      "]d2" "010950600013435221RX7T2Q9K4M" "\x1D" "10B2024-07" "\x1D" "17270300\r\n",  // AIM + CRLF
      "\x1D" "010950600013435221RX7T2Q9K4M" "\x1D" "10B2024-07" "\x1D" "17270300",      // FNC1 as GS
      "]d2010950600013435221RX7T2Q9K4M<GS>10B2024-07<GS>17270300",                        // stand-in
      "010950600013435221RX7T2Q9K4M{GS}10B2024-07{GS}17270300",
      "010950600013435221RX7T2Q9K4M^]10B2024-07^]17270300",
      "010950600013435221RX7T2Q9K4M\\x1D10B2024-07\\x1D17270300",
      "010950600013435221RX7T2Q9K4M\\u001d10B2024-07\\u001d17270300",
      "010950600013435221RX7T2Q9K4M\xE2\x90\x9D" "10B2024-07\xE2\x90\x9D" "17270300",  // U+241D
      "  (01)09506000134352(21)RX7T2Q9K4M(10)B2024-07(17)270300  ",
      "https://id.gs1.org/01/09506000134352/10/B2024-07/21/RX7T2Q9K4M?17=270300",
      "]Q1https://id.gs1.org/01/09506000134352/10/B2024-07/21/RX7T2Q9K4M?17=270300",
  };
  for (const auto& s : scans) {
    CAPTURE(s);
    const auto r = parse(s, opts());
    REQUIRE(r);
    CHECK(r->kind == Kind::pack);
    CHECK(r->pack.scheme == Scheme::gs1);
    CHECK(r->pack.gtin == "09506000134352");
    CHECK(r->pack.serial == "RX7T2Q9K4M");
    CHECK(r->pack.batch == "B2024-07");
    CHECK(r->pack.expiry == "270300");
    CHECK(r->element_string == "010950600013435221RX7T2Q9K4M" + kGsStr + "10B2024-07" + kGsStr + "17270300");
    CHECK(r->warnings.empty());
  }
}

TEST_CASE("a German multi-market pack with NTIN and NHRN 710 parses", "[parse]") {
  const auto r = parse("]d20104150037528643" "2112345678901234" "\x1D" "10CH-B01" "\x1D" "17280229" "71003752864", opts());
  REQUIRE(r);
  CHECK(r->pack.gtin == "04150037528643");
  REQUIRE(r->pack.nhrn);
  CHECK(r->pack.nhrn->ai == "710");
}

TEST_CASE("a securPharm PPN code with stand-ins for RS, GS and EOT parses", "[parse][ppn]") {
  for (const char* s : {"[)><RS>06<GS>9N110375286414<GS>1TABC123<GS>D270300<GS>S5A2XKPQ7H9<RS><EOT>",
                        "[)>{RS}06{GS}9N110375286414{GS}1TABC123{GS}D270300{GS}S5A2XKPQ7H9{RS}{EOT}",
                        "]d1[)>\x1E" "06\x1D" "9N110375286414\x1D" "1TABC123\x1D" "D270300\x1D" "S5A2XKPQ7H9\x1E\x04\r\n"}) {
    CAPTURE(s);
    const auto r = parse(s, opts());
    REQUIRE(r);
    CHECK(r->pack.scheme == Scheme::ppn);
    CHECK(r->pack.ppn == "110375286414");
    CHECK(r->pack.serial == "5A2XKPQ7H9");
  }
}

TEST_CASE("extra GS stand-ins from the options are used", "[parse]") {
  ParseOptions o = opts();
  o.extra_gs_standins = {"%%"};
  const auto r = parse("010950600013435221S1%%10L1%%17261231", o);
  REQUIRE(r);
  CHECK(r->pack.serial == "S1");
  // Without the option "%%" is data ('%' is in set 82): the lost-GS repair finds the one
  // complete reading, which keeps "%%" in serial and batch, and says it guessed.
  const auto guessed = parse("010950600013435221S1%%10L1%%17261231", opts());
  REQUIRE(guessed);
  CHECK(guessed->pack.serial == "S1%%");
  CHECK(guessed->pack.batch == "L1%%");
  CHECK(guessed->warnings == std::vector<std::string>{"gs_recovered"});
}

TEST_CASE("case is never changed", "[parse]") {
  const auto r = parse("010950600013435221aBc\x1D" "10xYz\x1D" "17261231", opts());
  REQUIRE(r);
  CHECK(r->pack.serial == "aBc");
  CHECK(r->pack.batch == "xYz");
}

TEST_CASE("a lost GS is repaired or reported as ambiguous through parse()", "[parse][repair]") {
  auto r = parse("]d2010950600013435221RX7T2Q9K4M10B2024-07<GS>17270300", opts());
  // The scan holds no real GS, so <GS> is a stand-in; the one before 10 was lost.
  REQUIRE(r);
  CHECK(r->pack.serial == "RX7T2Q9K4M");
  CHECK(r->warnings == std::vector<std::string>{"gs_recovered"});
  r = parse("0109506000134352172612312112AB10CD10EF", opts());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::ambiguous_split);
  CHECK(r.error().candidates.size() == 2);
}

TEST_CASE("every error code is reachable through parse()", "[parse][errors]") {
  struct V {
    std::string in;
    ErrorCode code;
    const char* field;
  };
  const V vectors[] = {
      {"", ErrorCode::empty_input, "input"},
      {" \r\n", ErrorCode::empty_input, "input"},
      {"]d2", ErrorCode::empty_input, "input"},
      {std::string(kMaxInputBytes + 1, '1'), ErrorCode::input_too_long, "input"},
      {"0109506000134352059", ErrorCode::unknown_ai, "ai"},
      {"010950600013435221A\x1D" "21B\x1D" "10L\x1D" "17261231", ErrorCode::ai_repeated, "serial"},
      {"[)>\x1E" "06\x1D" "9N110375286414\x1D" "1TB\x1D" "D261231\x1D" "SS\x1E\x04" "X", ErrorCode::data_after_end, "envelope"},
      {"0109506000134353", ErrorCode::invalid_check_digit, "gtin"},
      {"00376123450000000008", ErrorCode::invalid_check_digit, "sscc"},
      {"010950600013435221123456789012345678901\x1D" "10L\x1D" "17261231", ErrorCode::invalid_length, "serial"},
      {"010950600013435221S#1\x1D" "10L\x1D" "17261231", ErrorCode::invalid_character, "serial"},
      {"010950600013435221S\x1D" "10L\x1D" "17260230", ErrorCode::invalid_date, "expiry"},
      {"010950600013435221S\x1D" "10L", ErrorCode::missing_field, "expiry"},
      {"0109506000134352172612312112AB10CD10EF", ErrorCode::ambiguous_split, "input"},
      {"https://id.gs1.org/foo", ErrorCode::invalid_digital_link, "uri"},
      {"[)>06", ErrorCode::invalid_envelope, "envelope"},
      {"[)><RS>06<GS>9N110375286414<GS>Z1<RS><EOT>", ErrorCode::unknown_data_identifier, "di"},
      {"01095060001343A2", ErrorCode::not_numeric, "gtin"},
      {"[)><RS>06<GS>9N110375286414<GS>8P09506000134352<GS>1TB<GS>D261231<GS>SS<RS><EOT>",
       ErrorCode::conflicting_product_code, "gtin"},
      {"(01)09506000134352(21)S(10)L(17)261232", ErrorCode::invalid_date, "expiry"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.in.substr(0, 80));
    const auto r = parse(v.in, opts());
    REQUIRE_FALSE(r);
    CHECK(to_string(r.error().code) != "unknown_error");
    CHECK(r.error().code == v.code);
    CHECK(r.error().field == v.field);
    CHECK(r.error().offset <= std::max(v.in.size(), kMaxInputBytes));
    CHECK(r.error().message.size() > 20);
  }
}

TEST_CASE("the error code wire names are stable", "[parse][errors]") {
  CHECK(to_string(ErrorCode::empty_input) == "empty_input");
  CHECK(to_string(ErrorCode::ambiguous_split) == "ambiguous_split");
  CHECK(to_string(ErrorCode::conflicting_product_code) == "conflicting_product_code");
  CHECK(to_string(ErrorCode::unknown_data_identifier) == "unknown_data_identifier");
}

TEST_CASE("input up to 4 KiB is accepted, one byte more is not", "[parse][limits]") {
  std::string in = "010950600013435221S\x1D" "10L\x1D" "17261231";
  in += std::string(kMaxInputBytes - in.size(), ' ');
  CHECK(parse(in, opts()));
  in += ' ';
  const auto r = parse(in, opts());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::input_too_long);
}
