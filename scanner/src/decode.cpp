// Image decoding: stb_image for PNG/JPEG, ZXing-C++ 1.4 ReadBarcodes for the symbols.
#define ZX_USE_UTF8 1  // ZXing 1.4: Result::text() returns UTF-8 std::string
#include "vpoint/scanner/decode.hpp"

#include <ZXing/BarcodeFormat.h>
#include <ZXing/DecodeHints.h>
#include <ZXing/ImageView.h>
#include <ZXing/ReadBarcode.h>
#include <ZXing/Result.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <system_error>

// The only stb_image implementation in the scanner library. PNG and JPEG only: packs are
// photographed, and every other format is answered with unsupported_format.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS (1 << 16)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace vpoint::scanner {

std::string_view to_string(DecodeErrorCode code) {
  switch (code) {
    case DecodeErrorCode::empty_input: return "empty_input";
    case DecodeErrorCode::unsupported_format: return "unsupported_format";
    case DecodeErrorCode::unreadable_image: return "unreadable_image";
    case DecodeErrorCode::image_too_large: return "image_too_large";
    case DecodeErrorCode::file_not_readable: return "file_not_readable";
    case DecodeErrorCode::invalid_options: return "invalid_options";
  }
  return "unknown";
}

namespace {

Unexpected<DecodeError> fail(DecodeErrorCode code, std::string message) {
  return Unexpected{DecodeError{code, std::move(message)}};
}

bool is_png(std::span<const std::uint8_t> b) {
  static constexpr std::uint8_t kSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return b.size() >= sizeof kSignature && std::equal(std::begin(kSignature), std::end(kSignature), b.begin());
}

bool is_jpeg(std::span<const std::uint8_t> b) {
  // SOI marker followed by the start of the next marker (JFIF, Exif, raw DQT ...).
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

// PNG chunks: 4-byte big-endian length, 4-byte type, data, 4-byte CRC. Every chunk up to IEND must lie inside
// the input: stb sizes its IDAT buffer from the lengths the chunks claim, so a 200-byte file claiming a 1.4 GB
// IDAT made it reserve 1.4 GB before noticing the data was not there (found by fuzz_image). "" when they fit,
// else why not.
std::string png_chunks_problem(std::span<const std::uint8_t> b) {
  std::size_t at = 8;  // after the signature
  while (at + 8 <= b.size()) {
    const std::uint32_t length = (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
                                 (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
    const std::string type(reinterpret_cast<const char*>(b.data() + at + 4), 4);
    const std::size_t left = b.size() - at - 8;
    if (length > left || left - length < 4) {
      std::string printable;
      for (char c : type) printable += std::isalpha(static_cast<unsigned char>(c)) ? c : '?';
      return "chunk '" + printable + "' claims " + std::to_string(length) + " bytes, only " +
             std::to_string(left >= 4 ? left - 4 : 0) + " follow";
    }
    if (type == "IEND") return "";
    at += 8 + std::size_t{length} + 4;
  }
  return "it ends before its IEND chunk";
}

// A hint for the message when the bytes are some other well-known format.
std::string_view sniff_other(std::span<const std::uint8_t> b) {
  auto starts = [&](std::string_view magic) {
    return b.size() >= magic.size() && std::equal(magic.begin(), magic.end(), b.begin(),
                                                  [](char m, std::uint8_t c) { return static_cast<std::uint8_t>(m) == c; });
  };
  if (starts("GIF8")) return "a GIF image";
  if (starts("BM")) return "a BMP image";
  if (starts("%PDF")) return "a PDF document";
  if (starts("RIFF") && b.size() >= 12 && std::equal(b.begin() + 8, b.begin() + 12, "WEBP")) return "a WebP image";
  if (starts("II*") || starts(std::string_view("MM\0*", 4))) return "a TIFF image";
  if (b.size() >= 12 && std::equal(b.begin() + 4, b.begin() + 8, "ftyp")) return "a HEIF/MP4 file";
  return "not an image";
}

}  // namespace

ZXing::DecodeHints to_decode_hints(const DecodeOptions& options) {
  if (options.max_symbols < 1 || options.max_symbols > 255)
    throw std::invalid_argument("max_symbols must be 1..255, got " + std::to_string(options.max_symbols));
  // BarcodeFormatsFromString throws std::invalid_argument on an unknown name.
  auto formats = ZXing::BarcodeFormatsFromString(options.formats);
  if (formats.empty()) throw std::invalid_argument("formats names no barcode format");
  return ZXing::DecodeHints()
      .setFormats(formats)
      .setTryHarder(options.try_harder)
      .setTryRotate(options.try_rotate)
      .setTryDownscale(options.try_downscale)
      .setMaxNumberOfSymbols(static_cast<std::uint8_t>(options.max_symbols));
}

std::optional<DecodeError> check_options(const DecodeOptions& options) {
  try {
    (void)to_decode_hints(options);
  } catch (const std::invalid_argument& e) {
    return DecodeError{DecodeErrorCode::invalid_options, std::string("decode options: ") + e.what()};
  }
  return std::nullopt;
}

Result<GrayImage, DecodeError> load_image(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
  if (bytes.empty()) return fail(DecodeErrorCode::empty_input, "the input is empty (0 bytes), not an image");
  if (bytes.size() > options.max_bytes)
    return fail(DecodeErrorCode::image_too_large, "the input has " + std::to_string(bytes.size()) +
                                                      " bytes, over the limit of " + std::to_string(options.max_bytes));
  const bool png = is_png(bytes);
  if (!png && !is_jpeg(bytes))
    return fail(DecodeErrorCode::unsupported_format,
                "the input is " + std::string(sniff_other(bytes)) + "; only PNG and JPEG images can be decoded");
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    return fail(DecodeErrorCode::image_too_large, "the input is over 2 GiB");

  const char* kind = png ? "PNG" : "JPEG";
  if (png)
    if (auto problem = png_chunks_problem(bytes); !problem.empty())
      return fail(DecodeErrorCode::unreadable_image, "the PNG data is corrupt or truncated (" + problem + ")");
  const auto len = static_cast<int>(bytes.size());
  int w = 0, h = 0, channels = 0;
  // Read the header first so that a huge image is refused before anything is allocated.
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &channels))
    return fail(DecodeErrorCode::unreadable_image,
                std::string("the ") + kind + " header cannot be read (" + stbi_failure_reason() + ")");
  const auto pixels = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  if (pixels > options.max_pixels)
    return fail(DecodeErrorCode::image_too_large, "the image is " + std::to_string(w) + "x" + std::to_string(h) +
                                                      " = " + std::to_string(pixels) + " pixels, over the limit of " +
                                                      std::to_string(options.max_pixels));

  // desired_channels = 1: stb converts colour to luminance and 16-bit to 8-bit for us.
  stbi_uc* data = stbi_load_from_memory(bytes.data(), len, &w, &h, &channels, 1);
  if (!data)
    return fail(DecodeErrorCode::unreadable_image,
                std::string("the ") + kind + " data is corrupt or truncated (" + stbi_failure_reason() + ")");
  GrayImage image{w, h, std::vector<std::uint8_t>(data, data + pixels)};
  stbi_image_free(data);
  return image;
}

namespace {

// One ReadBarcodes call, or two where ZXing 1.4 would abort.
// ZXing 1.4 (as Debian builds it, with assertions on) aborts in Result::operator== when the same
// linear symbol (e.g. a GS1-128 SSCC) is found again in a downscaled layer of its image pyramid
// (assert lineCount() == 1 || o.lineCount() == 1). The pyramid exists only when tryDownscale is
// on and the image is larger than downscaleThreshold; then linear codes are read in a second pass
// without downscaling (a 1-D reader scans rows, downscaling rarely helps it).
ZXing::Results read_barcodes(const ZXing::ImageView& view, const ZXing::DecodeHints& hints, int max_symbols) {
  const auto linear = hints.formats() & ZXing::BarcodeFormat::LinearCodes;
  const bool pyramid = hints.tryDownscale() && std::max(view.width(), view.height()) > hints.downscaleThreshold();
  if (!pyramid || linear.empty()) return ZXing::ReadBarcodes(view, hints);
  ZXing::Results results;
  const auto matrix = hints.formats() & ZXing::BarcodeFormat::MatrixCodes;
  if (!matrix.empty()) results = ZXing::ReadBarcodes(view, ZXing::DecodeHints(hints).setFormats(matrix));
  const int left = max_symbols - static_cast<int>(results.size());
  if (left > 0) {
    auto more = ZXing::ReadBarcodes(view, ZXing::DecodeHints(hints)
                                              .setFormats(linear)
                                              .setTryDownscale(false)
                                              .setMaxNumberOfSymbols(static_cast<std::uint8_t>(left)));
    std::move(more.begin(), more.end(), std::back_inserter(results));
  }
  return results;
}

Symbol to_symbol(const ZXing::Result& r, int dy) {
  Symbol s;
  s.format = ZXing::ToString(r.format());
  s.aim = r.symbologyIdentifier();
  s.text = r.text();
  s.bytes.assign(r.bytes().begin(), r.bytes().end());
  const auto& pos = r.position();
  for (std::size_t i = 0; i < 4; ++i) s.position[i] = Point{pos[i].x, pos[i].y + dy};
  s.orientation = r.orientation();
  s.gs1 = r.contentType() == ZXing::ContentType::GS1;
  s.iso15434 = r.contentType() == ZXing::ContentType::ISO15434;
  return s;
}

// The same symbol seen again: same format and bytes, centre inside the first one's bounding box.
bool already_found(const std::vector<Symbol>& found, const Symbol& s) {
  int cx = 0, cy = 0;
  for (const auto& p : s.position) cx += p.x, cy += p.y;
  cx /= 4, cy /= 4;
  for (const auto& f : found) {
    if (f.format != s.format || f.bytes != s.bytes) continue;
    int x0 = f.position[0].x, x1 = x0, y0 = f.position[0].y, y1 = y0;
    for (const auto& p : f.position) x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    if (cx >= x0 && cx <= x1 && cy >= y0 && cy <= y1) return true;
  }
  return false;
}

}  // namespace

Result<std::vector<Symbol>, DecodeError> decode_pixels(const GrayImage& image, const DecodeOptions& options) {
  ZXing::DecodeHints hints;
  try {
    hints = to_decode_hints(options);
  } catch (const std::invalid_argument& e) {
    return fail(DecodeErrorCode::invalid_options, std::string("decode options: ") + e.what());
  }
  std::vector<Symbol> symbols;
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() < static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height))
    return symbols;

  const ZXing::ImageView view(image.pixels.data(), image.width, image.height, ZXing::ImageFormat::Lum);
  for (const ZXing::Result& r : read_barcodes(view, hints, options.max_symbols))
    if (r.isValid()) symbols.push_back(to_symbol(r, 0));

  // Data Matrix sweep. ZXing 1.4 as packaged (built without C++20 coroutines, so its multi-line
  // Data Matrix scan is compiled out) traces Data Matrix only from the image's centre lines: a
  // symbol that does not cross the middle row is never seen, and a camera picture holding several
  // packs yields at most the middle one. Decoding overlapping horizontal bands gives every band its
  // own centre line: bands of half, quarter, eighth ... of the height (>= kMinBand), each stepping
  // by a third of its height, so that any symbol up to about half a band tall lies wholly inside a
  // band whose centre row crosses it well inside the symbol (a half-band step left symbols whose
  // edge the centre row only grazed).
  constexpr int kMinBand = 96;
  if (options.sweep && hints.hasFormat(ZXing::BarcodeFormat::DataMatrix) && image.height >= 2 * kMinBand) {
    const auto dm_hints = ZXing::DecodeHints(hints).setFormats(ZXing::BarcodeFormat::DataMatrix);
    for (int band = image.height / 2; band >= kMinBand; band /= 2) {
      const int step = band / 3;
      for (int top = 0;; top += step) {
        const bool last = top + band >= image.height;
        if (last) top = image.height - band;
        if (static_cast<int>(symbols.size()) >= options.max_symbols) return symbols;
        for (const ZXing::Result& r : ZXing::ReadBarcodes(view.cropped(0, top, image.width, band), dm_hints)) {
          if (!r.isValid()) continue;
          Symbol s = to_symbol(r, top);
          if (!already_found(symbols, s)) symbols.push_back(std::move(s));
        }
        if (last) break;
      }
    }
  }
  if (static_cast<int>(symbols.size()) > options.max_symbols) symbols.resize(static_cast<std::size_t>(options.max_symbols));
  return symbols;
}

