// Replays the pack-line fuzz corpus and its regressions (tests/fuzz/corpus/pack_line, regressions/pack_line)
// through the fuzz oracle: the importer's fast path agrees with the DOM path on every line it accepts.
#include <catch2/catch.hpp>

#include "corpus_files.hpp"
#include "pack_line_check.hpp"

TEST_CASE("the pack-line fast path agrees with the JSON parser on every fuzz corpus and regression line",
          "[import][fuzz]") {
  const std::size_t files = vpoint::fuzz::for_each_corpus_file(
      {"tests/fuzz/corpus/pack_line", "tests/fuzz/regressions/pack_line"},
      [](const std::string& path, const std::string& line) {
        CAPTURE(path);
        CHECK(vpoint::fuzz::pack_line_paths_agree(line));
      });
  CHECK(files >= 5);
}

TEST_CASE("the pack-line fast path takes the plain line and leaves everything unusual to the JSON parser",
          "[import][fuzz]") {
  using vpoint::cache::detail::PackFields;
  using vpoint::cache::detail::scan_pack_line;
  PackFields f;
  CHECK(scan_pack_line(R"({"type":"pack","gtin":"04150123456782","serial":"S1","batch":"L1","status":"active"})", f));
  CHECK(f.serial == "S1");
  for (const char* refused : {R"({"type":"pack","serial":"A\"B"})", R"({"type":"batch","serial":"S"})",
                              R"({"type":"pack","serial":"S","serial":"T"})", R"({"type":"pack","status":7})",
                              R"({"type":"pack"} x)", R"({"type":"pack","serial":"S")", "[]", ""}) {
    PackFields g;
    CAPTURE(refused);
    CHECK_FALSE(scan_pack_line(refused, g));
    CHECK(vpoint::fuzz::pack_line_paths_agree(refused));
  }
}
