#pragma once
// The oracle of fuzz_feed_line, shared with its replay test (tests/cache/fuzz_replay_test.cpp): a change-feed
// line is accepted only when it is a JSON object with a positive integer "seq" and "op" upsert|delete (checked
// here a second way, with boost::json's DOM), reads the same after a round trip through serialize, and each
// Redis-free check lets through only what the mirror can store (codes, batch names and serials of 1-20
// characters, expiry YYMMDD, an 18-digit SSCC with children "code|serial").
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "feed_line.hpp"

namespace vpoint::fuzz {

namespace feed_line_detail {

inline bool digits(std::string_view s) { return s.find_first_not_of("0123456789") == std::string_view::npos; }

// The envelope rule written out again, independently of parse_feed_line.
inline bool envelope_ok(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return false;
  const auto& o = v.get_object();
  const auto* seq = o.if_contains("seq");
  const auto* op = o.if_contains("op");
  return seq && seq->is_int64() && seq->get_int64() >= 1 && op && op->is_string() &&
         (op->get_string() == "upsert" || op->get_string() == "delete");
}

}  // namespace feed_line_detail

inline bool feed_line_holds(std::string_view text) {
  using namespace vpoint::cache::detail;
  using feed_line_detail::digits;
  auto line = parse_feed_line(text);
  if (line.has_value() != feed_line_detail::envelope_ok(text)) return false;
  if (!line) return !line.error().empty();
  const auto& o = line->object;
  if (line->seq < 1 || line->remove != (str(o, "op") == "delete")) return false;
  // The same line after a round trip reads the same.
  auto again = parse_feed_line(boost::json::serialize(o));
  if (!again || again->seq != line->seq || again->remove != line->remove || again->type != line->type) return false;

  if (!product_line_problem(o)) {
    auto gtin = str(o, "gtin"), ppn = str(o, "ppn");
    if ((gtin.empty() && ppn.empty()) || gtin.size() > 20 || ppn.size() > 20) return false;
  }
  if (!batch_line_problem(o)) {
    auto name = str(o, "batch");
    if (name.empty() || name.size() > 20) return false;
    if (has_string(o, "expiry") && (str(o, "expiry").size() != 6 || !digits(str(o, "expiry")))) return false;
  }
  if (!pack_line_problem(o)) {
    auto serial = str(o, "serial");
    if (serial.empty() || serial.size() > 20) return false;
  }
  auto children = aggregation_children(o, line->remove);
  if (children) {
    auto sscc = str(o, "sscc");
    if (sscc.size() != 18 || !digits(sscc)) return false;
    if (line->remove && !children->empty()) return false;
    if (!line->remove) {
      const auto& array = o.at("children").get_array();
      if (children->size() != array.size()) return false;
      for (std::size_t i = 0; i < array.size(); ++i) {
        const auto& c = array[i].as_object();
        auto code = str(c, "gtin").empty() ? str(c, "ppn") : str(c, "gtin");
        auto serial = str(c, "serial");
        if (code.empty() || serial.empty() || (*children)[i] != std::string(code) + "|" + std::string(serial))
          return false;
      }
    }
  } else if (children.error().empty()) {
    return false;
  }
  return true;
}

}  // namespace vpoint::fuzz
