#pragma once
// The Redis mirror of the central repository: packs, products, batches and every pack operation.
//
// Every pack operation is ONE Redis round trip: an FCALL into the `vpoint` Functions library
// (cache/lua/vpoint.lua, embedded at build time, loaded with FUNCTION LOAD REPLACE on every master by
// start()). The Function takes its time from Redis TIME, checks and records idempotency, changes the pack,
// keeps the recent-decommission record for undo, and appends the outbox and audit stream entries, all in
// the same atomic call. Functions never read product or batch keys: every key one pack operation touches
// carries the pack's partition tag {P} (docs/design.md "Redis data model"). Expiry, recall and withdrawal
// are the caller's (service's) rules: it compares the stored batch returned here with its product cache.
//
// CONTRACT with the service (verdict rules, HTTP routes). Extend, do not rename.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/redis.hpp"
#include "vpoint/scanner/result.hpp"

namespace vpoint::cache {

// The pack's own status as stored in the mirror. Batch-level states (expired, recalled, withdrawn) are not
// pack statuses: the service derives them from the batch. Values are stored in Redis: never renumber.
enum class PackStatus : std::uint8_t {
  active = 0,
  supplied = 1,
  destroyed = 2,
  exported = 3,
  sample = 4,
  free_sample = 5,
  stolen = 6,
  locked = 7,
  checked_out = 8,  // set by the central system only (no local action leads to it)
  // A status the central system sent that this build does not recognise (feed, snapshot, look-up). Stored as
  // such with its raw text (PackResult::central_status); never read as active: every operation is refused.
  unknown = 15,
};

// A decommission (or lock). `undo(action)` reverts it; undo(lock) is unlock. Same numbering as the status
// each action leads to. (`export` is a C++ keyword, hence `export_`.)
enum class Action : std::uint8_t {
  supply = 1,
  destroy = 2,
  export_ = 3,
  sample = 4,
  free_sample = 5,
  stolen = 6,
  lock = 7,
};

// unknown: a batch state the central system sent that this build does not recognise; its raw text is in
// Batch::state_text. Never read as active.
enum class BatchState : std::uint8_t { active = 0, recalled = 1, withdrawn = 2, unknown = 3 };

// Text forms used in JSON, NDJSON snapshots, streams and logs: "active", "supplied", "free_sample", ...;
// actions "supply", "destroy", "export", "sample", "free_sample", "stolen", "lock". PackStatus::unknown and
// BatchState::unknown are "unknown"; the parse functions never return them (the caller keeps the raw text).
std::string_view to_string(PackStatus status);
std::string_view to_string(Action action);
std::string_view to_string(BatchState state);
std::optional<PackStatus> parse_pack_status(std::string_view text);
std::optional<Action> parse_action(std::string_view text);
std::optional<BatchState> parse_batch_state(std::string_view text);
// The status a decommission with `action` leads to (supply -> supplied, lock -> locked, ...).
PackStatus status_after(Action action);

struct Batch {
  std::string batch;              // lot number as printed (AI 10 / 1T)
  std::string expiry;             // YYMMDD as the central system has it; DD may be "00"
  BatchState state = BatchState::active;
  std::string reason;             // recall / withdrawal reason; empty when active
  std::int64_t changed_at_ms = 0; // when the state last changed (Unix ms), 0 = unknown
  std::uint32_t index = 0;        // position in Product::batches; what packs store (never reused)
  std::string state_text;         // the central system's text of the state as stored (raw when unknown)
};

struct Product {
  std::string code;    // the mirror's key: GTIN-14, or the PPN when the product has no GTIN
  std::string gtin;    // GTIN-14 (for German NTIN products the GTIN with the PZN inside); may be empty
  std::string ppn;     // IFA PPN; may be empty. A pack scanned with either code finds this product.
  std::string name;
  std::string market;  // e.g. "DE"
  std::uint32_t index = 0;     // compact product number used inside pack fields (assigned at import)
  std::vector<Batch> batches;  // batches[i].index == i

