// The feed follower (link_internal.hpp): an empty mirror first streams the central system's snapshot into a
// new generation; then the change feed is long-polled and applied in order, and recalls in it are announced.
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/verb.hpp>
#include <fmt/format.h>

#include "link_internal.hpp"
#include "vpoint/cache/import.hpp"
#include "vpoint/service/logging.hpp"

namespace vpoint::service::central_detail {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

asio::awaitable<bool> import_snapshot(LinkContext& link, HttpConnection& http, bool replace) {
  link.importing = true;
  link.update([](LinkStatus& s) {
    s.state = LinkState::loading;
    s.import_packs = 0;
  });
  log_event(spdlog::level::info, "snapshot_import_started", {{"url", link.options.url}, {"replace", replace}});
  cache::ImportOptions io;
  io.replace = replace;
  io.progress_every = 100000;
  LinkContext* self = &link;
  io.progress = [self](const cache::ImportProgress& p) {
    self->update([&](LinkStatus& s) { s.import_packs = p.packs; });
    log_event(spdlog::level::info, "snapshot_import_progress",
              {{"lines", p.lines}, {"products", p.products}, {"batches", p.batches}, {"packs", p.packs}});
  };
  cache::SnapshotLoader loader(link.mirror, io);
  auto begun = co_await loader.begin();
  if (!begun) {
    link.importing = false;
    link.set_error("snapshot import: " + begun.error().message);
    log_event(spdlog::level::err, "snapshot_import_failed", {{"error", begun.error().message}});
    co_return false;
  }
  std::string line_error;
  // Read once: stop_requested() per line would cost a coroutine frame for each of millions of lines.
  asio::cancellation_state stop = co_await asio::this_coro::cancellation_state;
  LineHandler on_line = [&](std::string_view line) -> asio::awaitable<bool> {
    auto added = co_await loader.add_line(line);
    if (!added) {
      line_error = added.error().message;
      co_return false;
    }
    co_return stop.cancelled() == asio::cancellation_type::none;
  };
  auto streamed = co_await http.stream_lines("/central/v1/snapshot", on_line, link.options.snapshot_idle_timeout);
  std::string failure;
  if (!streamed) failure = streamed.error().message;
  else if (!line_error.empty()) failure = line_error;
  else if (streamed->status != 200) failure = fmt::format("HTTP {}: {}", streamed->status, streamed->error_body);
  else if (streamed->stopped) failure = "stopped";
  if (failure.empty()) {
    auto stats = co_await loader.finish();
    if (!stats) failure = stats.error().message;
    else {
      link.update([&](LinkStatus& s) {
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
  link.importing = false;
  if (!failure.empty()) {
    link.set_error("snapshot import: " + failure);
    log_event(spdlog::level::err, "snapshot_import_failed", {{"error", failure}});
    co_return false;
  }
  co_return true;
}

}  // namespace

asio::awaitable<void> follow_feed(LinkContext& link, Strand strand) {
  auto http_ptr = link.role_connection(strand, link.central_origin, link.client_options(link.options.request_timeout));
  HttpConnection& http = *http_ptr;
  std::chrono::milliseconds backoff{0};
  bool need_replace = false;
  std::int64_t last_seq = -1;
  while (!co_await stop_requested()) {
    auto position = co_await link.mirror.feed_position();
    if (!position) {
      link.set_error(position.error().message);
      backoff = link.next_backoff(backoff);
      co_await pause(backoff);
      continue;
    }
    auto [generation, seq] = *position;
    if (link.mirror.outdated() && !need_replace) {
      // Written by an older vpoint in another value format: not read, loaded again (issue 14).
      log_event(spdlog::level::warn, "mirror_format_outdated", {{"generation", generation}});
      need_replace = true;
    }
    if (generation == 0 || need_replace) {
      // Empty mirror (first start) or a position the feed no longer has: a full snapshot.
      bool ok = co_await import_snapshot(link, http, need_replace);
      if (!ok) {
        link.update([](LinkStatus& s) { s.state = LinkState::offline; });
        link.central_reachable = false;
        backoff = link.next_backoff(backoff);
        co_await pause(backoff);
        continue;
      }
      need_replace = false;
      backoff = {};
      continue;
    }
    if (last_seq >= 0 && seq < last_seq) seq = last_seq;  // another instance may lag; never go back
    link.update([&](LinkStatus& s) {
      s.generation = generation;
      s.feed_seq = seq;
    });
    std::string target = fmt::format("/central/v1/changes?since={}&wait={}", seq, link.options.feed_wait.count());
    link.update([](LinkStatus& s) { s.poll_started_ms = unix_ms_now(); });
    auto res = co_await http.request(boost::beast::http::verb::get, target, {}, {},
                                     link.options.feed_wait + std::chrono::seconds(10));
    link.update([](LinkStatus& s) { s.poll_started_ms = 0; });
    if (!res || res->result_int() >= 500) {
      std::string why = !res ? res.error().message : fmt::format("HTTP {}", res->result_int());
      link.central_reachable = false;
      link.update([&](LinkStatus& s) {
        s.state = LinkState::offline;
        s.last_error = "change feed: " + why;
      });
      co_await link.publish_status();
      log_event(spdlog::level::warn, "central_feed_unavailable", {{"error", why}});
      backoff = link.next_backoff(backoff);
      co_await pause(backoff);
      continue;
    }
    if (res->result_int() == 410) {
      log_event(spdlog::level::warn, "central_feed_position_gone", {{"since", seq}});
      need_replace = true;
      continue;
    }
    if (res->result_int() != 200) {
      link.set_error(fmt::format("change feed: HTTP {}: {}", res->result_int(), res->body().substr(0, 300)));
      backoff = link.next_backoff(backoff);
      co_await pause(backoff);
      continue;
    }
    link.central_reachable = true;
    backoff = {};
    std::int64_t head = 0;
    if (auto it = res->find("Central-Seq"); it != res->end()) head = std::atoll(std::string(it->value()).c_str());
    FeedBody feed = split_feed_body(res->body(), seq);
    for (const auto& [expected, got] : feed.jumps)
      log_event(spdlog::level::warn, "central_feed_gap", {{"expected", expected}, {"got", got}});
    std::vector<std::string>& lines = feed.lines;
    const std::uint64_t gaps = feed.gaps;
    std::int64_t new_seq = seq;
    if (!lines.empty()) {
      auto applied = co_await apply_changes(link.mirror, lines);
      if (!applied) {
        link.set_error("feed apply: " + applied.error().message);
        log_event(spdlog::level::err, "central_feed_apply_failed", {{"error", applied.error().message}});
        backoff = link.next_backoff(backoff);
        co_await pause(backoff);
        continue;
      }
      new_seq = *applied;
    }
    last_seq = new_seq;
    link.update([&](LinkStatus& s) {
      s.state = LinkState::following;
      s.feed_seq = new_seq;
      s.central_seq = std::max(head, new_seq);
      s.last_sync_ms = unix_ms_now();
      // The head ahead of what we applied (a feed that lags or holds back lines): behind since the first such
      // answer, until an answer shows us in step.
      if (head > new_seq) {
        if (s.behind_since_ms == 0) s.behind_since_ms = s.last_sync_ms;
      } else {
        s.behind_since_ms = 0;
      }
      s.feed_gaps += gaps;
      s.last_error.clear();
    });
    co_await link.publish_status();
    // After the position is recorded: the recall list reads the whole audit trail of the lookback window.
    if (!lines.empty()) co_await announce_recalls(link, lines);
  }
}

}  // namespace vpoint::service::central_detail
