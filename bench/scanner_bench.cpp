// scripts/bench scanner: parse throughput vs a bare GS split, decode overhead vs ZXing's
// ReadBarcodes with the same hints, decode time vs dmtxread (libdmtx). Every baseline is measured
// in this run on the same inputs; images come from the test generator (no files needed).
// Bounded: each measurement stops after its time budget; the whole run takes well under 2 minutes.
#define ZX_USE_UTF8 1
#include <ZXing/DecodeHints.h>
#include <ZXing/ImageView.h>
#include <ZXing/ReadBarcode.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "result_line.hpp"
#include "barcode_images.hpp"
#include "vpoint/scanner/decode.hpp"
#include "vpoint/scanner/parse.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
namespace img = vpoint::test;
namespace sc = vpoint::scanner;

// Runs `body` (one unit of work) repeatedly for about `budget`, returns ns per unit (best of 5 slices).
double ns_per_op(const std::function<void()>& body, std::chrono::milliseconds budget) {
  double best = 1e300;
  for (int slice = 0; slice < 5; ++slice) {
    const auto start = Clock::now();
    const auto end = start + budget / 5;
    long n = 0;
    do {
      body();
      ++n;
    } while (Clock::now() < end);
    best = std::min(best, std::chrono::duration<double, std::nano>(Clock::now() - start).count() / n);
  }
  return best;
}

// Typical FMD scans, as scanners deliver them.
const std::vector<std::string> kScans = {
    "0109506000134352217XK2Q9P4M1\x1d" "10LOT-A1\x1d" "17261231",             // GS1 with GS
    "]d20104150123456782" "21SN2\x1d" "10B2\x1d" "17270600\r\n",              // AIM prefix, CR/LF
    "(01)09506000134352(21)7XK2Q9P4M1(10)LOT-A1(17)261231",                // human-readable
    "[)>\x1e" "06\x1d" "9N110375286414\x1d" "1TLOT-A1\x1d" "D261231\x1d" "S7XK2Q9P4M1\x1e\x04",  // PPN
    "https://id.pharma.example/01/09506000134352/10/LOT-A1/21/7XK2Q9P4M1?17=261231",  // Digital Link
    "010950600013435217261231" "10LOT-B7\x1d" "21ZZ81HD73" "\x1d" "710123456789",     // NHRN, other order
};

// Baseline: what any reader must at least do, split on GS.
std::size_t split_on_gs(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == '\x1d') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out.size();
}

