// libFuzzer target: the central system's answers as the link reads them (central_check.hpp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "central_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!vpoint::fuzz::central_answers_hold(std::string_view(reinterpret_cast<const char*>(data), size))) std::abort();
  return 0;
}
