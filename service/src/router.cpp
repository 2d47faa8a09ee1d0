#include "vpoint/service/router.hpp"

namespace vpoint::service {

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

bool decode_segment(std::string_view segment, std::string& out) {
  out.clear();
  out.reserve(segment.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < segment.size(); ++i) {
    char c = segment[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= segment.size()) return false;
    int hi = hex(segment[i + 1]);
    int lo = hex(segment[i + 2]);
    if (hi < 0 || lo < 0) return false;
    char decoded = static_cast<char>(hi * 16 + lo);
    // Decoded after the path was split, so an encoded '/' stays inside its segment (a GS1 serial may hold
    // '/', issue 12); NUL has no business in a path.
    if (decoded == '\0') return false;
    out.push_back(decoded);
    i += 2;
  }
  return true;
}

}  // namespace vpoint::service
