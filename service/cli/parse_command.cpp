// `vpoint parse [TEXT...]`: scanner text -> one JSON line each (contract: docs/cli.md).
#include <boost/json/serialize.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "vpoint/scanner/json.hpp"
#include "vpoint/scanner/parse.hpp"

namespace vpoint::cli {
namespace {

struct ParseArgs {
  std::vector<std::string> texts;
  std::vector<std::string> gs_standins;
};

// Prints one JSON line; true when the text parsed.
bool parse_one(const std::string& text, const scanner::ParseOptions& options) {
  const auto result = scanner::parse(text, options);
  std::cout << boost::json::serialize(scanner::to_json(result)) << '\n';
  return result.has_value();
}

}  // namespace

void add_parse_command(CLI::App& app) {
  auto args = std::make_shared<ParseArgs>();
  CLI::App* cmd = app.add_subcommand(
      "parse", "Parse scanner text (GS1 element string, (01)... form, Digital Link, IFA/PPN) to JSON, one line each");
  cmd->add_option("text", args->texts, "Scanner text; without any, each line of stdin is one scan");
  cmd->add_option("--gs", args->gs_standins,
                  "Extra stand-in the site's scanners send for GS (0x1D); repeatable. Used only when the "
                  "scan holds no real GS")
      ->allow_extra_args(false)  // one value per --gs, so TEXT after it stays a TEXT
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->callback([args] {
    scanner::ParseOptions options;
    options.extra_gs_standins = args->gs_standins;
    for (const auto& s : options.extra_gs_standins) {
      if (s.empty()) {
        std::cerr << "vpoint parse: --gs needs a non-empty stand-in string\n";
        exit_code = 2;
        return;
      }
    }
    bool all_ok = true;
    if (!args->texts.empty()) {
      for (const auto& text : args->texts) all_ok = parse_one(text, options) && all_ok;
    } else {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF from Windows scan tools
        all_ok = parse_one(line, options) && all_ok;
      }
    }
    std::cout.flush();
    exit_code = all_ok ? 0 : 1;
  });
}

}  // namespace vpoint::cli
