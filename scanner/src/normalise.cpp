#include "vpoint/scanner/normalise.hpp"

#include <algorithm>
#include <cstring>

namespace vpoint::scanner {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `text` starts with `needle`, ASCII letters compared regardless of case: a keyboard wedge with caps lock on
// types the stand-in "<GS>" as "<gs>" and "\x1D" as "\X1d" (issue 12).
bool starts_with_icase(std::string_view text, std::string_view needle) {
  if (text.size() < needle.size()) return false;
  for (std::size_t i = 0; i < needle.size(); ++i)
    if (ascii_lower(text[i]) != ascii_lower(needle[i])) return false;
  return true;
}

bool contains_icase(std::string_view text, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= text.size(); ++i)
    if (starts_with_icase(text.substr(i), needle)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Replaces every occurrence of any of `needles` by `replacement`, scanning left to right once
// (no re-scan of replaced text, so a stand-in can never be formed by an earlier replacement).
template <class Needles>
std::string replace_all(std::string_view text, const Needles& needles, char replacement) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    bool hit = false;
    for (std::string_view n : needles) {
      if (!n.empty() && starts_with_icase(text.substr(i), n)) {
        out.push_back(replacement);
        i += n.size();
        hit = true;
        break;
      }
    }
    if (!hit) out.push_back(text[i++]);
  }
  return out;
}

// The distinct bytes that start one of a list of built-in stand-ins (none is a letter, so case does not matter).
struct FirstBytes {
  char bytes[8];
  int count;
};
template <std::size_t N>
constexpr FirstBytes first_bytes(const std::string_view (&needles)[N]) {
  FirstBytes f{};
  for (std::string_view n : needles) {
    bool known = false;
    for (int i = 0; i < f.count; ++i) known = known || f.bytes[i] == n.front();
    if (!known) f.bytes[f.count++] = n.front();  // (a ninth distinct byte fails to compile)
    if ((n.front() >= 'A' && n.front() <= 'Z') || (n.front() >= 'a' && n.front() <= 'z'))
      throw "a built-in stand-in must not start with a letter (may_hold() compares first bytes exactly)";
  }
  return f;
}
constexpr FirstBytes kGsFirst = first_bytes(kGsStandins);
constexpr FirstBytes kRsFirst = first_bytes(kRsStandins);
constexpr FirstBytes kEotFirst = first_bytes(kEotStandins);

// False when no stand-in can occur in `text`, so that replace_all() would return it unchanged: no
// byte starts a built-in one and no extra one occurs. Saves the copy on the common path.
bool may_hold(std::string_view text, const FirstBytes& builtin, const std::vector<std::string>& extra) {
  for (int i = 0; i < builtin.count; ++i) {
    if (std::memchr(text.data(), builtin.bytes[i], text.size()) != nullptr) return true;
  }
  for (const auto& n : extra) {
    if (!n.empty() && contains_icase(text, n)) return true;
  }
  return false;
}

}  // namespace

bool has_aim_prefix(std::string_view text) {
  return text.size() >= 3 && text[0] == ']' &&
         ((text[1] >= 'A' && text[1] <= 'Z') || (text[1] >= 'a' && text[1] <= 'z')) &&
         text[2] >= '0' && text[2] <= '9';
}

std::string_view normalise_view(std::string_view scan, const std::vector<std::string>& extra_gs_standins,
                                std::string& buffer, std::string_view* aim) {
  std::string_view s = trim(scan);
  if (has_aim_prefix(s)) {
    if (aim != nullptr) *aim = s.substr(0, 3);
    s = trim(s.substr(3));
  }
  std::string_view text = s;
  if (text.find(kGs) == std::string_view::npos && may_hold(text, kGsFirst, extra_gs_standins)) {
    std::vector<std::string_view> needles(std::begin(kGsStandins), std::end(kGsStandins));
    for (const auto& extra : extra_gs_standins) needles.push_back(extra);
    // Longest first, so "<GS>" of an extra list such as "<GS>X" cannot steal a longer match.
    std::stable_sort(needles.begin(), needles.end(),
                     [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
    buffer = replace_all(text, needles, kGs);
    text = buffer;
  }
  if (text.substr(0, 3) == "[)>") {
    if (text.find(kRs) == std::string_view::npos && may_hold(text, kRsFirst, {})) {
      buffer = replace_all(text, kRsStandins, kRs);  // (a new string: `text` may view `buffer`)
      text = buffer;
    }
    if (text.find(kEot) == std::string_view::npos && may_hold(text, kEotFirst, {})) {
      buffer = replace_all(text, kEotStandins, kEot);
      text = buffer;
    }
  }
  // A leading GS is the FNC1 in first position that marks GS1 data; it carries no field.
  std::size_t lead = 0;
  while (lead < text.size() && text[lead] == kGs) ++lead;
  return trim(text.substr(lead));
}

std::string invert_case(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    else if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

Normalised normalise(std::string_view scan, const std::vector<std::string>& extra_gs_standins) {
  Normalised n;
  std::string buffer;
  std::string_view aim;
  n.text = std::string(normalise_view(scan, extra_gs_standins, buffer, &aim));
  n.aim = std::string(aim);
  return n;
}

}  // namespace vpoint::scanner
