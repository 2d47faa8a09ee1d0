// IFA / securPharm: PPN, PZN, NTIN and the ISO/IEC 15434 format 06 envelope.
#include <catch2/catch.hpp>

#include "vectors.hpp"
#include "vpoint/scanner/ppn.hpp"

namespace ppn = vpoint::scanner::ppn;
using vpoint::scanner::ErrorCode;
using vpoint::scanner::Scheme;

using vpoint::test::ctl;  // '~' = RS, '|' = GS, '^' = EOT in the vectors
using vpoint::test::mark;
using vpoint::test::opts;

TEST_CASE("PZN-8 check digit is mod 11 with weights 1..7", "[ppn][pzn]") {
  CHECK(ppn::pzn_check_ok("03752864"));
  CHECK(ppn::pzn_check_ok("12345678"));
  CHECK_FALSE(ppn::pzn_check_ok("03752865"));
  CHECK_FALSE(ppn::pzn_check_ok("0375286"));
  CHECK_FALSE(ppn::pzn_check_ok("0375286X"));
}

TEST_CASE("a PZN whose weighted sum leaves remainder 10 is invalid", "[ppn][pzn]") {
  // 0000055: 5 x 6 + 5 x 7 = 65, 65 mod 11 = 10: no check digit can match.
  for (char d = '0'; d <= '9'; ++d) CHECK_FALSE(ppn::pzn_check_ok(std::string("0000055") + d));
}

TEST_CASE("PPN check digits are mod 97 over ASCII x (position + 2)", "[ppn]") {
  CHECK(ppn::ppn_check_digits("1103752864") == "14");
  CHECK(ppn::ppn_check_ok("110375286414"));
  CHECK_FALSE(ppn::ppn_check_ok("110375286415"));
  CHECK_FALSE(ppn::ppn_check_ok("110375286514"));  // PZN check fails inside
  CHECK(ppn::ppn_check_ok("111234567842"));
}

TEST_CASE("PPN, PZN and NTIN map to one another", "[ppn][ntin]") {
  CHECK(ppn::pzn_from_ppn("110375286414") == "03752864");
  CHECK_FALSE(ppn::pzn_from_ppn("110375286415"));
  CHECK(ppn::ppn_from_pzn("03752864") == "110375286414");
  CHECK(ppn::ppn_from_pzn("3752864") == "110375286414");  // PZN-7
  CHECK_FALSE(ppn::ppn_from_pzn("03752865"));
  // German NTIN: "4150" + PZN-8 + GS1 check digit, as GTIN-14.
  CHECK(ppn::ntin_from_pzn("03752864") == "04150037528643");
  CHECK(ppn::pzn_from_ntin("04150037528643") == "03752864");
  CHECK(ppn::pzn_from_ntin("4150037528643") == "03752864");
  CHECK_FALSE(ppn::pzn_from_ntin("09506000134352"));  // not an NTIN
  CHECK_FALSE(ppn::pzn_from_ntin("04150037528640"));  // bad GTIN check digit
}

TEST_CASE("a securPharm format 06 envelope gives a PPN pack", "[ppn][envelope]") {
  const char* inputs[] = {
      "[)>~06|9N110375286414|1TABC-1_2|D261200|SSER1AL~^",
      "[)>~06|9N110375286414|SSER1AL|D261200|1TABC-1_2~^",  // any order
      "[)>~06|9N110375286414|1TABC-1_2|D261200|SSER1AL|16D20240115~^",
      "[)>~06|9N110375286414|1TABC-1_2|D261200|SSER1AL",  // trailer dropped by the scanner
  };
  for (const char* in : inputs) {
    CAPTURE(in);
    const auto r = ppn::parse_envelope(ctl(in), opts());
    REQUIRE(r);
    CHECK(r->pack.scheme == Scheme::ppn);
    CHECK(r->pack.ppn == "110375286414");
    CHECK(r->pack.gtin.empty());
    CHECK(r->pack.product_code() == "110375286414");
    CHECK(r->pack.batch == "ABC-1_2");
    CHECK(r->pack.serial == "SER1AL");
    CHECK(r->pack.expiry == "261200");
    CHECK(r->element_string == ctl("[)>~06|9N110375286414|1TABC-1_2|D261200|SSER1AL~^"));
  }
}

