#include "vpoint/scanner/gs1.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "vpoint/scanner/normalise.hpp"

namespace vpoint::scanner::gs1 {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

ParseError error(ErrorCode code, std::string_view field, std::size_t offset, std::string message) {
  return ParseError{code, std::string(field), offset, std::move(message), {}};
}

std::string quoted_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7F) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", u);
    return std::string("byte ") + buf;
  }
  return std::string("'") + c + "'";
}

}  // namespace

namespace {

// AI lookup without scanning the table: the rows sharing an AI's first two digits, found by
// those digits. GS1 AIs are prefix-free, so at most one row of that group matches.
constexpr std::size_t kAiCount = std::size(kAiTable);
constexpr bool is_digit_c(char c) { return c >= '0' && c <= '9'; }
constexpr int two_digits(std::string_view s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

struct AiIndex {
  std::uint8_t first[100];
  std::uint8_t count[100];
};

constexpr AiIndex build_ai_index() {
  AiIndex x{};
  for (std::size_t i = 0; i < kAiCount; ++i) {
    const int p = two_digits(kAiTable[i].ai);
    if (x.count[p] == 0) x.first[p] = static_cast<std::uint8_t>(i);
    ++x.count[p];
  }
  return x;
}
constexpr AiIndex kAiIndex = build_ai_index();

constexpr bool ai_table_indexable() {
  if (kAiCount > 255) return false;
  for (const auto& row : kAiTable) {
    if (row.ai.size() < 2 || row.ai.size() > 4) return false;
    if (row.check == Check::mod10 && row.charset != Charset::numeric) return false;  // value_ok()
    if (row.check == Check::date && (row.charset != Charset::numeric || !row.fixed_length() || row.max_length != 6)) {
      return false;
    }
    for (char c : row.ai) {
      if (!is_digit_c(c)) return false;
    }
  }
  for (int p = 0; p < 100; ++p) {
    for (int j = kAiIndex.first[p]; j < kAiIndex.first[p] + kAiIndex.count[p]; ++j) {
      if (two_digits(kAiTable[j].ai) != p) return false;
    }
  }
  return true;
}
static_assert(ai_table_indexable(),
              "kAiTable: AIs are 2-4 digits, rows sharing their first two digits are adjacent, check digits and dates numeric");

// Character classes: one table lookup per character on the hot path.
constexpr std::uint8_t kDigitBit = 1;
constexpr std::uint8_t kCset82Bit = 2;

constexpr bool cset82_rule(char c) {
  // GS1 GenSpecs Figure 7.11-1: ! " % & ' ( ) * + , - . / 0-9 : ; < = > ? A-Z _ a-z
  if (c >= '0' && c <= '9') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= 'a' && c <= 'z') return true;
  switch (c) {
    case '!': case '"': case '%': case '&': case '\'': case '(': case ')': case '*': case '+':
    case ',': case '-': case '.': case '/': case ':': case ';': case '<': case '=': case '>':
    case '?': case '_':
      return true;
    default:
      return false;
  }
}

struct CharClasses {
  std::uint8_t bits[256];
};
constexpr CharClasses build_char_classes() {
  CharClasses t{};
  for (int i = 0; i < 256; ++i) {
    const char c = static_cast<char>(i);
    t.bits[i] = static_cast<std::uint8_t>((is_digit_c(c) ? kDigitBit : 0) | (cset82_rule(c) ? kCset82Bit : 0));
  }
  return t;
}
constexpr CharClasses kCharClasses = build_char_classes();

inline std::uint8_t char_class(char c) { return kCharClasses.bits[static_cast<unsigned char>(c)]; }

}  // namespace

const AiSpec* find_ai(std::string_view text) {
  if (text.size() < 2 || !is_digit_c(text[0]) || !is_digit_c(text[1])) return nullptr;
  const int p = two_digits(text);
  for (int j = kAiIndex.first[p], end = j + kAiIndex.count[p]; j < end; ++j) {
    const AiSpec& spec = kAiTable[j];
    const std::size_t len = spec.ai.size();  // 2..4, the first two digits already match
    if (text.size() < len) continue;
    if (len > 2 && text[2] != spec.ai[2]) continue;
    if (len > 3 && text[3] != spec.ai[3]) continue;
    return &spec;
  }
  return nullptr;
}

