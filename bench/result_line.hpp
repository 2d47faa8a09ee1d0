#pragma once
// The last line every benchmark prints: `RESULT <one-line JSON>`, fields in insertion order, numbers printed
// plainly (no exponent notation) so that scripts can compare them as text.
#include <cstdio>
#include <string>

namespace vpoint::bench {

struct ResultLine {
  std::string json;
  void add(const char* key, double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    field(key, buf);
  }
  void add(const char* key, bool v) { field(key, v ? "true" : "false"); }
  void field(const char* key, const std::string& raw) {
    json += json.empty() ? '{' : ',';
    json += '"';
    json += key;
    json += "\":";
    json += raw;
  }
  std::string str() const { return json + "}"; }
};

}  // namespace vpoint::bench
