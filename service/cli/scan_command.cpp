// `vpoint scan FILE... [--operation verify|decommission] [--action A]`: each photo to POST /v1/scan, which
// decodes every code in it; one line per pack found (contract: docs/cli.md).
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "pack_report.hpp"
#include "remote_args.hpp"

namespace vpoint::cli {

namespace {

struct ScanArgs {
  RemoteArgs remote;
  std::vector<std::string> files;
  std::string operation = "verify";
  std::string action;
  bool json = false;
};

// The Content-Type from the file's signature, "" when it is neither PNG nor JPEG.
std::string_view media_type(std::string_view bytes) {
  if (bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return "image/png";
  if (bytes.substr(0, 3) == "\xFF\xD8\xFF") return "image/jpeg";
  return "";
}

int run_scan(const ScanArgs& args) {
  if (args.operation == "decommission" && args.action.empty())
    return usage_error("scan", "--action: required with --operation decommission");
  if (args.operation == "verify" && !args.action.empty())
    return usage_error("scan", "--action: only with --operation decommission");
  auto endpoint = resolve_endpoint(args.remote);
  if (!endpoint) return usage_error("scan", endpoint.error());
  std::vector<std::pair<std::string, std::string>> images;  // file, bytes
  for (const std::string& file : args.files) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (!in) return usage_error("scan", "FILE: cannot read " + file);
    if (media_type(bytes.str()).empty())
      return usage_error("scan", "FILE: " + file + " is not a PNG or JPEG image");
    images.emplace_back(file, bytes.str());
  }
  std::string target = "/v1/scan?operation=" + args.operation;
  if (!args.action.empty()) target += "&action=" + args.action;
  ApiClient client(std::move(*endpoint));
  PackReport report("scan", ReportOptions{args.json, colour_wanted()});
  for (const auto& [file, bytes] : images) {
    auto answer = client.post(target, bytes, std::string(media_type(bytes)),
                              args.operation == "verify" ? "" : new_idempotency_key());
    if (!answer) {
      report.unreachable(answer.error());
      break;
    }
    if (answer->status != 200 || answer->content_type != "application/json") {
      if (report.failed_answer(*answer, file) == Next::stop) break;
      continue;
    }
    if (!report.results(*answer, {file})) break;
  }
  return report.exit_code();
}

}  // namespace

void add_scan_command(CLI::App& app) {
  auto args = std::make_shared<ScanArgs>();
  auto* sub = app.add_subcommand("scan", "send photos (PNG/JPEG) to POST /v1/scan: every pack code in them");
  sub->add_option("FILE", args->files, "image files")->required()->check(CLI::ExistingFile);
  sub->add_option("--operation", args->operation, "what to do with the packs found")
      ->capture_default_str()
      ->check(CLI::IsMember({"verify", "decommission"}));
  sub->add_option("--action", args->action, "the decommission (with --operation decommission)")
      ->transform(CLI::Transformer({{"free-sample", "free_sample"}}))
      ->check(CLI::IsMember({"supply", "destroy", "export", "sample", "free_sample", "stolen", "lock"}));
  sub->add_flag("--json", args->json, "print each item of results[] as received, one JSON object per line");
  add_remote_options(sub, args->remote);
  sub->callback([args] { exit_code = run_scan(*args); });
}

}  // namespace vpoint::cli
