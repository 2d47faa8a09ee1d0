// `vpoint bulk FILE [--operation verify|decommission|undo] [--action A] [--chunk N] | --sscc SSCC`: many
// packs in POST /v1/bulk requests of at most --chunk items (and kMaxRequestBytes), one line per pack in input
// order, a progress bar on stderr when it is a terminal (contract: docs/cli.md).
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "commands.hpp"
#include "pack_report.hpp"
#include "remote_args.hpp"

namespace vpoint::cli {

namespace {

namespace json = boost::json;

// Well under vpointd's default [http] body_limit (8 MiB): a request is closed at this size even below
// --chunk.
constexpr std::size_t kMaxRequestBytes = 4u * 1024 * 1024;

struct BulkArgs {
  RemoteArgs remote;
  std::string file;
  std::string operation = "verify";
  std::string action;
  std::string sscc;
  int chunk = 1000;
  bool json = false;
};

struct BulkItem {
  std::string input;  // the line as read
  std::string json;   // the item: {"scan":…} or the NDJSON line's object
};

// A line is a scan, or (starting with '{') an NDJSON object {"scan":"…"} or {"pack":{…}}.
Result<BulkItem, std::string> read_item(std::string line, std::size_t number) {
  if (line.front() != '{') return BulkItem{line, json::serialize(json::object{{"scan", line}})};
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  const json::object* o = !ec && v.is_object() ? &v.get_object() : nullptr;
  const bool one_member = o != nullptr && o->size() == 1;
  const bool shaped = one_member && ((o->contains("scan") && o->at("scan").is_string()) ||
                                     (o->contains("pack") && o->at("pack").is_object()));
  if (!shaped)
    return Unexpected{
        fmt::format("FILE line {}: an NDJSON line must be {{\"scan\":\"…\"}} or {{\"pack\":{{…}}}}", number)};
  return BulkItem{o->contains("scan") ? std::string(o->at("scan").get_string()) : line, json::serialize(v)};
}

class ProgressBar {
 public:
  explicit ProgressBar(std::size_t total) : total_(total), shown_(isatty(STDERR_FILENO) == 1) {}
  void update(std::size_t done) {
    if (!shown_) return;
    constexpr std::size_t kWidth = 30;
    const std::size_t filled = total_ == 0 ? kWidth : done * kWidth / total_;
    std::cerr << fmt::format("\r[{}{}] {}/{} packs", std::string(filled, '#'),
                             std::string(kWidth - filled, '.'), done, total_)
              << std::flush;
  }
  void finish() {
    if (shown_) std::cerr << '\n';
  }

