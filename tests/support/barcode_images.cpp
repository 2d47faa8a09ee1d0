// Test-time barcode images: zint encodes, plain C++ degrades, stb_image_write stores.
#include "barcode_images.hpp"

#include <zint.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>

#include <unistd.h>

// The only stb_image_write implementation in the test support library.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace vpoint::test {

namespace {

struct ZintDeleter {
  void operator()(zint_symbol* s) const { ZBarcode_Delete(s); }
};

std::uint8_t clamp_byte(double v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// Bilinear sample with `fill` outside the image.
double sample(const Gray& img, double x, double y, std::uint8_t fill) {
  const int x0 = static_cast<int>(std::floor(x));
  const int y0 = static_cast<int>(std::floor(y));
  const double fx = x - x0;
  const double fy = y - y0;
  auto px = [&](int xi, int yi) -> double {
    if (xi < 0 || yi < 0 || xi >= img.width || yi >= img.height) return fill;
    return img.at(xi, yi);
  };
  return (px(x0, y0) * (1 - fx) + px(x0 + 1, y0) * fx) * (1 - fy) +
         (px(x0, y0 + 1) * (1 - fx) + px(x0 + 1, y0 + 1) * fx) * fy;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(context);
  const auto* p = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

}  // namespace

Gray render(Symbology symbology, std::string_view data, const RenderOptions& options) {
  std::unique_ptr<zint_symbol, ZintDeleter> sym(ZBarcode_Create());
  if (!sym) throw std::runtime_error("zint: out of memory");
  const bool linear = symbology == Symbology::gs1_128 || symbology == Symbology::code128;
  switch (symbology) {
    case Symbology::gs1_datamatrix:
      sym->symbology = BARCODE_DATAMATRIX;
      sym->input_mode = GS1_MODE;
      sym->option_3 = DM_SQUARE;
      break;
    case Symbology::gs1_dmre:
      // DM_DMRE allows the rectangular ISO/IEC 21471 DMRE sizes (8x48 .. 26x64); see below.
      sym->symbology = BARCODE_DATAMATRIX;
      sym->input_mode = GS1_MODE;
      sym->option_3 = DM_DMRE;
      break;
    case Symbology::datamatrix:
      sym->symbology = BARCODE_DATAMATRIX;
      sym->input_mode = DATA_MODE;
      sym->option_3 = DM_SQUARE;
      break;
    case Symbology::qr:
      sym->symbology = BARCODE_QRCODE;
      sym->input_mode = DATA_MODE;
      break;
    case Symbology::gs1_128:
      sym->symbology = BARCODE_GS1_128;
      sym->input_mode = GS1_MODE;
      break;
    case Symbology::code128:
      sym->symbology = BARCODE_CODE128;
      sym->input_mode = DATA_MODE;
      break;
  }
  if (!options.check_gs1 && sym->input_mode == GS1_MODE) sym->input_mode |= GS1NOCHECK_MODE;
  sym->show_hrt = 0;
  sym->output_options |= BARCODE_NO_QUIET_ZONES;  // ours come from pad() below, in modules
  sym->scale = static_cast<float>(options.module_px) / 2.0f;  // zint rasters 2 px per module at scale 1
  if (linear) sym->height = static_cast<float>(options.linear_height);

  auto encode = [&] {
    return ZBarcode_Encode_and_Buffer(sym.get(), reinterpret_cast<const unsigned char*>(data.data()),
                                      static_cast<int>(data.size()), 0);
  };
  int rc = 0;
  if (symbology == Symbology::gs1_dmre) {
    // Left alone, zint picks a square when it is smaller; force the first DMRE size that holds the
    // data (option_2 31..48 = 8x48 .. 26x64, zint manual 6.6.2), so the symbol really is DMRE.
    for (int size = std::clamp(options.dmre_size, 31, 48); size <= 48; ++size) {
      ZBarcode_Clear(sym.get());
      sym->option_2 = size;
      rc = encode();
      if (rc < ZINT_ERROR) break;
    }
  } else {
    rc = encode();
  }
  if (rc >= ZINT_ERROR) throw std::runtime_error("zint refused '" + std::string(data) + "': " + sym->errtxt);

  Gray out;
  out.width = sym->bitmap_width;
  out.height = sym->bitmap_height;
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height);
  // zint's raster bitmap is RGB, 3 bytes per pixel, foreground black on white.
  for (std::size_t i = 0; i < out.pixels.size(); ++i) {
    const unsigned char* p = sym->bitmap + 3 * i;
    out.pixels[i] = static_cast<std::uint8_t>((p[0] + p[1] + p[2]) / 3);
  }
  return pad(out, options.quiet_modules * options.module_px);
}

Gray rotate(const Gray& image, double degrees, std::uint8_t fill) {
  const double rad = degrees * std::numbers::pi / 180.0;
  const double c = std::cos(rad), s = std::sin(rad);
  const int w = static_cast<int>(std::ceil(std::abs(image.width * c) + std::abs(image.height * s)));
  const int h = static_cast<int>(std::ceil(std::abs(image.width * s) + std::abs(image.height * c)));
  Gray out{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h, fill)};
  const double cx_in = (image.width - 1) / 2.0, cy_in = (image.height - 1) / 2.0;
  const double cx_out = (w - 1) / 2.0, cy_out = (h - 1) / 2.0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      // Inverse mapping: where in the source does this output pixel come from.
      const double dx = x - cx_out, dy = y - cy_out;
      const double sx = c * dx + s * dy + cx_in;
      const double sy = -s * dx + c * dy + cy_in;
      out.at(x, y) = clamp_byte(sample(image, sx, sy, fill));
    }
  return out;
}

