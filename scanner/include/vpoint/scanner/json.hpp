#pragma once
// JSON of parse results: exactly the `vpoint parse` contract (docs/cli.md). The service reuses it.
#include <boost/json/object.hpp>

#include "vpoint/scanner/error.hpp"
#include "vpoint/scanner/pack_id.hpp"
#include "vpoint/scanner/parse.hpp"

namespace vpoint::scanner {

// {"scheme","gtin","ppn","serial","batch","expiry","expiry_date","nhrn"}; absent codes are null.
// expiry_date resolves day 00 and the century window against reference_year (0 = this year).
boost::json::object to_json(const PackId& pack, int reference_year = 0);
// {"ok":true,"kind",...,"sscc","element_string","warnings"}.
boost::json::object to_json(const ParseResult& result, int reference_year = 0);
// {"ok":false,"error":{"code","field","offset","message","candidates":[PackId...]}}.
boost::json::object to_json(const ParseError& error, int reference_year = 0);
// Just the inner "error" object of the above.
boost::json::object error_object(const ParseError& error, int reference_year = 0);
// Whichever of the two a parse gave.
boost::json::object to_json(const Result<ParseResult, ParseError>& result, int reference_year = 0);

}  // namespace vpoint::scanner
