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

TEST_CASE("a PNG whose chunk claims more bytes than follow is refused before stb reserves them", "[decode][fuzz]") {
  // fuzz_image: 8x8 grey PNG whose IDAT claims 0x57e10053 (1.4 GB) bytes; stb reserved that much first.
  std::ifstream in(std::string(VPOINT_SOURCE_DIR) + "/tests/fuzz/regressions/image/png_idat_claims_1_4gb",
                   std::ios::binary);
  const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  REQUIRE(bytes.size() > 8);
  auto image = vpoint::scanner::load_image(bytes, vpoint::scanner::DecodeOptions{});
  REQUIRE_FALSE(image);
  CHECK(image.error().code == vpoint::scanner::DecodeErrorCode::unreadable_image);
  CHECK(image.error().message.find("chunk 'IDAT' claims 1474363475 bytes") != std::string::npos);
}
