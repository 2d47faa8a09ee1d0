// `vpoint status [--redis URL] [--json]`: the central link's state as the mirror records it (feed position,
// last sync, outbox depth per partition, pending alerts and offline re-verifications). Reads Redis only, so it
// works whether or not a vpointd is running.
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "redis_args.hpp"
#include "vpoint/cache/alert_log.hpp"
#include "vpoint/cache/link_record.hpp"
#include "vpoint/cache/offline.hpp"
#include "vpoint/cache/outbox.hpp"
#include "vpoint/cache/redis.hpp"

namespace vpoint::cli {
namespace {

namespace json = boost::json;

struct StatusArgs {
  RedisArgs redis;
  bool json = false;
};

boost::asio::awaitable<int> run_status(StatusArgs args) {
  cache::Client client(co_await boost::asio::this_coro::executor, client_options(args.redis, std::chrono::seconds(5)));
  cache::Mirror mirror(client);
  auto position = co_await mirror.stored_feed_position();
  if (!position) {
    std::cerr << "vpoint status: " << args.redis.redis << ": " << position.error().message << '\n';
    client.close();
    co_return 1;
  }
  const auto [generation, feed_seq] = *position;
  auto link = co_await cache::LinkRecordStore(client).read();
  cache::AlertLog alert_log(client);
  auto alerts = co_await alert_log.size();
  cache::OfflineQueue queue(mirror);
  auto offline = co_await queue.depth();
  auto depth = co_await cache::Outbox(client).depth();
  client.close();
  if (!link || !alerts || !offline || !depth) {
    std::cerr << "vpoint status: " << args.redis.redis << ": Redis failed while reading the status\n";
    co_return 1;
  }
  json::object out{{"generation", generation},
                   {"feed_seq", feed_seq},
                   {"alerts", *alerts},
                   {"offline_unconfirmed", *offline}};
  json::object link_json;  // every value a string, as the hash holds it
  if (*link) {
    const cache::LinkRecord& r = **link;
    link_json = json::object{{"state", r.state},
                             {"generation", std::to_string(r.generation)},
                             {"feed_seq", std::to_string(r.feed_seq)},
                             {"central_seq", std::to_string(r.central_seq)},
                             {"last_sync_ms", std::to_string(r.last_sync_ms)},
                             {"instance", r.instance},
                             {"updated_ms", std::to_string(r.updated_ms)},
                             {"last_error", r.last_error}};
  }
  out["link"] = link_json;
  json::object partitions;
  for (const auto& [p, n] : depth->partitions) partitions[std::to_string(p)] = n;
  out["outbox"] = {{"total", depth->total}, {"partitions", partitions}};
  if (args.json) {
    std::cout << json::serialize(out) << '\n';
    co_return 0;
  }
  auto field = [&](const char* key) -> std::string {
    auto* v = link_json.if_contains(key);
    return v ? std::string(v->as_string()) : std::string("-");
  };
  std::cout << fmt::format("mirror     generation {}, feed position {}\n", generation, feed_seq);
  std::string last_sync = field("last_sync_ms");
  if (last_sync != "-" && last_sync != "0") {
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count() - std::stoll(last_sync);
    last_sync = fmt::format("{:.1f} s ago", static_cast<double>(age) / 1000.0);
  }
  std::cout << fmt::format("link       {} (instance {}), central head {}, last sync {}\n", field("state"),
                           field("instance"), field("central_seq"), last_sync);
  if (field("last_error") != "-" && !field("last_error").empty()) std::cout << "last error " << field("last_error") << '\n';
  std::cout << fmt::format("outbox     {} entries in {} partitions\n", depth->total, depth->partitions.size());
  for (const auto& [p, n] : depth->partitions) std::cout << fmt::format("  {}  {}\n", cache::Outbox::stream_name(p), n);
  std::cout << fmt::format("alerts     {} in the stream, {} offline scans awaiting re-verification\n", *alerts,
                           *offline);
  co_return 0;
}

}  // namespace

void add_status_command(CLI::App& app) {
  auto args = std::make_shared<StatusArgs>();
  auto* sub = app.add_subcommand("status", "central link status: feed position, last sync, outbox depth per partition");
  add_redis_options(sub, args->redis);
  sub->add_flag("--json", args->json, "one JSON object instead of text");
  sub->callback([args] {
    boost::asio::io_context io;
    auto done = boost::asio::co_spawn(io, run_status(*args), boost::asio::use_future);
    io.run();
    exit_code = done.get();
  });
}

}  // namespace vpoint::cli