  const Batch* find_batch(std::string_view batch) const;
};

// Who asks: the authenticated user/system and the premises (GLN) it acts for. Undo and unlock compare the
// location (EU 2016/161 Art 13: same premises).
struct Caller {
  std::string name;      // actor: API key name or certificate subject
  std::string location;  // GLN of the premises
};

// The last decommission (or lock) of a pack, kept for the undo rules (key dx:{P}:..., TTL undo window + 1 d;
// locks are kept until unlocked).
struct DecommissionRecord {
  Action action = Action::supply;
  std::string location;
  std::string actor;
  std::int64_t time_ms = 0;  // Redis TIME when it happened
  std::string transaction_id;
};

// Reason codes of one pack operation. Stable: never renumber or reuse (style.md).
enum class Outcome : std::uint8_t {
  ok = 0,
  unknown_product = 1,       // product code not in the mirror (NMVS_NC_PC_01)
  unknown_serial = 2,        // product known, serial not (NMVS_NC_PC_02)
  already_inactive = 3,      // decommission/lock of a pack that is not active (NMVS_NC_PCK_22; _19 when the
                             // previous status equals the requested one)
  undo_window_passed = 4,    // undo later than the window after the decommission (NMVS_NC_PCK_20)
  undo_other_location = 5,   // undo/unlock from another location than the decommission (NMVS_NC_PCK_21)
  undo_not_allowed = 6,      // destroyed and stolen can never be undone (Art 13)
  undo_status_mismatch = 7,  // undo(action) but the pack's status is not status_after(action) (NMVS_NC_PCK_06)
  undo_no_record = 8,        // status set by the central system (snapshot/feed), no local decommission record
  idempotency_conflict = 9,  // same caller + idempotency key used earlier for a different request (NMVS_TE_TX_01)
  batch_mismatch = 10,       // decommission/undo with expected_batch_index: the pack's stored batch differs;
                             // nothing changed (NMVS_FE_LOT_13)
};
std::string_view to_string(Outcome outcome);

enum class Operation : std::uint8_t { verify = 0, decommission = 1, undo = 2 };
// "verify", "decommission", "undo" (API answers, alerts).
std::string_view to_string(Operation operation);

struct PackResult {
  Outcome outcome = Outcome::ok;
  PackStatus previous = PackStatus::active;  // status before the operation (unknown_*: active, meaningless)
  PackStatus status = PackStatus::active;    // status after it (== previous unless outcome is ok and it changed)
  std::optional<std::uint32_t> batch_index;  // the pack's stored batch reference
  std::optional<Batch> stored_batch;         // that batch as the mirror knows it (expiry, state, reason)
  std::optional<DecommissionRecord> last_decommission;  // before this operation (for repeat/undo rules)
  std::string transaction_id;                // of this operation (the first one's on a replay)
  std::int64_t redis_time_ms = 0;            // Redis TIME when the Function ran
  bool replay = false;                       // idempotent retry: the first result, nothing changed
  std::string central_status;                // raw text of a status the central system sent and this build
                                             // does not know (status or previous == PackStatus::unknown)
  int partition = 0;                         // P of the pack (which outbox/audit stream got the entries)
  std::optional<int> replicas_acked;         // WAIT result when min_replicas_ack > 0 and the state changed
  // A verification answered by a read-only look because Redis is full (MirrorErrorKind::full): the answer is
  // the mirror's, but its audit entry (and idempotency record) could not be written. The caller reports it.
  // False for a replay of an earlier, audited verification.
  bool audit_lost = false;
};

// One pack operation request.
struct PackRequest {
  std::string product_code;  // GTIN-14 or PPN (either code of a product finds it)
  std::string serial;
  Caller caller;
  std::string idempotency_key;  // optional; scoped to caller.name, kept idempotency_ttl
  std::string transaction_id;   // optional; generated (32 hex) when empty
  // Decommission/undo only: change the pack only if its stored batch index is this one, else
  // Outcome::batch_mismatch and nothing changes (a serial of another batch must stay as it is).
  std::optional<std::uint32_t> expected_batch_index;
};

struct BulkItem {
  Operation operation = Operation::verify;
  Action action = Action::supply;  // for decommission and undo
  PackRequest request;
};

// What Mirror::peek() sees of a pack.
struct PackPeek {
  std::string product_code;   // the mirror's key of the product (GTIN-14, or the PPN without a GTIN)
  std::uint32_t batch_index = 0;
  std::string batch;          // the batch name; "" when the index is not in the product's batch list
  std::string expiry;         // YYMMDD of that batch
  PackStatus status = PackStatus::active;
  std::string central_status;  // raw text when status == PackStatus::unknown
  bool pending = false;        // a transaction of this site the central system has not answered yet
};

// Errors of the mirror itself (not pack outcomes). Anything here is "mirror unavailable" to the user.
enum class MirrorErrorKind : std::uint8_t {
  unavailable = 0,   // Redis unreachable / timed out (wraps RedisError)
  library = 1,       // Functions library missing, wrong version, or a Function failed
  protocol = 2,      // unexpected reply shape
  bad_request = 3,   // invalid input to the library (empty serial, serial > 20, unknown action)
  bad_data = 4,      // import: a malformed snapshot line (message names line and field)
  outdated = 5,      // the generation in effect has an older value format: it must be imported again
  full = 6,          // Redis is at maxmemory (noeviction) and refuses writes: nothing was changed
};
struct MirrorError {
  MirrorErrorKind kind = MirrorErrorKind::unavailable;
  std::string message;                // "mirror unavailable: <redis message>", ...
  std::optional<RedisError> redis;    // the transport error, when that was the cause
};

template <class T>
using MirrorResult = vpoint::Result<T, MirrorError>;

// A Redis setting the mirror depends on that is not as required (check_settings()).
struct SettingProblem {
  std::string setting;   // e.g. "maxmemory-policy"
  std::string actual;    // value found
  std::string required;  // what is needed
  bool fatal = true;     // false: a durability/memory warning, the service may still start
  std::string message;   // one sentence naming the rule
};

struct MirrorOptions {
  // Undo window (EU 2016/161 Art 13(1)(b): 10 days). Unlock has no window.
  std::chrono::seconds undo_window{std::chrono::hours(24 * 10)};
  // The undo marker (dxm:{P}:<code>:<serial>: the decommission's location, ~160 bytes with its TTL) lives this
  // long, well past the undo record (undo window + 1 day), so that a late undo still answers "too late"
  // (NMVS_NC_PCK_20), not "other location" (_21). 0 = no marker. docs/design.md "Undo marker".
  std::chrono::seconds undo_marker_ttl{std::chrono::hours(24 * 100)};
  // Bounded staleness of the product cache while its invalidation subscription is down (set_invalidations_up).
  std::chrono::milliseconds max_staleness{1000};
  // Idempotency records kept this long (design.md: 24 h). Unknown packs are never stored (read-through may
  // know them on the retry).
  std::chrono::seconds idempotency_ttl{std::chrono::hours(24)};
  // > 0: after a state change, WAIT for this many replicas (PackResult::replicas_acked says how many did).
  int min_replicas_ack = 0;
  std::chrono::milliseconds replicas_ack_timeout{100};
  // Sub-buckets per partition for NEW generations (import). Chosen so that hashes hold a few hundred packs:
  // packs / (1024 * buckets) should stay well under hash-max-listpack-entries. 16 fits ~10 M packs.
  int buckets_per_partition = 16;
  // hash-max-listpack-entries the mirror requires (check_settings()).
  int required_listpack_entries = 1024;
  // Tests only: load the Functions library in test mode, which honours set_test_clock_offset().
  bool test_mode = false;
  // Audit stream entries are capped approximately at this many per partition (0 = no cap); the central link
  // archives and trims them earlier in normal operation.
  std::int64_t audit_maxlen = 0;
};

// The partition count: P = CRC32(product_code "|" serial) mod kPartitions.
inline constexpr int kPartitions = 1024;
// Version of cache/lua/vpoint.lua that this build expects (`FCALL vp_version 0`).
inline constexpr int kLibraryVersion = 9;
// Layout of the values a generation stores (mirror:format:<gen>): 2 = batch*32 + pending*16 + status. A
// generation of another format is not read: Mirror::start() marks it outdated and the central link (or
// `vpoint import`) loads a new one.
inline constexpr int kMirrorFormat = 2;

struct LibraryInfo {
  int version = 0;
  bool test_mode = false;
  std::int64_t generation = 0;  // mirror:gen in effect
  int buckets_per_partition = 0;
  // The generation in effect was written in another value format (kMirrorFormat): every pack operation fails
  // with MirrorErrorKind::outdated until a new generation is imported.
  bool outdated = false;
};

// A returns-desk decision about one pack (POST /v1/returns/decision): one audit entry in the pack's stream
// au:{P} (op "rd"; AuditRecord::operation "returns_decision", action = the decision, note), written by the
// Functions library (vp_decision) once per caller + idempotency key.
struct DecisionEntry {
  std::string product_code;  // as the mirror keys the pack (the product's code when the product is known)
  std::string serial;
  std::string decision;  // restock | quarantine | destroy
  std::string note;      // "" = none
  std::string previous_status;  // the pack's status name before the decision ("" = not known)
  std::string status;           // after it (a destroy decision that changed the status: "destroyed")
  std::string transaction_id;   // the verification's (or the destroy's) transaction, "" = none
  Caller caller;
  std::string idempotency_key;  // "" = none
};
struct DecisionRecorded {
  std::string audit_id;  // the audit entry's stream id
  bool replay = false;   // an earlier request with the same idempotency key recorded it
  std::string decision;  // what the recorded entry says (a replay: the first request's decision)
};

class Mirror {
 public:
  Mirror(Client& client, MirrorOptions options = {});
  ~Mirror();
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  // Loads the Functions library on every master (FUNCTION LOAD REPLACE), checks its version and reads the
  // generation in effect. Call once before any operation (and again after a generation switch elsewhere).
  boost::asio::awaitable<MirrorResult<LibraryInfo>> start();

