#include "pack_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <utility>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace vpoint::cli {

namespace json = boost::json;

namespace {

// The plain words for reason codes, the same as the scan page's (service/web/app.js REASONS).
constexpr std::array<std::pair<std::string_view, std::string_view>, 26> kReasonWords{{
    {"unknown_product", "This product is not known here. It may belong to another market."},
    {"unknown_serial", "The serial number is not known for this product."},
    {"unknown_batch", "The batch is not known for this product."},
    {"batch_mismatch", "The batch does not match the batch recorded for this serial number."},
    {"expiry_mismatch", "The expiry date does not match the batch."},
    {"already_inactive", "The pack is no longer active."},
    {"status_conflict", "The pack's status does not allow this change."},
    {"expired", "The pack is past its expiry date."},
    {"recalled", "The batch has been recalled."},
    {"withdrawn", "The product has been withdrawn."},
    {"batch_recalled", "The batch has been recalled."},
    {"batch_withdrawn", "The batch has been withdrawn."},
    {"locked", "The pack is locked."},
    {"undo_window_passed", "Too late to undo: an undo is only allowed within 10 days."},
    {"undo_other_location", "Only the place that decommissioned the pack can undo it."},
    {"undo_not_allowed", "Destroyed or stolen packs can never be undone."},
    {"undo_status_mismatch", "The pack's status does not match the action to undo."},
    {"parse_error", "The scan could not be read as a pack code."},
    {"mirror_unavailable", "The pack database is unavailable, so the pack could not be checked."},
    {"central_unavailable", "The national system cannot be reached."},
    {"central_rejected", "The national system rejected a change recorded here."},
    {"idempotency_conflict", "This request was already sent with different content."},
    {"offline_pending",
     "Earlier scans of this pack, made while the national system could not be reached, are "
     "still being checked."},
    {"read_through_limit",
     "Not checked with the national system: too many unknown packs in one request. Scan it "
     "on its own."},
    {"unknown_central_status", "The national system reported a status this version of vpoint does not know."},
    {"deadline", "Not checked in time: the request ran out of time before this pack was reached."},
}};

constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kWarningWords{{
    {"gs_recovered", "a missing group separator was restored from the code's structure"},
    {"caps_lock", "the scanner sent letters in the wrong case (caps lock); corrected"},
    {"lost_gs", "the scanner lost a group separator; corrected"},
    {"unconfirmed", "not confirmed by the national system yet"},
    {"audit_unavailable", "the check could not be written to the audit trail (the pack database is full)"},
    {"replication_unconfirmed", "recorded, but not yet copied to the standby database"},
}};

template <std::size_t N>
std::string_view words(const std::array<std::pair<std::string_view, std::string_view>, N>& table,
                       std::string_view code) {
  for (const auto& [k, v] : table)
    if (k == code) return v;
  return {};
}

std::string_view str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// ANSI SGR: green ok, yellow (amber) refused and unconfirmed, bold red alert.
std::string_view colour_of(std::string_view verdict) {
  if (verdict == "ok") return "\x1b[32m";
  if (verdict == "alert") return "\x1b[1;31m";
  return "\x1b[33m";
}

std::string describe_pack(const json::object& pack) {
  std::string out;
  if (auto gtin = str(pack, "gtin"); !gtin.empty()) out += fmt::format("GTIN {}", gtin);
  if (auto ppn = str(pack, "ppn"); !ppn.empty()) out += fmt::format("{}PPN {}", out.empty() ? "" : " ", ppn);
  if (auto serial = str(pack, "serial"); !serial.empty()) out += fmt::format(" serial {}", serial);
  if (auto batch = str(pack, "batch"); !batch.empty()) out += fmt::format(" batch {}", batch);
  auto expiry = str(pack, "expiry_date");
  if (expiry.empty()) expiry = str(pack, "expiry");
  if (!expiry.empty()) out += fmt::format(" expiry {}", expiry);
  return out;
}

std::string problem_words(const ApiAnswer& answer) {
  if (answer.content_type != "application/problem+json" && answer.content_type != "application/json")
    return fmt::format("HTTP {} ({})", answer.status,
                       answer.content_type.empty() ? "no body" : answer.content_type);
  boost::system::error_code ec;
  json::value v = json::parse(answer.body, ec);
  if (ec || !v.is_object()) return fmt::format("HTTP {}", answer.status);
  const json::object& p = v.get_object();
  std::string out = fmt::format("HTTP {}", answer.status);
  if (auto type = str(p, "type"); !type.empty()) out += fmt::format(" {}", type.substr(type.rfind('/') + 1));
  if (auto title = str(p, "title"); !title.empty()) out += fmt::format(": {}", title);
  if (auto detail = str(p, "detail"); !detail.empty()) out += fmt::format(": {}", detail);
  return out;
}

}  // namespace

bool colour_wanted() {
  const char* no_colour = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) == 1 && (no_colour == nullptr || *no_colour == '\0');
}

std::string printable(std::string_view scan) {
  std::string out;
  for (char c : scan) {
    const auto b = static_cast<unsigned char>(c);
    if (b == 0x1d)
      out += "<GS>";
    else if (b == 0x1e)
      out += "<RS>";
    else if (b == 0x04)
      out += "<EOT>";
    else if (b < 0x20 || b == 0x7f)
      out += fmt::format("<0x{:02X}>", b);
    else
      out += c;
  }
  return out;
}

