#pragma once
// Image bytes (PNG, JPEG) -> every barcode symbol in the picture, through ZXing-C++ 1.4's
// ReadBarcodes. A thin wrapper: load + grayscale with stb_image, one ReadBarcodes call, copy out.
// Expected failures (not an image, corrupt file, too big) are DecodeError values, never exceptions.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vpoint/scanner/result.hpp"

namespace ZXing {
class DecodeHints;
}

namespace vpoint::scanner {

// Stable decode error codes. Never renumber, never reuse a value: clients key on the names.
enum class DecodeErrorCode : int {
  empty_input = 1,         // zero bytes (an empty file)
  unsupported_format = 2,  // bytes are not a PNG or JPEG image
  unreadable_image = 3,    // PNG/JPEG signature, but the data is corrupt or truncated
  image_too_large = 4,     // more pixels (or bytes) than DecodeOptions allows
  file_not_readable = 5,   // decode_file: the file cannot be opened or read
  invalid_options = 6,     // DecodeOptions names an unknown barcode format
};

// "empty_input", "unreadable_image", ...: the wire name of a code.
std::string_view to_string(DecodeErrorCode code);

struct DecodeError {
  DecodeErrorCode code = DecodeErrorCode::unreadable_image;
  std::string message;  // one sentence a user can act on
};

struct DecodeOptions {
  // Symbologies to look for, ZXing names joined by '|' (",", " " also accepted). FMD packs carry
  // Data Matrix (EU 2016/161 Art 5(1)); newer packs add a QR with a GS1 Digital Link; cases and
  // pallets carry the SSCC in GS1-128 (a Code 128 with FNC1). Fewer formats = faster.
  std::string formats = "DataMatrix|QRCode|Code128";
  // Refuse images with more pixels than this before decompressing them (memory: 1 byte/pixel).
  // 100 MP covers every camera in use; 200 MP phone sensors save binned 12-50 MP images.
  std::size_t max_pixels = 100'000'000;
  // Refuse inputs larger than this many bytes (a 100 MP PNG of a label is far below it).
  std::size_t max_bytes = 64 * 1024 * 1024;
  // ZXing tryHarder: slower, finds symbols in poor images (blur, noise, low contrast).
  bool try_harder = true;
  // ZXing tryRotate: also scan linear codes (GS1-128) turned by 90/180/270 degrees.
  // Data Matrix and QR are found at any rotation regardless.
  bool try_rotate = true;
  // ZXing tryDownscale: also scan downscaled copies of large camera images (small symbols far
  // from the lens in a 12 MP picture need it less, large ones need it more).
  bool try_downscale = true;
  // At most this many symbols per image (1..255); 255 = all ZXing can report.
  int max_symbols = 255;
  // Also look for Data Matrix in overlapping horizontal bands. ZXing 1.4 as packaged finds Data
  // Matrix only where it crosses the image's middle row (its multi-line scan needs C++20
  // coroutines, compiled out in the Debian build), so without the sweep an off-centre pack or all
  // but one pack of several is missed. Costs a few extra Data Matrix passes per image (see
  // docs/benchmarks.md); false = exactly one ReadBarcodes call, for centred single-pack scans.
  bool sweep = true;
};

struct Point {
  int x = 0;
  int y = 0;
  bool operator==(const Point&) const = default;
};

struct Symbol {
  std::string format;  // ZXing name: "DataMatrix", "QRCode", "Code128", ...
  std::string aim;     // AIM symbology identifier, e.g. "]d2" = GS1 DataMatrix, "]Q1" = QR, "]C1" = GS1-128
  std::string text;    // decoded content as UTF-8; GS1 FNC1 separators are GS (0x1D), no leading FNC1
  std::vector<std::uint8_t> bytes;  // decoded content bytes as the symbol encodes them
  // Corners in image pixels: top-left, top-right, bottom-right, bottom-left of the symbol
  // as read (i.e. rotating with the symbol).
  std::array<Point, 4> position{};
  int orientation = 0;  // degrees the symbol is turned from upright, -180..180
  bool gs1 = false;     // FNC1 in first position (GS1 data; AIM modifier ]d2, ]Q3, ]C1)
  bool iso15434 = false;  // content is an ISO/IEC 15434 envelope "[)>" RS ... (IFA/PPN codes)
};

// An 8-bit grayscale picture, row-major, width * height bytes.
struct GrayImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
};

// PNG/JPEG bytes -> grayscale pixels (colour is converted, 16-bit reduced to 8-bit).
Result<GrayImage, DecodeError> load_image(std::span<const std::uint8_t> bytes,
                                          const DecodeOptions& options = {});

// Every symbol ZXing finds in the pixels (possibly none: an empty vector is not an error).
Result<std::vector<Symbol>, DecodeError> decode_pixels(const GrayImage& image,
                                                       const DecodeOptions& options = {});

// load_image + decode_pixels.
Result<std::vector<Symbol>, DecodeError> decode(std::span<const std::uint8_t> bytes,
                                                const DecodeOptions& options = {});

// Reads the file (bounded by options.max_bytes) and decodes it.
Result<std::vector<Symbol>, DecodeError> decode_file(const std::filesystem::path& path,
                                                     const DecodeOptions& options = {});

// Why the options would be refused as invalid_options (unknown format name, max_symbols out of
// range), or nothing: for validating a configuration once at start-up.
std::optional<DecodeError> check_options(const DecodeOptions& options);

// The ZXing hints decode_pixels uses for these options (for benchmarks that call ZXing directly
// with exactly the same settings). Include <ZXing/DecodeHints.h> to use it. Throws
// std::invalid_argument on options decode_pixels would refuse as invalid_options.
ZXing::DecodeHints to_decode_hints(const DecodeOptions& options);

}  // namespace vpoint::scanner
