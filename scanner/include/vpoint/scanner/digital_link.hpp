#pragma once
// GS1 Digital Link URIs (GS1 Digital Link Standard: URI Syntax, release 1.2):
// https://<any host>[/<path prefix>]/01/<gtin>[/22/<cpv>][/10/<lot>][/21/<serial>][?17=<yymmdd>&...]
// Short names gtin, cpv, lot, ser (path) and exp (query) are accepted too; values percent-decoded.
#include <string>
#include <string_view>

#include "vpoint/scanner/error.hpp"
#include "vpoint/scanner/pack_id.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/scanner/result.hpp"

namespace vpoint::scanner::digital_link {

// True when `text` starts with "http://" or "https://" (any case).
bool looks_like_uri(std::string_view text);

Result<ParseResult, ParseError> parse(std::string_view uri, const ParseOptions& options = {});

// The Digital Link URI of a pack on `base` (e.g. "https://id.gs1.org"), values percent-encoded.
std::string to_uri(const PackId& pack, std::string_view base = "https://id.gs1.org");

}  // namespace vpoint::scanner::digital_link
