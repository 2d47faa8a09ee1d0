// Replays every fuzz corpus and regression input through parse(): never a crash, always a value or
// an error with a message (inputs that once broke the parser are kept as files: style.md).
#include <catch2/catch.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "vpoint/scanner/json.hpp"
#include "vpoint/scanner/parse.hpp"

namespace fs = std::filesystem;

TEST_CASE("every fuzz corpus and regression input parses to a value or an error", "[parse][fuzz]") {
  std::size_t files = 0;
  for (const char* dir : {"tests/fuzz/corpus", "tests/fuzz/regressions"}) {
    const fs::path root = fs::path(VPOINT_SOURCE_DIR) / dir;
    if (!fs::exists(root)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      CAPTURE(entry.path().string());
      const auto r = vpoint::scanner::parse(data);
      if (!r) {
        CHECK_FALSE(r.error().message.empty());
        CHECK(r.error().offset <= std::max(data.size(), vpoint::scanner::kMaxInputBytes));
      }
      CHECK_FALSE(boost::json::serialize(vpoint::scanner::to_json(r)).empty());
      ++files;
    }
  }
  CHECK(files >= 10);  // the seed corpus is in the repo
}
