#pragma once
// Scanner text -> canonical bytes: what handheld and keyboard-wedge scanners really send, made
// uniform before any parser looks at it. Case is never changed (caps-lock repair needs the mirror).
#include <string>
#include <string_view>
#include <vector>

namespace vpoint::scanner {

inline constexpr char kGs = '\x1D';   // group separator = FNC1 as a field terminator
inline constexpr char kRs = '\x1E';   // record separator (ISO/IEC 15434 envelope)
inline constexpr char kEot = '\x04';  // end of transmission (ISO/IEC 15434 trailer)

struct Normalised {
  std::string text;  // the data, offsets of every ParseError point into this
  std::string aim;   // AIM symbology identifier that was stripped ("]d2", "]C1", ...), or empty
};

// Built-in stand-ins scanners are configured to send for GS when the host cannot receive 0x1D.
// `<`, `>`, `{`, letters are legal in GS1 serials, so stand-ins are replaced only when the input
// holds no real GS. Letters in stand-ins match regardless of case (built-in and extra ones): a keyboard
// wedge with caps lock on types "<GS>" as "<gs>". No built-in stand-in starts with a letter.
inline constexpr std::string_view kGsStandins[] = {
    "<GS>", "{GS}", "^]", "\\x1D", "\\x1d", "\\u001d", "\\u001D", "\xE2\x90\x9D" /* U+241D */};
// The same for the ISO/IEC 15434 envelope's RS and EOT; applied only when the text starts with
// the envelope header "[)>", since a GS1 serial may legally contain "<RS>".
inline constexpr std::string_view kRsStandins[] = {
    "<RS>", "{RS}", "^^", "\\x1E", "\\x1e", "\\u001e", "\\u001E", "\xE2\x90\x9E" /* U+241E */};
inline constexpr std::string_view kEotStandins[] = {
    "<EOT>", "{EOT}", "^D", "\\x04", "\\u0004", "\xE2\x90\x84" /* U+2404 */};

// Steps, in order: trim surrounding spaces/tabs and trailing CR/LF; strip an AIM identifier
// (']' + letter + digit); replace GS (and, for envelopes, RS/EOT) stand-ins when the input holds
// no real control character of that kind; strip leading FNC1/GS.
Normalised normalise(std::string_view scan, const std::vector<std::string>& extra_gs_standins = {});

// normalise() without a copy where nothing is replaced (the common case): the text as a view into
// `scan`, or into `buffer` when stand-ins were replaced; `aim`, when given, gets the AIM identifier.
std::string_view normalise_view(std::string_view scan, const std::vector<std::string>& extra_gs_standins,
                                std::string& buffer, std::string_view* aim = nullptr);

// Every ASCII letter's case flipped: what a keyboard wedge with caps lock on did to the scan (the caps-lock
// repair parses the whole flipped text, so that IFA data identifiers "9N", "1T", "S" come back too).
std::string invert_case(std::string_view text);

// True when `text` starts with an AIM symbology identifier (']' + letter + digit).
bool has_aim_prefix(std::string_view text);

}  // namespace vpoint::scanner
