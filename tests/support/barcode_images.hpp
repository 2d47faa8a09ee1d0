#pragma once
// Real barcode images made at test time: libzint encodes (it has the GS1 modes ZXing's writer
// lacks), then camera-like damage is applied in plain C++ (rotation, scale, blur, noise, low
// contrast) and the result is written as PNG or JPEG with stb_image_write.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace vpoint::test {

// 8-bit grayscale, row-major, 0 = black, 255 = white.
struct Gray {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;

  std::uint8_t at(int x, int y) const { return pixels[static_cast<std::size_t>(y) * width + x]; }
  std::uint8_t& at(int x, int y) { return pixels[static_cast<std::size_t>(y) * width + x]; }
};

enum class Symbology {
  gs1_datamatrix,  // Data Matrix ECC 200, FNC1 first (GS1), square sizes only
  gs1_dmre,        // GS1 Data Matrix, rectangular incl. DMRE sizes (ISO/IEC 21471)
  datamatrix,      // plain Data Matrix (no FNC1): e.g. an IFA/PPN ISO/IEC 15434 envelope
  qr,              // QR Code, byte mode (GS1 Digital Link URIs are plain URLs)
  gs1_128,         // GS1-128 (Code 128 with FNC1): SSCC labels on cases
  code128,         // plain Code 128
};

struct RenderOptions {
  int module_px = 4;       // pixels per module (X-dimension); zint renders 2 px per unit of scale
  int quiet_modules = 4;   // white border around the symbol, in modules (GS1 asks >= 1 for DM)
  int linear_height = 30;  // bar height of linear symbols, in modules
  bool check_gs1 = true;   // false: zint skips GS1 validation (to encode deliberately wrong check digits)
  int dmre_size = 31;      // gs1_dmre: smallest zint option_2 tried, 31 = 8x48 .. 39 = 16x64 .. 48 = 26x64
};

// Encodes `data` with zint and rasterises it. GS1 symbologies take zint's bracket syntax:
// "[01]09506000134352[21]ABC[10]L1[17]261231"; zint inserts FNC1 where the spec needs it.
// Throws std::runtime_error with zint's message when zint refuses the data.
Gray render(Symbology symbology, std::string_view data, const RenderOptions& options = {});

// Geometric and photometric variants (all return a new image).
Gray rotate(const Gray& image, double degrees, std::uint8_t fill = 255);  // bilinear; canvas grows to fit
Gray scale(const Gray& image, double factor);                             // bilinear
Gray blur(const Gray& image, double sigma);                               // separable gaussian
Gray add_noise(const Gray& image, double sigma, unsigned seed = 1);       // gaussian, deterministic
Gray low_contrast(const Gray& image, std::uint8_t dark, std::uint8_t light);  // map 0..255 -> dark..light
Gray pad(const Gray& image, int pixels, std::uint8_t fill = 255);              // quiet zone

// Several symbols on one larger "camera" picture.
struct Placement {
  const Gray* image = nullptr;
  int x = 0;
  int y = 0;
};
Gray compose(int width, int height, const std::vector<Placement>& parts, std::uint8_t background = 255);

// Encoded image files (in memory and on disk).
std::vector<std::uint8_t> to_png(const Gray& image);
std::vector<std::uint8_t> to_jpeg(const Gray& image, int quality = 90);
void write_file(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes);

// A fresh empty directory under the system temp dir, removed (with its content) with the object.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view prefix = "vpoint-test");
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace vpoint::test