const AiSpec* ai_spec(std::string_view ai) {
  if (ai.size() < 2 || ai.size() > 4 || !is_digit_c(ai[0]) || !is_digit_c(ai[1])) return nullptr;
  const int p = two_digits(ai);
  for (int j = kAiIndex.first[p], end = j + kAiIndex.count[p]; j < end; ++j) {
    const std::string_view row = kAiTable[j].ai;  // its first two digits already match
    if (row.size() != ai.size()) continue;
    if (ai.size() > 2 && ai[2] != row[2]) continue;
    if (ai.size() > 3 && ai[3] != row[3]) continue;
    return &kAiTable[j];
  }
  return nullptr;
}

bool in_cset82(char c) { return (char_class(c) & kCset82Bit) != 0; }

char check_digit(std::string_view body) {
  int sum = 0;
  int weight = 3;  // the digit next to the check digit has weight 3
  for (auto it = body.rbegin(); it != body.rend(); ++it) {
    sum += (*it - '0') * weight;
    weight = 4 - weight;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

bool check_digit_ok(std::string_view digits) {
  if (digits.size() < 2 || !std::all_of(digits.begin(), digits.end(), is_digit)) return false;
  return check_digit(digits.substr(0, digits.size() - 1)) == digits.back();
}

std::optional<std::string> gtin14(std::string_view gtin) {
  if (gtin.size() != 8 && gtin.size() != 12 && gtin.size() != 13 && gtin.size() != 14) {
    return std::nullopt;
  }
  if (!check_digit_ok(gtin)) return std::nullopt;
  return std::string(14 - gtin.size(), '0') + std::string(gtin);
}

int current_year() {
  using namespace std::chrono;
  const year_month_day ymd{floor<days>(system_clock::now())};
  return static_cast<int>(ymd.year());
}

int full_year(int yy, int reference_year) {
  const int ref = reference_year > 0 ? reference_year : current_year();
  const int century = ref / 100 * 100;
  const int diff = yy - ref % 100;
  // GenSpecs 7.12: difference 51..99 -> previous century, -99..-50 -> next century.
  if (diff >= 51) return century - 100 + yy;
  if (diff <= -50) return century + 100 + yy;
  return century + yy;
}

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 0;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

std::optional<Date> expiry_date(std::string_view yymmdd, int reference_year) {
  if (yymmdd.size() != 6 || !std::all_of(yymmdd.begin(), yymmdd.end(), is_digit)) {
    return std::nullopt;
  }
  auto two = [&](std::size_t i) { return (yymmdd[i] - '0') * 10 + (yymmdd[i + 1] - '0'); };
  Date d{full_year(two(0), reference_year), two(2), two(4)};
  const int last = days_in_month(d.year, d.month);
  if (last == 0 || d.day > last) return std::nullopt;
  if (d.day == 0) d.day = last;  // GenSpecs 7.12: day 00 = last day of the month
  return d;
}

std::string iso_date(const Date& date) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", date.year % 10000, date.month % 100,
                date.day % 100);
  return buf;
}

bool yymmdd_ok(std::string_view v, int reference_year) {
  if (v.size() != 6) return false;
  for (char c : v) {
    if (!is_digit(c)) return false;
  }
  const int yy = (v[0] - '0') * 10 + (v[1] - '0');
  const int month = (v[2] - '0') * 10 + (v[3] - '0');
  const int day = (v[4] - '0') * 10 + (v[5] - '0');
  if (month < 1 || month > 12) return false;
  if (day <= 28) return true;  // 00 = last day, always valid
  if (month != 2) return day <= days_in_month(2000, month);
  if (day > 29) return false;
  // 29 February: a year ending in 01-99 is leap exactly when yy is a multiple of 4 (any century
  // is a multiple of 4); only yy = 00 needs the century, i.e. the window and the clock.
  if (yy % 4 != 0) return false;
  if (yy != 0) return true;
  return days_in_month(full_year(yy, reference_year), 2) == 29;
}

