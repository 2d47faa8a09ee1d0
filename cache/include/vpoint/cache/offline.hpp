#pragma once
// Scans the mirror could not confirm because the central system was out of reach (EU 2016/161 Art 29,
// issue 12): a pack unknown to the mirror, scanned while the look-up at the central system failed.
//
// record() keeps a pending placeholder for the pack and appends the scan to one ordered stream, in one atomic
// call (vp_offline in cache/lua/vpoint.lua). The placeholder makes a second supply of the same pack a repeat
// (not a fresh acceptance) and lets an offline undo be checked against the offline decommission. When the
// central system answers again, the central link reads the stream in scan order (head()), replays each scan
// against the mirror and settles it (settle()). Keys (docs/design.md "Offline scans"):
//   pend:{vpoint:offline}:<code>:<serial>  placeholder hash;  offline:{vpoint:offline}  the ordered stream.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::cache {

// One scan kept for replay, as the counter asked it.
struct OfflineScan {
  std::string id;  // stream entry id (set by head(); scan order)
  Operation operation = Operation::verify;
  Action action = Action::supply;  // decommission / undo
  std::string code;                // product code as scanned (GTIN-14 or PPN)
  std::string serial;
  std::string batch;   // as scanned
  std::string expiry;  // YYMMDD as scanned
  std::string location;
  std::string actor;
  std::string transaction_id;  // of the original request: the replay and any alert name it
  std::int64_t time_ms = 0;    // Redis TIME of the scan
};

// What record() decided. `outcome`: ok (recorded, or nothing new for a repeated verify), already_inactive (a
// decommission is pending already: a repeat), or the undo outcomes (status mismatch, other location, window
// passed, not allowed) checked against the pending placeholder.
struct OfflineResult {
  Outcome outcome = Outcome::ok;
  PackStatus previous = PackStatus::active;  // pending status before (active = nothing pending)
  PackStatus status = PackStatus::active;    // pending status after
  std::optional<DecommissionRecord> pending;  // the pending offline decommission, when there is one
  std::string transaction_id;                 // of this operation (the first one's on a replay)
  std::int64_t redis_time_ms = 0;
  bool replay = false;  // same caller + idempotency key as the pending change: nothing new
};

class OfflineQueue {
 public:
  // `mirror` gives the client, the undo window and the test clock; it must outlive the queue.
  explicit OfflineQueue(Mirror& mirror);

  // Records one scan (scan.id and time_ms are ignored; an empty transaction id gets a random one).
  // `idempotency_token` ("" = none): caller + Idempotency-Key, so that a retry is answered as a replay.
  boost::asio::awaitable<MirrorResult<OfflineResult>> record(OfflineScan scan, std::string idempotency_token = {});
  // True when the pack has a placeholder (an offline scan of it waits for replay).
  boost::asio::awaitable<MirrorResult<bool>> pending(std::string code, std::string serial);
  // The oldest `count` scans, in scan order.
  boost::asio::awaitable<MirrorResult<std::vector<OfflineScan>>> head(std::size_t count);
  // The scan was replayed (or answered for good): its entry goes, and the placeholder with the pack's last one.
  boost::asio::awaitable<MirrorResult<bool>> settle(const OfflineScan& scan);
  // Scans waiting for replay.
  boost::asio::awaitable<MirrorResult<std::int64_t>> depth();

 private:
  Mirror& mirror_;
};

}  // namespace vpoint::cache