  // The Redis settings the mirror depends on, on every master: hash-max-listpack-entries/-value (memory),
  // maxmemory-policy noeviction (packs must never be evicted), appendonly + appendfsync (durability).
  // Empty = all good. The service decides whether to refuse to start (fatal problems).
  boost::asio::awaitable<MirrorResult<std::vector<SettingProblem>>> check_settings();

  // Verify: status unchanged, an audit entry appended.
  boost::asio::awaitable<MirrorResult<PackResult>> verify(const PackRequest& request);
  // Decommission with any action (lock included): only an active pack; records who/where/when for undo.
  boost::asio::awaitable<MirrorResult<PackResult>> decommission(const PackRequest& request, Action action);
  // Undo (EU Art 13): same location, within the undo window, never destroyed/stolen, the pack's status must
  // be status_after(action). undo(lock) = unlock: same location, no window. Expiry/recall: the caller's rule.
  boost::asio::awaitable<MirrorResult<PackResult>> undo(const PackRequest& request, Action action);

  // Appends a returns decision to the pack's audit stream (DecisionEntry). With an idempotency key, a retry
  // returns the first entry (replay) and appends nothing.
  boost::asio::awaitable<MirrorResult<DecisionRecorded>> record_decision(const DecisionEntry& entry);

  // Many operations, pipelined (per node in Cluster mode); results in request order. An entry is an error
  // only for that entry (e.g. bad_request); a Redis outage fails every entry.
  boost::asio::awaitable<std::vector<MirrorResult<PackResult>>> bulk(std::vector<BulkItem> items);

