#pragma once
// The central link's shared context and its roles, one file each (central_link.hpp lists what they do):
//   feed_follower.cpp   snapshot import and the change feed
//   recall_list.cpp     recall/withdrawal alerts with this site's packs of the batch
//   write_back.cpp      the outbox drain: state changes to the central system
//   alert_delivery.cpp  alerts to the central system and to webhooks
//   read_through.cpp    live look-ups of unknown packs and the replay of offline scans
//   link_context.cpp    what they share: status, connections, backoff, pauses, alerts
//   central_link.cpp    the roles' lifecycle (start, stop) and the public API
// Internal to service/src/central/.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/object.hpp>

#include "vpoint/cache/alert_log.hpp"
#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/outbox.hpp"
#include "vpoint/service/central_link.hpp"
#include "central_answers.hpp"

namespace vpoint::service::central_detail {

using Strand = boost::asio::strand<boost::asio::any_io_executor>;

// RFC 3339 UTC with milliseconds, as every vpoint timestamp ("2026-12-06T05:56:02.482Z").
using cache::iso_time_ms;

// What every role shares. Roles run on strands of their own; `mutex` guards link_status and live_connections.
struct LinkContext {
  LinkContext(boost::asio::any_io_executor executor, cache::Client& redis, cache::Mirror& mirror,
              CentralLinkOptions options, std::shared_ptr<Readiness> readiness);

  boost::asio::any_io_executor executor;
  cache::Client& redis;
  cache::Mirror& mirror;
  CentralLinkOptions options;
  std::shared_ptr<Readiness> readiness;
  Origin central_origin;
  std::unique_ptr<HttpConnectionPool> lookup_pool;  // read-through and conflict look-ups
  OfflineReplayer replayer;                         // set before start() (vpointd: the pack routes' replay)
  cache::AlertLog alerts;                           // every alert the link raises; the senders' side of delivery
  cache::Outbox outbox;                             // state changes waiting for the central system's answer

  std::mutex mutex;
  LinkStatus link_status;
  std::atomic<bool> importing{false};
  std::atomic<bool> central_reachable{false};
  // Connections that stop() closes to end long polls at once: (strand, connection).
  std::vector<std::pair<Strand, std::shared_ptr<HttpConnection>>> live_connections;

  HttpClientOptions client_options(std::chrono::milliseconds timeout) const;
  template <class F>
  void update(F f) {
    std::lock_guard lock(mutex);
    f(link_status);
  }
  void set_error(std::string message);
  LinkStatus status_copy();
  std::chrono::milliseconds next_backoff(std::chrono::milliseconds current) const;
  // The connection of a role, shared with stop(): a close() posted by stop() may run after the role ended.
  std::shared_ptr<HttpConnection> role_connection(const Strand& strand, const Origin& origin,
                                                  HttpClientOptions client);
  // The status hash that `vpoint status` reads (cache::LinkRecordStore).
  boost::asio::awaitable<void> publish_status();
  // Raises one alert (one per reason and transaction, cache::AlertLog) and logs it.
  boost::asio::awaitable<cache::MirrorResult<std::string>> raise_alert(boost::json::object alert);
};

// Roles stop through their coroutine's cancellation signal (CentralLink::stop emits it on the role's strand):
// stop_requested() is true once it fired; pause() sleeps `d` and wakes at once when it fires.
boost::asio::awaitable<bool> stop_requested();
boost::asio::awaitable<void> pause(std::chrono::milliseconds d);

// The roles.
boost::asio::awaitable<void> follow_feed(LinkContext& link, Strand strand);
boost::asio::awaitable<void> announce_recalls(LinkContext& link, const std::vector<std::string>& lines);
boost::asio::awaitable<void> drain_outbox(LinkContext& link, Strand strand);
struct AlertTarget {
  std::string name;  // "central" | "webhook:<name>"
  Origin origin;
  std::string secret;  // webhooks only
  HttpClientOptions client;  // the central system's TLS/token settings, or the webhook's
  std::string former_name;   // the name it had before (webhooks: "webhook:<url>" until issue 15)
};
boost::asio::awaitable<void> deliver_alerts(LinkContext& link, Strand strand, AlertTarget target);
boost::asio::awaitable<ReadThrough> read_through(LinkContext& link, std::string code, std::string serial);
boost::asio::awaitable<void> replay_offline(LinkContext& link, Strand strand);

// The mirror side of the change feed, through the cache module's feed-apply API: applies the NDJSON change
// lines (each with "seq" and "op") in order and returns the feed position now in effect.
boost::asio::awaitable<cache::MirrorResult<std::int64_t>> apply_changes(cache::Mirror& mirror,
                                                                       const std::vector<std::string>& lines);

// Writes one looked-up pack (and its product/batch when the mirror lacks them) into the mirror.
boost::asio::awaitable<cache::MirrorResult<bool>> cache_pack(cache::Mirror& mirror, const CentralPack& pack);

// GET target of the central system's live look-up of one pack, each value a percent-encoded segment.
std::string pack_lookup_target(std::string_view code, std::string_view serial);
std::int64_t unix_ms_now();

// JSON helpers: {key: value}, one header, a pack object (a string member: str() in central_answers.hpp).
boost::json::object json_pair(std::string_view key, std::string_view value);
std::vector<std::pair<std::string, std::string>> header_list(std::string name, std::string value);
boost::json::object pack_json_of(const std::string& code_key, const std::string& code, const std::string& serial,
                                 const std::string& batch, const std::string& expiry);

}  // namespace vpoint::service::central_detail