bool value_ok(const AiSpec& spec, std::string_view value, int reference_year) {
  if (value.size() < spec.min_length || value.size() > spec.max_length) return false;
  const std::uint8_t need = spec.charset == Charset::numeric ? kDigitBit : kCset82Bit;
  for (char c : value) {
    if ((char_class(c) & need) == 0) return false;
  }
  if (spec.check == Check::mod10) {
    // Digits only (checked above): GS1 mod-10, weights 3,1,3... from the digit left of the check digit.
    if (value.size() < 2) return false;
    const std::size_t last = value.size() - 1;
    int sum = 0;
    for (std::size_t i = 0; i < last; ++i) sum += (value[i] - '0') * (((last - i) & 1) != 0 ? 3 : 1);
    if ((10 - sum % 10) % 10 != value[last] - '0') return false;
  }
  if (spec.check == Check::date && !yymmdd_ok(value, reference_year)) return false;
  return true;
}

std::string describe(const AiSpec& spec) {
  std::string s(spec.field);
  if (s == "gtin" || s == "sscc" || s == "nhrn") {
    for (auto& c : s) c = static_cast<char>(c - 'a' + 'A');
  }
  return s + " (AI " + std::string(spec.ai) + ")";
}

std::optional<ParseError> validate(const AiSpec& spec, std::string_view value,
                                   std::size_t value_offset, int reference_year) {
  if (value_ok(spec, value, reference_year)) return std::nullopt;  // no message unless wrong
  auto name_of = [&] { return describe(spec); };
  if (value.size() < spec.min_length || value.size() > spec.max_length) {
    std::string rule = spec.fixed_length()
                           ? "exactly " + std::to_string(spec.min_length)
                           : std::to_string(spec.min_length) + " to " + std::to_string(spec.max_length);
    const std::size_t at = value.size() > spec.max_length ? value_offset + spec.max_length : value_offset;
    return error(ErrorCode::invalid_length, spec.field, at,
                 "The " + name_of() + " has " + std::to_string(value.size()) + " characters; it must have " +
                     rule + (spec.charset == Charset::numeric ? " digits." : " characters."));
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (spec.charset == Charset::numeric && !is_digit(c)) {
      return error(ErrorCode::not_numeric, spec.field, value_offset + i,
                   "The " + name_of() + " holds " + quoted_char(c) + " at position " + std::to_string(i + 1) +
                       "; it must be digits only.");
    }
    if (spec.charset == Charset::cset82 && !in_cset82(c)) {
      return error(ErrorCode::invalid_character, spec.field, value_offset + i,
                   "The " + name_of() + " holds " + quoted_char(c) + " at position " + std::to_string(i + 1) +
                       ", which is not in the GS1 character set 82.");
    }
  }
  if (spec.check == Check::mod10 && !check_digit_ok(value)) {
    return error(ErrorCode::invalid_check_digit, spec.field, value_offset + value.size() - 1,
                 "The " + name_of() + " check digit is " + std::string(1, value.back()) + " but the GS1 mod-10 rule gives " +
                     std::string(1, check_digit(value.substr(0, value.size() - 1))) + ".");
  }
  if (spec.check == Check::date) {
    const int month = (value[2] - '0') * 10 + (value[3] - '0');
    if (month < 1 || month > 12) {
      return error(ErrorCode::invalid_date, spec.field, value_offset + 2,
                   "The " + name_of() + " " + std::string(value) + " has month " + std::string(value.substr(2, 2)) +
                       "; YYMMDD needs a month 01 to 12.");
    }
    if (!expiry_date(value, reference_year)) {
      return error(ErrorCode::invalid_date, spec.field, value_offset + 4,
                   "The " + name_of() + " " + std::string(value) + " has day " + std::string(value.substr(4, 2)) +
                       ", past the end of that month (00 means the last day).");
    }
  }
  return std::nullopt;
}

