// The central link (central_link.hpp): feed, write-back, alert delivery, re-verification, read-through.
#include "vpoint/service/central_link.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/url.hpp>
#include <fmt/format.h>

#include "link_internal.hpp"
#include "recall_list.hpp"
#include "vpoint/cache/import.hpp"
#include "vpoint/cache/lease.hpp"
#include "vpoint/cache/offline.hpp"
#include "vpoint/cache/outbox.hpp"
#include "vpoint/service/logging.hpp"

namespace vpoint::service {

namespace asio = boost::asio;
namespace json = boost::json;
using cache::Command;
using cache::MirrorError;
using cache::MirrorErrorKind;
using cache::MirrorResult;
using cache::Reply;

namespace central_detail {

std::string pack_lookup_target(std::string_view code, std::string_view serial) {
  // Each value one percent-encoded segment: serials may hold '%', '?', '/', '&' (GS1 charset 82).
  boost::urls::url target;
  target.set_path("/central/v1/packs");
  target.segments().push_back(code);
  target.segments().push_back(serial);
  return std::string(target.encoded_path());
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_hex(std::size_t bytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rng() & 0xff);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace central_detail

using namespace central_detail;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Commands are built outside coroutine frames: GCC 12 miscompiles initializer lists inside co_await operands.
template <class... Args>
Command cmd(Args&&... args) {
  return Command{std::string(std::forward<Args>(args))...};
}

json::object json_pair(std::string_view key, std::string_view value) {
  json::object o;
  o[key] = value;
  return o;
}

std::vector<std::pair<std::string, std::string>> header_list(std::string name, std::string value) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back(std::move(name), std::move(value));
  return out;
}

constexpr std::size_t kOutboxReadSlice = 64;  // outbox streams read per pipelined step of a drain round

std::string_view sv(const json::value* v) {
  if (v && v->is_string()) return v->get_string();
  return {};
}
std::string str(const json::object& o, std::string_view key) { return std::string(sv(o.if_contains(key))); }

// Fields of a stream entry ([id, [f, v, f, v ...]]) as a map.
struct StreamEntry {
  std::string id;
  std::unordered_map<std::string, std::string> fields;
  const std::string& get(const std::string& key) const {
    static const std::string kEmpty;
    auto it = fields.find(key);
    return it == fields.end() ? kEmpty : it->second;
  }
};
std::vector<StreamEntry> stream_entries(const Reply& reply) {
  std::vector<StreamEntry> out;
  if (reply.type != Reply::Type::array) return out;
  for (const auto& e : reply.elements) {
    if (e.type != Reply::Type::array || e.elements.size() != 2) continue;
    StreamEntry entry;
    entry.id = e.elements[0].str;
    const auto& f = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) entry.fields[f[i].str] = f[i + 1].str;
    out.push_back(std::move(entry));
  }
  return out;
}

json::object pack_json_of(const std::string& code_key, const std::string& code, const std::string& serial,
                          const std::string& batch, const std::string& expiry) {
  json::object pack{{code_key, code}, {"serial", serial}};
  if (!batch.empty()) pack["batch"] = batch;
  if (!expiry.empty()) pack["expiry"] = expiry;
  return pack;
}

}  // namespace

std::string_view to_string(LinkState state) {
  switch (state) {
    case LinkState::starting: return "starting";
    case LinkState::loading: return "loading";
    case LinkState::following: return "following";
    case LinkState::offline: return "offline";
    case LinkState::stopped: return "stopped";
  }
  return "starting";
}

std::string validate(const CentralLinkOptions& o) {
  if (auto origin = parse_origin(o.url); !origin) return "[central] url: " + origin.error();
  for (std::size_t i = 0; i < o.webhooks.size(); ++i) {
    if (auto origin = parse_origin(o.webhooks[i].url); !origin)
      return fmt::format("[[webhooks]] #{} url: {}", i + 1, origin.error());
    if (o.webhooks[i].secret.empty()) return fmt::format("[[webhooks]] #{} secret: must not be empty", i + 1);
  }
  if (o.partitions_per_lease <= 0 || cache::kPartitions % o.partitions_per_lease != 0)
    return fmt::format("partitions_per_lease must divide {}", cache::kPartitions);
  if (o.drain_batch == 0 || o.drain_batch > 10000) return "drain_batch must be 1..10000 (the central system's limit)";
  return {};
}

CentralLinkOptions central_link_options(const Config& config) {
  CentralLinkOptions o;
  o.url = config.central.url;
  o.offline = config.central.offline;
  o.webhooks = config.webhooks;
  o.location = config.location.gln;
  o.recall_lookback = std::chrono::hours(24) * config.central.recall_lookback_days;
  o.audit_dir = config.audit.dir;
  return o;
}


struct CentralLink::Impl : std::enable_shared_from_this<CentralLink::Impl> {
  asio::any_io_executor executor;
  cache::Client& redis;
  cache::Mirror& mirror;
  CentralLinkOptions options;
  std::shared_ptr<Readiness> readiness;
  Origin central_origin;
  std::unique_ptr<HttpConnectionPool> lookup_pool;
  OfflineReplayer replayer;  // set before start() (vpointd: the pack routes' replay)
  cache::AlertLog alerts;    // every alert the link raises, and the senders' side of delivery
  cache::Outbox outbox;      // the state changes waiting for the central system's answer

  std::atomic<bool> stopping{false};
  std::atomic<bool> started{false};
  std::mutex mutex;  // guards status, roles_running
  std::condition_variable roles_done;
  int roles_running = 0;
  LinkStatus link_status;
  std::atomic<bool> importing{false};
  std::atomic<bool> central_reachable{false};
  // Connections that stop() closes to end long polls at once: (strand, connection).
  std::vector<std::pair<asio::strand<asio::any_io_executor>, std::shared_ptr<HttpConnection>>> live_connections;

