// libFuzzer target for the scanner text parsers: any bytes -> parse() -> JSON. Must never crash,
// hang or read out of bounds; the result is a value or an error with a message.
#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "vpoint/scanner/json.hpp"
#include "vpoint/scanner/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view scan(reinterpret_cast<const char*>(data), size);
  vpoint::scanner::ParseOptions options;
  options.reference_year = 2025;
  if (size > 0 && data[0] == '#') options.extra_gs_standins = {"##", "#"};  // exercise the extra list
  const auto result = vpoint::scanner::parse(scan, options);
  if (!result && result.error().message.empty()) std::abort();  // every error explains itself
  if (result && result->kind == vpoint::scanner::Kind::pack && result->pack.product_code().empty()) std::abort();
  const auto json = boost::json::serialize(vpoint::scanner::to_json(result));
  if (json.empty()) std::abort();
  return 0;
}