Result<ParseResult, ParseError> assemble(const std::vector<Element>& elements,
                                         std::size_t end_offset, int /*reference_year*/) {
  const Element* by_field[5] = {};  // gtin, serial, batch, expiry, sscc
  const Element* nhrn = nullptr;
  auto slot = [](std::string_view ai) -> int {
    if (ai == "01") return 0;
    if (ai == "21") return 1;
    if (ai == "10") return 2;
    if (ai == "17") return 3;
    if (ai == "00") return 4;
    return -1;
  };
  std::vector<const Element*> first_of_ai;  // one per distinct AI: keeps this linear in the input
  for (std::size_t i = 0; i < elements.size(); ++i) {
    const Element& e = elements[i];
    // GenSpecs 4.14: an AI may appear once; a scanner repeating an identical field is harmless.
    auto seen = std::find_if(first_of_ai.begin(), first_of_ai.end(),
                             [&](const Element* p) { return p->spec == e.spec; });
    if (seen == first_of_ai.end()) {
      first_of_ai.push_back(&e);
    } else if ((*seen)->value != e.value) {
      return Unexpected{error(ErrorCode::ai_repeated, e.spec->field, e.offset,
                              "The " + describe(*e.spec) + " appears twice with different values (" +
                                  (*seen)->value + " and " + e.value + ").")};
    }
    const int s = slot(e.spec->ai);
    if (s >= 0 && by_field[s] == nullptr) by_field[s] = &e;
    if (e.spec->field == "nhrn" && nhrn == nullptr) nhrn = &e;
  }
  ParseResult r;
  if (by_field[0] == nullptr && by_field[4] != nullptr) {
    // A case or pallet label: the SSCC identifies a logistic unit, not a pack.
    r.kind = Kind::sscc;
    r.sscc = by_field[4]->value;
    r.element_string = sscc_element_string(r.sscc);
    return r;
  }
  static constexpr std::string_view kNames[] = {"gtin", "serial", "batch", "expiry"};
  static constexpr std::string_view kWhat[] = {"product code (GTIN, AI 01)", "serial number (AI 21)",
                                               "batch (AI 10)", "expiry date (AI 17)"};
  for (int s = 0; s < 4; ++s) {
    if (by_field[s] == nullptr) {
      return Unexpected{error(ErrorCode::missing_field, kNames[s], end_offset,
                              "The scan has no " + std::string(kWhat[s]) +
                                  "; a pack identifier needs product code, serial, batch and expiry.")};
    }
  }
  r.kind = Kind::pack;
  r.pack.scheme = Scheme::gs1;
  r.pack.gtin = by_field[0]->value;
  r.pack.serial = by_field[1]->value;
  r.pack.batch = by_field[2]->value;
  r.pack.expiry = by_field[3]->value;
  if (nhrn != nullptr) r.pack.nhrn = Nhrn{std::string(nhrn->spec->ai), nhrn->value};
  r.element_string = element_string(r.pack);
  return r;
}

namespace {

// The rows assemble() looks for, by address.
constexpr const AiSpec* row_of(std::string_view ai) {
  for (const auto& spec : kAiTable) {
    if (spec.ai == ai) return &spec;
  }
  return nullptr;
}
constexpr const AiSpec* kRowSscc = row_of("00");
constexpr const AiSpec* kRowGtin = row_of("01");
constexpr const AiSpec* kRowBatch = row_of("10");
constexpr const AiSpec* kRowExpiry = row_of("17");
constexpr const AiSpec* kRowSerial = row_of("21");

}  // namespace

bool PlainReading::add(const AiSpec* spec, std::string_view value) {
  for (int i = 0; i < count_; ++i) {
    // GenSpecs 4.14: an AI may appear once; an identical repeat is harmless (assemble()).
    if (entries_[i].spec == spec) return std::string_view(entries_[i].data, entries_[i].size) == value;
  }
  if (count_ == kMaxAis) return false;
  entries_[count_++] = Entry{spec, value.data(), value.size()};
  return true;
}