  Impl(asio::any_io_executor ex, cache::Client& c, cache::Mirror& m, CentralLinkOptions o, std::shared_ptr<Readiness> r)
      : executor(std::move(ex)), redis(c), mirror(m), options(std::move(o)), readiness(std::move(r)), alerts(c), outbox(c) {
    if (options.instance_id.empty()) options.instance_id = cache::default_lease_owner();
    if (auto origin = parse_origin(options.url)) central_origin = *origin;
    lookup_pool = std::make_unique<HttpConnectionPool>(executor, central_origin, client_options(options.lookup_timeout));
  }

  HttpClientOptions client_options(std::chrono::milliseconds timeout) const {
    HttpClientOptions o;
    o.request_timeout = timeout;
    o.connect_timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::milliseconds(2000));
    o.ca_file = options.ca_file;
    return o;
  }

  template <class F>
  void update(F f) {
    std::lock_guard lock(mutex);
    f(link_status);
  }
  void set_error(std::string message) {
    update([&](LinkStatus& s) { s.last_error = std::move(message); });
  }

  // Sleeps in slices so that stop() is noticed quickly.
  asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto until = std::chrono::steady_clock::now() + d;
    while (!stopping && std::chrono::steady_clock::now() < until) {
      timer.expires_after(std::min<std::chrono::steady_clock::duration>(until - std::chrono::steady_clock::now(),
                                                                       std::chrono::milliseconds(50)));
      co_await timer.async_wait(kTuple);
    }
  }
  std::chrono::milliseconds next_backoff(std::chrono::milliseconds current) const {
    if (current.count() == 0) return options.backoff_min;
    return std::min(current * 2, options.backoff_max);
  }

  void spawn(std::string name, std::function<asio::awaitable<void>(asio::strand<asio::any_io_executor>)> role) {
    {
      std::lock_guard lock(mutex);
      ++roles_running;
    }
    auto strand = asio::make_strand(executor);
    auto self = shared_from_this();
    asio::co_spawn(
        strand,
        [self, strand, role = std::move(role), name]() -> asio::awaitable<void> {
          try {
            co_await role(strand);
          } catch (const std::exception& e) {
            log_event(spdlog::level::err, "central_link_role_failed", {{"role", name}, {"error", e.what()}});
          }
          std::lock_guard lock(self->mutex);
          --self->roles_running;
          self->roles_done.notify_all();
        },
        asio::detached);
  }

  // The connection of a role, shared with stop(): a close() posted by stop() may run after the role ended.
  std::shared_ptr<HttpConnection> role_connection(asio::strand<asio::any_io_executor> strand, const Origin& origin) {
    auto c = std::make_shared<HttpConnection>(strand, origin, client_options(options.request_timeout));
    std::lock_guard lock(mutex);
    live_connections.emplace_back(strand, c);
    return c;
  }

  // ---------------------------------------------------------------- status in Redis (for `vpoint status`)
  asio::awaitable<void> publish_status() {
    LinkStatus s;
    {
      std::lock_guard lock(mutex);
      s = link_status;
    }
    co_await redis.command(cmd("HSET", std::string(kLinkStatusKey), "state", std::string(to_string(s.state)), "generation",
                            std::to_string(s.generation), "feed_seq", std::to_string(s.feed_seq), "central_seq",
                            std::to_string(s.central_seq), "last_sync_ms", std::to_string(s.last_sync_ms), "instance",
                            options.instance_id, "updated_ms", std::to_string(unix_ms_now()), "last_error",
                            s.last_error));
  }

  // ---------------------------------------------------------------- feed
  asio::awaitable<bool> import_snapshot(HttpConnection& http, bool replace) {
    importing = true;
    update([](LinkStatus& s) {
      s.state = LinkState::loading;
      s.import_packs = 0;
    });
    log_event(spdlog::level::info, "snapshot_import_started", {{"url", options.url}, {"replace", replace}});
    cache::ImportOptions io;
    io.replace = replace;
    io.progress_every = 100000;
    auto self = this;
    io.progress = [self](const cache::ImportProgress& p) {
      self->update([&](LinkStatus& s) { s.import_packs = p.packs; });
      log_event(spdlog::level::info, "snapshot_import_progress",
                {{"lines", p.lines}, {"products", p.products}, {"batches", p.batches}, {"packs", p.packs}});
    };
    cache::SnapshotLoader loader(mirror, io);
    auto begun = co_await loader.begin();
    if (!begun) {
      importing = false;
      set_error("snapshot import: " + begun.error().message);
      log_event(spdlog::level::err, "snapshot_import_failed", {{"error", begun.error().message}});
      co_return false;
    }
    std::string line_error;
    LineHandler on_line = [&](std::string_view line) -> asio::awaitable<bool> {
      auto added = co_await loader.add_line(line);
      if (!added) {
        line_error = added.error().message;
        co_return false;
      }
      co_return !stopping.load();
    };
    auto streamed = co_await http.stream_lines("/central/v1/snapshot", on_line, options.snapshot_idle_timeout);
    std::string failure;
    if (!streamed) failure = streamed.error().message;
    else if (!line_error.empty()) failure = line_error;
    else if (streamed->status != 200) failure = fmt::format("HTTP {}: {}", streamed->status, streamed->error_body);
    else if (streamed->stopped) failure = "stopped";
    if (failure.empty()) {
      auto stats = co_await loader.finish();
      if (!stats) failure = stats.error().message;
      else {
        update([&](LinkStatus& s) {
          s.generation = stats->generation;
          s.feed_seq = stats->seq;
          s.import_packs = stats->packs;
          s.last_sync_ms = unix_ms_now();
        });
        log_event(spdlog::level::info, "snapshot_import_done",
                  {{"generation", stats->generation}, {"seq", stats->seq}, {"products", stats->products},
                   {"batches", stats->batches}, {"packs", stats->packs}, {"seconds", stats->seconds}});
      }
    }
    importing = false;
    if (!failure.empty()) {
      set_error("snapshot import: " + failure);
      log_event(spdlog::level::err, "snapshot_import_failed", {{"error", failure}});
      co_return false;
    }
    co_return true;
  }

  asio::awaitable<void> follow_feed(asio::strand<asio::any_io_executor> strand) {
    auto http_ptr = role_connection(strand, central_origin);
    HttpConnection& http = *http_ptr;
    std::chrono::milliseconds backoff{0};
    bool need_replace = false;
    std::int64_t last_seq = -1;
    while (!stopping) {
      auto position = co_await mirror.feed_position();
      if (!position) {
        set_error(position.error().message);
        backoff = next_backoff(backoff);
        co_await sleep(backoff);
        continue;
      }
      auto [generation, seq] = *position;
      if (generation == 0 || need_replace) {
        // Empty mirror (first start) or a position the feed no longer has: a full snapshot.
        bool ok = co_await import_snapshot(http, need_replace);
        if (!ok) {
          update([](LinkStatus& s) { s.state = LinkState::offline; });
          central_reachable = false;
          backoff = next_backoff(backoff);
          co_await sleep(backoff);
          continue;
        }
        need_replace = false;
        backoff = {};
        continue;
      }
      if (last_seq >= 0 && seq < last_seq) seq = last_seq;  // another instance may lag; never go back
      update([&](LinkStatus& s) {
        s.generation = generation;
        s.feed_seq = seq;
      });
      std::string target = fmt::format("/central/v1/changes?since={}&wait={}", seq, options.feed_wait.count());
      auto res = co_await http.request(boost::beast::http::verb::get, target, {}, {},
                                       options.feed_wait + std::chrono::seconds(10));
      if (!res || res->result_int() >= 500) {
        std::string why = !res ? res.error().message : fmt::format("HTTP {}", res->result_int());
        central_reachable = false;
        update([&](LinkStatus& s) {
          s.state = LinkState::offline;
          s.last_error = "change feed: " + why;
        });
        co_await publish_status();
        log_event(spdlog::level::warn, "central_feed_unavailable", {{"error", why}});
        backoff = next_backoff(backoff);
        co_await sleep(backoff);
        continue;
      }
      if (res->result_int() == 410) {
        log_event(spdlog::level::warn, "central_feed_position_gone", {{"since", seq}});
        need_replace = true;
        continue;
      }
      if (res->result_int() != 200) {
        set_error(fmt::format("change feed: HTTP {}: {}", res->result_int(), res->body().substr(0, 300)));
        backoff = next_backoff(backoff);
        co_await sleep(backoff);
        continue;
      }
      central_reachable = true;
      backoff = {};
      std::int64_t head = 0;
      if (auto it = res->find("Central-Seq"); it != res->end()) head = std::atoll(std::string(it->value()).c_str());
      std::vector<std::string> lines;
      std::int64_t expected = seq + 1;
      std::uint64_t gaps = 0;
      std::string_view body = res->body();
      while (!body.empty()) {
        auto nl = body.find('\n');
        std::string_view line = body.substr(0, nl);
        body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
        if (line.empty()) continue;
        // Gaps: the feed numbers every change; a jump means changes we never saw (reported, not fatal: the
        // lines we have are still newer than the mirror).
        boost::system::error_code ec;
        auto v = json::parse(line, ec);
        if (!ec && v.is_object()) {
          if (auto* s = v.as_object().if_contains("seq"); s && s->is_int64()) {
            std::int64_t n = s->get_int64();
            if (n <= seq) continue;  // already applied (idempotent replay)
            if (n != expected) {
              ++gaps;
              log_event(spdlog::level::warn, "central_feed_gap", {{"expected", expected}, {"got", n}});
            }
            expected = n + 1;
          }
        }
        lines.emplace_back(line);
      }
      std::int64_t new_seq = seq;
      if (!lines.empty()) {
        auto applied = co_await apply_changes(mirror, lines);
        if (!applied) {
          set_error("feed apply: " + applied.error().message);
          log_event(spdlog::level::err, "central_feed_apply_failed", {{"error", applied.error().message}});
          backoff = next_backoff(backoff);
          co_await sleep(backoff);
          continue;
        }
        new_seq = *applied;
      }
      last_seq = new_seq;
      update([&](LinkStatus& s) {
        s.state = LinkState::following;
        s.feed_seq = new_seq;
        s.central_seq = std::max(head, new_seq);
        s.last_sync_ms = unix_ms_now();
        s.feed_gaps += gaps;
        s.last_error.clear();
      });
      co_await publish_status();
      // After the position is recorded: the recall list reads the whole audit trail of the lookback window.
      if (!lines.empty()) co_await announce_recalls(lines);
    }
  }

  // A batch recalled or withdrawn through the feed: one alert for this site (issue 6 "Recalls") that lists
  // the packs of that batch this site received or verified in the last recall_lookback, so stock can be pulled.
  asio::awaitable<void> announce_recalls(const std::vector<std::string>& lines) {
    for (const auto& line : lines) {
      boost::system::error_code ec;
      auto v = json::parse(line, ec);
      if (ec || !v.is_object()) continue;
      const auto& o = v.as_object();
      if (str(o, "type") != "batch" || str(o, "op") == "delete") continue;
      std::string state = str(o, "state");
      if (state != "recalled" && state != "withdrawn") continue;
      std::string code_key = o.contains("gtin") ? "gtin" : "ppn";
      std::string code = str(o, code_key), batch = str(o, "batch");
      std::string seq_text = o.contains("seq") ? json::serialize(o.at("seq")) : std::string("-");
      // Every instance follows the feed: the first to claim this change raises the alert, the others skip it.
      std::string claim = fmt::format("recall:{}:{}:{}:{}", code, batch, state, seq_text);
      auto claimed = co_await alerts.claim(claim, options.instance_id);
      if (claimed && !*claimed) continue;
      RecallList list = co_await recall_list(code, batch);
      json::object pack{{code_key, code}, {"batch", batch}, {"expiry", str(o, "expiry")}};
      json::object details{{"batch_reason", str(o, "reason")},
                           {"feed_seq", o.contains("seq") ? o.at("seq") : json::value()},
                           {"lookback_days", std::chrono::duration_cast<std::chrono::hours>(options.recall_lookback).count() / 24},
                           {"packs", std::move(list.packs)},
                           {"packs_total", list.total},
                           {"truncated", list.truncated}};
      if (!list.error.empty()) details["packs_error"] = list.error;
      json::object alert{{"reason", state == "recalled" ? "batch_recalled" : "batch_withdrawn"},
                         {"nmvs_code", nullptr},
                         {"verdict", state},
                         {"pack", std::move(pack)},
                         {"location", options.location},
                         {"actor", "central"},
                         {"transaction_id", nullptr},
                         {"details", std::move(details)}};
      co_await raise_alert(std::move(alert));
    }
  }

  struct RecallList {
    json::array packs;  // [{"serial","last_seen","ops","status"}], most recently seen first
    std::size_t total = 0;
    bool truncated = false;
    std::string error;  // the list may be incomplete: why
  };

  // This site's packs of (code, batch) in the audit trail of the lookback window: the streams au:{P} (1 024
  // XRANGEs pipelined per round, from MIN id = now - lookback) and the archive files; each pack's batch comes
  // from Mirror::peek (audit entries carry none).
  asio::awaitable<RecallList> recall_list(const std::string& code, const std::string& batch) {
    RecallList out;
    std::set<std::string> codes{code};
    auto product = co_await mirror.product(code);
    if (product && *product) {
      // Audit entries carry the code the mirror keyed the pack by; a feed line may name the other one.
      const cache::Product& known = **product;
      codes.insert(known.code);
      if (!known.gtin.empty()) codes.insert(known.gtin);
      if (!known.ppn.empty()) codes.insert(known.ppn);
    }
    RecallCollector collector(std::move(codes), options.location);
    const std::int64_t since_ms =
        unix_ms_now() - std::chrono::duration_cast<std::chrono::milliseconds>(options.recall_lookback).count();
    std::vector<std::string> next(cache::kPartitions, std::to_string(since_ms));
    std::vector<int> open(cache::kPartitions);
    for (int p = 0; p < cache::kPartitions; ++p) open[p] = p;
    const std::size_t per_read = std::max<std::size_t>(options.recall_scan_batch, 1);
    const std::string count = std::to_string(per_read);
    while (!open.empty() && !stopping) {
      std::vector<Command> reads;
      reads.reserve(open.size());
      for (int p : open) reads.push_back(cmd("XRANGE", fmt::format("au:{{{}}}", p), next[p], "+", "COUNT", count));
      auto replies = co_await redis.pipeline(std::move(reads));
      std::vector<int> still_open;
      for (std::size_t i = 0; i < replies.size() && i < open.size(); ++i) {
        if (!replies[i] || replies[i]->is_error()) {
          out.error = "audit streams: " + (replies[i] ? replies[i]->str : replies[i].error().message);
          continue;
        }
        auto entries = stream_entries(*replies[i]);
        for (const auto& e : entries) {
          if (!collector.wants(e.get("code"), e.get("location")) || !stream_outcome_counts(e.get("outcome"))) continue;
          collector.add(e.get("code"), e.get("serial"), op_name_of_stream(e.get("op"), e.get("action")),
                        std::atoll(e.id.c_str()));
        }
        if (!entries.empty() && entries.size() >= per_read) {
          next[open[i]] = "(" + entries.back().id;
          still_open.push_back(open[i]);
        }
      }
      open = std::move(still_open);
    }
    if (!options.audit_dir.empty()) {
      // Entries older than a few minutes live in the archive files: read them off the io_context threads.
      auto scan = std::async(std::launch::async, [&] { return scan_audit_archive(options.audit_dir, since_ms, collector); });
      asio::steady_timer timer(co_await asio::this_coro::executor);
      while (scan.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(kTuple);
      }
      auto scanned = scan.get();
      if (!scanned) out.error = "audit archive: " + scanned.error();
    }
    // Keep the packs of the recalled batch; peek in slices so that one pipeline stays small.
    auto seen = collector.sightings();
    constexpr std::size_t kSlice = 1000;
    for (std::size_t from = 0; from < seen.size(); from += kSlice) {
      std::vector<std::pair<std::string, std::string>> slice;
      for (std::size_t i = from; i < std::min(seen.size(), from + kSlice); ++i) slice.emplace_back(seen[i].code, seen[i].serial);
      auto peeked = co_await mirror.peek_many(std::move(slice));
      for (std::size_t k = 0; k < peeked.size(); ++k) {
        if (!peeked[k]) {
          out.error = "mirror: " + peeked[k].error().message;
          continue;
        }
        if (!*peeked[k] || (*peeked[k])->batch != batch) continue;
        ++out.total;
        if (out.packs.size() >= options.recall_list_cap) {
          out.truncated = true;
          continue;
        }
        const PackSighting& s = seen[from + k];
        json::array ops;
        for (const auto& op : s.ops) ops.push_back(json::value(op));
        out.packs.push_back(json::object{{"serial", s.serial},
                                         {"last_seen", iso_time_ms(s.last_seen_ms)},
                                         {"ops", std::move(ops)},
                                         {"status", cache::to_string((*peeked[k])->status)}});
      }
    }
    co_return out;
  }

  // ---------------------------------------------------------------- alerts
  asio::awaitable<MirrorResult<std::string>> raise_alert(json::object alert) {
    std::string reason = str(alert, "reason"), tx = str(alert, "transaction_id");
    auto id = co_await alerts.raise(std::move(alert));
    if (id) log_event(spdlog::level::warn, "alert_raised", {{"id", *id}, {"reason", reason}, {"transaction_id", tx}});
    co_return id;
  }


  // ---------------------------------------------------------------- write-back
  asio::awaitable<std::optional<cache::Product>> product_of(std::unordered_map<std::string, std::optional<cache::Product>>& cache_map,
                                                            const std::string& code) {
    if (auto it = cache_map.find(code); it != cache_map.end()) co_return it->second;
    auto p = co_await mirror.product(code);
    std::optional<cache::Product> product = p ? *p : std::nullopt;
    if (p) cache_map[code] = product;
    co_return product;
  }

  // The transaction JSON of one outbox entry (design.md "POST /central/v1/transactions").
  json::object transaction_of(const cache::OutboxEntry& e, const std::optional<cache::Product>& product) {
    const std::string& code = e.code;
    std::string code_key = "gtin";
    std::string batch, expiry;
    if (product) {
      if (code != product->gtin && !product->ppn.empty() && (code == product->ppn || product->gtin.empty())) code_key = "ppn";
      if (e.batch_index < product->batches.size()) {
        batch = product->batches[e.batch_index].batch;
        expiry = product->batches[e.batch_index].expiry;
      }
    } else if (code.size() != 14) {
      code_key = "ppn";
    }
    json::object tx{{"id", e.transaction_id},
                    {code_key, code},
                    {"serial", e.serial},
                    {"batch", batch},
                    {"expiry", expiry},
                    {"action", cache::to_string(e.action)},
                    {"undo", e.operation == cache::Operation::undo},
                    {"location", e.location},
                    {"actor", e.actor},
                    {"time", iso_time_ms(e.time_ms)}};
    return tx;
  }

  // Who got there first: the latest history entry of the pack at the central system that is not ours.
  asio::awaitable<json::object> conflict_details(const json::object& tx) {
    json::object details;
    std::string code = tx.contains("gtin") ? str(tx, "gtin") : str(tx, "ppn");
    auto lease = lookup_pool->acquire();
    auto res = co_await lease->request(boost::beast::http::verb::get, pack_lookup_target(code, str(tx, "serial")));
    if (!res || res->result_int() != 200) co_return details;
    boost::system::error_code ec;
    auto v = json::parse(res->body(), ec);
    if (ec || !v.is_object()) co_return details;
    const auto& o = v.as_object();
    details["central_status"] = str(o, "status");
    if (auto* h = o.if_contains("history"); h && h->is_array()) {
      const auto& history = h->as_array();
      for (auto it = history.rbegin(); it != history.rend(); ++it) {
        if (!it->is_object()) continue;
        const auto& entry = it->as_object();
        std::string other = str(entry, "transaction");
        if (other == str(tx, "id")) continue;
        details["conflicting_transaction"] = other;
        details["conflicting_location"] = str(entry, "location");
        details["conflicting_actor"] = str(entry, "actor");
        details["conflicting_event"] = str(entry, "event");
        if (auto* t = entry.if_contains("time")) details["conflicting_time"] = *t;
        break;
      }
    }
    co_return details;
  }

  asio::awaitable<void> alert_rejection(const json::object& tx, std::string_view code) {
    json::object details = co_await conflict_details(tx);
    details["action"] = tx.at("action");
    details["undo"] = tx.at("undo");
    std::string code_key = tx.contains("gtin") ? "gtin" : "ppn";
    json::object alert{{"reason", "central_rejected"},
                       {"nmvs_code", code.empty() ? json::value() : json::value(code)},
                       {"verdict", "rejected"},
                       {"pack", pack_json_of(code_key, str(tx, code_key), str(tx, "serial"), str(tx, "batch"), str(tx, "expiry"))},
                       {"location", tx.at("location")},
                       {"actor", tx.at("actor")},
                       {"transaction_id", tx.at("id")},
                       {"details", std::move(details)}};
    co_await raise_alert(std::move(alert));
  }

  asio::awaitable<void> drain_outbox(asio::strand<asio::any_io_executor> strand) {
    auto http_ptr = role_connection(strand, central_origin);
    HttpConnection& http = *http_ptr;
    const int ranges = cache::kPartitions / options.partitions_per_lease;
    std::vector<cache::Lease> leases;  // one per range of options.partitions_per_lease partitions
    for (int r = 0; r < ranges; ++r)
      leases.emplace_back(redis, "outbox:" + std::to_string(r), options.instance_id, options.lease_ttl);
    auto lease_checked = std::chrono::steady_clock::time_point{};
    std::chrono::milliseconds backoff{0};
    bool one_by_one = false;
    std::size_t cursor = 0;  // index into the owned partitions where the next round starts
    while (!stopping) {
      if (std::chrono::steady_clock::now() - lease_checked > options.lease_ttl / 3) {
        for (auto& lease : leases) co_await lease.hold();
        lease_checked = std::chrono::steady_clock::now();
      }
      std::vector<int> owned;
      for (int r = 0; r < ranges; ++r)
        if (leases[r].held())
          for (int p = r * options.partitions_per_lease; p < (r + 1) * options.partitions_per_lease; ++p) owned.push_back(p);
      if (owned.empty()) {
        co_await sleep(options.lease_ttl / 3);
        continue;
      }
      // Fairness and cost under a backlog: a round starts at the partition after the last one the previous
      // round took entries from (else the high partitions wait while the low ones keep filling the batch), and
      // reads the owned partitions in slices only until the batch is full (not the whole backlog each round).
      const std::size_t n = owned.size();
      const std::size_t start = cursor % n;
      std::size_t last_taken = n;  // n = none
      std::vector<cache::OutboxEntry> items;
      bool redis_failed = false;
      for (std::size_t done = 0; done < n && items.size() < options.drain_batch && !redis_failed;) {
        const std::size_t slice = std::min(kOutboxReadSlice, n - done);
        const std::size_t want = std::min(options.per_partition, options.drain_batch - items.size());
        std::vector<int> partitions;
        partitions.reserve(slice);
        for (std::size_t k = 0; k < slice; ++k) partitions.push_back(owned[(start + done + k) % n]);
        auto read = co_await outbox.read(partitions, want);
        if (!read) {
          redis_failed = true;
          break;
        }
        for (std::size_t i = 0; i < read->size() && items.size() < options.drain_batch; ++i) {
          // Whole prefix of a partition, in stream order: the central system sees its changes in order.
          for (auto& e : (*read)[i]) {
            if (items.size() >= options.drain_batch) break;
            items.push_back(std::move(e));
            last_taken = (start + done + i) % n;
          }
        }
        done += slice;
      }
      cursor = last_taken == n ? start : last_taken + 1;
      if (redis_failed) {
        backoff = next_backoff(backoff);
        co_await sleep(backoff);
        continue;
      }
      if (items.empty()) {
        co_await sleep(options.drain_idle);
        continue;
      }
      if (one_by_one) items.resize(1);
      std::unordered_map<std::string, std::optional<cache::Product>> products;
      json::array transactions;
      for (const auto& item : items) {
        auto product = co_await product_of(products, item.code);
        transactions.push_back(transaction_of(item, product));
      }
      std::string body = json::serialize(json::object{{"transactions", transactions}});
      update([&](LinkStatus& s) { s.sent += items.size(); });
      auto res = co_await http.request(boost::beast::http::verb::post, "/central/v1/transactions", std::move(body),
                                       header_list("Idempotency-Key", str(transactions[0].as_object(), "id")));
      if (!res || res->result_int() >= 500 || res->result_int() == 408 || res->result_int() == 429) {
        // Nothing leaves the outbox: the same transactions (same ids) go again after the backoff.
        std::string why = !res ? res.error().message : fmt::format("HTTP {}", res->result_int());
        set_error("write-back: " + why);
        log_event(spdlog::level::warn, "central_writeback_retry",
                  {{"error", why}, {"transactions", items.size()}, {"backoff_ms", next_backoff(backoff).count()}});
        backoff = next_backoff(backoff);
        co_await sleep(backoff);
        continue;
      }
      backoff = {};
      std::vector<std::pair<std::string, std::string>> verdicts;  // (tx id, "accepted" | "rejected:<code>")
      std::unordered_map<std::string, std::pair<std::string, std::string>> by_id;  // id -> (result, code)
      if (res->result_int() == 200) {
        boost::system::error_code ec;
        auto v = json::parse(res->body(), ec);
        if (!ec && v.is_object())
          if (auto* r = v.as_object().if_contains("results"); r && r->is_array())
            for (const auto& e : r->as_array())
              if (e.is_object()) by_id[str(e.as_object(), "id")] = {str(e.as_object(), "result"), str(e.as_object(), "code")};
        one_by_one = false;
      } else if (items.size() > 1) {
        // A 4xx for the whole batch: find the offending entry by sending one at a time.
        log_event(spdlog::level::warn, "central_writeback_batch_refused",
                  {{"status", res->result_int()}, {"body", res->body().substr(0, 300)}});
        one_by_one = true;
        continue;
      } else {
        // This one entry is refused as malformed: it can never be accepted; it leaves with an alert.
        by_id[str(transactions[0].as_object(), "id")] = std::make_pair(std::string("rejected"), std::string("VPOINT_BAD_TRANSACTION"));
        one_by_one = false;
      }
      std::vector<cache::OutboxEntry> answered;
      std::uint64_t accepted = 0, rejected = 0;
      for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& tx = transactions[i].as_object();
        auto it = by_id.find(str(tx, "id"));
        if (it == by_id.end() || (it->second.first != "accepted" && it->second.first != "rejected")) continue;
        if (it->second.first == "rejected") {
          ++rejected;
          co_await alert_rejection(tx, it->second.second);
        } else {
          ++accepted;
        }
        answered.push_back(items[i]);
      }
      // A failed acknowledgement leaves the entries in place: they are sent again under the same ids, and the
      // central system, idempotent by id, answers them again without applying them twice.
      auto acknowledged = co_await outbox.acknowledge(answered);
      if (!acknowledged) log_event(spdlog::level::warn, "outbox_delete_failed", {{"error", acknowledged.error().message}});
      update([&](LinkStatus& s) {
        s.accepted += accepted;
        s.rejected += rejected;
      });
    }
    for (auto& lease : leases) co_await lease.release();  // a stopping instance hands its ranges over now
  }

  // ---------------------------------------------------------------- alert delivery
  struct Target {
    std::string name;  // "central" | "webhook:<url>"
    Origin origin;
    std::string secret;  // webhooks only
  };


  asio::awaitable<void> deliver_to(asio::strand<asio::any_io_executor> strand, Target target) {
    auto http_ptr = role_connection(strand, target.origin);
    HttpConnection& http = *http_ptr;
    cache::Lease lease(redis, "alerts:" + target.name, options.instance_id, options.lease_ttl);
    auto lease_checked = std::chrono::steady_clock::time_point{};
    while (!stopping) {
      if (std::chrono::steady_clock::now() - lease_checked > options.lease_ttl / 3) {
        co_await lease.hold();
        lease_checked = std::chrono::steady_clock::now();
      }
      if (!lease.held()) {
        co_await sleep(options.lease_ttl / 3);
        continue;
      }
      if (co_await redeliver_requested(http, target)) continue;
      auto entries = co_await alerts.next_for(target.name, 50);
      if (!entries) {
        co_await sleep(options.backoff_max);
        continue;
      }
      if (entries->empty()) {
        co_await sleep(std::chrono::milliseconds(200));
        continue;
      }
      for (const auto& entry : *entries) {
        if (stopping || !co_await deliver_one(http, target, entry)) break;
        co_await alerts.advance(target.name, entry.id);
      }
    }
    co_await lease.release();
  }

  // One alert to one target, retried with backoff until a 2xx. A 4xx other than 408/429 is final for this
  // alert ("failed", issue 12): a receiver that refuses one alert must not hold up the later ones, and
  // `vpoint alerts redeliver ID` sends it again. False only when the link stops before an answer.
  asio::awaitable<bool> deliver_one(HttpConnection& http, const Target& target, const cache::StoredAlert& entry) {
    json::object alert = entry.alert;  // with "id": its id in the alert log, as GET /v1/alerts shows it
    const std::string& alert_id = entry.id;
    alert.erase("delivery");
    std::string body = json::serialize(alert);
    std::chrono::milliseconds backoff{0};
    int attempts = 0;
    while (!stopping) {
      ++attempts;
      auto headers = header_list("Idempotency-Key", alert_id);
      if (!target.secret.empty())
        headers.emplace_back("Vpoint-Signature", webhook_signature(target.secret, unix_ms_now() / 1000, body));
      std::string path = target.name == "central" ? "/central/v1/alerts" : "";
      if (path.empty() && target.origin.base_path.empty()) path = "/";
      auto res = co_await http.request(boost::beast::http::verb::post, path, body, std::move(headers));
      const unsigned code = res ? res->result_int() : 0;
      const bool delivered = code / 100 == 2;
      const bool refused = code / 100 == 4 && code != 408 && code != 429;
      std::string error;
      if (!delivered) error = res ? fmt::format("HTTP {}", code) : res.error().message;
      json::object status{{"status", delivered ? "delivered" : refused ? "failed" : "retrying"},
                          {"attempts", attempts},
                          {"at", iso_time_ms(unix_ms_now())}};
      if (!delivered) status["last_error"] = error;
      co_await alerts.record_delivery(alert_id, target.name, status);
      if (delivered) {
        update([](LinkStatus& s) { ++s.alerts_delivered; });
        co_return true;
      }
      if (refused) {
        log_event(spdlog::level::err, "alert_delivery_failed",
                  {{"alert", alert_id}, {"target", target.name}, {"error", error},
                   {"effect", "not retried; vpoint alerts redeliver " + alert_id + " sends it again"}});
        co_return true;
      }
      log_event(spdlog::level::warn, "alert_delivery_retry",
                {{"alert", alert_id}, {"target", target.name}, {"attempt", attempts}, {"error", error}});
      backoff = next_backoff(backoff);
      co_await sleep(backoff);
    }
    co_return false;
  }

  // Alerts an operator asked to send again (AlertLog::redeliver) before new ones; true when one was taken.
  asio::awaitable<bool> redeliver_requested(HttpConnection& http, const Target& target) {
    auto again = co_await alerts.take_redelivery(target.name);
    if (!again || !*again) co_return false;
    if (!co_await deliver_one(http, target, **again))
      co_await alerts.return_redelivery(target.name, (*again)->id);  // stopping: keep the request
    co_return true;
  }

  // ---------------------------------------------------------------- read-through
  asio::awaitable<ReadThrough> read_through(std::string code, std::string serial) {
    ReadThrough out;
    auto lease = lookup_pool->acquire();
    auto res = co_await lease->request(boost::beast::http::verb::get, pack_lookup_target(code, serial), {}, {},
                                       options.lookup_timeout);
    if (!res) {
      out.detail = res.error().message;
      co_return out;
    }
    if (res->result_int() == 404) {
      out.status = ReadThroughStatus::not_found;
      co_return out;
    }
    if (res->result_int() != 200) {
      out.detail = fmt::format("HTTP {}", res->result_int());
      co_return out;
    }
    boost::system::error_code ec;
    auto v = json::parse(res->body(), ec);
    if (ec || !v.is_object()) {
      out.detail = "the central system's answer is not a JSON object";
      co_return out;
    }
    CentralPack pack;
    pack.object = v.as_object();
    pack.code_key = pack.object.contains("gtin") ? "gtin" : "ppn";
    pack.code = str(pack.object, pack.code_key);
    pack.serial = str(pack.object, "serial");
    pack.batch = str(pack.object, "batch");
    pack.expiry = str(pack.object, "expiry");
    pack.status = str(pack.object, "status");
    if (pack.code.empty()) pack.code = code;
    if (pack.serial.empty()) pack.serial = serial;
    out.status = ReadThroughStatus::found;
    auto cached = co_await cache_pack(mirror, pack);
    out.cached = cached && *cached;
    if (!cached) out.detail = "caching into the mirror failed: " + cached.error().message;
    out.pack = std::move(pack);
    co_return out;
  }

  // ---------------------------------------------------------------- offline replay (Art 29, issue 12)
  // A failed replay: an alert naming the original transaction (one per (reason, transaction)).
  asio::awaitable<void> alert_offline(const cache::OfflineScan& scan, std::string reason, std::string nmvs_code,
                                      json::object details) {
    std::string code_key = scan.code.size() == 14 ? "gtin" : "ppn";
    details["operation"] = cache::to_string(scan.operation);
    details["action"] = scan.operation == cache::Operation::verify ? json::value(nullptr)
                                                                   : json::value(cache::to_string(scan.action));
    details["scanned_offline_at"] = iso_time_ms(scan.time_ms);
    json::object alert{{"reason", std::move(reason)},
                       {"nmvs_code", nmvs_code.empty() ? json::value() : json::value(nmvs_code)},
                       {"verdict", "unconfirmed_failed"},
                       {"pack", pack_json_of(code_key, scan.code, scan.serial, scan.batch, scan.expiry)},
                       {"location", scan.location},
                       {"actor", scan.actor},
                       {"transaction_id", scan.transaction_id},
                       {"details", std::move(details)}};
    co_await raise_alert(std::move(alert));
  }

  // One recorded scan: true = settled (answered for good), false = not now (central or mirror unreachable).
  asio::awaitable<bool> replay_one(const cache::OfflineScan& scan) {
    // The mirror may know the pack by now (feed, an earlier replay); otherwise ask the central system.
    auto known = co_await mirror.peek(scan.code, scan.serial);
    if (!known) co_return false;
    if (!*known) {
      auto looked = co_await read_through(scan.code, scan.serial);
      if (looked.status == ReadThroughStatus::unavailable) co_return false;
      if (looked.status == ReadThroughStatus::not_found) {
        json::object details = json_pair("central", "unknown pack");
        co_await alert_offline(scan, "offline_pack_unknown", "NMVS_NC_PC_02", std::move(details));
        co_return true;
      }
      if (!looked.cached) co_return false;
    }
    if (!replayer) co_return false;
    auto replayed = co_await replayer(scan);
    if (!replayed && replayed.error().kind == MirrorErrorKind::bad_request) {
      // The mirror refuses the scan itself (it cannot become valid by waiting): say so, do not block the queue.
      co_await alert_offline(scan, "offline_replay_failed", "", json_pair("error", replayed.error().message));
      co_return true;
    }
    if (!replayed) co_return false;  // Redis unreachable: try again next round
    if (replayed->verdict != "ok") {
      json::object details{{"replayed_verdict", replayed->verdict},
                           {"replayed_reason", replayed->reason.empty() ? json::value() : json::value(replayed->reason)},
                           {"status", replayed->answer.contains("status") ? replayed->answer.at("status")
                                                                           : json::value()}};
      std::string reason = "offline_";
      reason += replayed->reason.empty() ? replayed->verdict : replayed->reason;
      co_await alert_offline(scan, std::move(reason), replayed->nmvs_code, std::move(details));
    }
    co_return true;
  }

  // The offline scans in scan order; stops at the first one that cannot be settled yet (order matters: an
  // offline undo must follow its offline decommission).
  asio::awaitable<void> replay_loop(asio::strand<asio::any_io_executor>) {
    cache::OfflineQueue queue(mirror);
    cache::Lease lease(redis, "reverify", options.instance_id, options.lease_ttl);
    while (!stopping) {
      co_await sleep(options.reverify_interval);
      if (stopping) break;
      if (!co_await lease.hold()) continue;
      auto scans = co_await queue.head(100);
      if (!scans) continue;
      for (const auto& scan : *scans) {
        if (stopping || !co_await replay_one(scan)) break;
        auto settled = co_await queue.settle(scan);
        if (!settled) break;
        log_event(spdlog::level::info, "offline_scan_replayed",
                  {{"transaction_id", scan.transaction_id}, {"serial", scan.serial}});
      }
    }
    co_await lease.release();
  }

  // ---------------------------------------------------------------- readiness
  void install_checks() {
    if (!readiness) return;
    std::weak_ptr<Impl> weak = shared_from_this();
    readiness->set_check("mirror", true, [weak]() -> asio::awaitable<CheckResult> {
      auto self = weak.lock();
      if (!self) co_return CheckResult{CheckState::unknown, "central link stopped"};
      if (self->importing) {
        auto s = self->status_copy();
        co_return CheckResult{CheckState::failing, fmt::format("loading: {} packs imported", s.import_packs)};
      }
      auto s = self->status_copy();
      if (s.generation == 0) co_return CheckResult{CheckState::failing, "loading: the mirror is empty"};
      co_return CheckResult{CheckState::ok, fmt::format("generation {}, feed position {}", s.generation, s.feed_seq)};
    });
    readiness->set_check("central", false, [weak]() -> asio::awaitable<CheckResult> {
      auto self = weak.lock();
      if (!self) co_return CheckResult{CheckState::unknown, "central link stopped"};
      auto s = self->status_copy();
      if (s.state == LinkState::following) co_return CheckResult{CheckState::ok, fmt::format("following at {}", s.feed_seq)};
      if (s.state == LinkState::loading) co_return CheckResult{CheckState::unknown, "loading snapshot"};
      co_return CheckResult{CheckState::failing, fmt::format("{}: {}", to_string(s.state), s.last_error)};
    });
  }

  LinkStatus status_copy() {
    std::lock_guard lock(mutex);
    return link_status;
  }
};

