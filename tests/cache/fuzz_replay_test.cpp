// Replays the pack-line and change-feed fuzz corpora and their regressions (tests/fuzz/corpus/{pack_line,feed_line},
// regressions/{pack_line,feed_line}) through the fuzz oracles (pack_line_check.hpp, feed_line_check.hpp).
#include <catch2/catch.hpp>

#include "corpus_files.hpp"
#include "feed_line_check.hpp"
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

TEST_CASE("every change-feed fuzz corpus and regression line keeps the envelope rule and the Redis-free checks",
          "[feed][fuzz]") {
  const std::size_t files = vpoint::fuzz::for_each_corpus_file(
      {"tests/fuzz/corpus/feed_line", "tests/fuzz/regressions/feed_line"},
      [](const std::string& path, const std::string& line) {
        CAPTURE(path);
        CHECK(vpoint::fuzz::feed_line_holds(line));
      });
  CHECK(files >= 6);
  using namespace vpoint::cache::detail;
  auto line = parse_feed_line(R"({"seq":3,"op":"upsert","type":"aggregation","sscc":"340123450000000017","children":[{"gtin":"04150123456782","serial":"S1"}]})");
  REQUIRE(line);
  CHECK(line->type == FeedType::aggregation);
  auto children = aggregation_children(line->object, false);
  REQUIRE(children);
  CHECK(*children == std::vector<std::string>{"04150123456782|S1"});
  CHECK(parse_feed_line(R"({"seq":0,"op":"upsert"})").error() == "\"seq\" must be a positive integer");
  CHECK(batch_line_problem(parse_feed_line(R"({"seq":1,"op":"upsert","batch":"L1","expiry":"2712"})")->object) ==
        std::string("batch: \"expiry\" must be YYMMDD"));
  for (const char* text : {"", "{", "[1]", R"({"seq":1.0,"op":"upsert"})", R"({"seq":1,"op":"upsert","type":"aggregation","sscc":"1"})"}) {
    CAPTURE(text);
    CHECK(vpoint::fuzz::feed_line_holds(text));
  }
}
