#pragma once
// The central link's last published state, one Redis hash (kLinkStatusKey) that any vpointd instance writes
// and `vpoint status` reads without a running vpointd.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/redis.hpp"

namespace vpoint::cache {

// Hash: state, generation, feed_seq, central_seq, last_sync_ms, instance, updated_ms, last_error. Public for tests.
inline constexpr std::string_view kLinkStatusKey = "central:status";

struct LinkRecord {
  std::string state;             // starting | loading | following | offline | stopped
  std::int64_t generation = 0;   // mirror generation the link follows
  std::int64_t feed_seq = 0;     // last applied change
  std::int64_t central_seq = 0;  // the central system's head as last seen
  std::int64_t last_sync_ms = 0; // last successful feed answer (Unix ms)
  std::string instance;          // which vpointd wrote it
  std::int64_t updated_ms = 0;   // when it was written (Unix ms)
  std::string last_error;
};

class LinkRecordStore {
 public:
  explicit LinkRecordStore(Client& client) : client_(client) {}
  boost::asio::awaitable<MirrorResult<std::size_t>> write(const LinkRecord& record);
  // nullopt when no link has written yet. Missing or unreadable numbers read as 0.
  boost::asio::awaitable<MirrorResult<std::optional<LinkRecord>>> read();

 private:
  Client& client_;
};

}  // namespace vpoint::cache