// Runs argv with stdout/stderr to /dev/null; returns the exit status.
int run_quiet(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Counts the symbols a process reports: one output line per symbol for dmtxread -n, one JSON line
// per file for vpoint (count "format" keys).
int count_reads(const std::string& command, std::string_view needle) {
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return -1;
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  int count = 0;
  for (std::size_t pos = 0; (pos = out.find(needle, pos)) != std::string::npos; pos += needle.size()) ++count;
  return count;
}

using vpoint::bench::ResultLine;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

int main() {
  using namespace std::chrono_literals;
  ResultLine result;

  // 1. Parse throughput.
  {
    for (const auto& s : kScans) {
      auto r = sc::parse(s);
      if (!r) std::printf("note: sample scan did not parse: %s\n", r.error().message.c_str());
    }
    std::vector<std::string_view> fields;
    std::size_t sink = 0;
    // Rounds interleaved so that load on the shared machine hits both sides alike; best slice per side.
    double split_ns = 1e300, parse_ns = 1e300;
    for (int round = 0; round < 3; ++round) {
      split_ns = std::min(split_ns, ns_per_op([&] { for (const auto& s : kScans) sink += split_on_gs(s, fields); }, 500ms) /
                                        kScans.size());
      parse_ns = std::min(parse_ns, ns_per_op([&] { for (const auto& s : kScans) sink += sc::parse(s).has_value(); }, 1000ms) /
                                        kScans.size());
    }
    const double ratio = split_ns / parse_ns;
    std::printf("parse: %.0f ns/scan (%.0f scans/s), bare GS split %.0f ns/scan\n", parse_ns, 1e9 / parse_ns, split_ns);
    std::printf("parse_ratio = split_time / parse_time = %.3f (goal >= 0.5: %s)%s\n", ratio, ratio >= 0.5 ? "met" : "NOT met",
                sink == 42 ? " " : "");
    result.add("parse_ns", parse_ns, 0);
    result.add("split_ns", split_ns, 0);
    result.add("parse_ratio", ratio, 3);
    result.add("parse_goal_met", static_cast<bool>(ratio >= 0.5));
  }

  // The image set: pack Data Matrix (square, DMRE), rotated, degraded, and a camera picture.
  const std::string pack = "[01]09506000134352[21]7XK2Q9P4M1[10]LOT-A1[17]261231";
  std::vector<img::Gray> images;
  std::vector<bool> dmtx_comparable;  // square ECC 200 (libdmtx in Debian 12 predates DMRE)
  for (int angle : {0, 17, 45, 90, 160, 270}) {
    images.push_back(img::rotate(img::render(img::Symbology::gs1_datamatrix, pack, {.module_px = 5}), angle));
    dmtx_comparable.push_back(true);
  }
  images.push_back(img::add_noise(img::blur(img::render(img::Symbology::gs1_datamatrix, pack, {.module_px = 6}), 1.0), 12));
  dmtx_comparable.push_back(true);
  images.push_back(img::low_contrast(img::render(img::Symbology::gs1_datamatrix, pack, {.module_px = 4}), 60, 160));
  dmtx_comparable.push_back(true);
  images.push_back(img::render(img::Symbology::gs1_dmre, pack, {.module_px = 5}));
  dmtx_comparable.push_back(false);
  {
    const auto dm = img::render(img::Symbology::gs1_datamatrix, pack, {.module_px = 6});
    images.push_back(img::add_noise(img::compose(1280, 960, {{&dm, 560, 400}}, 210), 6));
    dmtx_comparable.push_back(true);
  }
  std::vector<sc::GrayImage> pixels;
  for (const auto& g : images) pixels.push_back({g.width, g.height, g.pixels});

  // 2. Our decode_pixels vs ReadBarcodes directly with the same hints on the same pixels.
  {
    sc::DecodeOptions thin;  // exactly one ReadBarcodes call: the wrapper's own cost
    thin.sweep = false;
    const sc::DecodeOptions defaults;
    const ZXing::DecodeHints hints = sc::to_decode_hints(thin);
    int reads_zxing = 0, reads_ours = 0, reads_sweep = 0;
    for (const auto& p : pixels) {
      reads_zxing += static_cast<int>(
          ZXing::ReadBarcodes(ZXing::ImageView(p.pixels.data(), p.width, p.height, ZXing::ImageFormat::Lum), hints).size());
      reads_ours += static_cast<int>(sc::decode_pixels(p, thin)->size());
      reads_sweep += static_cast<int>(sc::decode_pixels(p, defaults)->size());
    }
    std::size_t sink = 0;
    auto zxing_all = [&] {
      for (const auto& p : pixels)
        sink += ZXing::ReadBarcodes(ZXing::ImageView(p.pixels.data(), p.width, p.height, ZXing::ImageFormat::Lum), hints).size();
    };
    auto ours_all = [&] { for (const auto& p : pixels) sink += sc::decode_pixels(p, thin)->size(); };
    auto sweep_all = [&] { for (const auto& p : pixels) sink += sc::decode_pixels(p, defaults)->size(); };
    // Interleave rounds so that machine noise hits both sides alike; best slice per side.
    double zx = 1e300, ours = 1e300;
    for (int round = 0; round < 4; ++round) {
      zx = std::min(zx, ns_per_op(zxing_all, 2000ms));
      ours = std::min(ours, ns_per_op(ours_all, 2000ms));
    }
    const double sweep = ns_per_op(sweep_all, 3000ms);
    const double n = static_cast<double>(pixels.size());
    const double overhead = (ours / zx - 1) * 100;
    std::printf("decode: ZXing ReadBarcodes %.2f ms/image, vpoint decode_pixels (sweep off) %.2f ms/image\n", zx / n / 1e6,
                ours / n / 1e6);
    std::printf("decode_overhead = %+.1f %% (goal <= 5 %%: %s); reads: ZXing %d, ours %d of %zu images (%s)\n", overhead,
                overhead <= 5 ? "met" : "NOT met", reads_zxing, reads_ours, pixels.size(),
                reads_zxing == reads_ours ? "same" : "DIFFERENT");
    std::printf("default decode (Data Matrix sweep on) %.2f ms/image = %.2fx ReadBarcodes, reads %d\n", sweep / n / 1e6,
                sweep / zx, reads_sweep);
    result.add("decode_images", static_cast<double>(pixels.size()), 0);
    result.add("zxing_ms_per_image", zx / n / 1e6, 2);
    result.add("decode_ms_per_image", ours / n / 1e6, 2);
    result.add("decode_overhead_pct", overhead, 1);
    result.add("decode_goal_met", static_cast<bool>(overhead <= 5 && reads_zxing == reads_ours));
    result.add("reads_zxing", static_cast<double>(reads_zxing), 0);
    result.add("reads_decode", static_cast<double>(reads_ours), 0);
    result.add("sweep_ms_per_image", sweep / n / 1e6, 2);
    result.add("reads_sweep", static_cast<double>(reads_sweep), 0);
    if (sink == 42) std::printf(" \n");
  }

  // 3. vs dmtxread on the same Data Matrix images written as PNG.
  {
    img::ScratchDir dir("vpoint-bench");
    std::vector<std::string> files;
    for (std::size_t i = 0; i < images.size(); ++i) {
      if (!dmtx_comparable[i]) continue;
      files.push_back((dir.path() / ("dm" + std::to_string(i) + ".png")).string());
      img::write_file(files.back(), img::to_png(images[i]));
    }
    const std::string dmtxread = "/usr/bin/dmtxread";
#ifdef VPOINT_CLI
    const std::string vpoint = VPOINT_CLI;
#else
    const std::string vpoint;
#endif
    if (access(dmtxread.c_str(), X_OK) != 0 || vpoint.empty() || access(vpoint.c_str(), X_OK) != 0) {
      std::printf("dmtxread comparison skipped (dmtxread or the vpoint CLI missing)\n");
    } else {
      std::string all;
      for (const auto& f : files) all += " " + f;
      const int reads_dmtx = count_reads(dmtxread + " -n -N1" + all, "\n");
      const int reads_cli = count_reads(vpoint + " decode" + all, "\"format\"");
      // dmtxread -N1 stops after the first symbol (every image holds one); vpoint always looks for
      // all symbols, so the comparison favours dmtxread.
      // Per file, one process each (how a shell script would call either tool): process start included.
      auto per_file = [&](const std::string& exe, const std::vector<std::string>& pre, std::chrono::milliseconds budget) {
        const auto start = Clock::now();
        int runs = 0;
        while (Clock::now() - start < budget || runs == 0)
          for (const auto& f : files) {
            std::vector<std::string> argv{exe};
            argv.insert(argv.end(), pre.begin(), pre.end());
            argv.push_back(f);
            run_quiet(argv);
            ++runs;
          }
        return ms_since(start) / runs;
      };
      // One process for all files: start-up amortised, mostly decode time.
      auto batch = [&](const std::string& exe, const std::vector<std::string>& pre, std::chrono::milliseconds budget) {
        std::vector<std::string> argv{exe};
        argv.insert(argv.end(), pre.begin(), pre.end());
        argv.insert(argv.end(), files.begin(), files.end());
        const auto start = Clock::now();
        int runs = 0;
        while (Clock::now() - start < budget || runs == 0) {
          run_quiet(argv);
          ++runs;
        }
        return ms_since(start) / (runs * static_cast<double>(files.size()));
      };
      const double dmtx_file = per_file(dmtxread, {"-n", "-N1"}, 3000ms);
      const double cli_file = per_file(vpoint, {"decode"}, 3000ms);
      const double dmtx_batch = batch(dmtxread, {"-n", "-N1"}, 3000ms);
      const double cli_batch = batch(vpoint, {"decode"}, 3000ms);
      std::printf("vs dmtxread on %zu square Data Matrix PNGs: reads dmtxread %d, vpoint %d\n", files.size(), reads_dmtx,
                  reads_cli);
      std::printf("  one process per file: dmtxread %.1f ms, vpoint decode %.1f ms -> dmtxread/vpoint = %.2f\n", dmtx_file,
                  cli_file, dmtx_file / cli_file);
      std::printf("  one process, all files: dmtxread %.1f ms/image, vpoint decode %.1f ms/image -> dmtxread/vpoint = %.2f\n",
                  dmtx_batch, cli_batch, dmtx_batch / cli_batch);
      result.add("dmtx_images", static_cast<double>(files.size()), 0);
      result.add("reads_dmtxread", static_cast<double>(reads_dmtx), 0);
      result.add("reads_vpoint_cli", static_cast<double>(reads_cli), 0);
      result.add("dmtxread_ms_per_file", dmtx_file, 1);
      result.add("vpoint_cli_ms_per_file", cli_file, 1);
      result.add("dmtxread_vs_vpoint_per_file", dmtx_file / cli_file, 2);
      result.add("dmtxread_ms_per_image_batch", dmtx_batch, 1);
      result.add("vpoint_cli_ms_per_image_batch", cli_batch, 1);
      result.add("dmtxread_vs_vpoint_batch", dmtx_batch / cli_batch, 2);
    }
  }

  std::printf("RESULT %s\n", result.str().c_str());
  return 0;
}
