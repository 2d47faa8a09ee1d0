// `vpoint decode FILE...`: every symbol in each image, one JSON line per file (contract: docs/cli.md).
#include <boost/algorithm/hex.hpp>
#include <iterator>
#include <boost/json.hpp>

#include <cctype>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "vpoint/scanner/decode.hpp"
#include "vpoint/scanner/json.hpp"
#include "vpoint/scanner/parse.hpp"

namespace vpoint::cli {

namespace {

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  boost::algorithm::hex_lower(bytes.begin(), bytes.end(), std::back_inserter(out));
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

// A GS1 Digital Link URI: http(s) with a primary-key path segment (GTIN /01/ or /gtin/,
// SSCC /00/ or /sscc/), GS1 Digital Link standard 1.2 section 4. Other URLs are not pack codes.
bool looks_like_digital_link(std::string_view text) {
  if (!starts_with_ci(text, "https://") && !starts_with_ci(text, "http://")) return false;
  const auto path = text.find('/', text.find("//") + 2);
  if (path == std::string_view::npos) return false;
  const std::string_view rest = text.substr(path);
  for (std::string_view key : {"/01/", "/gtin/", "/00/", "/sscc/"})
    if (rest.find(key) != std::string_view::npos) return true;
  return false;
}

// The `vpoint parse` object for a symbol that carries a pack or SSCC, null for anything else.
// Pack-like: GS1 data (FNC1 in first position: AIM ]d2, ]d8 DMRE, ]Q3, ]C1), an ISO/IEC 15434
// envelope (IFA/PPN), or a GS1 Digital Link URI. A plain URL, plain text or a non-GS1 Code 128
// is not: null. The text goes to parse without the AIM prefix (GS1-ness is already established
// and DMRE's ]d8 is not a prefix handheld scanners send).
boost::json::value pack_of(const scanner::Symbol& symbol) {
  if (!symbol.gs1 && !symbol.iso15434 && !looks_like_digital_link(symbol.text)) return nullptr;
  return scanner::to_json(scanner::parse(symbol.text));
}

boost::json::object symbol_json(const scanner::Symbol& symbol) {
  return {
      {"format", symbol.format},
      {"aim", symbol.aim},
      {"text", symbol.text},
      {"bytes_hex", to_hex(symbol.bytes)},
      {"pack", pack_of(symbol)},
  };
}

}  // namespace

void add_decode_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> files;
    scanner::DecodeOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "decode", "Decode every barcode in each PNG/JPEG image; one JSON line per file (docs/cli.md)");
  cmd->add_option("FILE", args->files, "image files (PNG or JPEG)")->required();
  cmd->add_option("--formats", args->options.formats,
                  "symbologies to look for, ZXing names joined by '|' (default DataMatrix|QRCode|Code128)");
  cmd->add_option("--max-pixels", args->options.max_pixels, "refuse images with more pixels (default 100000000)")
      ->check(CLI::PositiveNumber);
  cmd->callback([args] {
    // Options are checked once, before any file: a bad --formats is a usage error (exit 2).
    if (auto bad = scanner::check_options(args->options)) throw CLI::ValidationError("--formats", bad->message);
    bool all_ok = true;
    for (const std::string& file : args->files) {
      boost::json::object line{{"file", file}};
      auto result = scanner::decode_file(file, args->options);
      boost::json::array symbols;
      if (result) {
        for (const auto& symbol : *result) symbols.push_back(symbol_json(symbol));
        if (result->empty()) all_ok = false;  // contract: no symbol in a file is a failure (exit 1)
        line["symbols"] = std::move(symbols);
      } else {
        all_ok = false;
        line["symbols"] = std::move(symbols);
        line["error"] = {{"code", scanner::to_string(result.error().code)}, {"message", result.error().message}};
      }
      std::cout << boost::json::serialize(line) << '\n';
    }
    std::cout.flush();
    exit_code = all_ok ? 0 : 1;
  });
}

}  // namespace vpoint::cli