bool PlainReading::finish(ParseResult& out) const {
  const Entry* gtin = nullptr;
  const Entry* serial = nullptr;
  const Entry* batch = nullptr;
  const Entry* expiry = nullptr;
  const Entry* sscc = nullptr;
  const Entry* nhrn = nullptr;
  for (int i = 0; i < count_; ++i) {
    const Entry& e = entries_[i];
    if (e.spec == kRowGtin) gtin = &e;
    else if (e.spec == kRowSerial) serial = &e;
    else if (e.spec == kRowBatch) batch = &e;
    else if (e.spec == kRowExpiry) expiry = &e;
    else if (e.spec == kRowSscc) sscc = &e;
    else if (nhrn == nullptr && e.spec->field == "nhrn") nhrn = &e;
  }
  if (gtin == nullptr && sscc != nullptr) {
    out.kind = Kind::sscc;
    out.sscc.assign(sscc->data, sscc->size);
    out.element_string.reserve(2 + sscc->size);
    out.element_string.assign("00");
    out.element_string.append(sscc->data, sscc->size);
    return true;
  }
  if (gtin == nullptr || serial == nullptr || batch == nullptr || expiry == nullptr) return false;
  out.kind = Kind::pack;
  out.pack.scheme = Scheme::gs1;
  out.pack.gtin.assign(gtin->data, gtin->size);
  out.pack.serial.assign(serial->data, serial->size);
  out.pack.batch.assign(batch->data, batch->size);
  out.pack.expiry.assign(expiry->data, expiry->size);
  if (nhrn != nullptr) out.pack.nhrn = Nhrn{std::string(nhrn->spec->ai), std::string(nhrn->data, nhrn->size)};
  append_element_string(out.element_string, out.pack);
  return true;
}

namespace {

// Both written forms are read the same way: the plain reading first (no allocation but the result's; the
// common case), the detailed one (errors naming the field, lost-GS repair) only when the plain one refused.
template <class Plain, class Detailed>
Result<ParseResult, ParseError> plain_else_detailed(std::string_view text, const ParseOptions& options, Plain plain,
                                                    Detailed detailed) {
  Result<ParseResult, ParseError> result{ParseResult{}};  // filled in place
  if (plain(text, options.reference_year, *result)) return result;
  result = detailed(text, options);
  return result;
}

Result<ParseResult, ParseError> parse_element_string_in_detail(std::string_view text, const ParseOptions& options);

// The plain reading of an element string (what tokenize() + assemble() accept), or false.
bool read_plain(std::string_view text, int reference_year, ParseResult& out) {
  PlainReading reading;
  const std::size_t n = text.size();
  std::size_t pos = 0;
  while (pos < n) {
    if (text[pos] == kGs) {
      ++pos;
      continue;
    }
    const AiSpec* spec = find_ai(text.substr(pos));
    if (spec == nullptr) return false;
    const std::size_t vo = pos + spec->ai.size();  // <= n: find_ai matched the whole AI
    // Fixed length: its length, or up to a GS inside it; variable: up to the next GS or the end.
    const std::size_t limit = spec->fixed_length() ? std::min(n, vo + spec->max_length) : n;
    std::size_t end = limit;
    if (vo < limit) {
      if (const void* gs = std::memchr(text.data() + vo, kGs, limit - vo)) {
        end = static_cast<std::size_t>(static_cast<const char*>(gs) - text.data());
      }
    }
    const std::string_view value = text.substr(vo, end - vo);
    if (!value_ok(*spec, value, reference_year) || !reading.add(spec, value)) return false;
    pos = end;
  }
  return reading.finish(out);
}

// True when `t` starts with a pack AI (01, 10, 17, 21, 710-715): where a lost GS may have been.
bool starts_with_pack_ai(std::string_view t) {
  if (t.size() < 2) return false;
  const char a = t[0], b = t[1];
  if ((a == '0' && b == '1') || (a == '1' && b == '0') || (a == '1' && b == '7') || (a == '2' && b == '1')) {
    return true;
  }
  return a == '7' && b == '1' && t.size() >= 3 && t[2] >= '0' && t[2] <= '5';
}

ParseError unknown_ai_error(std::string_view text, std::size_t pos) {
  std::size_t n = 0;
  while (pos + n < text.size() && n < 4 && is_digit(text[pos + n])) ++n;
  if (n < 2) {
    return error(ErrorCode::unknown_ai, "ai", pos,
                 "Expected a GS1 application identifier (digits) at byte " + std::to_string(pos) +
                     " but found " + (pos < text.size() ? quoted_char(text[pos]) : std::string("the end")) + ".");
  }
  return error(ErrorCode::unknown_ai, "ai", pos,
               "The application identifier starting " + std::string(text.substr(pos, n)) + " at byte " +
                   std::to_string(pos) + " is not one we know (GS1 General Specifications AI table).");
}

// The plain, deterministic reading: variable-length values run to the next GS or the end.
Result<std::vector<Element>, ParseError> tokenize(std::string_view text, int reference_year) {
  std::vector<Element> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == kGs) {  // empty field / doubled separator / trailing FNC1: carries nothing
      ++pos;
      continue;
    }
    const AiSpec* spec = find_ai(text.substr(pos));
    if (spec == nullptr) return Unexpected{unknown_ai_error(text, pos)};
    Element e{spec, {}, pos, pos + spec->ai.size()};
    std::size_t end;
    if (spec->fixed_length()) {
      end = std::min(text.size(), e.value_offset + spec->max_length);
      // A GS inside a fixed-length field means the field is short.
      const std::size_t gs = text.find(kGs, e.value_offset);
      if (gs != std::string_view::npos && gs < end) end = gs;
    } else {
      end = text.find(kGs, e.value_offset);
      if (end == std::string_view::npos) end = text.size();
    }
    e.value = std::string(text.substr(e.value_offset, end - e.value_offset));
    if (auto err = validate(*spec, e.value, e.value_offset, reference_year)) return Unexpected{*err};
    out.push_back(std::move(e));
    pos = end;
  }
  return out;
}

