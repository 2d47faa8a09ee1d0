#include "vpoint/cache/link_record.hpp"

#include "mirror_internal.hpp"

namespace vpoint::cache {

using boost::asio::awaitable;
using namespace detail;

awaitable<MirrorResult<std::size_t>> LinkRecordStore::write(const LinkRecord& r) {
  auto reply = co_await client_.command(
      cmd("HSET", std::string(kLinkStatusKey), "state", r.state, "generation", std::to_string(r.generation), "feed_seq",
          std::to_string(r.feed_seq), "central_seq", std::to_string(r.central_seq), "last_sync_ms",
          std::to_string(r.last_sync_ms), "instance", r.instance, "updated_ms", std::to_string(r.updated_ms),
          "last_error", r.last_error),
      std::string(kLinkStatusKey));
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  co_return std::size_t{1};
}

awaitable<MirrorResult<std::optional<LinkRecord>>> LinkRecordStore::read() {
  auto reply = co_await client_.command(cmd("HGETALL", std::string(kLinkStatusKey)), std::string(kLinkStatusKey));
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  if (reply->elements.empty()) co_return std::optional<LinkRecord>{};
  auto f = hash_reply(*reply);
  auto number = [&](const char* field) -> std::int64_t {
    return reply_int(Reply{Reply::Type::string, f[field], 0, {}}).value_or(0);
  };
  LinkRecord r;
  r.state = f["state"];
  r.generation = number("generation");
  r.feed_seq = number("feed_seq");
  r.central_seq = number("central_seq");
  r.last_sync_ms = number("last_sync_ms");
  r.instance = f["instance"];
  r.updated_ms = number("updated_ms");
  r.last_error = f["last_error"];
  co_return std::optional<LinkRecord>(std::move(r));
}

}  // namespace vpoint::cache
