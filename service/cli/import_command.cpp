// `vpoint import [--redis URL] FILE`: loads an NDJSON snapshot (design.md) into the Redis mirror.
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "redis_args.hpp"
#include "vpoint/cache/import.hpp"
#include "vpoint/cache/mirror.hpp"

namespace vpoint::cli {
namespace {

struct ImportArgs {
  std::string file;
  RedisArgs redis;
  bool replace = false;
  int grace_seconds = 30;
  int buckets = 16;
  bool quiet = false;
};

boost::asio::awaitable<int> run_import(ImportArgs args, std::istream& in) {
  auto executor = co_await boost::asio::this_coro::executor;
  // 10 s: big pipelines, but a dead Redis fails fast.
  cache::Client client(executor, client_options(args.redis, std::chrono::seconds(10)));
  cache::MirrorOptions mirror_options;
  mirror_options.buckets_per_partition = args.buckets;
  cache::Mirror mirror(client, mirror_options);

  auto started = co_await mirror.start();
  if (!started) {
    std::cerr << "vpoint import: " << started.error().message << '\n';
    co_return 1;
  }
  auto problems = co_await mirror.check_settings();
  if (problems) {
    for (const auto& p : *problems)
      std::cerr << fmt::format("vpoint import: warning: Redis setting {} is {}, needs {}: {}\n", p.setting, p.actual,
                               p.required, p.message);
  }
  const std::int64_t previous = started->generation;
  const auto t0 = std::chrono::steady_clock::now();
  cache::ImportOptions options;
  options.replace = args.replace;
  options.drop_previous = false;
  if (!args.quiet) {
    options.progress = [t0](const cache::ImportProgress& p) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cerr << fmt::format("vpoint import: {} lines, {} products, {} batches, {} packs ({:.0f} lines/s)\n",
                               p.lines, p.products, p.batches, p.packs, s > 0 ? p.lines / s : 0.0);
    };
  }
  auto stats = co_await cache::import_snapshot(mirror, in, options);
  if (!stats) {
    std::cerr << "vpoint import: " << stats.error().message << '\n';
    co_return 1;
  }
  std::cout << fmt::format(
      "{{\"generation\":{},\"seq\":{},\"products\":{},\"batches\":{},\"packs\":{},\"aggregations\":{},"
      "\"seconds\":{:.3f}}}\n",
      stats->generation, stats->seq, stats->products, stats->batches, stats->packs, stats->aggregations,
      stats->seconds);
  if (args.replace && previous > 0 && previous != stats->generation) {
    // Running vpointd instances switch when they get the invalidation; give them time before the old
    // generation's keys disappear.
    if (!args.quiet) std::cerr << fmt::format("vpoint import: dropping generation {} in {} s\n", previous, args.grace_seconds);
    boost::asio::steady_timer timer(executor, std::chrono::seconds(args.grace_seconds));
    co_await timer.async_wait(boost::asio::use_awaitable);
    auto dropped = co_await cache::drop_generation(mirror, previous);
    if (!dropped) {
      std::cerr << "vpoint import: dropping the previous generation failed: " << dropped.error().message << '\n';
      co_return 1;
    }
  }
  co_return 0;
}

}  // namespace

void add_import_command(CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand("import", "Load an NDJSON snapshot of the central repository into the Redis mirror");
  cmd->add_option("file", args->file, "Snapshot file (NDJSON, design.md); - reads stdin")->required();
  add_redis_options(cmd, args->redis, "Redis URL");
  cmd->add_flag("--replace", args->replace,
                "Replace a live mirror (operator command): load a new generation, switch, drop the old one");
  cmd->add_option("--grace", args->grace_seconds, "Seconds to keep the previous generation after --replace")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  cmd->add_option("--buckets", args->buckets,
                  "Sub-buckets per partition of the new generation (about packs / 1024 / 600)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", args->quiet, "No progress on stderr");
  cmd->callback([args] {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (args->file != "-") {
      file.open(args->file);
      if (!file) {
        std::cerr << "vpoint import: file: cannot open " << args->file << '\n';
        exit_code = 1;
        return;
      }
      in = &file;
    }
    boost::asio::io_context io;
    std::optional<int> rc;
    boost::asio::co_spawn(io, run_import(*args, *in), [&](std::exception_ptr e, int code) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::cerr << "vpoint import: " << ex.what() << '\n';
        }
        rc = 1;
      } else {
        rc = code;
      }
    });
    io.run();
    exit_code = rc.value_or(1);
  });
}

}  // namespace vpoint::cli
