#include "vpoint/scanner/ppn.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "vpoint/scanner/gs1.hpp"
#include "vpoint/scanner/normalise.hpp"

namespace vpoint::scanner::ppn {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper_alnum(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z'); }
bool all_digits(std::string_view s) { return std::all_of(s.begin(), s.end(), is_digit); }

ParseError error(ErrorCode code, std::string_view field, std::size_t offset, std::string message) {
  return ParseError{code, std::string(field), offset, std::move(message), {}};
}

// The data identifiers of IFA retail pack codes.
struct DiSpec {
  std::string_view di;
  std::string_view field;
  std::string_view what;
};
constexpr DiSpec kDis[] = {
    {"9N", "ppn", "PPN (DI 9N)"},          {"8P", "gtin", "GTIN (DI 8P)"},
    {"1T", "batch", "batch (DI 1T)"},      {"D", "expiry", "expiry date (DI D)"},
    {"S", "serial", "serial number (DI S)"}, {"16D", "production_date", "production date (DI 16D)"},
};
// parse_envelope() checks a value by its row index k in kDis.
static_assert(kDis[0].di == "9N" && kDis[1].di == "8P" && kDis[2].di == "1T" && kDis[3].di == "D" &&
              kDis[4].di == "S" && kDis[5].di == "16D");

// PZN-7 (before 2013) becomes PZN-8 by a leading zero; the check digit stays valid.
std::string pzn8_of(std::string_view pzn) {
  std::string p8;
  if (pzn.size() == 7) p8.push_back('0');
  p8.append(pzn);
  return p8;
}

}  // namespace

bool pzn_check_ok(std::string_view pzn8) {
  if (pzn8.size() != 8 || !all_digits(pzn8)) return false;
  int sum = 0;
  for (int i = 0; i < 7; ++i) sum += (pzn8[i] - '0') * (i + 1);
  const int check = sum % 11;
  return check != 10 && check == pzn8[7] - '0';
}

std::string ppn_check_digits(std::string_view body) {
  int sum = 0;
  for (std::size_t i = 0; i < body.size(); ++i) sum += static_cast<unsigned char>(body[i]) * static_cast<int>(i + 2);
  const int check = sum % 97;
  return {static_cast<char>('0' + check / 10), static_cast<char>('0' + check % 10)};
}

bool ppn_check_ok(std::string_view ppn) {
  if (ppn.size() < 5 || ppn.size() > 22 || !std::all_of(ppn.begin(), ppn.end(), is_upper_alnum)) return false;
  if (ppn_check_digits(ppn.substr(0, ppn.size() - 2)) != ppn.substr(ppn.size() - 2)) return false;
  if (ppn.substr(0, 2) == "11") return ppn.size() == 12 && pzn_check_ok(ppn.substr(2, 8));
  return true;
}

std::optional<std::string> pzn_from_ppn(std::string_view ppn) {
  if (ppn.size() != 12 || ppn.substr(0, 2) != "11" || !ppn_check_ok(ppn)) return std::nullopt;
  return std::string(ppn.substr(2, 8));
}

std::optional<std::string> ppn_from_pzn(std::string_view pzn) {
  const std::string p8 = pzn8_of(pzn);
  if (!pzn_check_ok(p8)) return std::nullopt;
  const std::string body = "11" + p8;
  return body + ppn_check_digits(body);
}

std::optional<std::string> ntin_from_pzn(std::string_view pzn) {
  const std::string p8 = pzn8_of(pzn);
  if (!pzn_check_ok(p8)) return std::nullopt;
  const std::string body = "04150" + p8;
  return body + gs1::check_digit(body);
}

std::optional<std::string> pzn_from_ntin(std::string_view gtin) {
  auto g = gs1::gtin14(gtin);
  if (!g || g->substr(0, 5) != "04150") return std::nullopt;
  std::string pzn = g->substr(5, 8);
  if (!pzn_check_ok(pzn)) return std::nullopt;
  return pzn;
}

bool in_batch_charset(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_'; }

Result<ParseResult, ParseError> parse_envelope(std::string_view text, const ParseOptions& options) {
  // ISO/IEC 15434 clause 6: message header "[)>" RS, format header "06" GS.
  if (text.substr(0, 4) != std::string_view("[)>\x1E", 4)) {
    return Unexpected{error(ErrorCode::invalid_envelope, "envelope", 3,
                            "The ISO/IEC 15434 header \"[)>\" must be followed by RS (0x1E).")};
  }
  const std::string_view format = text.substr(4, 2);
  if ((format != "06" && format != "05") || text.size() < 7 || text[6] != kGs) {
    return Unexpected{error(ErrorCode::invalid_envelope, "envelope", 4,
                            "The ISO/IEC 15434 envelope must hold format 06 (data identifiers) or 05 "
                            "(GS1), followed by GS (0x1D).")};
  }
  // The format ends at RS; the message at EOT. Wedge scanners often drop both.
  std::size_t body_end = text.find(kRs, 7);
  std::size_t after = text.size();
  if (body_end == std::string_view::npos) {
    body_end = text.size();
    if (!text.empty() && text.back() == kEot) body_end = after = text.size() - 1;
  } else {
    after = body_end + 1;
    if (after < text.size() && text[after] == kEot) ++after;
    if (after < text.size()) {
      return Unexpected{error(ErrorCode::data_after_end, "envelope", after,
                              "The scan has data after the end of the ISO/IEC 15434 envelope (RS EOT).")};
    }
  }
  const std::string_view body = text.substr(7, body_end - 7);

  if (format == "05") {
    auto r = gs1::parse_element_string(body, options);
    if (!r) {
      ParseError e = r.error();
      e.offset += 7;
      return Unexpected{std::move(e)};
    }
    return r;
  }

  struct Field {
    const DiSpec* di;
    std::string_view value;  // into `text`: no copies while checking
    std::size_t offset;
  };
  // Calls visit(Field) for each non-empty data element in order; stops at an unknown data
  // identifier and returns its error, or at the first error visit() returns.
  auto for_each_field = [&](auto&& visit) -> std::optional<ParseError> {
    std::size_t pos = 7;
    while (pos <= body_end) {
      std::size_t end = text.find(kGs, pos);
      if (end == std::string_view::npos || end > body_end) end = body_end;
      const std::string_view element = text.substr(pos, end - pos);
      if (!element.empty()) {
        std::size_t n = 0;
        while (n < element.size() && n < 3 && is_digit(element[n])) ++n;
        const std::size_t di_len = n < element.size() ? n + 1 : n;
        const std::string_view di = element.substr(0, di_len);
        const DiSpec* spec = nullptr;
        for (const auto& d : kDis) {
          if (d.di.size() == di.size() && d.di.back() == di.back() && d.di == di) spec = &d;
        }
        if (spec == nullptr) {
          return error(ErrorCode::unknown_data_identifier, "di", pos,
                       "The data identifier \"" + std::string(di) +
                           "\" is not one of 9N, 8P, 1T, D, S, 16D (IFA PPN-Code Specification).");
        }
        if (auto err = visit(Field{spec, element.substr(di_len), pos + di_len})) return err;
      }
      pos = end + 1;
    }
    return std::nullopt;
  };
  // Every data identifier is checked before any value (an unknown one is the error to report).
  if (auto err = for_each_field([](const Field&) -> std::optional<ParseError> { return std::nullopt; })) {
    return Unexpected{std::move(*err)};
  }

  const int ref = options.reference_year;
  Field found_fields[6];  // index into kDis
  const Field* found[6] = {};
  auto check = [&](const Field& f) -> std::optional<ParseError> {
    const std::size_t k = static_cast<std::size_t>(f.di - kDis);
    const std::string_view what = f.di->what;
    if (found[k] != nullptr && found[k]->value != f.value) {
      return error(ErrorCode::ai_repeated, f.di->field, f.offset - f.di->di.size(),
                   "The " + std::string(what) + " appears twice with different values (" + std::string(found[k]->value) +
                       " and " + std::string(f.value) + ").");
    }
    found_fields[k] = f;
    found[k] = &found_fields[k];
    const std::string_view v = f.value;
    auto bad_char = [&](auto ok) -> std::size_t {
      for (std::size_t j = 0; j < v.size(); ++j) {
        if (!ok(v[j])) return j;
      }
      return std::string_view::npos;
    };
    auto length_error = [&](std::string rule) {
      return error(ErrorCode::invalid_length, f.di->field, f.offset,
                              "The " + std::string(what) + " has " + std::to_string(v.size()) + " characters; it must have " + rule + ".");
    };
    auto char_error = [&](std::size_t j, std::string set) {
      return error(ErrorCode::invalid_character, f.di->field, f.offset + j,
                              "The " + std::string(what) + " holds '" + std::string(1, v[j]) + "' at position " + std::to_string(j + 1) +
                                  ", which is not allowed (" + set + ").");
    };
    auto not_numeric = [&](std::size_t j) {
      return error(ErrorCode::not_numeric, f.di->field, f.offset + j,
                              "The " + std::string(what) + " must be digits only.");
    };
    if (k == 0) {
      if (v.size() < 5 || v.size() > 22) return length_error("5 to 22 (12 for a German PPN)");
      if (auto j = bad_char(is_upper_alnum); j != std::string_view::npos) return char_error(j, "digits and upper-case letters");
      if (v.substr(0, 2) == "11" && v.size() != 12) return length_error("12 for a PPN of PRA code 11 (PZN-8)");
      if (ppn_check_digits(v.substr(0, v.size() - 2)) != v.substr(v.size() - 2)) {
        return error(ErrorCode::invalid_check_digit, "ppn", f.offset + v.size() - 2,
                                "The PPN check digits are " + std::string(v.substr(v.size() - 2)) +
                                    " but the mod-97 rule gives " + ppn_check_digits(v.substr(0, v.size() - 2)) + ".");
      }
      if (v.substr(0, 2) == "11" && !pzn_check_ok(v.substr(2, 8))) {
        return error(ErrorCode::invalid_check_digit, "ppn", f.offset + 9,
                                "The PZN " + std::string(v.substr(2, 8)) + " inside the PPN fails its mod-11 check digit.");
      }
    } else if (k == 1) {
      if (auto j = bad_char(is_digit); j != std::string_view::npos) return not_numeric(j);
      if (v.size() != 8 && v.size() != 12 && v.size() != 13 && v.size() != 14) return length_error("8, 12, 13 or 14 digits");
      if (!gs1::check_digit_ok(v)) {
        return error(ErrorCode::invalid_check_digit, "gtin", f.offset + v.size() - 1,
                                "The GTIN (DI 8P) check digit is " + std::string(1, v.back()) +
                                    " but the GS1 mod-10 rule gives " + std::string(1, gs1::check_digit(v.substr(0, v.size() - 1))) + ".");
      }
    } else if (k == 2 || k == 4) {
      if (v.empty() || v.size() > 20) return length_error("1 to 20");
      if (k == 2) {
        if (auto j = bad_char(in_batch_charset); j != std::string_view::npos) return char_error(j, "IFA batch: digits, letters, '-', '_'");
      } else if (auto j = bad_char(gs1::in_cset82); j != std::string_view::npos) {
        return char_error(j, "GS1 character set 82");
      }
    } else if (k == 3) {
      if (auto j = bad_char(is_digit); j != std::string_view::npos) return not_numeric(j);
      if (v.size() != 6) return length_error("exactly 6 digits (YYMMDD)");
      if (!gs1::yymmdd_ok(v, ref)) {
        return error(ErrorCode::invalid_date, "expiry", f.offset,
                                "The expiry date (DI D) " + std::string(v) + " is not a valid YYMMDD date (month 01-12, day 00-31 within the month).");
      }
    } else if (k == 5) {
      if (auto j = bad_char(is_digit); j != std::string_view::npos) return not_numeric(j);
      if (v.size() != 8) return length_error("exactly 8 digits (YYYYMMDD)");
      const int y = std::stoi(std::string(v.substr(0, 4)));
      const int m = std::stoi(std::string(v.substr(4, 2)));
      const int d = std::stoi(std::string(v.substr(6, 2)));
      if (d < 1 || d > gs1::days_in_month(y, m)) {
        return error(ErrorCode::invalid_date, "production_date", f.offset,
                                "The production date (DI 16D) " + std::string(v) + " is not a valid YYYYMMDD date.");
      }
    }
    return std::nullopt;
  };
  if (auto err = for_each_field(check)) return Unexpected{std::move(*err)};

  const std::size_t end_offset = text.size();
  auto missing = [&](std::string_view field, std::string_view what) {
    return Unexpected{error(ErrorCode::missing_field, field, end_offset,
                            "The scan has no " + std::string(what) +
                                "; a pack identifier needs product code, serial, batch and expiry.")};
  };
  const Field* ppn = found[0];
  const Field* gtin = found[1];
  if (ppn == nullptr && gtin == nullptr) return missing("ppn", "product code (PPN, DI 9N, or GTIN, DI 8P)");
  if (found[4] == nullptr) return missing("serial", "serial number (DI S)");
  if (found[2] == nullptr) return missing("batch", "batch (DI 1T)");
  if (found[3] == nullptr) return missing("expiry", "expiry date (DI D)");
  // Checked before the result is built, so that the result is built in place and returned as is.
  std::string ntin;
  if (gtin != nullptr) ntin = *gs1::gtin14(gtin->value);
  if (ppn != nullptr && gtin != nullptr) {
    // Both must name the same product: the NTIN's embedded PZN equals the PPN's.
    const auto a = pzn_from_ppn(ppn->value);
    const auto b = pzn_from_ntin(ntin);
    if (!a || !b || *a != *b) {
      return Unexpected{error(ErrorCode::conflicting_product_code, "gtin", gtin->offset,
                              "The GTIN (DI 8P) " + ntin + " and the PPN (DI 9N) " + std::string(ppn->value) +
                                  " do not carry the same PZN.")};
    }
  }
  Result<ParseResult, ParseError> result{ParseResult{}};  // filled in place
  ParseResult& r = *result;
  r.kind = Kind::pack;
  r.pack.scheme = Scheme::ppn;
  if (ppn != nullptr) r.pack.ppn = std::string(ppn->value);
  r.pack.gtin = std::move(ntin);
  r.pack.serial = std::string(found[4]->value);
  r.pack.batch = std::string(found[2]->value);
  r.pack.expiry = std::string(found[3]->value);
  r.element_string = r.pack.gtin.empty() ? format06_envelope(r.pack) : gs1::element_string(r.pack);
  return result;
}

std::string format06_envelope(const PackId& pack) {
  const std::string_view product_di = pack.ppn.empty() ? "8P" : "9N";
  const std::string& product = pack.ppn.empty() ? pack.gtin : pack.ppn;
  std::string s;
  s.reserve(6 + 1 + 2 + product.size() + 1 + 2 + pack.batch.size() + 1 + 1 + pack.expiry.size() + 1 + 1 +
            pack.serial.size() + 2);
  s.append("[)>\x1E" "06").push_back(kGs);
  s.append(product_di).append(product).push_back(kGs);
  s.append("1T").append(pack.batch).push_back(kGs);
  s.append("D").append(pack.expiry).push_back(kGs);
  s.append("S").append(pack.serial).push_back(kRs);
  s.push_back(kEot);
  return s;
}

}  // namespace vpoint::scanner::ppn
