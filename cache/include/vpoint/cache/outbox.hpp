#pragma once
// The outbox: every state change of a pack waits in its partition's stream ob:{P} (appended by the pack Function
// in the same atomic call as the change) until the central system has answered it. The central link's drainer
// reads each partition's oldest entries in order, sends them, and acknowledges (removes) exactly the entries the
// central system answered, accepted or rejected: "still in the outbox" = "not answered yet".
#include <cstdint>
#include <map>
#include <string>
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
  std::uint32_t batch_index = 0;  // into the product's batch list
  std::string location;
  std::string actor;
  std::int64_t time_ms = 0;  // Redis TIME of the change
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
  // Removes entries the central system answered. Returns how many were removed.
  boost::asio::awaitable<MirrorResult<std::size_t>> acknowledge(const std::vector<OutboxEntry>& entries);
  // The stream's name, for people (vpoint status): "ob:{P}".
  static std::string stream_name(int partition);
  // Entries waiting, per partition.
  boost::asio::awaitable<MirrorResult<OutboxDepth>> depth();

 private:
  Client& client_;
};

}  // namespace vpoint::cache
