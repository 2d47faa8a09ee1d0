// libFuzzer target: JSON request bodies of the pack routes (request_check.hpp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "request_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!vpoint::fuzz::request_body_holds(std::string_view(reinterpret_cast<const char*>(data), size))) std::abort();
  return 0;
}
