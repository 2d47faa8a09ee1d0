#pragma once
// What the client subcommands print for vpointd's answers, and the exit status they add up to (docs/cli.md
// "Output" and "Exit status of the client subcommands"): one line per pack, human (verdict coloured on a
// terminal) or --json (the API's per-pack object as received, one per line); problem+json answers on stderr.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "api_client.hpp"

namespace vpoint::cli {

// The exit status contract of the client subcommands.
inline constexpr int kExitOk = 0;           // every pack ok
inline constexpr int kExitNotOk = 1;        // a pack refused / alert / unconfirmed, or a 4xx problem answer
inline constexpr int kExitUsage = 2;        // CLI11 errors, bad flags, bad input files
inline constexpr int kExitUnreachable = 3;  // no answer (refused, DNS, TLS, timeout) or a 5xx answer

struct ReportOptions {
  bool json = false;    // --json
  bool colour = false;  // verdict colours (stdout a terminal, NO_COLOR unset)
};
// Colour when stdout is a terminal and NO_COLOR is unset or empty (https://no-color.org).
bool colour_wanted();

// What to do after an answer: go on with the next input, or stop (the rest would fail the same way).
enum class Next { go_on, stop };

class PackReport {
 public:
  PackReport(std::string command, ReportOptions options) : command_(std::move(command)), options_(options) {}

  // One per-pack object (a single route's answer, or an item of results[]); `raw` is its JSON text as
  // received and `input` the scan it answers (shown when the answer names no pack).
  void pack(const boost::json::object& answer, std::string_view raw, std::string_view input);
  // An answer that is not 200 with JSON, for `input` ("" when it was about the whole request). With `as_line`
  // (the pack subcommands) a 4xx problem document is also `input`'s line under --json.
  Next failed_answer(const ApiAnswer& answer, std::string_view input, bool as_line = false);
  // No answer at all.
  void unreachable(const TransportError& error);
  // A 200 answer with a results[] array (POST /v1/bulk, /v1/scan): item i printed for inputs[i] (the last
  // input when there are fewer); false when the body is not such an object (reported, exit 3).
  bool results(const ApiAnswer& answer, const std::vector<std::string_view>& inputs);
  // The answer of a single pack route (POST /v1/verify, /v1/decommission, /v1/undo) for `input`.
  Next single(const Result<ApiAnswer, TransportError>& answer, std::string_view input);

  int exit_code() const { return exit_code_; }
  void raise(int code) { exit_code_ = std::max(exit_code_, code); }
  const std::string& command() const { return command_; }

 private:
  std::string command_;
  ReportOptions options_;
  int exit_code_ = kExitOk;
};

// Scanner text as a person can read it on one line: GS, RS, EOT and other control bytes as <GS>, <RS>, <EOT>,
// <0xNN>.
std::string printable(std::string_view scan);

// The lines of `path` ("-" = stdin), one trailing CR stripped, empty lines left out; nullopt when the file
// cannot be read.
std::optional<std::vector<std::string>> read_lines(const std::string& path);

// The usage error of a subcommand that CLI11 could not catch (a flag against the URL, an input file): printed
// as `vpoint <command>: <message>`, and exit status 2.
int usage_error(std::string_view command, std::string_view message);

}  // namespace vpoint::cli
