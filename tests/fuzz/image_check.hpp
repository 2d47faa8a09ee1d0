#pragma once
// The oracle of fuzz_image, shared with its replay test (tests/scanner/fuzz_corpus_test.cpp): the image front
// door (scanner::load_image) gives either an image within the pixel limit whose buffer matches its size, or an
// error that explains itself; never a crash or an allocation beyond the limit (ASan would report it).
#include <cstddef>
#include <cstdint>
#include <span>

#include "vpoint/scanner/decode.hpp"

namespace vpoint::fuzz {

inline bool image_front_door_holds(std::span<const std::uint8_t> bytes) {
  vpoint::scanner::DecodeOptions options;
  options.max_pixels = 1'000'000;  // small: the limit is what is under test, and it keeps runs fast
  options.max_bytes = 256 * 1024;
  auto image = vpoint::scanner::load_image(bytes, options);
  if (!image) return !image.error().message.empty();
  const auto pixels = static_cast<std::size_t>(image->width) * static_cast<std::size_t>(image->height);
  return image->width > 0 && image->height > 0 && pixels <= options.max_pixels && image->pixels.size() == pixels;
}

}  // namespace vpoint::fuzz
