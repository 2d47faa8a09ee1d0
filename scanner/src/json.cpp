#include "vpoint/scanner/json.hpp"

#include <boost/json/array.hpp>

#include "vpoint/scanner/gs1.hpp"

namespace vpoint::scanner {
namespace {

boost::json::value string_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return boost::json::value(s);
}

}  // namespace

boost::json::object to_json(const PackId& pack, int reference_year) {
  boost::json::object o;
  o["scheme"] = pack.scheme == Scheme::gs1 ? "gs1" : "ppn";
  o["gtin"] = string_or_null(pack.gtin);
  o["ppn"] = string_or_null(pack.ppn);
  o["serial"] = pack.serial;
  o["batch"] = pack.batch;
  o["expiry"] = pack.expiry;
  if (auto d = gs1::expiry_date(pack.expiry, reference_year)) {
    o["expiry_date"] = gs1::iso_date(*d);
  } else {
    o["expiry_date"] = nullptr;
  }
  if (pack.nhrn) {
    o["nhrn"] = boost::json::object{{"ai", pack.nhrn->ai}, {"value", pack.nhrn->value}};
  } else {
    o["nhrn"] = nullptr;
  }
  return o;
}

boost::json::object to_json(const ParseResult& result, int reference_year) {
  boost::json::object o;
  o["ok"] = true;
  o["kind"] = result.kind == Kind::pack ? "pack" : "sscc";
  if (result.kind == Kind::pack) {
    for (auto& kv : to_json(result.pack, reference_year)) o[kv.key()] = kv.value();
    o["sscc"] = nullptr;
  } else {
    o["scheme"] = "gs1";
    for (const char* k : {"gtin", "ppn", "serial", "batch", "expiry", "expiry_date", "nhrn"}) o[k] = nullptr;
    o["sscc"] = result.sscc;
  }
  o["element_string"] = result.element_string;
  boost::json::array warnings;
  for (const auto& w : result.warnings) warnings.emplace_back(w);
  o["warnings"] = std::move(warnings);
  return o;
}

boost::json::object error_object(const ParseError& error, int reference_year) {
  boost::json::object e;
  e["code"] = to_string(error.code);
  e["field"] = error.field;
  e["offset"] = error.offset;
  e["message"] = error.message;
  boost::json::array candidates;
  for (const auto& c : error.candidates) candidates.emplace_back(to_json(c, reference_year));
  e["candidates"] = std::move(candidates);
  return e;
}

boost::json::object to_json(const ParseError& error, int reference_year) {
  boost::json::object o;
  o["ok"] = false;
  o["error"] = error_object(error, reference_year);
  return o;
}

boost::json::object to_json(const Result<ParseResult, ParseError>& result, int reference_year) {
  return result ? to_json(*result, reference_year) : to_json(result.error(), reference_year);
}

}  // namespace vpoint::scanner