 private:
  std::size_t total_;
  bool shown_;
};

std::string request_head(const BulkArgs& args) {
  json::object head{{"operation", args.operation}};
  if (!args.action.empty()) head["action"] = args.action;
  return json::serialize(head);
}

int run_bulk(const BulkArgs& args) {
  if (args.operation == "verify" && !args.action.empty())
    return usage_error("bulk",
                       "--action: only with --operation decommission or undo (a verification takes none)");
  if (args.operation != "verify" && args.action.empty())
    return usage_error("bulk", "--action: required with --operation " + args.operation);
  if (args.file.empty() == args.sscc.empty())
    return usage_error("bulk", "FILE: give exactly one of FILE and --sscc");
  auto endpoint = resolve_endpoint(args.remote);
  if (!endpoint) return usage_error("bulk", endpoint.error());

  std::vector<BulkItem> items;
  if (!args.file.empty()) {
    auto lines = read_lines(args.file);
    if (!lines) return usage_error("bulk", "FILE: cannot read " + args.file);
    for (std::size_t i = 0; i < lines->size(); ++i) {
      auto item = read_item(std::move((*lines)[i]), i + 1);
      if (!item) return usage_error("bulk", item.error());
      items.push_back(std::move(*item));
    }
    if (items.empty()) return usage_error("bulk", "FILE: " + args.file + " holds no scan");
  }

  ApiClient client(std::move(*endpoint));
  PackReport report("bulk", ReportOptions{args.json, colour_wanted()});
  // One key per run; each request's is "<key>-<n>" and vpointd scopes each item's to it (":<index>").
  const std::string key = args.operation == "verify" ? "" : new_idempotency_key();
  std::string head = request_head(args);
  head.pop_back();  // the closing '}': items or sscc follow
  if (!args.sscc.empty()) {
    const std::string body = head + ",\"sscc\":" + json::serialize(json::value(args.sscc)) + "}";
    auto answer = client.post("/v1/bulk", body, "application/json", key.empty() ? "" : key + "-0");
    if (!answer)
      report.unreachable(answer.error());
    else if (answer->status != 200 || answer->content_type != "application/json")
      report.failed_answer(*answer, "");
    else
      report.results(*answer, {args.sscc});
    return report.exit_code();
  }

  ProgressBar progress(items.size());
  progress.update(0);
  std::size_t next = 0;
  for (std::size_t request = 0; next < items.size(); ++request) {
    const std::size_t first = next;
    std::string body = head + ",\"items\":[";
    for (; next < items.size() && next - first < static_cast<std::size_t>(args.chunk); ++next) {
      if (next > first && body.size() + items[next].json.size() + 2 > kMaxRequestBytes) break;
      if (next > first) body += ',';
      body += items[next].json;
    }
    body += "]}";
    auto answer = client.post("/v1/bulk", body, "application/json",
                              key.empty() ? "" : fmt::format("{}-{}", key, request));
    std::vector<std::string_view> inputs;
    for (std::size_t i = first; i < next; ++i) inputs.push_back(items[i].input);
    const std::string lines = fmt::format("lines {}-{}", first + 1, next);
    bool done = false;
    if (!answer)
      report.unreachable(answer.error());
    else if (answer->status != 200 || answer->content_type != "application/json")
      report.failed_answer(*answer, lines);
    else
      done = report.results(*answer, inputs);
    progress.update(done ? next : first);
    if (!done) {
      progress.finish();
      std::cerr << fmt::format("vpoint bulk: stopped at {}; {} of {} packs answered\n", lines, first,
                               items.size());
      return report.exit_code();
    }
  }
  progress.finish();
  return report.exit_code();
}

}  // namespace

void add_bulk_command(CLI::App& app) {
  auto args = std::make_shared<BulkArgs>();
  auto* sub = app.add_subcommand("bulk", "many packs in POST /v1/bulk requests (goods receipt, a shelf)");
  auto* file = sub->add_option(
      "FILE", args->file, "one scan per line, or NDJSON lines {\"scan\":…} / {\"pack\":{…}}; '-' = stdin");
  sub->add_option("--operation", args->operation, "what to do with every pack")
      ->capture_default_str()
      ->check(CLI::IsMember({"verify", "decommission", "undo"}));
  sub->add_option("--action", args->action, "the action of decommission / undo")
      ->transform(CLI::Transformer({{"free-sample", "free_sample"}}))
      ->check(CLI::IsMember({"supply", "destroy", "export", "sample", "free_sample", "stolen", "lock"}));
  sub->add_option("--chunk", args->chunk, "items per request (vpointd takes at most 10000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  sub->add_option("--sscc", args->sscc, "a case or pallet (18 digits): its packs, as vpointd knows them")
      ->excludes(file)
      ->check([](const std::string& s) -> std::string {
        if (s.size() == 18 && s.find_first_not_of("0123456789") == std::string::npos) return "";
        return "must be 18 digits";
      });
  sub->add_flag("--json", args->json, "print each item of results[] as received, one JSON object per line");
  add_remote_options(sub, args->remote);
  sub->callback([args] { exit_code = run_bulk(*args); });
}

}  // namespace vpoint::cli
