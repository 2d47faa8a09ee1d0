#pragma once
// The link between vpointd and the central repository (issue 6, design.md "Central repository link"):
//   follow_feed     - empty mirror: stream GET /central/v1/snapshot into a new generation (readiness
//   "loading"
//                     until done), then long-poll GET /central/v1/changes?since=N&wait=S and apply each
//                     change.
//   drain_outbox    - the outbox streams ob:{P} in order, in batches, as POST /central/v1/transactions
//                     (transaction id = idempotency key); an entry is deleted (XDEL) only once the central
//                     system answered accepted or rejected for it; a rejection becomes an alert naming both
//                     transactions. One drainer per partition range at a time across instances (Redis
//                     leases).
//   deliver_alerts  - every entry of the `alerts` stream to POST /central/v1/alerts and to each [[webhooks]]
//                     url (signed, Vpoint-Signature), retried with backoff until a 2xx; the delivery status
//                     of each target is written to the hash alert:delivery:<alert id>.
//   replay_offline  - scans recorded while the central system was unreachable (EU 2016/161 Art 29,
//                     cache::OfflineQueue) are replayed in scan order once it answers: the pack is found (mirror
//                     or live look-up), the pack routes answer the scan from the mirror under its original
//                     transaction id; an answer that is not ok becomes an alert naming that transaction.
// read_through() is called by the pack routes for a pack the mirror does not know.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/redis.hpp"
#include "vpoint/service/alerts.hpp"
#include "vpoint/service/central_http.hpp"
#include "vpoint/service/config.hpp"
#include "vpoint/service/offline_replay.hpp"
#include "vpoint/service/readiness.hpp"

