// Replays every fuzz corpus and regression input through parse(): never a crash, always a value or
// an error with a message (inputs that once broke the parser are kept as files: style.md).
#include <catch2/catch.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "corpus_files.hpp"
#include "image_check.hpp"
#include "vpoint/scanner/json.hpp"
#include "vpoint/scanner/parse.hpp"

namespace fs = std::filesystem;

TEST_CASE("every fuzz corpus and regression input parses to a value or an error", "[parse][fuzz]") {
  const std::size_t files = vpoint::fuzz::for_each_corpus_file(
      {"tests/fuzz/corpus", "tests/fuzz/regressions"}, [](const std::string& path, const std::string& data) {
        CAPTURE(path);
        const auto r = vpoint::scanner::parse(data);
        if (!r) {
          CHECK_FALSE(r.error().message.empty());
          CHECK(r.error().offset <= std::max(data.size(), vpoint::scanner::kMaxInputBytes));
        }
        CHECK_FALSE(boost::json::serialize(vpoint::scanner::to_json(r)).empty());
      });
  CHECK(files >= 10);  // the seed corpus is in the repo
}

TEST_CASE("every image fuzz corpus and regression input keeps the front door's promises", "[decode][fuzz]") {
  const std::size_t files = vpoint::fuzz::for_each_corpus_file(
      {"tests/fuzz/corpus/image", "tests/fuzz/regressions/image"}, [](const std::string& path, const std::string& data) {
        CAPTURE(path);
        CHECK(vpoint::fuzz::image_front_door_holds(
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size())));
      });
  CHECK(files >= 3);
}