CentralLink::CentralLink(asio::any_io_executor executor, cache::Client& client, cache::Mirror& mirror,
                         CentralLinkOptions options, std::shared_ptr<Readiness> readiness)
    : impl_(std::make_shared<Impl>(std::move(executor), client, mirror, std::move(options), std::move(readiness))) {}

CentralLink::~CentralLink() { stop(std::chrono::milliseconds(10000)); }

void CentralLink::start() {
  if (impl_->started.exchange(true)) return;
  impl_->install_checks();
  auto impl = impl_.get();
  if (impl_->options.follow_feed) impl_->spawn("follow_feed", [impl](auto s) { return impl->follow_feed(s); });
  if (impl_->options.drain_outbox) impl_->spawn("drain_outbox", [impl](auto s) { return impl->drain_outbox(s); });
  if (impl_->options.deliver_alerts) {
    impl_->spawn("deliver_alerts_central", [impl](auto s) {
      return impl->deliver_to(s, Impl::Target{"central", impl->central_origin, {}});
    });
    for (const auto& hook : impl_->options.webhooks) {
      auto origin = parse_origin(hook.url);
      if (!origin) continue;
      Impl::Target target{"webhook:" + hook.url, *origin, hook.secret};
      impl_->spawn("deliver_alerts_webhook", [impl, target](auto s) { return impl->deliver_to(s, target); });
    }
  }
  if (impl_->options.reverify) impl_->spawn("replay_offline", [impl](auto s) { return impl->replay_loop(s); });
}