// Lost-GS repair: every reading that ends a variable-length value early where one of the pack AIs
// (01, 21, 10, 17, 710-715) begins. Bounded by a step budget so that no input can make it slow.
struct SplitSearch {
  std::string_view text;
  int reference_year;
  std::size_t end_offset;
  // A real scan has a handful of fields and splits; this many steps cost about a millisecond.
  int budget = 1000;
  bool exhausted = false;
  std::vector<PackId> candidates;

  void add_if_complete(const std::vector<Element>& elements) {
    auto r = assemble(elements, end_offset, reference_year);
    if (!r || r->kind != Kind::pack) return;
    if (std::find(candidates.begin(), candidates.end(), r->pack) == candidates.end()) {
      candidates.push_back(r->pack);
    }
  }

  // A reading with more fields than this is no pack scan (a pack has 4 or 5, a few extras at most).
  static constexpr std::size_t kMaxFields = 12;

  // Also refuses readings grown past kMaxFields, which bounds the depth and the cost of each step.
  bool repeats_differently(const std::vector<Element>& acc, const Element& e) const {
    if (acc.size() >= kMaxFields) return true;
    for (const auto& p : acc) {
      if (p.spec == e.spec && p.value != e.value) return true;
    }
    return false;
  }

  void explore(std::size_t pos, std::vector<Element>& acc, bool split_used) {
    if (--budget < 0) {
      exhausted = true;
      return;
    }
    while (pos < text.size() && text[pos] == kGs) ++pos;
    if (pos >= text.size()) {
      if (split_used) add_if_complete(acc);
      return;
    }
    const AiSpec* spec = find_ai(text.substr(pos));
    if (spec == nullptr) return;
    const std::size_t vo = pos + spec->ai.size();
    if (spec->fixed_length()) {
      const std::size_t end = std::min(text.size(), vo + spec->max_length);
      Element e{spec, std::string(text.substr(vo, end - vo)), pos, vo};
      if (validate(*spec, e.value, vo, reference_year) || repeats_differently(acc, e)) return;
      acc.push_back(std::move(e));
      explore(end, acc, split_used);
      acc.pop_back();
      return;
    }
    // Only the first max_length + 1 bytes matter: a longer run can only be cut.
    const std::string_view window = text.substr(vo, spec->max_length + 1u);
    const std::size_t gs_at = window.find(kGs);
    const std::size_t run_end = gs_at == std::string_view::npos ? vo + window.size() : vo + gs_at;
    const bool run_is_whole = gs_at != std::string_view::npos || vo + window.size() == text.size();
    // Every split point inside the run, then the whole run (when it ends at GS or the end).
    const std::size_t last_split = std::min(run_end, vo + spec->max_length);
    for (std::size_t cut = vo + spec->min_length; cut <= last_split && !exhausted; ++cut) {
      const bool whole = cut == run_end && run_is_whole;
      if (!whole) {
        if (cut >= run_end) continue;
        if (!starts_with_pack_ai(text.substr(cut, 3))) continue;
      }
      Element e{spec, std::string(text.substr(vo, cut - vo)), pos, vo};
      if (validate(*spec, e.value, vo, reference_year) || repeats_differently(acc, e)) continue;
      acc.push_back(std::move(e));
      explore(cut, acc, split_used || !whole);
      acc.pop_back();
    }
  }
};

}  // namespace