namespace vpoint::service {

struct CentralLinkOptions {
  std::string url;                                   // [central] url (base URL of the central system)
  OfflineMode offline = OfflineMode::record;         // [central] offline
  std::vector<WebhookConfig> webhooks;               // [[webhooks]]
  std::string location;                              // [location] gln: named in alerts of this site
  std::string instance_id;                           // lease owner id; "" = hostname:pid:random
  std::string ca_file;                               // https to the central system: CA bundle ([central])
  std::string client_cert;                           // [central] client_cert / client_key: mutual TLS
  std::string client_key;
  std::string token;                                 // [central] token_file's content: bearer token
  bool allow_insecure = false;                       // [central] allow_insecure: http:// beyond loopback
  std::chrono::milliseconds lookup_timeout{1500};    // read-through: a scan must not wait long (Art 29)
  std::chrono::milliseconds request_timeout{10000};  // transactions, alerts, webhooks
  std::chrono::seconds feed_wait{20};                // long-poll wait of the change feed
  std::chrono::milliseconds snapshot_idle_timeout{30000};  // max silence inside a streamed snapshot
  std::size_t drain_batch = 500;                           // transactions per POST (all partitions together)
  std::size_t per_partition = 200;                         // entries read from one outbox stream per round
  std::chrono::milliseconds drain_idle{100};               // pause when every owned outbox was empty
  std::chrono::milliseconds backoff_min{100};  // retry backoff, doubled per failure up to backoff_max
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds lease_ttl{10000};  // a dead instance's partitions move after this long
  int partitions_per_lease = 64;               // 1024 / 64 = 16 lease ranges
  std::chrono::milliseconds reverify_interval{2000};  // pause between offline replay rounds
  // A recall/withdrawal alert lists this site's packs of the batch seen in the audit streams au:{P} this far
  // back ([central] recall_lookback_days), at most recall_list_cap of them ("truncated": true beyond).
  std::chrono::hours recall_lookback{24 * 90};
  std::size_t recall_list_cap = 10000;
  std::size_t recall_scan_batch = 200;  // audit entries read per partition per pipelined round
  // [audit] dir: the daily archive files (audit-YYYY-MM-DD.ndjson) of the lookback window are read too, since
  // the archiver trims the streams after a few minutes. "" = the streams only.
  std::string audit_dir;
  bool follow_feed = true;  // roles (tests switch some off)
  bool drain_outbox = true;
  bool deliver_alerts = true;
  bool reverify = true;
};

// Validates options once (messages name the setting).
std::string validate(const CentralLinkOptions& options);
// The options vpointd's config implies.
CentralLinkOptions central_link_options(const Config& config);

// A pack as the central system's live look-up returns it.
struct CentralPack {
  std::string code_key;  // "gtin" | "ppn"
  std::string code;
  std::string serial;
  std::string batch;
  std::string expiry;          // YYMMDD
  std::string status;          // "active", "supplied", ...
  boost::json::object object;  // the whole answer (with "history")
};

enum class ReadThroughStatus {
  found,        // the central system knows it: cached into the mirror; verify again from the mirror
  not_found,    // 404: the central system does not know it either (the original unknown_* verdict stands)
  unavailable,  // unreachable / timeout / 5xx: [central] offline decides (offline_mode())
};
struct ReadThrough {
  ReadThroughStatus status = ReadThroughStatus::unavailable;
  std::optional<CentralPack> pack;
  bool cached = false;  // written into the mirror
  std::string detail;   // why unavailable / what failed (for logs)
};

enum class LinkState { starting, loading, following, offline, stopped };
std::string_view to_string(LinkState state);

struct LinkStatus {
  LinkState state = LinkState::starting;
  std::int64_t generation = 0;
  std::int64_t feed_seq = 0;                           // last applied change
  std::int64_t central_seq = 0;                        // the central system's head as last seen (Central-Seq)
  std::int64_t last_sync_ms = 0;                       // last successful feed answer (Unix ms)
  std::int64_t poll_started_ms = 0;   // the change-feed request in flight started then (Unix ms; 0 = none)
  std::int64_t behind_since_ms = 0;   // answers have shown the central head ahead of the mirror since (0 = not)
  std::uint64_t import_packs = 0;                      // progress of a running/last snapshot import
  std::uint64_t sent = 0, accepted = 0, rejected = 0;  // write-back counters of this instance
  std::uint64_t feed_gaps = 0;
  std::uint64_t alerts_delivered = 0;
  std::string last_error;
};


class CentralLink {
 public:
  // `client` and `mirror` must outlive the link. `readiness` (optional) gets the "mirror" and "central"
  // checks.
  CentralLink(boost::asio::any_io_executor executor, cache::Client& client, cache::Mirror& mirror,
              CentralLinkOptions options, std::shared_ptr<Readiness> readiness = nullptr);
  ~CentralLink();
  CentralLink(const CentralLink&) = delete;
  CentralLink& operator=(const CentralLink&) = delete;

  // Spawns the roles on the executor. Call once.
  void start();
  // Asks every role to stop and waits (up to `timeout`) until they have; safe from any thread but the
  // executor's own when it is single-threaded (then use stop_async).
  void stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  boost::asio::awaitable<void> stop_async();

  // Live look-up of a pack the mirror does not know (GET /central/v1/packs/{code}/{serial}, lookup_timeout);
  // found -> cached into the mirror (product/batch too when missing) so that a verify now finds it.
  boost::asio::awaitable<ReadThrough> read_through(std::string code, std::string serial);
  OfflineMode offline_mode() const;

  // How a recorded offline scan is answered once its pack is known (vpointd: the pack routes). Call before
  // start(); without one, offline scans of packs the central system knows stay queued.
  void set_offline_replayer(OfflineReplayer replayer);

  // Raises an alert (cache::AlertLog::raise: one per (reason, transaction)). Returns its id.
  boost::asio::awaitable<cache::MirrorResult<std::string>> raise_alert(boost::json::object alert);

  LinkStatus status() const;
  // How far the mirror's feed is behind the central system, as time (issue 14 "feed_stale"): since the central
  // head was first seen ahead of the applied position, or since the last successful feed answer when no
  // long poll is running on time (central unreachable, an answer overdue). 0 while in step.
  std::chrono::milliseconds feed_behind() const;
  // True while the start-up snapshot import runs (readiness says "loading").
  bool loading() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace vpoint::service
