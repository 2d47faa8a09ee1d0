#pragma once
// The outbox: every state change of a pack waits in its partition's stream ob:{P} (appended by the pack Function
// in the same atomic call as the change) until the central system has answered it. The central link's drainer
// reads each partition's oldest entries in order, sends them, and acknowledges (removes) exactly the entries the
// central system answered, accepted or rejected: "still in the outbox" = "not answered yet".
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/redis.hpp"

namespace vpoint::cache {

struct OutboxEntry {
  int partition = 0;
  std::string id;              // stream id: the order of the partition's changes
  std::string transaction_id;  // the central system is idempotent by it
  std::string code;            // product code as the operation named it (GTIN-14 or PPN)
  std::string serial;
  Operation operation = Operation::decommission;  // decommission or undo
  Action action = Action::supply;
  std::uint32_t batch_index = 0;  // into the product's batch list of the generation the change was made in
  std::string batch_name;         // the batch by name and expiry (what the central system and a later generation
  std::string batch_expiry;       // know); empty in entries written before library version 6
  std::string location;
  std::string actor;
  std::int64_t time_ms = 0;  // Redis TIME of the change
};

// What the central system answered for one outbox entry (Outbox::settle).
struct CentralAnswer {
  bool accepted = false;
  // The central feed seq the answer is as of: accepted, the seq of the change our transaction made; rejected,
  // the look-up's position. Feed lines of this pack at or below it are older than the settled state.
  std::optional<std::int64_t> seq;
  // Rejected: the pack as the central system holds it now (look-up). nullopt = not known: the local state is
  // kept (call settle again once it is known, or accept that).
  struct Pack {
    bool exists = true;   // false: the central system does not know the pack (it is removed from the mirror)
    std::string status;   // central's text; a status vpoint does not know is stored as unknown (15)
    std::string batch;    // batch name; "" or unknown to this generation = the batch the mirror holds
  };
  std::optional<Pack> central;
  std::string other_transaction;  // rejected: the transaction that got there first (audit entry)
  std::string code;               // rejected: the central system's code (NMVS_...)
};

struct Settlement {
  bool settled = false;  // false: answered before (the entry was no longer in the outbox); nothing changed
  std::optional<PackStatus> status;  // the pack's local status afterwards (nullopt: not in the mirror)
  int pending_left = 0;              // this site's transactions of the pack still unanswered
};

struct OutboxDepth {
  std::map<int, std::int64_t> partitions;  // non-empty partitions only
  std::int64_t total = 0;
};

class Outbox {
 public:
  explicit Outbox(Client& client) : client_(client) {}

  // The oldest `count` entries of each of `partitions`, in stream order, pipelined (per node in Cluster);
  // one list per partition, in the order asked. Any Redis failure fails the whole read.
  boost::asio::awaitable<MirrorResult<std::vector<std::vector<OutboxEntry>>>> read(const std::vector<int>& partitions,
                                                                                 std::size_t count);
  // Entries of one partition after the stream id `after` (exclusive; "" = from the start), at most `count`.
  boost::asio::awaitable<MirrorResult<std::vector<OutboxEntry>>> read_after(int partition, const std::string& after,
                                                                           std::size_t count);
  // Removes entries without touching the packs (tests and tools; the central link settles instead). Returns
  // how many were removed.
  boost::asio::awaitable<MirrorResult<std::size_t>> acknowledge(const std::vector<OutboxEntry>& entries);
  // The central system answered `entry` (one atomic Function call, vp_settle): the entry leaves the outbox, the
  // pack's pending mark goes once nothing else of it is pending, a feed line held meanwhile is applied, and a
  // rejection makes the local state central's (docs/design.md "Truth model"). Exactly once per entry.
  boost::asio::awaitable<MirrorResult<Settlement>> settle(Mirror& mirror, const OutboxEntry& entry,
                                                          const CentralAnswer& answer);
  // The same for many entries in one pipeline (per node in Cluster); results in order. The outer error: nothing
  // was sent (feed position or a product could not be read).
  boost::asio::awaitable<MirrorResult<std::vector<MirrorResult<Settlement>>>> settle_many(
      Mirror& mirror, const std::vector<std::pair<OutboxEntry, CentralAnswer>>& answered);
  // The stream's name, for people (vpoint status): "ob:{P}".
  static std::string stream_name(int partition);
  // Entries waiting, per partition.
  boost::asio::awaitable<MirrorResult<OutboxDepth>> depth();

 private:
  Client& client_;
};

}  // namespace vpoint::cache
