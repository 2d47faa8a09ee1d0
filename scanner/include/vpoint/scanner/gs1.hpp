#pragma once
// GS1 element strings: the application identifier (AI) table, field checks (check digits, dates,
// lengths, character set 82), element string <-> AIs, the human-readable form "(01)...(21)...".
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vpoint/scanner/error.hpp"
#include "vpoint/scanner/pack_id.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/scanner/result.hpp"

namespace vpoint::scanner::gs1 {

enum class Charset : std::uint8_t {
  numeric,  // "N" in the GS1 General Specifications
  cset82,   // "X": GS1 AI encodable character set 82 (GenSpecs Figure 7.11-1)
};

enum class Check : std::uint8_t {
  none,
  mod10,  // GS1 check digit, weights 3,1 from the right (GenSpecs 7.9.1)
  date,   // YYMMDD, DD may be 00 = last day of the month (GenSpecs 7.12)
};

// One row of the AI table. Adding an AI is adding one row.
struct AiSpec {
  std::string_view ai;     // "01", "10", "3103", "710"
  std::string_view field;  // our field name in errors and JSON: "gtin", "batch", ...
  std::string_view title;  // GS1 data title
  std::uint8_t min_length;
  std::uint8_t max_length;
  Charset charset;
  Check check;
  // AI starts with one of the GS1 "predefined length" prefixes (GenSpecs Figure 7.8.5-2:
  // 00-04, 11-20, 31-36, 41): never followed by FNC1. Other fixed-length AIs (402, 422, 7003)
  // still need FNC1 in the standard; we accept them with or without it.
  bool predefined_length;

