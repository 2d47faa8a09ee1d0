#pragma once
// The audit log: every pack operation (refusals included) is appended to its partition's stream au:{P} by the
// Functions library (cache/lua/vpoint.lua) in the same atomic call as the operation. This class reads it as
// typed records (pack history, recall lists, the archiver), keeps the archiver's watermarks and trims what has
// been archived. Appending is not here: only the Functions append (Mirror::record_decision for returns decisions).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/redis.hpp"

namespace vpoint::cache {

// Hash partition -> id of the last entry archived (and so trimmable) of au:{P}. Public for tests.
inline constexpr std::string_view kAuditWatermarkKey = "audit:archived";

// One audit entry with readable names (the archive's line format and what pack history shows).
struct AuditRecord {
  std::string id;  // stream entry id "<ms>-<seq>" (the de-duplication key, with the partition)
  int partition = 0;
  std::int64_t time_ms = 0;  // Redis TIME of the operation (field t; the id's millisecond when missing)
  std::string code;          // product code as the mirror keyed it
  std::string serial;
  std::string operation;  // verify | decommission | undo | central_rejected (our transaction, settled)
                          // | returns_decision (Mirror::record_decision)
  std::string action;     // supply, destroy, ... ; "" for a verification; returns_decision: the decision
  std::string outcome;    // Outcome name: ok, unknown_serial, already_inactive, ... ("unknown" if unreadable)
  std::string previous_status;
  std::string status;
  std::string location;
  std::string actor;
  std::string transaction_id;
  std::string related_transaction;  // central_rejected: the transaction that got there first ("" = not known)
  std::string central_code;         // central_rejected: the central system's code (NMVS_...)
  std::string note;                 // returns_decision: the desk's note ("" = none)
  bool archived = false;  // read from an archive file (set by the archive's reader)
};

// What to read of one partition: entries after `after` (exclusive id; "" = from `from_ms`, inclusive) and
// before the millisecond `before_ms` (exclusive; 0 = no bound).
struct AuditRange {
  int partition = 0;
  std::string after;
  std::int64_t from_ms = 0;
  std::int64_t before_ms = 0;
};

// Stream ids "<ms>-<seq>": numeric order (malformed ids first), the millisecond (nullopt when malformed), and
// the smallest id after one.
bool stream_id_less(std::string_view a, std::string_view b);
std::optional<std::int64_t> stream_id_ms(std::string_view id);
std::string stream_id_successor(std::string_view id);

class AuditLog {
 public:
  explicit AuditLog(Client& client) : client_(client) {}

  // The newest `count` entries of one partition, newest first (entries that are no audit record are skipped).
  boost::asio::awaitable<MirrorResult<std::vector<AuditRecord>>> latest(int partition, std::size_t count);
  // At most `count` entries of each range, oldest first, pipelined (per node in Cluster); one list per range
  // in the order asked. `raw_counts` (optional) gets how many stream entries each range returned, records or
  // not (== count: there may be more). Any Redis failure fails the whole read.
  boost::asio::awaitable<MirrorResult<std::vector<std::vector<AuditRecord>>>> read(
      const std::vector<AuditRange>& ranges, std::size_t count, std::vector<std::size_t>* raw_counts = nullptr);

  // The archiver's watermark of each partition ("" = nothing archived yet), in the order asked.
  boost::asio::awaitable<MirrorResult<std::vector<std::string>>> watermarks(const std::vector<int>& partitions);
  // Records new watermarks (partition -> last archived id). Call only once those entries are durable elsewhere.
  boost::asio::awaitable<MirrorResult<std::size_t>> set_watermarks(const std::map<int, std::string>& marks);
  // Removes every entry up to and including each id (partition -> id). Returns how many were removed.
  boost::asio::awaitable<MirrorResult<std::size_t>> trim_through(const std::map<int, std::string>& marks);

  // Redis' clock (TIME) in Unix milliseconds: the clock of the streams' ids.
  boost::asio::awaitable<MirrorResult<std::int64_t>> now_ms();

 private:
  Client& client_;
};

}  // namespace vpoint::cache