Result<ParseResult, ParseError> parse_element_string(std::string_view text, const ParseOptions& options) {
  return plain_else_detailed(text, options, read_plain, parse_element_string_in_detail);
}

namespace {

// The reading that names what is wrong, and the lost-GS repair: runs when the plain one refused.
Result<ParseResult, ParseError> parse_element_string_in_detail(std::string_view text, const ParseOptions& options) {
  auto elements = tokenize(text, options.reference_year);
  std::optional<ParseError> plain_error;
  if (elements) {
    auto r = assemble(*elements, text.size(), options.reference_year);
    if (r) return r;
    plain_error = r.error();
  } else {
    plain_error = elements.error();
  }
  // A keyboard-wedge scanner that drops GS glues the next field onto a serial or batch.
  // Repair only readings that give a complete, valid pack (issue 3, domain.md).
  SplitSearch search{text, options.reference_year, text.size()};
  std::vector<Element> acc;
  search.explore(0, acc, false);
  if (search.candidates.size() == 1 && !search.exhausted) {
    ParseResult out;
    out.kind = Kind::pack;
    out.pack = search.candidates.front();
    out.element_string = element_string(out.pack);
    out.warnings.push_back("gs_recovered");
    return out;
  }
  if (!search.candidates.empty()) {
    ParseError e = error(ErrorCode::ambiguous_split, "input", 0,
                         "A group separator (GS) seems lost between fields, and " +
                             std::to_string(search.candidates.size()) +
                             " readings give a valid pack; check each candidate against the repository.");
    e.candidates = std::move(search.candidates);
    return Unexpected{std::move(e)};
  }
  return Unexpected{std::move(*plain_error)};
}

}  // namespace

namespace {

Result<ParseResult, ParseError> parse_human_readable_in_detail(std::string_view text, const ParseOptions& options);

// "(" + a known AI + ")" at `p`: the row, else nullptr.
const AiSpec* hri_field_start_at(std::string_view text, std::size_t p) {
  if (p >= text.size() || text[p] != '(') return nullptr;
  const std::size_t close = text.find(')', p + 1);
  if (close == std::string_view::npos || close - p - 1 < 2 || close - p - 1 > 4) return nullptr;
  return ai_spec(text.substr(p + 1, close - p - 1));
}

// Where the value of the field "(AI)" at `pos` starts and ends. Spaces after ")" are skipped; a fixed-length
// value is taken at its length; a variable one runs up to the next "(" + known AI + ")" (set 82 allows '(' in
// values), without a space that separates the two fields or ends the text.
struct ValueSpan {
  std::size_t begin, end;
};
ValueSpan hri_value_span(std::string_view text, std::size_t pos, const AiSpec& spec) {
  std::size_t vo = pos + spec.ai.size() + 2;
  while (vo < text.size() && text[vo] == ' ') ++vo;
  std::size_t end = vo;
  if (spec.fixed_length()) {
    end = std::min(text.size(), vo + spec.max_length);
  } else {
    while (end < text.size() && hri_field_start_at(text, end) == nullptr &&
           !(text[end] == ' ' && (end + 1 == text.size() || hri_field_start_at(text, end + 1) != nullptr))) {
      ++end;
    }
  }
  return {vo, end};
}

// The plain reading of the human-readable form (what parse_human_readable_in_detail accepts).
bool read_plain_human_readable(std::string_view text, int reference_year, ParseResult& out) {
  PlainReading reading;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == ' ') {
      ++pos;
      continue;
    }
    const AiSpec* spec = hri_field_start_at(text, pos);
    if (spec == nullptr) return false;
    const auto [vo, end] = hri_value_span(text, pos, *spec);
    const std::string_view value = text.substr(vo, end - vo);
    if (!value_ok(*spec, value, reference_year) || !reading.add(spec, value)) return false;
    pos = end;
  }
  return reading.finish(out);
}

}  // namespace