Result<std::vector<Symbol>, DecodeError> decode(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
  auto image = load_image(bytes, options);
  if (!image) return Unexpected{std::move(image.error())};
  return decode_pixels(*image, options);
}

Result<std::vector<Symbol>, DecodeError> decode_file(const std::filesystem::path& path, const DecodeOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return fail(DecodeErrorCode::file_not_readable, path.string() + " is a directory, not an image file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const bool exists = std::filesystem::exists(path, ec);
    return fail(DecodeErrorCode::file_not_readable,
                path.string() + (exists ? " cannot be opened (permission denied?)" : " does not exist"));
  }
  // Read at most max_bytes + 1 so that an over-long file (or an endless device) is refused, not loaded.
  std::vector<std::uint8_t> bytes;
  const std::size_t cap = options.max_bytes + 1;
  std::size_t size = 0;
  bytes.resize(std::min<std::size_t>(cap, 1 << 20));
  while (in && size < cap) {
    if (size == bytes.size()) bytes.resize(std::min(cap, bytes.size() * 2));
    in.read(reinterpret_cast<char*>(bytes.data() + size), static_cast<std::streamsize>(bytes.size() - size));
    size += static_cast<std::size_t>(in.gcount());
  }
  if (in.bad()) return fail(DecodeErrorCode::file_not_readable, path.string() + " cannot be read (I/O error)");
  bytes.resize(size);
  return decode(bytes, options);
}

}  // namespace vpoint::scanner
