#pragma once
// Every file under the given directories of the source tree (fuzz corpora and regressions), for the tests
// that replay them through a fuzz target's oracle.
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <string>

namespace vpoint::fuzz {

// Calls `each(path, bytes)` for every regular file; returns how many there were.
inline std::size_t for_each_corpus_file(std::initializer_list<const char*> dirs,
                                        const std::function<void(const std::string&, const std::string&)>& each) {
  std::size_t files = 0;
  for (const char* dir : dirs) {
    const std::filesystem::path root = std::filesystem::path(VPOINT_SOURCE_DIR) / dir;
    if (!std::filesystem::exists(root)) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      each(entry.path().string(), data);
      ++files;
    }
  }
  return files;
}

}  // namespace vpoint::fuzz
