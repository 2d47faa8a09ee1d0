#pragma once
// Change feed apply (issue 4 "Change feed apply", issue 6): the central system's `GET /central/v1/changes`
// lines applied to the generation in effect, and read-through caching of one looked-up pack.
//
// A feed line is a snapshot object (import.hpp) plus "seq" (increasing) and "op":"upsert"|"delete"
// (design.md "Central repository link"; a pack delete names only the code and the serial).
//
// Rules:
// - Lines are applied in seq order. A line with seq <= the stored position mirror:seq:<gen> (or repeated in
//   the same call) is a replay and skipped. A first seq > position + 1 (or a jump between lines) is a gap:
//   reported in FeedApplyResult::gaps, the lines are still applied (they are newer than the mirror); the
//   caller logs it and may take a snapshot.
// - product upsert: HSET of the fields present (a new product gets the next product index); a PPN next to a
//   GTIN gets its alias key. batch upsert: a new batch is appended to the product's batch list (next index,
//   never reused), an existing one gets expiry (when given), state (default active), reason (default empty)
//   and changed_at (when given) replaced; a state this build does not know is stored as sent. pack upsert:
//   field set to batch*32 + status (status 15 with the raw text in us:{P}:<gen> when unknown); the central system is
//   authoritative for packs it changed, so a different local status is overwritten. pack delete: HDEL (the
//   serial becomes unknown). aggregation upsert/delete: list replaced / removed.
// - A line whose product (or a pack's batch) the mirror does not know, or with an invalid field, is not
//   applied: counted in `unresolved` with a note; the position still moves past it (the next snapshot
//   heals it). A line that is not a JSON object with integer "seq" and "op" fails the whole call with
//   bad_data naming the line, and nothing is written.
// - Writes are pipelined; then the position is SET; then each changed product code is PUBLISHed on
//   kInvalidationChannel and dropped from `mirror`'s own cache (Mirror::invalidate).
// Crash semantics: no transaction spans the writes and the position. A crash (or Redis error) after some
// writes but before the position update leaves the old position; the next call re-applies the same lines,
// which is harmless because every change is an idempotent upsert/delete (an existing batch is updated, not
// appended again). One feed follower per mirror at a time: two concurrent appliers could both append the
// same new batch or product (the central link follows the feed from one task).
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::cache {

struct FeedGap {
  std::int64_t expected = 0;  // the seq that should have come next
  std::int64_t got = 0;       // the seq that came
};

struct FeedApplyResult {
  std::int64_t generation = 0;       // the generation the lines were applied to
  std::int64_t position_before = 0;  // mirror:seq:<gen> before the call
  std::int64_t position = 0;         // after it (highest seq seen, never lower than before)
  std::uint64_t applied = 0;
  std::uint64_t skipped = 0;         // replays (seq <= position)
  std::uint64_t unresolved = 0;      // not applied: unknown product/batch or an invalid field
  // Applied with a status / batch state this build does not know: stored as such (PackStatus::unknown,
  // BatchState::unknown, raw text kept), refused at every scan, never skipped.
  std::uint64_t unknown_statuses = 0;
  std::uint64_t unknown_batch_states = 0;
  // Pack lines not written because this site has a pending transaction of the pack (kept, applied once the
  // central system answers it), or because they are older than the pack's settled state (merge rule,
  // docs/design.md "Truth model"). Both are counted in `applied` too (the position moved past them).
  std::uint64_t held = 0;
  std::uint64_t stale = 0;
  std::vector<FeedGap> gaps;
  std::vector<std::string> changed_products;  // primary codes published on kInvalidationChannel
  std::vector<std::string> notes;             // why lines were unresolved (at most 20)
  std::vector<std::string> unknown_notes;     // which lines carried an unknown status/state (at most 20)
};

boost::asio::awaitable<MirrorResult<FeedApplyResult>> apply_changes(Mirror& mirror,
                                                                    const std::vector<std::string>& lines);

// A pack as the central system's live look-up returned it (GET /central/v1/packs/<code>/<serial>).
struct LivePack {
  std::string code_key = "gtin";  // "gtin" | "ppn": what `code` is
  std::string code;
  std::string serial;
  std::string batch;
  std::string expiry;  // YYMMDD
  std::string status;  // "active", "supplied", ...; one this build does not know is stored as unknown
  // The batch's state as the look-up gave it ("" = not given: stored as unknown, never as active) and why.
  std::string batch_state;
  std::string batch_reason;
  std::int64_t seq = 0;  // the central feed position the look-up is as of (0 = not given)
};

// Read-through caching: writes the pack into the generation in effect (the same path as a feed pack
// upsert, merge rule included: a pack with a pending local transaction is kept), creating its product (only the
// code known) and its batch (expiry and state as the look-up gave them) when the mirror lacks them. Does not
// move the feed position. bad_request when a field is invalid.
boost::asio::awaitable<MirrorResult<bool>> cache_pack(Mirror& mirror, const LivePack& pack);

}  // namespace vpoint::cache