Result<ParseResult, ParseError> parse_human_readable(std::string_view text, const ParseOptions& options) {
  return plain_else_detailed(text, options, read_plain_human_readable, parse_human_readable_in_detail);
}

namespace {

Result<ParseResult, ParseError> parse_human_readable_in_detail(std::string_view text, const ParseOptions& options) {
  // "(AI)value(AI)value...": a value may itself contain '(' (set 82), so a new field starts only
  // at "(" + a known AI + ")"; fixed-length values are taken at their length.
  std::vector<Element> elements;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == ' ') {
      ++pos;
      continue;
    }
    const AiSpec* spec = hri_field_start_at(text, pos);
    if (spec == nullptr) {
      if (text[pos] == '(') {
        const std::size_t close = text.find(')', pos);
        std::string ai(text.substr(pos + 1, close == std::string_view::npos ? 4 : close - pos - 1));
        return Unexpected{error(ErrorCode::unknown_ai, "ai", pos + 1,
                                "The application identifier (" + ai + ") is not one we know (GS1 General Specifications AI table).")};
      }
      return Unexpected{error(ErrorCode::unknown_ai, "ai", pos,
                              "Expected \"(\" and a GS1 application identifier at byte " + std::to_string(pos) +
                                  " but found " + quoted_char(text[pos]) + ".")};
    }
    const auto [vo, end] = hri_value_span(text, pos, *spec);
    const std::string value(text.substr(vo, end - vo));
    if (auto err = validate(*spec, value, vo, options.reference_year)) return Unexpected{*err};
    elements.push_back(Element{spec, value, pos, vo});
    pos = end;
  }
  return assemble(elements, text.size(), options.reference_year);
}

}  // namespace

void append_element_string(std::string& s, const PackId& pack) {
  if (pack.gtin.empty()) return;
  // Built once, at its final size: 01 GTIN 21 serial GS 10 batch GS 17 expiry [NHRN AI value].
  std::size_t size = 2 + pack.gtin.size() + 2 + pack.serial.size() + 1 + 2 + pack.batch.size() + 1 + 2 +
                     pack.expiry.size();
  if (pack.nhrn) size += pack.nhrn->ai.size() + pack.nhrn->value.size();
  const std::size_t at = s.size();
  s.resize(at + size);
  char* p = s.data() + at;
  auto put = [&p](std::string_view v) {
    std::memcpy(p, v.data(), v.size());
    p += v.size();
  };
  put("01");
  put(pack.gtin);
  put("21");
  put(pack.serial);
  *p++ = kGs;
  put("10");
  put(pack.batch);
  *p++ = kGs;
  put("17");
  put(pack.expiry);
  if (pack.nhrn) {
    put(pack.nhrn->ai);
    put(pack.nhrn->value);
  }
}

std::string element_string(const PackId& pack) {
  std::string s;
  append_element_string(s, pack);
  return s;
}

std::string sscc_element_string(std::string_view sscc) { return "00" + std::string(sscc); }

std::string human_readable(const PackId& pack) {
  std::string s = "(01)" + pack.gtin + "(21)" + pack.serial + "(10)" + pack.batch + "(17)" + pack.expiry;
  if (pack.nhrn) s += "(" + pack.nhrn->ai + ")" + pack.nhrn->value;
  return s;
}

}  // namespace vpoint::scanner::gs1
