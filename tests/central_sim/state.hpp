#pragma once
// The central simulator's state: the seeded data (seed.hpp, procedural), everything changed since (pack
// overrides, uploaded products/batches/packs/aggregations, batch recalls), the change feed, the received
// transactions and alerts. No HTTP here (api.cpp is the shell).
//
// Durability: every state change is first appended to <data>/journal.ndjson and fdatasync'd, then applied
// in memory, so an answered request is never lost and a request cut by a crash is either fully in the
// journal (a retry gets its first results: idempotency by transaction id) or ignored (a torn last line is
// dropped on start). Start = meta.json (seed spec) or base.ndjson (--snapshot) + journal replay.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "seed.hpp"
#include "vpoint/scanner/result.hpp"

namespace vpoint::central_sim {

struct StateOptions {
  std::optional<SeedSpec> seed;   // seed procedurally (when the data dir is empty / no data dir)
  std::string snapshot_file;      // or load this NDJSON snapshot (when the data dir is empty / no data dir)
  std::string data_dir;           // empty = in memory only
  std::size_t feed_retention = 1000000;  // changes kept for ?since=; older positions get 410
  bool fsync = true;              // fdatasync the journal per request (tests of durability keep it on)
};

struct HistoryEntry {
  std::int64_t time_ms = 0;
  std::string event;     // "seeded" | "upload" | "decommission" | "undo" | "elsewhere" | "verify"
  std::string action;    // supply, destroy, ... ("" for upload/elsewhere)
  std::string status;    // status after the event
  std::string location;
  std::string actor;
  std::string transaction;
};

struct PackView {
  std::uint32_t product = 0;
  std::string serial;
  std::uint32_t batch = 0;
  std::string status;
  bool uses_ppn = false;
  std::vector<HistoryEntry> history;
  std::optional<std::uint64_t> seeded;  // index of the seeded pack
};

struct BatchRecord {
  std::string batch;
  std::string expiry;
  std::string state = "active";
  std::string reason;
  std::int64_t changed_at_ms = 0;
};

struct ProductRecord {
  std::string gtin;
  std::string ppn;
  std::string name;
  std::string market;
  bool pack_uses_ppn = false;
  std::vector<BatchRecord> batches;
  const std::string& primary_code() const { return gtin.empty() ? ppn : gtin; }
  const BatchRecord* find_batch(std::string_view batch) const;
};

struct TxResult {
  std::string id;
  std::string result;                // "accepted" | "rejected"
  std::optional<std::string> code;   // NMVS_... when rejected
  std::optional<std::uint64_t> seq;  // feed seq of the change an accepted transaction made (none: no change)
};

// A request-level failure: the field path and the rule (turned into a 400 problem by the API), or an I/O
// failure of the journal (503).
struct StateError {
  enum class Kind { bad_request, not_found, storage } kind = Kind::bad_request;
  std::string message;
  std::string field;
};
template <class T>
using StateResult = Result<T, StateError>;

struct FeedPage {
  std::string body;           // NDJSON lines
  std::size_t lines = 0;
  std::uint64_t head = 0;     // current seq
  std::uint64_t last = 0;     // seq of the last line returned (0 when none)
};

struct UploadCounts {
  std::uint64_t products = 0, batches = 0, packs = 0, aggregations = 0, seq = 0;
};

class Central {
 public:
  // Opens (and replays) or creates the data dir; seeds when it is empty. Errors name the file and line.
  static Result<std::unique_ptr<Central>, std::string> open(StateOptions options);
  ~Central();

  std::uint64_t seq() const;
  const Seed* seed() const { return seed_.get(); }

  // --- central protocol ---
  StateResult<std::vector<TxResult>> apply_transactions(const boost::json::array& transactions);
  StateResult<boost::json::object> pack_json(std::string_view code, std::string_view serial) const;
  StateResult<boost::json::object> store_alert(boost::json::object alert);

  // Changes with seq > since (at most `limit`); nullopt = `since` is outside the retained feed (gone).
  std::optional<FeedPage> changes(std::uint64_t since, std::size_t limit) const;
  // Like changes(), but when there is nothing yet registers `wake` (called once, from the thread that
  // commits the next change) and returns an empty page with id > 0 to cancel_wait() with.
  std::optional<FeedPage> changes_or_wait(std::uint64_t since, std::size_t limit, std::function<void()> wake,
                                          std::uint64_t& wait_id);
  void cancel_wait(std::uint64_t wait_id);
  void wake_all();  // shutdown: let long polls return

  // Snapshot streaming in pieces (the caller writes each piece before asking for the next).
  struct SnapshotCursor {
    int phase = 0;  // 0 products+batches, 1 seeded packs, 2 uploaded packs, 3 seeded aggregations,
                    // 4 uploaded aggregations, 5 end line, 6 done
    std::uint64_t seq = 0;
    std::uint64_t next_seeded = 0;
    bool changed_written = false;
    std::optional<std::pair<std::uint32_t, std::string>> after_key;
    std::optional<std::string> after_sscc;
    bool done() const { return phase >= 6; }
  };
  SnapshotCursor snapshot_begin() const;
  // Appends about `budget` bytes of NDJSON to `out`.
  void snapshot_next(SnapshotCursor& cursor, std::string& out, std::size_t budget) const;

  // --- admin ---
  StateResult<UploadCounts> upload(std::string_view ndjson);
  StateResult<boost::json::object> set_batch_state(std::string_view code, std::string_view batch,
                                                   std::string_view state, std::string reason);
  // `any_status`: a fault for vpoint's tests (issue 14): any status text of 1-64 printable characters is
  // stored and sent in the feed, snapshot and look-up as it is, known to vpoint or not. `transaction`: the id
  // the pack's history names for the change (a competing transaction made elsewhere; "" = none).
  StateResult<boost::json::object> set_pack_status(std::string_view code, std::string_view serial,
                                                   std::string_view status, std::string location,
                                                   std::string actor, bool any_status = false,
                                                   std::string transaction = "");
  StateResult<boost::json::object> delete_pack(std::string_view code, std::string_view serial);
  boost::json::object transactions_json(std::size_t limit, std::string_view id) const;
  boost::json::object alerts_json(std::size_t limit) const;
  boost::json::object status_json() const;
  // Up to n packs that can be dispensed now (active, batch active and not expired), as pack objects with
  // code, serial, batch, expiry (+ "scan": the GS1 element string / IFA envelope when scan_text).
  std::vector<boost::json::object> usable_packs(std::size_t n, bool scan_text) const;

 private:
  explicit Central(StateOptions options);
  // Admin upload and --snapshot loading (as_base: no feed entries, no journal; the end line sets seq).
  StateResult<UploadCounts> upload_impl(std::string_view ndjson, bool as_base);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Seed> seed_;
};

// RFC 3339 date-time ("2026-11-27T10:00:00Z", fractions and offsets allowed) -> Unix ms.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);
std::string format_rfc3339(std::int64_t unix_ms);
std::int64_t now_ms();

}  // namespace vpoint::central_sim
