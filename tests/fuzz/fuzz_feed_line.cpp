// libFuzzer target: change-feed lines: envelope and Redis-free checks (feed_line_check.hpp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "feed_line_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!vpoint::fuzz::feed_line_holds(std::string_view(reinterpret_cast<const char*>(data), size))) std::abort();
  return 0;
}