Gray scale(const Gray& image, double factor) {
  const int w = std::max(1, static_cast<int>(std::lround(image.width * factor)));
  const int h = std::max(1, static_cast<int>(std::lround(image.height * factor)));
  Gray out{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      // Pixel centres map to pixel centres; edges clamp instead of fading to a fill colour.
      const double sx = std::clamp((x + 0.5) / factor - 0.5, 0.0, image.width - 1.0);
      const double sy = std::clamp((y + 0.5) / factor - 0.5, 0.0, image.height - 1.0);
      out.at(x, y) = clamp_byte(sample(image, sx, sy, 255));
    }
  return out;
}

Gray blur(const Gray& image, double sigma) {
  if (sigma <= 0) return image;
  const int radius = static_cast<int>(std::ceil(3 * sigma));
  std::vector<double> kernel(2 * radius + 1);
  double sum = 0;
  for (int i = -radius; i <= radius; ++i) sum += kernel[i + radius] = std::exp(-(i * i) / (2 * sigma * sigma));
  for (double& k : kernel) k /= sum;
  std::vector<double> tmp(image.pixels.size());
  auto clampi = [](int v, int hi) { return std::clamp(v, 0, hi - 1); };
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) {
      double acc = 0;
      for (int i = -radius; i <= radius; ++i) acc += kernel[i + radius] * image.at(clampi(x + i, image.width), y);
      tmp[static_cast<std::size_t>(y) * image.width + x] = acc;
    }
  Gray out{image.width, image.height, std::vector<std::uint8_t>(image.pixels.size())};
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) {
      double acc = 0;
      for (int i = -radius; i <= radius; ++i)
        acc += kernel[i + radius] * tmp[static_cast<std::size_t>(clampi(y + i, image.height)) * image.width + x];
      out.at(x, y) = clamp_byte(acc);
    }
  return out;
}

Gray add_noise(const Gray& image, double sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  Gray out = image;
  for (auto& p : out.pixels) p = clamp_byte(p + noise(rng));
  return out;
}

Gray low_contrast(const Gray& image, std::uint8_t dark, std::uint8_t light) {
  Gray out = image;
  for (auto& p : out.pixels) p = clamp_byte(dark + (light - dark) * (p / 255.0));
  return out;
}

Gray pad(const Gray& image, int pixels, std::uint8_t fill) {
  const int w = image.width + 2 * pixels, h = image.height + 2 * pixels;
  Gray out{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h, fill)};
  for (int y = 0; y < image.height; ++y)
    std::memcpy(&out.at(pixels, y + pixels), &image.pixels[static_cast<std::size_t>(y) * image.width],
                static_cast<std::size_t>(image.width));
  return out;
}

Gray compose(int width, int height, const std::vector<Placement>& parts, std::uint8_t background) {
  Gray out{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height, background)};
  for (const Placement& part : parts) {
    if (!part.image) throw std::invalid_argument("compose: placement without an image");
    if (part.x < 0 || part.y < 0 || part.x + part.image->width > width || part.y + part.image->height > height)
      throw std::invalid_argument("compose: a part does not fit on the canvas");
    for (int y = 0; y < part.image->height; ++y)
      std::memcpy(&out.at(part.x, part.y + y), &part.image->pixels[static_cast<std::size_t>(y) * part.image->width],
                  static_cast<std::size_t>(part.image->width));
  }
  return out;
}

std::vector<std::uint8_t> to_png(const Gray& image) {
  std::vector<std::uint8_t> out;
  if (!stbi_write_png_to_func(append_bytes, &out, image.width, image.height, 1, image.pixels.data(), image.width))
    throw std::runtime_error("stb_image_write: PNG encoding failed");
  return out;
}

std::vector<std::uint8_t> to_jpeg(const Gray& image, int quality) {
  std::vector<std::uint8_t> out;
  if (!stbi_write_jpg_to_func(append_bytes, &out, image.width, image.height, 1, image.pixels.data(), quality))
    throw std::runtime_error("stb_image_write: JPEG encoding failed");
  return out;
}

void write_file(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

ScratchDir::ScratchDir(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = std::filesystem::temp_directory_path() /
                     (std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                      std::to_string(rd() % 100000));
    if (std::filesystem::create_directory(candidate)) {
      path_ = std::move(candidate);
      return;
    }
  }
  throw std::runtime_error("cannot create a scratch directory under " + std::filesystem::temp_directory_path().string());
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace vpoint::test
