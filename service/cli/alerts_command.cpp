// `vpoint alerts [--since S] [--reason R] [--limit N] [--json]` and `vpoint alerts ack ID --actor NAME`: the
// alerts as GET /v1/alerts shows them (acknowledgement and delivery status merged in), read from the mirror's
// Redis directly (cache::AlertLog), so they work whether or not a vpointd is running.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "redis_args.hpp"
#include "vpoint/cache/redis.hpp"
#include "vpoint/service/alerts.hpp"

namespace vpoint::cli {
namespace {

namespace json = boost::json;

struct ListArgs {
  RedisArgs redis;
  std::string since;
  std::string reason;
  std::size_t limit = 100;
  bool json = false;
};

struct AckArgs {
  std::string id;
  std::string actor;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --since: an alert id (exclusive: the last one seen), Unix milliseconds, an age ("90s", "15m", "2h", "7d"),
// or a UTC time ("2026-11-28", "2026-11-28T09:30:00Z"). The AlertQuery form ("" = invalid).
std::string since_query(const std::string& text, std::int64_t now) {
  static const std::regex kId(R"(\d{1,19}-\d{1,19})");
  static const std::regex kMs(R"(\d{1,19})");
  static const std::regex kAge(R"((\d{1,9})([smhd]))");
  static const std::regex kTime(R"((\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z)?)");
  std::smatch m;
  if (std::regex_match(text, kId) || std::regex_match(text, kMs)) return text;
  if (std::regex_match(text, m, kAge)) {
    std::int64_t n = std::stoll(m[1]);
    std::int64_t unit = m[2] == "s" ? 1000 : m[2] == "m" ? 60000 : m[2] == "h" ? 3600000 : 86400000;
    return std::to_string(std::max<std::int64_t>(0, now - n * unit));
  }
  if (std::regex_match(text, m, kTime)) {
    using namespace std::chrono;
    year_month_day ymd{year{std::stoi(m[1])}, month{static_cast<unsigned>(std::stoi(m[2]))},
                       day{static_cast<unsigned>(std::stoi(m[3]))}};
    if (!ymd.ok()) return "";
    int hh = m[4].matched ? std::stoi(m[4]) : 0, mm = m[5].matched ? std::stoi(m[5]) : 0;
    int ss = m[6].matched ? std::stoi(m[6]) : 0;
    if (hh > 23 || mm > 59 || ss > 59) return "";
    std::string frac = m[7].matched ? std::string(m[7]) : std::string();
    while (!frac.empty() && frac.size() < 3) frac.push_back('0');
    auto t = sys_days{ymd} + hours(hh) + minutes(mm) + seconds(ss) + milliseconds(frac.empty() ? 0 : std::stoi(frac));
    return std::to_string(duration_cast<milliseconds>(t.time_since_epoch()).count());
  }
  return "";
}

std::string text(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return "";
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

// "04150123456782/S001", or "04150123456782 lot L2" for a batch-level alert (recall).
std::string pack_cell(const json::object& alert) {
  const json::value* p = alert.if_contains("pack");
  if (!p || !p->is_object()) return "-";
  const auto& pack = p->get_object();
  std::string code = text(pack, "gtin");
  if (code.empty()) code = text(pack, "ppn");
  if (code.empty()) code = text(pack, "product_code");
  std::string serial = text(pack, "serial");
  if (!serial.empty()) return code + "/" + serial;
  std::string batch = text(pack, "batch");
  return batch.empty() ? code : code + " lot " + batch;
}

// "pending", or per target "central=delivered", "<url>=retrying(3)".
std::string delivery_cell(const json::object& alert) {
  const json::value* d = alert.if_contains("delivery");
  if (!d || d->is_null()) return "pending";
  if (d->is_string()) return std::string(d->get_string());
  if (!d->is_object()) return json::serialize(*d);
  std::string out;
  for (const auto& [target, status] : d->get_object()) {
    if (!out.empty()) out += ' ';
    std::string state = status.is_object() ? text(status.get_object(), "status") : json::serialize(status);
    out += fmt::format("{}={}", std::string_view(target), state);
    if (status.is_object() && state != "delivered") {
      std::string attempts = text(status.get_object(), "attempts");
      if (!attempts.empty()) out += "(" + attempts + ")";
    }
  }
  return out;
}

std::string acked_cell(const json::object& alert) {
  const json::value* a = alert.if_contains("ack");
  if (!a || !a->is_object()) return "no";
  return "yes (" + text(a->get_object(), "by") + ")";
}

void print_table(const std::vector<json::object>& alerts) {
  if (alerts.empty()) {
    std::cout << "no alerts\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "TIME", "REASON", "VERDICT", "PACK", "DELIVERY", "ACKED"});
  for (const auto& a : alerts)
    rows.push_back({text(a, "id"), text(a, "time"), text(a, "reason"), text(a, "verdict"), pack_cell(a),
                    delivery_cell(a), acked_cell(a)});
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      line += rows[r][c];
      if (c + 1 < rows[r].size()) line += std::string(width[c] - rows[r][c].size() + 2, ' ');
    }
    std::cout << line << '\n';
    // A recall alert names the packs of this site to pull from stock (issue 6 "Recalls").
    if (r == 0) continue;
    const auto& alert = alerts[r - 1];
    const json::value* details = alert.if_contains("details");
    if (!details || !details->is_object()) continue;
    const json::value* packs = details->get_object().if_contains("packs");
    if (!packs || !packs->is_array()) continue;
    std::string serials;
    for (const auto& p : packs->get_array())
      if (p.is_object()) serials += (serials.empty() ? "" : " ") + text(p.get_object(), "serial");
    std::string total = text(details->get_object(), "packs_total");
    std::cout << fmt::format("    packs of this site: {}{}{}\n", total.empty() ? std::to_string(packs->get_array().size()) : total,
                             serials.empty() ? "" : ": " + serials,
                             text(details->get_object(), "truncated") == "true" ? " (list truncated)" : "");
  }
}

boost::asio::awaitable<int> run_list(ListArgs args) {
  cache::Client client(co_await boost::asio::this_coro::executor, client_options(args.redis, std::chrono::seconds(5)));
  cache::AlertLog store(client);
  cache::AlertQuery query;
  query.since = args.since.empty() ? std::string() : since_query(args.since, now_ms());
  query.reason = args.reason;
  query.limit = args.limit;
  auto alerts = co_await store.list(query);
  client.close();
  if (!alerts) {
    std::cerr << "vpoint alerts: " << args.redis.redis << ": " << alerts.error().message << '\n';
    co_return 1;
  }
  if (args.json) {
    for (const auto& a : *alerts) std::cout << json::serialize(a) << '\n';
  } else {
    print_table(*alerts);
  }
  co_return 0;
}

boost::asio::awaitable<int> run_ack(AckArgs args, RedisArgs redis) {
  cache::Client client(co_await boost::asio::this_coro::executor, client_options(redis, std::chrono::seconds(5)));
  cache::AlertLog store(client);
  auto acked = co_await store.ack(args.id, args.actor);
  client.close();
  if (!acked) {
    std::cerr << "vpoint alerts ack: " << redis.redis << ": " << acked.error().message << '\n';
    co_return 1;
  }
  if (!*acked) {
    std::cerr << "vpoint alerts ack: no alert " << args.id << '\n';
    co_return 1;
  }
  std::cout << json::serialize(**acked) << '\n';
  co_return 0;
}

boost::asio::awaitable<int> run_redeliver(std::string id, RedisArgs redis) {
  cache::Client client(co_await boost::asio::this_coro::executor, client_options(redis, std::chrono::seconds(5)));
  cache::AlertLog store(client);
  auto targets = co_await store.redeliver(id);
  client.close();
  if (!targets) {
    std::cerr << "vpoint alerts redeliver: " << redis.redis << ": " << targets.error().message << '\n';
    co_return 1;
  }
  if (!*targets) {
    std::cerr << "vpoint alerts redeliver: no alert " << id << '\n';
    co_return 1;
  }
  if ((*targets)->empty()) {
    std::cerr << "vpoint alerts redeliver: alert " << id << " has no failed delivery (nothing to send again)\n";
    co_return 1;
  }
  for (const auto& t : **targets) std::cout << fmt::format("{}: queued for redelivery to {}\n", id, t);
  co_return 0;
}

template <class Task>
int run_blocking(Task task) {
  boost::asio::io_context io;
  auto done = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
  io.run();
  return done.get();
}

}  // namespace

void add_alerts_command(CLI::App& app) {
  auto list = std::make_shared<ListArgs>();
  auto ack = std::make_shared<AckArgs>();
  auto* sub = app.add_subcommand("alerts", "list alerts (acknowledgement and delivery status), or acknowledge one");
  add_redis_options(sub, list->redis);
  sub->add_option("--since", list->since,
                  "after this alert id, or since Unix ms, an age (90s, 15m, 2h, 7d) or a UTC time (2026-11-28T09:30:00Z)")
      ->check([](const std::string& s) -> std::string {
        return since_query(s, now_ms()).empty()
                   ? "must be an alert id (1700000000000-0), Unix milliseconds, an age like 2h or 7d, or a UTC time "
                     "like 2026-11-28T09:30:00Z"
                   : "";
      });
  sub->add_option("--reason", list->reason, "only alerts with this reason (unknown_serial, batch_recalled, ...)")
      ->check([](const std::string& s) -> std::string {
        static const std::regex kReason("[a-z][a-z0-9_]{0,63}");
        return std::regex_match(s, kReason) ? "" : "must be a reason code (lower case letters, digits, _)";
      });
  sub->add_option("--limit", list->limit, "at most this many alerts (oldest first)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  sub->add_flag("--json", list->json, "one JSON object per line (NDJSON), as GET /v1/alerts gives them");

  auto* ack_sub = sub->add_subcommand("ack", "acknowledge an alert (the first acknowledgement stands)");
  ack_sub->add_option("id", ack->id, "alert id as listed")->required()->check([](const std::string& s) -> std::string {
    static const std::regex kId(R"(\d{1,19}-\d{1,19})");
    return std::regex_match(s, kId) ? "" : "must be an alert id like 1700000000000-0";
  });
  ack_sub->add_option("--actor", ack->actor, "who acknowledges (recorded with the acknowledgement)")
      ->required()
      ->check([](const std::string& s) -> std::string { return s.empty() ? "must not be empty" : ""; });
  // --redis/--cluster/--password are the parent's: accepted before or after `ack`.
  ack_sub->fallthrough();
  ack_sub->callback([ack, list] { exit_code = run_blocking(run_ack(*ack, list->redis)); });

  auto redeliver_id = std::make_shared<std::string>();
  auto* redeliver_sub = sub->add_subcommand(
      "redeliver", "send an alert again to every target that refused it (delivery status \"failed\")");
  redeliver_sub->add_option("id", *redeliver_id, "alert id as listed")
      ->required()
      ->check([](const std::string& s) -> std::string {
        static const std::regex kId(R"(\d{1,19}-\d{1,19})");
        return std::regex_match(s, kId) ? "" : "must be an alert id like 1700000000000-0";
      });
  redeliver_sub->fallthrough();
  redeliver_sub->callback(
      [redeliver_id, list] { exit_code = run_blocking(run_redeliver(*redeliver_id, list->redis)); });

  sub->callback([list, ack_sub, redeliver_sub] {
    if (ack_sub->parsed() || redeliver_sub->parsed()) return;  // `alerts ack` / `alerts redeliver` ran instead
    exit_code = run_blocking(run_list(*list));
  });
}

}  // namespace vpoint::cli
