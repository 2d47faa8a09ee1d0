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


}  // namespace

bool looks_like_uri(std::string_view text) {
  return iequals_prefix(text, "http://") || iequals_prefix(text, "https://");
}

namespace {
Result<ParseResult, ParseError> parse_in_detail(std::string_view uri, const ParseOptions& options);
}  // namespace

// URI syntax is Boost.URL's business (house rule: no hand-written parser for what a chosen library does).
Result<ParseResult, ParseError> parse(std::string_view uri, const ParseOptions& options) {
  return parse_in_detail(uri, options);
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
