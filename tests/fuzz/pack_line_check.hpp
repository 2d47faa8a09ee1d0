#pragma once
// The oracle of fuzz_pack_line, shared with its replay test (tests/cache/fuzz_replay_test.cpp): the snapshot's
// hand-written pack-line fast path (cache/src/pack_line.hpp) must agree with the boost::json DOM path on every
// line it accepts (same fields, same presence), and accept only JSON objects of type "pack". Lines it refuses
// take the DOM path in the importer, so there is nothing to compare for them.
#include <string_view>

#include <boost/json/parse.hpp>

#include "pack_line.hpp"

namespace vpoint::fuzz {

inline bool pack_line_paths_agree(std::string_view line) {
  using vpoint::cache::detail::PackFields;
  PackFields fast;
  if (!vpoint::cache::detail::scan_pack_line(line, fast)) return true;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  if (ec || !v.is_object()) return false;
  const auto& o = v.as_object();
  const auto* type = o.if_contains("type");
  if (type == nullptr || !type->is_string() || type->as_string() != "pack") return false;
  const PackFields dom = vpoint::cache::detail::pack_fields(o);
  auto same = [](std::string_view a, std::string_view b) {
    return a == b && (a.data() == nullptr) == (b.data() == nullptr);
  };
  return same(fast.gtin, dom.gtin) && same(fast.ppn, dom.ppn) && same(fast.serial, dom.serial) &&
         same(fast.batch, dom.batch) && same(fast.status, dom.status) && fast.has_gtin == dom.has_gtin &&
         fast.has_ppn == dom.has_ppn && fast.has_status == dom.has_status && fast.status_json == dom.status_json;
}

}  // namespace vpoint::fuzz
