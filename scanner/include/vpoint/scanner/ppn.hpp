#pragma once
// IFA / securPharm codes: the Pharmacy Product Number (PPN) and the ISO/IEC 15434 format 06
// envelope with ASC MH10 data identifiers (IFA "PPN-Code Specification for Retail Packaging").
#include <optional>
#include <string>
#include <string_view>

#include "vpoint/scanner/error.hpp"
#include "vpoint/scanner/pack_id.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/scanner/result.hpp"

namespace vpoint::scanner::ppn {

// PZN-8: digits 1..7 weighted 1..7, sum mod 11 = digit 8; remainder 10 makes the PZN invalid.
bool pzn_check_ok(std::string_view pzn8);
// PPN check characters (2 digits) over the PPN's first characters: sum of ASCII code x
// (position + 2), mod 97 (IFA PPN Technical Specification, "Calculation of PPN check digits").
std::string ppn_check_digits(std::string_view body);
// A PPN is PRA code + product number + 2 check digits; for PRA code "11" (Germany) the product
// number is the PZN-8, whose own check digit must hold as well.
bool ppn_check_ok(std::string_view ppn);

// "110375286414" -> "03752864"; nullopt unless a valid PRA-11 PPN.
std::optional<std::string> pzn_from_ppn(std::string_view ppn);
// "03752864" (or a PZN-7 "3752864", which gets a leading 0) -> "110375286414".
std::optional<std::string> ppn_from_pzn(std::string_view pzn);
// German NTIN: GTIN-13 "4150" + PZN-8 + GS1 check digit (IFA/GS1 Germany), returned as the
// GTIN-14 "04150..." we key products on.
std::optional<std::string> ntin_from_pzn(std::string_view pzn);
// GTIN-13 or GTIN-14 NTIN -> PZN-8; nullopt unless it carries the 4150 prefix and valid checks.
std::optional<std::string> pzn_from_ntin(std::string_view gtin);

// IFA batch characters: digits, letters, '-' and '_' (PPN-Code Specification, batch 1T).
bool in_batch_charset(char c);

// "[)>" RS "06" GS DI data GS ... RS EOT. Missing trailer (RS/EOT dropped by wedge scanners) is
// tolerated; bytes after EOT are data_after_end. Format 05 (GS1 AIs inside the envelope) is read
// as a GS1 element string.
Result<ParseResult, ParseError> parse_envelope(std::string_view text, const ParseOptions& options = {});

// The canonical format 06 envelope of a pack: 9N (or 8P), 1T, D, S, with RS/GS/EOT.
std::string format06_envelope(const PackId& pack);

}  // namespace vpoint::scanner::ppn