void CentralLink::stop(std::chrono::milliseconds timeout) {
  if (!impl_->started) return;
  impl_->stopping = true;
  {
    std::lock_guard lock(impl_->mutex);
    // Ends long polls and slow requests now; each close runs on the strand that owns the connection.
    for (auto& [strand, connection] : impl_->live_connections) asio::post(strand, [c = connection] { c->close(); });
  }
  std::unique_lock lock(impl_->mutex);
  impl_->roles_done.wait_for(lock, timeout, [&] { return impl_->roles_running == 0; });
  impl_->live_connections.clear();
  impl_->link_status.state = LinkState::stopped;
}

asio::awaitable<void> CentralLink::stop_async() {
  impl_->stopping = true;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [strand, connection] : impl_->live_connections) asio::post(strand, [c = connection] { c->close(); });
  }
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(impl_->mutex);
      if (impl_->roles_running == 0) break;
    }
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(kTuple);
  }
}

asio::awaitable<ReadThrough> CentralLink::read_through(std::string code, std::string serial) {
  return impl_->read_through(std::move(code), std::move(serial));
}
OfflineMode CentralLink::offline_mode() const { return impl_->options.offline; }

void CentralLink::set_offline_replayer(OfflineReplayer replayer) { impl_->replayer = std::move(replayer); }
asio::awaitable<MirrorResult<std::string>> CentralLink::raise_alert(json::object alert) {
  return impl_->raise_alert(std::move(alert));
}
LinkStatus CentralLink::status() const { return impl_->status_copy(); }
bool CentralLink::loading() const { return impl_->importing; }

}  // namespace vpoint::service
