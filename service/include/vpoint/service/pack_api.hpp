#pragma once
// The pack routes of vpointd (issue 5 "API"): verify, decommission, undo, bulk, scan (image), pack status +
// audit trail, alerts. Handlers parse and validate the request (scanner rules), pick ONE mirror call with
// rules.hpp, answer with the verdict JSON and raise alerts. PackRuntime owns the Redis side for vpointd.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/offline.hpp"
#include "vpoint/cache/redis.hpp"
#include "vpoint/cache/subscriber.hpp"
#include "vpoint/scanner/decode.hpp"
#include "vpoint/scanner/pack_id.hpp"
#include "vpoint/scanner/result.hpp"
#include "vpoint/service/alerts.hpp"
#include "vpoint/service/api.hpp"
#include "vpoint/service/config.hpp"
#include "vpoint/service/metrics.hpp"
#include "vpoint/service/offline_replay.hpp"
#include "vpoint/service/readiness.hpp"

namespace vpoint::service {

struct PackApiOptions {
  // Same location repeating a decommission within this: "repeat", not an alert ([rules] repeat_window_s).
  std::chrono::seconds repeat_window{30};
  // Items of one POST /v1/bulk (issue 5: up to 10 000).
  std::size_t max_bulk_items = 10000;
  // Image decoding for POST /v1/scan.
  scanner::DecodeOptions decode = {};
  // GET /v1/packs: newest entries of the pack's audit partition read back (the stream holds every pack of
  // the partition until the audit archive (audit_archive.hpp) moves it to files and trims it).
  std::size_t audit_scan_limit = 20000;
  // One POST /v1/bulk may spend this long ([http] bulk_deadline_s): items it has not looked up at the
  // central system by then answer unconfirmed with reason "deadline" (what the mirror decided stands).
  std::chrono::milliseconds bulk_deadline{60000};
};

// The central system behind the mirror (issue 6 "Read-through"), as the pack routes see it. vpointd fills it
// from its CentralLink; without one, a pack the mirror does not know stays unknown.
struct CentralLookup {
  enum class Status { found, not_found, unavailable };
  // Live look-up of a pack the mirror does not know; `found` means it is now in the mirror. Anything short of
  // that (unreachable, an answer that could not be cached) is `unavailable`: never "unknown" (issue 12).
  std::function<boost::asio::awaitable<Status>(std::string code, std::string serial)> look_up;
  // Central unreachable and the pack unknown (EU 2016/161 Art 29): record = "unconfirmed" + placeholder + replay
  // (cache::OfflineQueue); refuse = refused / central_unavailable.
  OfflineMode offline = OfflineMode::record;
  // Live look-ups per POST /v1/bulk ([central] bulk_read_through_max); items beyond answer unconfirmed.
  std::size_t bulk_read_through_max = 100;
  // How far the mirror's change feed is behind the central system (CentralLink::feed_behind); answers carry the
  // warning "feed_stale" beyond `feed_stale` ([central] feed_stale_s). Unset: no central link, no warning.
  std::function<std::chrono::milliseconds()> feed_behind = {};
  std::chrono::seconds feed_stale{60};
};

class AuditArchive;  // audit_archive.hpp
class DecodePool;    // src/pack/decode_pool.hpp: POST /v1/scan decodes on it, never on an HTTP thread

struct PackServices {
  cache::Client& client;
  cache::Mirror& mirror;
  cache::OfflineQueue& offline;  // scans of unknown packs while the central system cannot be asked
  cache::AlertLog& alerts;
  std::shared_ptr<Metrics> metrics;
  PackApiOptions options;
  CentralLookup central = {};
  // The audit archive files (issue 6): GET /v1/packs merges them with the live stream; null = stream only.
  std::shared_ptr<AuditArchive> archive = {};
  // Image decoding for POST /v1/scan ([scan] workers / queue); PackRuntime makes it.
  std::shared_ptr<DecodePool> decoder = {};
};

// Registers every pack route on `api` (with its Access) and the verdict metrics on services->metrics. Returns
// the replay of offline scans (offline_replay.hpp) for the central link: the same rules, from the mirror.
OfflineReplayer register_pack_routes(Api& api, std::shared_ptr<PackServices> services);

// Makes the redis / functions / mirror checks of /readyz real.
void add_pack_readiness(Readiness& readiness, std::shared_ptr<PackServices> services);

// The Redis side of vpointd: its own io_context thread running the transport, the mirror (started and its
// Redis settings checked, its product cache kept current by the invalidation subscriber) and the alert store.
class PackRuntime {
 public:
  // Connects, loads the Functions library and checks the Redis settings. Fails with a message naming the
  // setting when a fatal setting is wrong (e.g. an evicting maxmemory-policy) or the connection is refused for
  // a reason waiting will not fix (TLS, AUTH). When Redis cannot be reached yet it succeeds unconnected
  // (readiness fails) and keeps trying in the background (issue 16): the settings are checked on the first
  // connection, and a fatal one is reported through on_fatal().
  static Result<std::unique_ptr<PackRuntime>, std::string> start(const Config& config,
                                                                 std::shared_ptr<Metrics> metrics,
                                                                 cache::MirrorOptions mirror_options = {});
  ~PackRuntime();
  PackRuntime(const PackRuntime&) = delete;
  PackRuntime& operator=(const PackRuntime&) = delete;

  std::shared_ptr<PackServices> services() { return services_; }
  cache::Mirror& mirror() { return *mirror_; }
  cache::Client& client() { return *client_; }
  boost::asio::io_context& io_context() { return io_; }
  bool subscribed() const { return subscriber_ && subscriber_->subscribed(); }
  // The Functions library is loaded and the settings were checked (at start, or later in the background).
  bool connected() const { return connected_; }
  // Called once, from the Redis thread, when the background connection found a fatal problem (vpointd
  // stops); called at once when that already happened.
  void on_fatal(std::function<void(std::string)> handler);
  // Warnings from check_settings() (non-fatal), for the start-up log.
  const std::vector<cache::SettingProblem>& setting_warnings() const { return warnings_; }

 private:
  PackRuntime() = default;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::unique_ptr<cache::Client> client_;
  std::unique_ptr<cache::Mirror> mirror_;
  std::unique_ptr<cache::OfflineQueue> offline_;
  std::unique_ptr<cache::AlertLog> alerts_;
  std::unique_ptr<cache::Subscriber> subscriber_;
  std::shared_ptr<PackServices> services_;
  std::vector<cache::SettingProblem> warnings_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopping_{false};
  std::mutex fatal_mutex_;
  std::string fatal_;
  std::function<void(std::string)> on_fatal_;
  boost::asio::awaitable<void> keep_connecting();
  void report_fatal(std::string error);
};

}  // namespace vpoint::service
