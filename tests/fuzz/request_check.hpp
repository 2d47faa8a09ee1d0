#pragma once
// The oracle of fuzz_request, shared with its replay test (tests/service/fuzz_replay_test.cpp): any request body
// sent to POST /v1/verify, /v1/decommission, /v1/undo or /v1/bulk is either read into a pack input that keeps the
// scanner's rules, or refused with a 400 problem whose detail names its field; never a crash, an exception or a
// pack with an empty or over-long serial.
#include <algorithm>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "pack_input.hpp"
#include "vpoint/scanner/gs1.hpp"

namespace vpoint::fuzz {

namespace request_detail {

using service::Problem;
using service::ProblemCode;
using service::pack_detail::InputError;
using service::pack_detail::Scanned;

// A refusal a client can act on: 400 with a detail, and when it names a field the detail says which.
inline bool explains(const Problem& p) {
  if (p.code != ProblemCode::bad_request || p.detail.empty()) return false;
  const boost::json::value* field = p.extra.if_contains("field");
  if (!field) return true;
  if (!field->is_string()) return false;
  return p.detail.find(std::string_view(field->get_string())) != std::string::npos;
}

inline bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A pack input: a pack the scanner's rules accepted, or a refusal (400 problem or 422 scanner error).
inline bool pack_input_holds(const Result<Scanned, InputError>& input) {
  if (!input) {
    const InputError& e = input.error();
    if (e.problem.has_value() == e.parse.has_value()) return false;
    return e.problem ? explains(*e.problem) : !e.parse->message.empty();
  }
  if (input->ambiguous) return !input->ambiguous->candidates.empty();
  const scanner::PackId& p = input->pack;
  if (p.serial.empty() || p.serial.size() > 20 || !printable(p.serial)) return false;
  if (p.gtin.empty() && p.ppn.empty()) return false;
  if (!p.gtin.empty() && (p.gtin.size() != 14 || !scanner::gs1::gtin14(p.gtin) || *scanner::gs1::gtin14(p.gtin) != p.gtin))
    return false;
  return true;
}

}  // namespace request_detail

inline bool request_body_holds(std::string_view body) {
  using namespace request_detail;
  namespace pd = service::pack_detail;
  service::Request request{boost::beast::http::verb::post, "/v1/verify", 11};
  request.set(boost::beast::http::field::content_type, "application/json");
  request.body() = std::string(body);
  request.prepare_payload();

  for (bool change : {false, true}) {
    auto single = pd::read_single_body(request, change);
    if (!single) {
      if (!explains(single.error())) return false;
      continue;
    }
    if (change != single->action.has_value()) return false;
    if (!pack_input_holds(pd::read_pack_input(single->object, ""))) return false;
  }

  auto bulk = pd::read_bulk_body(request);
  if (!bulk) return explains(bulk.error());
  const boost::json::array* items = bulk->items();
  const boost::json::value* sscc = bulk->object.if_contains("sscc");
  if ((items == nullptr) != (sscc && sscc->is_string())) return false;  // exactly one of items and sscc
  if ((bulk->operation != cache::Operation::verify) != bulk->action.has_value()) return false;
  if (!items) return true;
  auto read = pd::read_bulk_items(*items, 100);
  if (!read) return explains(read.error());
  if (read->items.size() != items->size() || read->scan_texts.size() != items->size() || items->size() > 100)
    return false;
  return std::all_of(read->items.begin(), read->items.end(), pack_input_holds);
}

}  // namespace vpoint::fuzz
