// `vpoint verify | supply | destroy | export | sample | free-sample | stolen | lock | unlock | undo --action
// A [SCAN...]`: one request per scan to a running vpointd, one line per pack (contract: docs/cli.md). These
// ten subcommands differ only in the route and the action, so they are rows of one table here rather than ten
// files.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "commands.hpp"
#include "pack_report.hpp"
#include "remote_args.hpp"

namespace vpoint::cli {

namespace {

namespace json = boost::json;

struct PackRoute {
  const char* command;
  const char* route;   // POST target
  const char* action;  // the API's action; "" = none (verify) or from --action (undo)
  const char* help;
};

// unlock is the undo of a lock (POST /v1/undo with action lock; permission unlock).
constexpr std::array<PackRoute, 10> kPackRoutes{{
    {"verify", "/v1/verify", "", "verify packs (POST /v1/verify): status, batch, expiry, recall"},
    {"supply", "/v1/decommission", "supply", "supply (dispense) packs to the patient"},
    {"destroy", "/v1/decommission", "destroy", "record packs as destroyed"},
    {"export", "/v1/decommission", "export", "record packs as exported out of the market"},
    {"sample", "/v1/decommission", "sample", "record packs as samples (for the authorities)"},
    {"free-sample", "/v1/decommission", "free_sample", "record packs as free samples"},
    {"stolen", "/v1/decommission", "stolen", "report packs as stolen"},
    {"lock", "/v1/decommission", "lock", "lock packs (e.g. while a suspicion is checked)"},
    {"unlock", "/v1/undo", "lock", "unlock packs (the undo of lock)"},
    {"undo", "/v1/undo", "", "undo a decommission (--action names it) within the undo window"},
}};

constexpr const char* kActions[] = {"supply", "destroy", "export", "sample", "free_sample", "stolen", "lock"};

struct PackArgs {
  RemoteArgs remote;
  std::vector<std::string> scans;
  std::string action;
  bool json = false;
};

int run_pack(const PackRoute& route, const PackArgs& args) {
  auto endpoint = resolve_endpoint(args.remote);
  if (!endpoint) return usage_error(route.command, endpoint.error());
  std::vector<std::string> scans = args.scans;
  if (scans.empty() || (scans.size() == 1 && scans[0] == "-")) {
    auto lines = read_lines("-");
    if (!lines) return usage_error(route.command, "SCAN: cannot read stdin");
    scans = std::move(*lines);
  }
  if (scans.empty())
    return usage_error(route.command, "SCAN: no scan given (as arguments or lines on stdin)");
  const std::string action = *route.action != '\0' ? std::string(route.action) : args.action;
  const bool change = std::string_view(route.route) != "/v1/verify";
  ApiClient client(std::move(*endpoint));
  PackReport report(route.command, ReportOptions{args.json, colour_wanted()});
  for (const std::string& scan : scans) {
    json::object body{{"scan", scan}};
    if (change) body["action"] = action;
    auto answer = client.post(route.route, json::serialize(body), "application/json",
                              change ? new_idempotency_key() : std::string());
    if (report.single(answer, scan) == Next::stop) break;
  }
  return report.exit_code();
}

}  // namespace

void add_pack_commands(CLI::App& app) {
  for (const PackRoute& route : kPackRoutes) {
    auto args = std::make_shared<PackArgs>();
    auto* sub = app.add_subcommand(route.command, route.help);
    sub->add_option(
        "SCAN", args->scans,
        "scanner text (GS as the byte 0x1D or <GS> / {GS}); none or '-': one scan per line of stdin");
    sub->add_flag("--json", args->json,
                  "print the API's per-pack object as received, one JSON object per line");
    if (std::string_view(route.command) == "undo") {
      sub->add_option("--action", args->action, "the decommission to undo")
          ->required()
          ->transform(CLI::Transformer({{"free-sample", "free_sample"}}))
          ->check(CLI::IsMember(std::vector<std::string>(std::begin(kActions), std::end(kActions))));
    }
    add_remote_options(sub, args->remote);
    sub->callback([route, args] { exit_code = run_pack(route, *args); });
  }
}

}  // namespace vpoint::cli
