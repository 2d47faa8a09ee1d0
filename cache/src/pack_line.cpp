// Pack lines of the snapshot (pack_line.hpp).
#include "pack_line.hpp"

#include <boost/json/serialize.hpp>

#include "mirror_internal.hpp"

namespace vpoint::cache::detail {

// Shared by the feed and the snapshot import (mirror_internal.hpp); here, in a file without coroutines, so that
// the fuzz build (clang 14) can compile it alone.
std::string central_text(const boost::json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end()) return "active";
  if (it->value().is_string()) {
    const auto& s = it->value().get_string();
    return raw_central_text(std::string_view(s.data(), s.size()));
  }
  return raw_central_text(boost::json::serialize(it->value()));
}

const boost::json::string* get_string(const boost::json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_string()) return nullptr;
  return &it->value().get_string();
}

PackFields pack_fields(const boost::json::object& o) {
  PackFields f;
  if (auto s = get_string(o, "gtin")) f.gtin = sv(s), f.has_gtin = true;
  if (auto s = get_string(o, "ppn")) f.ppn = sv(s), f.has_ppn = true;
  f.serial = sv(get_string(o, "serial"));
  f.batch = sv(get_string(o, "batch"));
  if (auto s = get_string(o, "status")) f.status = sv(s), f.has_status = true;
  else if (o.contains("status")) f.status_json = central_text(o, "status"), f.has_status = true;
  return f;
}

bool scan_pack_line(std::string_view line, PackFields& f) {
  const char* p = line.data();
  const char* const end = p + line.size();
  auto skip_ws = [&] {
    while (p != end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) ++p;
  };
  // A string without escapes or bytes outside printable ASCII; p at the opening quote.
  auto plain_string = [&](std::string_view& out) {
    if (p == end || *p != '"') return false;
    const char* start = ++p;
    while (p != end) {
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') break;
      if (c == '\\' || c < 0x20 || c >= 0x7f) return false;
      ++p;
    }
    if (p == end) return false;
    out = std::string_view(start, static_cast<std::size_t>(p - start));
    ++p;
    return true;
  };
  bool has_type = false, has_serial = false, has_batch = false;
  skip_ws();
  if (p == end || *p != '{') return false;
  ++p;
  for (;;) {
    skip_ws();
    std::string_view key, value;
    if (!plain_string(key)) return false;
    skip_ws();
    if (p == end || *p != ':') return false;
    ++p;
    skip_ws();
    if (!plain_string(value)) return false;
    auto take = [&](bool& seen, std::string_view& into) {
      if (seen) return false;
      seen = true;
      into = value;
      return true;
    };
    std::string_view type;
    bool ok = key == "type"     ? take(has_type, type) && type == "pack"
              : key == "gtin"   ? take(f.has_gtin, f.gtin)
              : key == "ppn"    ? take(f.has_ppn, f.ppn)
              : key == "serial" ? take(has_serial, f.serial)
              : key == "batch"  ? take(has_batch, f.batch)
              : key == "status" ? take(f.has_status, f.status)
                                : false;
    if (!ok) return false;
    skip_ws();
    if (p == end) return false;
    if (*p == ',') {
      ++p;
      continue;
    }
    if (*p != '}') return false;
    ++p;
    break;
  }
  skip_ws();
  return p == end && has_type;
}

}  // namespace vpoint::cache::detail
