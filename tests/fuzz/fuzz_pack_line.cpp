// libFuzzer target: the snapshot pack line's fast path against the DOM path (pack_line_check.hpp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pack_line_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!vpoint::fuzz::pack_line_paths_agree(std::string_view(reinterpret_cast<const char*>(data), size))) std::abort();
  return 0;
}
