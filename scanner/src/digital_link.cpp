#include "vpoint/scanner/digital_link.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>
#include <vector>

#include "vpoint/scanner/gs1.hpp"

namespace vpoint::scanner::digital_link {
namespace {

ParseError error(ErrorCode code, std::string_view field, std::size_t offset, std::string message) {
  return ParseError{code, std::string(field), offset, std::move(message), {}};
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// GS1 Digital Link short names (URI Syntax 1.2, table of primary key / qualifier / data attribute
// short names) -> AI.
std::string_view ai_of_key(std::string_view key) {
  if (key == "gtin") return "01";
  if (key == "cpv") return "22";
  if (key == "lot") return "10";
  if (key == "ser") return "21";
  if (key == "exp") return "17";
  if (key == "sscc") return "00";
  return key;
}

constexpr bool unreserved_rule(char c) {  // RFC 3986 unreserved: ALPHA DIGIT - . _ ~
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
struct ByteSet {
  bool set[256];
};
constexpr ByteSet kUnreserved = [] {
  ByteSet b{};
  for (int i = 0; i < 256; ++i) b.set[i] = unreserved_rule(static_cast<char>(i));
  return b;
}();
bool is_unreserved(char c) { return kUnreserved.set[static_cast<unsigned char>(c)]; }

// The plain reading of the common shape of a Digital Link: http(s)://host/.../01/<gtin>/10/<lot>
// /21/<serial>?17=<date>, every byte unreserved or a delimiter, so that no percent-decoding is
// needed and the URI is valid RFC 3986 by construction. It accepts only what the detailed reading
// below (Boost.URL) accepts, with the same result; anything else (ports, userinfo, '%', '+', empty
// or dot segments, a fragment, a short GTIN, any error) is left to the detailed reading.
bool read_plain(std::string_view uri, int reference_year, ParseResult& out) {
  const std::size_t n = uri.size();
  std::size_t pos = (uri[4] == ':') ? 7 : 8;  // after "http://" or "https://" (looks_like_uri)
  const std::size_t host = pos;
  while (pos < n && (is_unreserved(uri[pos]) && uri[pos] != '_' && uri[pos] != '~')) ++pos;
  if (pos == host || pos == n || uri[pos] != '/') return false;
  // Path segments: [start of each, end of each), at most a handful in a pack's Digital Link.
  constexpr int kMaxSegments = 16;
  std::size_t seg_begin[kMaxSegments];
  std::size_t seg_end[kMaxSegments];
  int segments = 0;
  while (pos < n && uri[pos] == '/') {
    const std::size_t b = ++pos;
    while (pos < n && is_unreserved(uri[pos])) ++pos;
    const std::string_view seg = uri.substr(b, pos - b);
    if (seg.empty() || seg == "." || seg == ".." || segments == kMaxSegments) return false;
    seg_begin[segments] = b;
    seg_end[segments] = pos;
    ++segments;
  }
  std::size_t query = n;
  if (pos < n) {
    if (uri[pos] != '?') return false;
    query = ++pos;
    for (; pos < n; ++pos) {
      const char c = uri[pos];
      if (!is_unreserved(c) && c != '&' && c != '=') return false;
    }
  }
  auto segment = [&](int i) { return uri.substr(seg_begin[i], seg_end[i] - seg_begin[i]); };
  int start = 0;
  while (start < segments) {
    const std::string_view s = segment(start);
    if (s == "01" || s == "gtin" || s == "00" || s == "sscc") break;
    ++start;
  }
  if (start == segments || (segments - start) % 2 != 0) return false;
  gs1::PlainReading reading;
  auto add = [&](std::string_view key, std::string_view value) {
    const gs1::AiSpec* spec = gs1::ai_spec(ai_of_key(key));
    if (spec == nullptr || (spec->ai == "01" && value.size() != 14)) return false;
    return gs1::value_ok(*spec, value, reference_year) && reading.add(spec, value);
  };
  for (int i = start; i + 1 < segments; i += 2) {
    if (!add(segment(i), segment(i + 1))) return false;
  }
  for (std::size_t p = query; p < n;) {
    std::size_t amp = uri.find('&', p);
    if (amp == std::string_view::npos) amp = n;
    const std::string_view param = uri.substr(p, amp - p);
    const std::size_t eq = param.find('=');
    const std::string_view key = param.substr(0, eq);
    const std::string_view ai = ai_of_key(key);
    // Non-AI query parameters (linkType, context, ...) are for the resolver, not identification.
    const bool is_ai = !ai.empty() && std::all_of(ai.begin(), ai.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (is_ai && !add(key, eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1))) return false;
    p = amp + 1;
  }
  return reading.finish(out);
}

}  // namespace

bool looks_like_uri(std::string_view text) {
  return iequals_prefix(text, "http://") || iequals_prefix(text, "https://");
}

namespace {
Result<ParseResult, ParseError> parse_in_detail(std::string_view uri, const ParseOptions& options);
}  // namespace

Result<ParseResult, ParseError> parse(std::string_view uri, const ParseOptions& options) {
  Result<ParseResult, ParseError> result;  // a default ParseResult, built in place
  if (looks_like_uri(uri) && read_plain(uri, options.reference_year, *result)) return result;
  result = parse_in_detail(uri, options);
  return result;
}

namespace {

// Boost.URL's reading, with an error naming what is wrong: runs when the plain reading refused.
Result<ParseResult, ParseError> parse_in_detail(std::string_view uri, const ParseOptions& options) {
  auto parsed = boost::urls::parse_uri(boost::core::string_view(uri.data(), uri.size()));
  if (!parsed) {
    return Unexpected{error(ErrorCode::invalid_digital_link, "uri", 0,
                            "The GS1 Digital Link is not a valid URI (RFC 3986): " + parsed.error().message() + ".")};
  }
  const boost::urls::url_view u = *parsed;
  auto offset_of = [&](boost::core::string_view part) {
    return static_cast<std::size_t>(part.data() - uri.data());
  };

  struct Segment {
    std::string text;
    std::size_t offset;
  };
  std::vector<Segment> segments;
  for (auto seg : u.encoded_segments()) segments.push_back({seg.decode(), offset_of(seg)});
  while (!segments.empty() && segments.back().text.empty()) segments.pop_back();  // trailing '/'

  // The primary key may follow any path prefix ("/product/01/...").
  std::size_t start = segments.size();
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& s = segments[i].text;
    if (s == "01" || s == "gtin" || s == "00" || s == "sscc") {
      start = i;
      break;
    }
  }
  if (start == segments.size()) {
    return Unexpected{error(ErrorCode::invalid_digital_link, "uri", offset_of(u.encoded_path()),
                            "The GS1 Digital Link path has no primary key /01/<gtin> (or /00/<sscc>).")};
  }
  if ((segments.size() - start) % 2 != 0) {
    return Unexpected{error(ErrorCode::invalid_digital_link, "uri", segments.back().offset,
                            "The GS1 Digital Link path must be /<AI>/<value> pairs; \"" + segments.back().text +
                                "\" has no value.")};
  }

  std::vector<gs1::Element> elements;
  auto add = [&](std::string_view key, std::string value, std::size_t key_offset,
                 std::size_t value_offset) -> std::optional<ParseError> {
    const gs1::AiSpec* spec = gs1::ai_spec(ai_of_key(key));
    if (spec == nullptr) {
      return error(ErrorCode::unknown_ai, "ai", key_offset,
                   "The GS1 Digital Link key \"" + std::string(key) + "\" is not a GS1 application identifier we know.");
    }
    if (spec->ai == "01" && value.size() != 14) {
      // Digital Link allows GTIN-8/12/13 in the path; we key on GTIN-14.
      if (auto g = gs1::gtin14(value)) value = *g;
    }
    if (auto err = gs1::validate(*spec, value, value_offset, options.reference_year)) return err;
    elements.push_back(gs1::Element{spec, std::move(value), key_offset, value_offset});
    return std::nullopt;
  };
  for (std::size_t i = start; i + 1 < segments.size(); i += 2) {
    if (auto err = add(segments[i].text, segments[i + 1].text, segments[i].offset, segments[i + 1].offset)) {
      return Unexpected{*err};
    }
  }
  // An empty query holds only an empty key, which names no AI. Not iterated: Boost.URL 1.81 reads
  // past the end iterating the params of an empty query followed by a fragment ("...?#x").
  if (!u.encoded_query().empty()) {
    for (auto param : u.encoded_params()) {
      const std::string key = param.key.decode();
      const std::string_view ai = ai_of_key(key);
      // Non-AI query parameters (linkType, context, ...) are for the resolver, not identification.
      if (ai.empty() || !std::all_of(ai.begin(), ai.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      const std::size_t key_offset = offset_of(param.key);
      const std::size_t value_offset = param.has_value ? offset_of(param.value) : key_offset + param.key.size();
      if (auto err = add(key, param.has_value ? param.value.decode() : std::string(), key_offset, value_offset)) {
        return Unexpected{*err};
      }
    }
  }
  return gs1::assemble(elements, uri.size(), options.reference_year);
}

}  // namespace

std::string to_uri(const PackId& pack, std::string_view base) {
  auto enc = [](std::string_view v) {
    return boost::urls::encode(boost::core::string_view(v.data(), v.size()), boost::urls::unreserved_chars);
  };
  std::string s(base);
  while (!s.empty() && s.back() == '/') s.pop_back();
  s += "/01/" + pack.gtin + "/10/" + enc(pack.batch) + "/21/" + enc(pack.serial) + "?17=" + pack.expiry;
  if (pack.nhrn) s += "&" + pack.nhrn->ai + "=" + enc(pack.nhrn->value);
  return s;
}

}  // namespace vpoint::scanner::digital_link