TEST_CASE("an envelope with an 8P GTIN gets a GS1 element string", "[ppn][envelope]") {
  auto r = ppn::parse_envelope(ctl("[)>~06|8P04150037528643|1TB1|D261231|SS1~^"), opts());
  REQUIRE(r);
  CHECK(r->pack.gtin == "04150037528643");
  CHECK(r->element_string == ctl("010415003752864321S1|10B1|17261231"));
  // 8P and 9N of the same PZN agree.
  r = ppn::parse_envelope(ctl("[)>~06|9N110375286414|8P04150037528643|1TB1|D261231|SS1~^"), opts());
  REQUIRE(r);
  CHECK(r->pack.ppn == "110375286414");
  CHECK(r->pack.gtin == "04150037528643");
}

TEST_CASE("a format 05 envelope carries GS1 AIs", "[ppn][envelope]") {
  const auto r = ppn::parse_envelope(ctl("[)>~05|010950600013435221S|10L|17261231~^"), opts());
  REQUIRE(r);
  CHECK(r->pack.scheme == Scheme::gs1);
  CHECK(r->pack.serial == "S");
}

TEST_CASE("envelope errors name the data identifier and the rule", "[ppn][envelope]") {
  struct V {
    const char* in;
    ErrorCode code;
    const char* field;
    const char* marked;
  };
  const V vectors[] = {
      {"[)>06|9N110375286414", ErrorCode::invalid_envelope, "envelope", "[)>*0*6|9N110375286414"},
      {"[)>~07|9N110375286414", ErrorCode::invalid_envelope, "envelope", "[)>~*0*7|9N110375286414"},
      {"[)>~06|9N110375286414|1TB|D261231|SS~^X", ErrorCode::data_after_end, "envelope",
       "[)>~06|9N110375286414|1TB|D261231|SS~^*X*"},
      {"[)>~06|9N110375286415|1TB|D261231|SS~^", ErrorCode::invalid_check_digit, "ppn",
       "[)>~06|9N1103752864*1*5|1TB|D261231|SS~^"},
      {"[)>~06|9N119999999976|1TB|D261231|SS~^", ErrorCode::invalid_check_digit, "ppn",
       "[)>~06|9N119999999*9*76|1TB|D261231|SS~^"},  // mod 97 holds, the PZN-8 inside does not
      {"[)>~06|9N11037528641|1TB|D261231|SS~^", ErrorCode::invalid_length, "ppn",
       "[)>~06|9N*1*1037528641|1TB|D261231|SS~^"},
      {"[)>~06|9N110375286414|1TB.7|D261231|SS~^", ErrorCode::invalid_character, "batch",
       "[)>~06|9N110375286414|1TB*.*7|D261231|SS~^"},
      {"[)>~06|9N110375286414|1TB|D261331|SS~^", ErrorCode::invalid_date, "expiry",
       "[)>~06|9N110375286414|1TB|D*2*61331|SS~^"},
      {"[)>~06|9N110375286414|1TB|D26123|SS~^", ErrorCode::invalid_length, "expiry",
       "[)>~06|9N110375286414|1TB|D*2*6123|SS~^"},
      {"[)>~06|9N110375286414|1TB|D261231|SS|16D20240231~^", ErrorCode::invalid_date, "production_date",
       "[)>~06|9N110375286414|1TB|D261231|SS|16D*2*0240231~^"},
      {"[)>~06|9N110375286414|1TB|D261231|SS|7Q10~^", ErrorCode::unknown_data_identifier, "di",
       "[)>~06|9N110375286414|1TB|D261231|SS|*7*Q10~^"},
      {"[)>~06|9N110375286414|1TB|D261231~^", ErrorCode::missing_field, "serial",
       "[)>~06|9N110375286414|1TB|D261231~^*"},
      {"[)>~06|1TB|D261231|SS~^", ErrorCode::missing_field, "ppn", "[)>~06|1TB|D261231|SS~^*"},
      {"[)>~06|9N110375286414|1TB|1TC|D261231|SS~^", ErrorCode::ai_repeated, "batch",
       "[)>~06|9N110375286414|1TB|*1*TC|D261231|SS~^"},
      {"[)>~06|9N110375286414|8P09506000134352|1TB|D261231|SS~^", ErrorCode::conflicting_product_code, "gtin",
       "[)>~06|9N110375286414|8P*0*9506000134352|1TB|D261231|SS~^"},
      {"[)>~06|8P0950600013435X|1TB|D261231|SS~^", ErrorCode::not_numeric, "gtin",
       "[)>~06|8P0950600013435*X*|1TB|D261231|SS~^"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.in);
    const std::string in = ctl(v.in);
    const auto r = ppn::parse_envelope(in, opts());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == v.code);
    CHECK(r.error().field == v.field);
    CHECK(mark(in, r.error().offset) == v.marked);
    CHECK_FALSE(r.error().message.empty());
  }
}