std::optional<std::vector<std::string>> read_lines(const std::string& path) {
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return std::nullopt;
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  if (in.bad()) return std::nullopt;
  return lines;
}

int usage_error(std::string_view command, std::string_view message) {
  std::cerr << fmt::format("vpoint {}: {}\n", command, message);
  return kExitUsage;
}

void PackReport::pack(const json::object& answer, std::string_view raw, std::string_view input) {
  const std::string_view verdict = str(answer, "verdict");
  raise(verdict == "ok" ? kExitOk : kExitNotOk);
  if (options_.json) {
    std::cout << raw << '\n';
    return;
  }
  std::string upper(verdict.empty() ? "?" : verdict);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  std::string line = fmt::format("{:<11}", upper);
  if (options_.colour) line = fmt::format("{}{}\x1b[0m", colour_of(verdict), line);
  const json::value* pack = answer.if_contains("pack");
  line += ' ';
  line += (pack && pack->is_object()) ? describe_pack(pack->get_object()) : printable(input);
  if (const json::value* product = answer.if_contains("product"); product && product->is_object())
    if (auto name = str(product->get_object(), "name"); !name.empty()) line += fmt::format(" \"{}\"", name);
  if (auto status = str(answer, "status"); !status.empty()) {
    line += fmt::format(" — status {}", status);
    if (auto before = str(answer, "previous_status"); !before.empty() && before != status)
      line += fmt::format(" (was {})", before);
  }
  if (auto reason = str(answer, "reason"); !reason.empty()) {
    auto text = words(kReasonWords, reason);
    line += fmt::format(" — {}", text.empty() ? reason : text);
    if (const json::value* error = answer.if_contains("error"); error && error->is_object())
      if (auto message = str(error->get_object(), "message"); !message.empty())
        line += fmt::format(" {}", message);
  }
  if (const json::value* repeat = answer.if_contains("repeat");
      repeat && repeat->is_bool() && repeat->get_bool())
    line += " (repeat)";
  if (auto alert = str(answer, "alert_id"); !alert.empty()) line += fmt::format(" [alert {}]", alert);
  std::cout << line << '\n';
  if (const json::value* warnings = answer.if_contains("warnings"); warnings && warnings->is_array()) {
    for (const json::value& w : warnings->get_array()) {
      if (!w.is_string()) continue;
      auto text = words(kWarningWords, w.get_string());
      std::cout << fmt::format("{:<11} warning {}{}{}\n", "", std::string_view(w.get_string()),
                               text.empty() ? "" : ": ", text);
    }
  }
}

Next PackReport::failed_answer(const ApiAnswer& answer, std::string_view input, bool as_line) {
  const std::string words_of = problem_words(answer);
  if (input.empty())
    std::cerr << fmt::format("vpoint {}: {}\n", command_, words_of);
  else
    std::cerr << fmt::format("vpoint {}: {}: {}\n", command_, printable(input), words_of);
  if (answer.status >= 500) {
    raise(kExitUnreachable);
    return Next::stop;
  }
  raise(kExitNotOk);
  // The key or certificate is not accepted, or not for this: every further request would be refused alike.
  if (answer.status == 401 || answer.status == 403) return Next::stop;
  // Answered for this input: under --json the problem document is its line, so lines stay one per input.
  if (as_line && options_.json && answer.content_type == "application/problem+json") {
    std::string line = answer.body;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    std::cout << line << '\n';
  }
  return Next::go_on;
}

void PackReport::unreachable(const TransportError& error) {
  std::cerr << fmt::format("vpoint {}: vpointd unreachable: {}\n", command_, error.message);
  raise(kExitUnreachable);
}

bool PackReport::results(const ApiAnswer& answer, const std::vector<std::string_view>& inputs) {
  boost::system::error_code ec;
  json::value v = json::parse(answer.body, ec);
  const json::value* items = !ec && v.is_object() ? v.get_object().if_contains("results") : nullptr;
  if (items == nullptr || !items->is_array()) {
    std::cerr << fmt::format("vpoint {}: the answer has no results[] (HTTP {})\n", command_, answer.status);
    raise(kExitUnreachable);
    return false;
  }
  const json::array& list = items->get_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_object()) continue;
    std::string_view input = i < inputs.size() ? inputs[i]
                             : inputs.empty()  ? std::string_view()
                                               : inputs.back();
    pack(list[i].get_object(), json::serialize(list[i]), input);
  }
  return true;
}

Next PackReport::single(const Result<ApiAnswer, TransportError>& answer, std::string_view input) {
  if (!answer) {
    unreachable(answer.error());
    return Next::stop;
  }
  if (answer->status != 200 || answer->content_type != "application/json")
    return failed_answer(*answer, input, true);
  boost::system::error_code ec;
  json::value v = json::parse(answer->body, ec);
  if (ec || !v.is_object()) {
    std::cerr << fmt::format("vpoint {}: {}: the answer is not a JSON object\n", command_, printable(input));
    raise(kExitUnreachable);
    return Next::stop;
  }
  std::string_view raw = answer->body;
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) raw.remove_suffix(1);
  pack(v.get_object(), raw, input);
  return Next::go_on;
}

}  // namespace vpoint::cli
