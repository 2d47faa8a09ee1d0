#pragma once
// The audit archive (issue 6 "Audit archive"): entries of the audit streams au:{P} that are older than
// [audit] min_age_s and, for state changes, acknowledged by the central system are appended to daily NDJSON
// files `<[audit] dir>/audit-YYYY-MM-DD.ndjson` (by the entry's UTC day), fsync'd, and only then trimmed from
// the stream. Files older than [audit] retention_days are deleted. GET /v1/packs/{code}/{serial} reads the
// files (pack_history) and the live stream and merges them.
//
// "Acknowledged": cache/lua/vpoint.lua appends a state change to ob:{P} and au:{P} in the same call, and the
// central link deletes an outbox entry only once the central system accepted or rejected it, in order. So
// every audit entry of P appended in an earlier millisecond than the oldest entry still in ob:{P} is
// acknowledged (or is a verification, which needs no acknowledgement). The cutoff of partition P is
//   min(Redis now - min_age, millisecond of the first id of ob:{P})     (exclusive)
// compared by millisecond only: the two streams number the entries of one millisecond independently.
//
// Crash safety, per partition: append lines, fsync the file (and the directory when the file is new), then
// record the watermark (last archived id, cache::AuditLog::set_watermarks), then trim au:{P} through it.
//   crash before the watermark: the lines are written again on the next round (duplicates, never a loss);
//   every line carries the stream id and readers de-duplicate by (partition, id).
//   crash before the trim: the next round trims (the watermark says what is in the files).
// One archiver at a time across vpointd instances: the lease "audit" (cache::Lease).
//
// File I/O (append, fsync, directory scans, retention) runs on a small thread pool of its own, never on an
// io_context thread: the coroutines co_await the pool's result.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <prometheus/registry.h>

#include "vpoint/cache/audit_log.hpp"
#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/redis.hpp"
#include "vpoint/scanner/result.hpp"
#include "vpoint/service/config.hpp"

namespace vpoint::service {

struct AuditArchiveOptions {
  std::filesystem::path dir = "audit";         // [audit] dir: daily NDJSON files
  unsigned retention_days = 1830;              // [audit] retention_days: files older than this are deleted
  std::chrono::seconds min_age{300};           // [audit] min_age_s: entries stay in the stream this long
  std::chrono::seconds interval{60};           // [audit] interval_s: pause between archive rounds
  std::size_t batch = 1000;                    // entries read from one audit stream per step
  int partitions_per_step = 64;                // partitions read/written/trimmed together (one fsync each)
  std::chrono::milliseconds lease_ttl{30000};  // a dead instance's archiver role moves after this long
  std::chrono::minutes retention_every{60};    // how often the retention sweep runs
  std::string instance_id;                     // lease owner id; "" = hostname:pid:random
  std::size_t io_threads = 2;                  // file I/O pool (archiving and history scans)
  // When set: gauge vpoint_audit_archive_failing (0/1) and counter vpoint_audit_archive_failures_total.
  std::shared_ptr<prometheus::Registry> metrics;
  // Tests only: stop a round as if the process died at this point (crash-safety tests).
  enum class CrashPoint { none, after_fsync, after_watermark };
  CrashPoint crash_point = CrashPoint::none;
};

// The options vpointd's config implies ([audit] dir, retention_days, min_age_s, interval_s).
AuditArchiveOptions audit_archive_options(const Config& config);
// "" when valid, else a message naming the setting.
std::string validate(const AuditArchiveOptions& options);

// One audit entry with readable names: the line format of the archive files and what history shows.
using cache::AuditRecord;
using cache::stream_id_less;  // stream id order ("<ms>-<seq>", numeric); malformed ids sort first

// One NDJSON line (no newline): {"id","partition","time","code","serial","op","action","outcome",
// "previous_status","status","location","actor","tx"}.
std::string to_ndjson(const AuditRecord& record);
// Parses a line written by to_ndjson; nullopt for anything else (a torn last line after a crash).
std::optional<AuditRecord> parse_ndjson(std::string_view line);
// "audit-YYYY-MM-DD.ndjson" of the UTC day of unix_ms.
std::string archive_file_name(std::int64_t unix_ms);
struct ArchiveRound {
  bool lease_held = false;
  std::size_t archived = 0;  // lines appended
  std::size_t trimmed = 0;   // stream entries removed
  std::size_t files = 0;     // files appended to (each fsync'd)
  bool more = false;         // some partition had more than `batch` archivable entries
};

// How the archiver fares, for operators (/readyz check "audit_archive", the metrics below, the log). While it
// is failing (a full or read-only disk, a Redis error) it writes no watermark and trims nothing: the entries
// stay in Redis and the next round (every interval) starts from the last watermark again.
struct ArchiveHealth {
  bool failing = false;
  std::string error;                  // the last round's error (names the file and the OS message)
  std::int64_t failing_since_ms = 0;  // unix ms of the first failed round of this stretch
  std::uint64_t failed_rounds = 0;    // since start
  std::int64_t last_ok_ms = 0;        // unix ms of the last round that succeeded (0 = none yet)
};

class AuditArchive {
 public:
  // Creates [audit] dir when missing; fails with a message naming the setting when it cannot be created or
  // written. `client` must outlive the archive; Redis commands run on `executor`.
  static Result<std::shared_ptr<AuditArchive>, std::string> open(boost::asio::any_io_executor executor,
                                                                 cache::Client& client,
                                                                 AuditArchiveOptions options);
  ~AuditArchive();
  AuditArchive(const AuditArchive&) = delete;
  AuditArchive& operator=(const AuditArchive&) = delete;

  // Runs rounds every `interval` (and the retention sweep every `retention_every`) until stop().
  void start();
  // Asks the loop to stop and waits up to `timeout` (not from the executor's own thread).
  void stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

  // One pass over all partitions (when this instance holds the lease): archive, fsync, watermark, trim.
  // The error names what failed (Redis, or the file and the OS message).
  boost::asio::awaitable<Result<ArchiveRound, std::string>> archive_once();
  // Deletes files whose day is more than retention_days before today (UTC); returns their names.
  boost::asio::awaitable<Result<std::vector<std::string>, std::string>> apply_retention();
  // Archived entries of one pack (code is any of `codes`), oldest first, de-duplicated by (partition, id).
  // A linear scan of every file with a substring prefilter on the serial (docs/durability.md states the
  // cost).
  boost::asio::awaitable<Result<std::vector<AuditRecord>, std::string>> pack_history(
      std::vector<std::string> codes, std::string serial);

  const AuditArchiveOptions& options() const;
  ArchiveHealth health() const;

 private:
  struct Impl;
  explicit AuditArchive(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace vpoint::service