  constexpr bool fixed_length() const { return min_length == max_length; }
};

// GS1 General Specifications, Release 24.0 (January 2024), section 3.2 (AI summary): the AIs a
// verification point meets on medicine packs, cases and logistic labels.
inline constexpr AiSpec kAiTable[] = {
    {"00", "sscc", "SSCC", 18, 18, Charset::numeric, Check::mod10, true},
    {"01", "gtin", "GTIN", 14, 14, Charset::numeric, Check::mod10, true},
    {"02", "content", "CONTENT", 14, 14, Charset::numeric, Check::mod10, true},
    {"10", "batch", "BATCH/LOT", 1, 20, Charset::cset82, Check::none, false},
    {"11", "prod_date", "PROD DATE", 6, 6, Charset::numeric, Check::date, true},
    {"12", "due_date", "DUE DATE", 6, 6, Charset::numeric, Check::date, true},
    {"13", "pack_date", "PACK DATE", 6, 6, Charset::numeric, Check::date, true},
    {"15", "best_before", "BEST BEFORE", 6, 6, Charset::numeric, Check::date, true},
    {"16", "sell_by", "SELL BY", 6, 6, Charset::numeric, Check::date, true},
    {"17", "expiry", "USE BY OR EXPIRY", 6, 6, Charset::numeric, Check::date, true},
    {"20", "variant", "VARIANT", 2, 2, Charset::numeric, Check::none, true},
    {"21", "serial", "SERIAL", 1, 20, Charset::cset82, Check::none, false},
    {"22", "cpv", "CPV", 1, 20, Charset::cset82, Check::none, false},
    {"235", "tpx", "TPX", 1, 28, Charset::cset82, Check::none, false},
    {"240", "additional_id", "ADDITIONAL ID", 1, 30, Charset::cset82, Check::none, false},
    {"241", "customer_part_no", "CUST. PART No.", 1, 30, Charset::cset82, Check::none, false},
    {"242", "mto_variant", "MTO VARIANT", 1, 6, Charset::numeric, Check::none, false},
    {"243", "pcn", "PCN", 1, 20, Charset::cset82, Check::none, false},
    {"250", "secondary_serial", "SECONDARY SERIAL", 1, 30, Charset::cset82, Check::none, false},
    {"251", "ref_to_source", "REF. TO SOURCE", 1, 30, Charset::cset82, Check::none, false},
    {"254", "gln_extension", "GLN EXTENSION COMPONENT", 1, 20, Charset::cset82, Check::none, false},
    {"30", "var_count", "VAR. COUNT", 1, 8, Charset::numeric, Check::none, false},
    {"3100", "net_weight_kg", "NET WEIGHT (kg)", 6, 6, Charset::numeric, Check::none, true},
    {"3101", "net_weight_kg", "NET WEIGHT (kg)", 6, 6, Charset::numeric, Check::none, true},
    {"3102", "net_weight_kg", "NET WEIGHT (kg)", 6, 6, Charset::numeric, Check::none, true},
    {"3103", "net_weight_kg", "NET WEIGHT (kg)", 6, 6, Charset::numeric, Check::none, true},
    {"3300", "gross_weight_kg", "GROSS WEIGHT (kg)", 6, 6, Charset::numeric, Check::none, true},
    {"3301", "gross_weight_kg", "GROSS WEIGHT (kg)", 6, 6, Charset::numeric, Check::none, true},
    {"3302", "gross_weight_kg", "GROSS WEIGHT (kg)", 6, 6, Charset::numeric, Check::none, true},
    {"3303", "gross_weight_kg", "GROSS WEIGHT (kg)", 6, 6, Charset::numeric, Check::none, true},
    {"37", "count", "COUNT", 1, 8, Charset::numeric, Check::none, false},
    {"400", "order_number", "ORDER NUMBER", 1, 30, Charset::cset82, Check::none, false},
    {"401", "ginc", "GINC", 1, 30, Charset::cset82, Check::none, false},
    {"402", "gsin", "GSIN", 17, 17, Charset::numeric, Check::mod10, false},
    {"403", "route", "ROUTE", 1, 30, Charset::cset82, Check::none, false},
    {"410", "ship_to_gln", "SHIP TO LOC", 13, 13, Charset::numeric, Check::mod10, true},
    {"411", "bill_to_gln", "BILL TO", 13, 13, Charset::numeric, Check::mod10, true},
    {"412", "purchase_from_gln", "PURCHASE FROM", 13, 13, Charset::numeric, Check::mod10, true},
    {"413", "ship_for_gln", "SHIP FOR LOC", 13, 13, Charset::numeric, Check::mod10, true},
    {"414", "location_gln", "LOC No.", 13, 13, Charset::numeric, Check::mod10, true},
    {"415", "pay_to_gln", "PAY TO", 13, 13, Charset::numeric, Check::mod10, true},
    {"416", "production_gln", "PROD/SERV LOC", 13, 13, Charset::numeric, Check::mod10, true},
    {"417", "party_gln", "PARTY", 13, 13, Charset::numeric, Check::mod10, true},
    {"420", "ship_to_post", "SHIP TO POST", 1, 20, Charset::cset82, Check::none, false},
    {"422", "origin", "ORIGIN", 3, 3, Charset::numeric, Check::none, false},
    {"7003", "expiry_time", "EXPIRY TIME", 10, 10, Charset::numeric, Check::none, false},
    // National healthcare reimbursement numbers (GenSpecs 3.8.17): DE, FR, ES, BR, PT, US.
    {"710", "nhrn", "NHRN PZN", 1, 20, Charset::cset82, Check::none, false},
    {"711", "nhrn", "NHRN CIP", 1, 20, Charset::cset82, Check::none, false},
    {"712", "nhrn", "NHRN CN", 1, 20, Charset::cset82, Check::none, false},
    {"713", "nhrn", "NHRN DRN", 1, 20, Charset::cset82, Check::none, false},
    {"714", "nhrn", "NHRN AIM", 1, 20, Charset::cset82, Check::none, false},
    {"715", "nhrn", "NHRN NDC", 1, 20, Charset::cset82, Check::none, false},
    {"8004", "giai", "GIAI", 1, 30, Charset::cset82, Check::none, false},
    {"8020", "ref_no", "REF No.", 1, 25, Charset::cset82, Check::none, false},
    {"90", "internal", "INTERNAL", 1, 30, Charset::cset82, Check::none, false},
    {"91", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
    {"92", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
    {"93", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
    {"94", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
    {"95", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
    {"96", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
    {"97", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
    {"98", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
    {"99", "internal", "INTERNAL", 1, 90, Charset::cset82, Check::none, false},
};

// The AI row whose AI is a prefix of `text`, or nullptr. (GS1 AIs are prefix-free.)
const AiSpec* find_ai(std::string_view text);
// The AI row for exactly `ai`, or nullptr.
const AiSpec* ai_spec(std::string_view ai);

// GS1 character set 82 (GenSpecs Figure 7.11-1).
bool in_cset82(char c);

// GS1 mod-10 check digit of `body` (digits without the check digit), as a character.
char check_digit(std::string_view body);
// True when `digits` is all digits and its last digit is the GS1 check digit of the rest.
bool check_digit_ok(std::string_view digits);
// GTIN-8/12/13/14 with a valid check digit -> GTIN-14 (left-padded with zeros), else nullopt.
std::optional<std::string> gtin14(std::string_view gtin);

struct Date {
  int year = 0;
  int month = 0;
  int day = 0;
  bool operator==(const Date&) const = default;
};

// The current calendar year (UTC); what reference_year = 0 means.
int current_year();
// Full year of a two-digit year by the GS1 sliding century window (GenSpecs 7.12): up to 49 years
// back and 50 ahead of reference_year (0 = current year).
int full_year(int yy, int reference_year = 0);
// YYMMDD -> the date it stands for, day 00 resolved to the month's last day (leap years included).
// nullopt when not six digits, month not 01-12 or day past the month's end.
std::optional<Date> expiry_date(std::string_view yymmdd, int reference_year = 0);
int days_in_month(int year, int month);
// "YYYY-MM-DD".
std::string iso_date(const Date& date);

// One AI and its value as found in a scan. Offsets are into the normalised input.
struct Element {
  const AiSpec* spec = nullptr;
  std::string value;
  std::size_t offset = 0;        // where the AI starts
  std::size_t value_offset = 0;  // where the value starts
};

// Checks a value against its AI row: length, character set, check digit, date. `value_offset`
// is used for the error's offset. reference_year matters for 29 February.
std::optional<ParseError> validate(const AiSpec& spec, std::string_view value,
                                   std::size_t value_offset, int reference_year = 0);

// True exactly when validate() finds nothing wrong; builds no message (the hot path).
bool value_ok(const AiSpec& spec, std::string_view value, int reference_year = 0);
// True when `yymmdd` is six digits with month 01-12 and a day within that month (00 = last day).
// Same rule as expiry_date(), but the century (hence the clock) is looked at only for 29 February
// of a year ending in 00.
bool yymmdd_ok(std::string_view yymmdd, int reference_year = 0);

// The plain reading of a scan as AI/value views into the input, in scan order, without building
// any error: add() refuses an AI repeated with a different value, finish() refuses a scan that is
// not a complete pack or SSCC. On a refusal the caller runs the detailed reading, which names the
// error (or repairs a lost GS), so messages are built only when something is wrong.
class PlainReading {
 public:
  bool add(const AiSpec* spec, std::string_view value);
  // Fills `out` like assemble() would for the same elements; false where assemble() would fail.
  bool finish(ParseResult& out) const;

 private:
  static constexpr int kMaxAis = 16;  // more distinct AIs: leave it to the detailed reading
  struct Entry {
    const AiSpec* spec;
    const char* data;
    std::size_t size;
  };
  Entry entries_[kMaxAis];  // first value of each distinct AI, in order of appearance
  int count_ = 0;
};

// Appends the canonical element string of `pack` (see element_string()) to `out`.
void append_element_string(std::string& out, const PackId& pack);

// "GTIN (AI 01)": how messages name a field.
std::string describe(const AiSpec& spec);

// Element list -> pack or SSCC (checks repeats and required fields); scheme gs1.
// `end_offset` is where missing_field errors point (the end of the input).
Result<ParseResult, ParseError> assemble(const std::vector<Element>& elements,
                                         std::size_t end_offset, int reference_year = 0);

// A GS1 element string (FNC1 in first position already removed, GS = 0x1D between fields).
// Recovers one or more lost GS after variable-length fields: see parse.hpp.
Result<ParseResult, ParseError> parse_element_string(std::string_view text,
                                                     const ParseOptions& options = {});
// The human-readable form "(01)09506000134352(21)ABC(10)X1(17)261231".
Result<ParseResult, ParseError> parse_human_readable(std::string_view text,
                                                     const ParseOptions& options = {});

// Canonical element string: 01, 21, 10, 17, then NHRN; GS after each variable-length field
// except the last; no FNC1/AIM prefix. PackIds without GTIN yield an empty string.
std::string element_string(const PackId& pack);
std::string sscc_element_string(std::string_view sscc);
std::string human_readable(const PackId& pack);

}  // namespace vpoint::scanner::gs1
