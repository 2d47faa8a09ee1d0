#pragma once
// Helpers shared by the scanner test vectors: control characters written as visible stand-ins, the
// gs1-syntax-engine style marking of the byte an error points at, and fixed parse options.
#include <cstddef>
#include <string>

#include "vpoint/scanner/parse.hpp"

namespace vpoint::test {

// Vectors write GS as '|' (never legal in GS1 data), RS as '~' and EOT as '^' for readability.
inline std::string ctl(std::string s) {
  for (auto& c : s) {
    if (c == '|') c = '\x1D';
    if (c == '~') c = '\x1E';
    if (c == '^') c = '\x04';
  }
  return s;
}

// gs1-syntax-engine style: the byte at `offset` wrapped in '*' ("*" at the end when past it), with the
// control characters shown as the vectors write them.
inline std::string mark(std::string s, std::size_t offset) {
  for (auto& c : s) {
    if (c == '\x1D') c = '|';
    if (c == '\x1E') c = '~';
    if (c == '\x04') c = '^';
  }
  if (offset >= s.size()) return s + "*";
  return s.substr(0, offset) + "*" + s[offset] + "*" + s.substr(offset + 1);
}

// A fixed reference year: two-digit years in the vectors resolve the same whenever the tests run.
inline scanner::ParseOptions opts() {
  scanner::ParseOptions o;
  o.reference_year = 2025;
  return o;
}

}  // namespace vpoint::test