  // Product (with all batches) by GTIN or PPN; nullopt when unknown. Reads Redis every time (background roles
  // that need the state as it is now).
  boost::asio::awaitable<MirrorResult<std::optional<Product>>> product(std::string_view code);
  // The same from the mirror's one in-process product cache (the hot path: no round trip once cached); null
  // when unknown (unknown codes are not cached). Entries are dropped by invalidate().
  boost::asio::awaitable<MirrorResult<std::shared_ptr<const Product>>> cached_product(std::string_view code);
  std::size_t cached_products() const;
  boost::asio::awaitable<MirrorResult<std::optional<Batch>>> batch(std::string_view product_code,
                                                                   std::string_view batch);

  // Read-only look at a pack: its stored batch and status, without an audit entry, an outbox entry or any
  // other write (the recall list reads the batch of packs named in the audit trail; a look is not a scan).
  // One round trip for the pack (the product's index and batch list come from the mirror's product cache).
  // nullopt when the product or the serial is unknown.
  boost::asio::awaitable<MirrorResult<std::optional<PackPeek>>> peek(std::string_view product_code,
                                                                   std::string_view serial);
  // Many looks, pipelined (per node in Cluster mode); results in request order.
  boost::asio::awaitable<std::vector<MirrorResult<std::optional<PackPeek>>>> peek_many(
      std::vector<std::pair<std::string, std::string>> packs);

