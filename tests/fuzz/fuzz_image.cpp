// libFuzzer target: the image front door (image_check.hpp).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "image_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (!vpoint::fuzz::image_front_door_holds(std::span<const std::uint8_t>(data, size))) std::abort();
  return 0;
}
