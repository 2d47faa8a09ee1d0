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

TEST_CASE("stand-ins typed with caps lock on are matched regardless of case", "[normalise][truth]") {
  // issue 12: a wedge with caps lock on types "<GS>" as "<gs>" and "\x1D" as "\X1d"; left in place they glue the
  // next field onto the serial and a genuine pack raises an unknown-serial alert.
  const char* standins[] = {"<gs>", "{gs}", "<Gs>", "\\X1d", "\\X1D", "\\U001D", "\\U001d"};
  for (const char* s : standins) {
    CAPTURE(s);
    const std::string in = std::string("]D2") + "0109506000134352" + "21abc" + s + "10xy" + s + "17261231";
    CHECK(normalise(in).text == ctl("010950600013435221abc|10xy|17261231"));
    CHECK(normalise(in).aim == "]D2");
  }
  CHECK(normalise("[)><rs>06<gs>9n110375286414<rs><eot>").text == ctl("[)>~06|9n110375286414~^"));
  CHECK(normalise("[)>^^06^]s1^^^d").text == ctl("[)>~06|s1~^"));
  CHECK(normalise("21ABC@x10X", {"@X"}).text == ctl("21ABC|10X"));
  // Still only without a real GS: then "<gs>" is serial data, like "<GS>".
  CHECK(normalise(ctl("21AB<gs>C|10X")).text == ctl("21AB<gs>C|10X"));
}

TEST_CASE("invert_case flips every ASCII letter and nothing else", "[normalise][truth]") {
  using vpoint::scanner::invert_case;
  CHECK(invert_case("[)>\x1e" "06\x1d" "9n110375286414\x1d" "1tabc") == "[)>\x1e" "06\x1d" "9N110375286414\x1d" "1TABC");
  CHECK(invert_case("aZ09<gs>%\xC3\xA9") == "Az09<GS>%\xC3\xA9");
}
