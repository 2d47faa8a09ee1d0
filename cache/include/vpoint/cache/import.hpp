#pragma once
// Snapshot import: loads the central system's NDJSON snapshot (design.md "Central repository link") into a
// NEW generation of the mirror, then switches mirror:gen to it in one SET. Readers keep using the old
// generation until that switch, so verifications never see half a snapshot; a snapshot without its final
// {"type":"end","seq":N} line is never switched to. Replacing a live mirror needs `replace = true` (operator
// command; the service pauses writes around the switch).
//
// Lines (one JSON object each):
//   {"type":"product","gtin"|"ppn":…,"name":…,"market":…}           (both gtin and ppn allowed: one product)
//   {"type":"batch","gtin"|"ppn":…,"batch":…,"expiry":"YYMMDD","state":"active"|"recalled"|"withdrawn",
//    "reason":…?, "changed_at":<unix ms>?}
//   {"type":"pack","gtin"|"ppn":…,"serial":…,"batch":…,"status":"active"|"supplied"|…}
//   {"type":"aggregation","sscc":…,"children":[{"gtin"|"ppn":…,"serial":…},…]}
//   {"type":"end","seq":N}
// A product precedes its batches, a batch its packs.
#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::cache {

struct ImportProgress {
  std::uint64_t lines = 0;
  std::uint64_t products = 0;
  std::uint64_t batches = 0;
  std::uint64_t packs = 0;
  std::uint64_t aggregations = 0;
  // Statuses / batch states this build does not know: stored as such (never read as active), not refused.
  std::uint64_t unknown_statuses = 0;
  std::uint64_t unknown_batch_states = 0;
};

struct ImportStats : ImportProgress {
  std::int64_t generation = 0;  // the generation now in effect
  std::int64_t seq = 0;         // feed position of the snapshot (its end line)
  double seconds = 0;
  // This site's changes still waiting in the outbox, laid on top of the new generation at the switch (the
  // snapshot may not hold them yet), and those that could not be placed (product unknown to the snapshot).
  std::uint64_t pending_laid = 0;
  std::uint64_t pending_unplaced = 0;
};

struct ImportOptions {
  // Replace a live mirror (operator command). Without it, importing into a mirror that has a generation is
  // refused with bad_request.
  bool replace = false;
  // Pack fields buffered per bucket key before one multi-field HSET.
  std::size_t fields_per_hset = 64;
  // Commands per pipeline round trip (must finish within the client's command_timeout). Up to two pipelines
  // of pack HSETs are in flight while the next lines are parsed; others run one at a time, in order.
  std::size_t commands_per_pipeline = 256;
  // Called every `progress_every` lines and once at the end.
  std::function<void(const ImportProgress&)> progress = {};
  std::uint64_t progress_every = 100000;
  // Delete the previous generation's keys right after the switch. Off by default: other vpointd instances
  // read the old generation until they get the "*" invalidation, so drop_generation() belongs after a grace
  // period (the CLI waits --grace seconds).
  bool drop_previous = false;
};

// Line-by-line loader, for a snapshot that arrives in pieces (an HTTP body): add_line() for each line,
// finish() after the last. Errors name the line number and the field.
class SnapshotLoader {
 public:
  SnapshotLoader(Mirror& mirror, ImportOptions options = {});
  ~SnapshotLoader();
  SnapshotLoader(const SnapshotLoader&) = delete;
  SnapshotLoader& operator=(const SnapshotLoader&) = delete;

  // Picks the new generation (refuses when the mirror is live and replace is false).
  boost::asio::awaitable<MirrorResult<std::int64_t>> begin();
  boost::asio::awaitable<MirrorResult<bool>> add_line(std::string_view line);
  // Flushes, checks the end line was seen, switches mirror:gen, publishes "*" on kInvalidationChannel and
  // restarts `mirror` on the new generation.
  boost::asio::awaitable<MirrorResult<ImportStats>> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whole snapshot from a stream (file, pipe). Reads the stream synchronously between pipelines.
boost::asio::awaitable<MirrorResult<ImportStats>> import_snapshot(Mirror& mirror, std::istream& in,
                                                                 ImportOptions options = {});

// Deletes every key of one generation (pack buckets, products, batches, aggregations) with SCAN + UNLINK on
// every master. Returns the number of keys deleted.
boost::asio::awaitable<MirrorResult<std::uint64_t>> drop_generation(Mirror& mirror, std::int64_t generation);

}  // namespace vpoint::cache