  // Children of an SSCC aggregation ({product code, serial} as the snapshot gave them); nullopt when unknown.
  boost::asio::awaitable<MirrorResult<std::optional<std::vector<std::pair<std::string, std::string>>>>>
  aggregation(std::string_view sscc);

  // Readiness checks: Redis answers PING (its reply), and the Functions library version loaded (vp_version;
  // not checked against kLibraryVersion here).
  boost::asio::awaitable<MirrorResult<std::string>> ping();
  boost::asio::awaitable<MirrorResult<int>> library_version();

  // The generation in effect and its feed position (last applied change's seq; 0 when none).
  boost::asio::awaitable<MirrorResult<std::pair<std::int64_t, std::int64_t>>> feed_position();
  // The same as Redis holds it now (the generation switched last, not the one start() read): for readers that
  // never start() a mirror, such as `vpoint status`.
  boost::asio::awaitable<MirrorResult<std::pair<std::int64_t, std::int64_t>>> stored_feed_position();

  // Drops the product cache's entries of the product `code` names (GTIN, PPN or key), or everything when empty
  // or "*". Called on each kInvalidationChannel message (watch_invalidations()); start() drops everything.
  void invalidate(std::string_view code = {});

  // start() found the generation in effect in another value format (LibraryInfo::outdated).
  bool outdated() const;
  // The generation in effect and its pack buckets per partition, as start() read them.
  std::pair<std::int64_t, int> layout() const;

  // The product cache's invalidation subscription (watch_invalidations() calls this): once it has been called,
  // a cached product (batch states, recalls) is served only while the subscription is up, or at most
  // MirrorOptions::max_staleness after it was read from Redis while it is down. Without a subscriber the cache
  // is dropped by the caller's invalidate() calls only (tools, tests, one-process set-ups).
  void set_invalidations_up(bool up);
  // How long the subscription has been down (nullopt: up, or none attached). For readiness.
  std::optional<std::chrono::milliseconds> invalidations_down_for() const;

  // The partition of a pack (hash tag of all its keys).
  static int partition_of(std::string_view product_code, std::string_view serial);

  // Tests only (needs MirrorOptions::test_mode): shifts the Functions' clock (Redis TIME + offset).
  void set_test_clock_offset(std::chrono::milliseconds offset);
  std::chrono::milliseconds test_clock_offset() const;

  const MirrorOptions& options() const;
  Client& client();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Pub/sub channel on which product/batch changes are published (message: product code) so that in-process
// caches drop stale entries; a message "*" means "drop everything" (generation switch).
inline constexpr std::string_view kInvalidationChannel = "vpoint:invalidate";

}  // namespace vpoint::cache
