// normalise(): what keyboard-wedge and handheld scanners send -> canonical bytes.
#include <catch2/catch.hpp>

#include "vectors.hpp"
#include "vpoint/scanner/normalise.hpp"

using vpoint::scanner::normalise;

using vpoint::test::ctl;

TEST_CASE("AIM symbology identifiers are stripped and reported", "[normalise]") {
  struct V {
    const char* in;
    const char* text;
    const char* aim;
  };
  const V vectors[] = {
      {"]d2010950600013435221A", "010950600013435221A", "]d2"},
      {"]C100376123450000000009", "00376123450000000009", "]C1"},
      {"]Q3https://id.gs1.org/01/09506000134352", "https://id.gs1.org/01/09506000134352", "]Q3"},
      {"]e0010950600013435221A", "010950600013435221A", "]e0"},
      {"]d1[)>", "[)>", "]d1"},
      {"]z9X", "X", "]z9"},
      {"]dX01", "]dX01", ""},  // not letter + digit: data, not an AIM identifier
      {"010950600013435221A", "010950600013435221A", ""},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.in);
    const auto n = normalise(v.in);
    CHECK(n.text == v.text);
    CHECK(n.aim == v.aim);
  }
}

TEST_CASE("every built-in GS stand-in becomes a real GS", "[normalise]") {
  const char* standins[] = {"<GS>", "{GS}", "^]", "\\x1D", "\\x1d", "\\u001d", "\\u001D", "\xE2\x90\x9D"};
  for (const char* s : standins) {
    CAPTURE(s);
    const std::string in = std::string("0109506000134352") + "21ABC" + s + "10XY" + s + "17261231";
    CHECK(normalise(in).text == ctl("010950600013435221ABC|10XY|17261231"));
  }
}

TEST_CASE("stand-ins are left alone when the scan holds a real GS", "[normalise]") {
  // '<', '>', 'G', 'S' are legal in a GS1 serial: with a real GS present, "<GS>" is data.
  const std::string in = ctl("21AB<GS>C|10X");
  CHECK(normalise(in).text == in);
}

TEST_CASE("extra GS stand-ins from the options are honoured", "[normalise]") {
  CHECK(normalise("21ABC@@10X", {"@@"}).text == ctl("21ABC|10X"));
  CHECK(normalise("21ABC@@10X").text == "21ABC@@10X");
  // Longest match wins: an extra "<GS>>" does not leave a stray '>'.
  CHECK(normalise("21A<GS>>10X", {"<GS>>"}).text == ctl("21A|10X"));
}

TEST_CASE("leading FNC1, line ends and surrounding spaces are removed, case is kept", "[normalise]") {
  CHECK(normalise(ctl("|0109506000134352")).text == "0109506000134352");
  CHECK(normalise("]d2<GS>0109506000134352").text == "0109506000134352");
  CHECK(normalise("  21abcDEF\r\n").text == "21abcDEF");
  CHECK(normalise("21abc\n").text == "21abc");
  CHECK(normalise(" \t\r\n").text.empty());
  CHECK(normalise("]d2").text.empty());
}

TEST_CASE("envelope RS and EOT stand-ins are replaced only in an ISO/IEC 15434 envelope", "[normalise]") {
  CHECK(normalise("[)><RS>06<GS>9N110375286414<RS><EOT>").text == ctl("[)>~06|9N110375286414~^"));
  CHECK(normalise("[)>{RS}06{GS}S1{RS}{EOT}").text == ctl("[)>~06|S1~^"));
  CHECK(normalise("[)>\\x1E06\\x1DS1\\x1E\\x04").text == ctl("[)>~06|S1~^"));
  // Outside an envelope "<RS>" is legal serial data.
  CHECK(normalise("21A<RS>B").text == "21A<RS>B");
}
