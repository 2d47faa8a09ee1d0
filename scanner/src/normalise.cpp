#include "vpoint/scanner/normalise.hpp"

#include <algorithm>

namespace vpoint::scanner {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

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
      if (!n.empty() && text.substr(i, n.size()) == n) {
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

}  // namespace

bool has_aim_prefix(std::string_view text) {
  return text.size() >= 3 && text[0] == ']' &&
         ((text[1] >= 'A' && text[1] <= 'Z') || (text[1] >= 'a' && text[1] <= 'z')) &&
         text[2] >= '0' && text[2] <= '9';
}

Normalised normalise(std::string_view scan, const std::vector<std::string>& extra_gs_standins) {
  Normalised n;
  std::string_view s = trim(scan);
  if (has_aim_prefix(s)) {
    n.aim = std::string(s.substr(0, 3));
    s = trim(s.substr(3));
  }
  std::string text(s);
  if (text.find(kGs) == std::string::npos) {
    std::vector<std::string_view> needles(std::begin(kGsStandins), std::end(kGsStandins));
    for (const auto& extra : extra_gs_standins) needles.push_back(extra);
    // Longest first, so "<GS>" of an extra list such as "<GS>X" cannot steal a longer match.
    std::stable_sort(needles.begin(), needles.end(),
                     [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
    text = replace_all(text, needles, kGs);
  }
  if (text.rfind("[)>", 0) == 0) {
    if (text.find(kRs) == std::string::npos) text = replace_all(text, kRsStandins, kRs);
    if (text.find(kEot) == std::string::npos) text = replace_all(text, kEotStandins, kEot);
  }
  // A leading GS is the FNC1 in first position that marks GS1 data; it carries no field.
  std::size_t lead = 0;
  while (lead < text.size() && text[lead] == kGs) ++lead;
  text.erase(0, lead);
  n.text = std::string(trim(text));
  return n;
}

}  // namespace vpoint::scanner
