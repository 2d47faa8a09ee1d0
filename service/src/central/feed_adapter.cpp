// The mirror side of the change feed and of read-through caching: a thin adapter over the cache module's
// feed-apply API (cache/include/vpoint/cache/feed.hpp), so that the link never builds mirror keys itself
// (design.md: service/ knows no Redis layout).
#include <spdlog/spdlog.h>

#include "link_internal.hpp"
#include "vpoint/cache/feed.hpp"
#include "vpoint/service/logging.hpp"

namespace vpoint::service::central_detail {

boost::asio::awaitable<cache::MirrorResult<std::int64_t>> apply_changes(cache::Mirror& mirror,
                                                                       const std::vector<std::string>& lines) {
  auto applied = co_await cache::apply_changes(mirror, lines);
  if (!applied) co_return vpoint::Unexpected{applied.error()};
  // Gaps are counted and logged by the link (it sees the seqs first); lines the mirror could not place
  // (unknown product/batch) are healed by the next snapshot, so they are worth a warning, not a stop.
  for (const auto& note : applied->notes) spdlog::warn("central feed: line not applied: {}", note);
  // Stored as unknown and refused at every scan (issue 14): worth a warning each time, with the count.
  if (applied->unknown_statuses + applied->unknown_batch_states > 0)
    log_event(spdlog::level::warn, "central_unknown_status",
              {{"pack_statuses", applied->unknown_statuses},
               {"batch_states", applied->unknown_batch_states},
               {"first", applied->unknown_notes.empty() ? std::string() : applied->unknown_notes.front()}});
  if (applied->held + applied->stale > 0)
    log_event(spdlog::level::info, "central_feed_merge", {{"held_for_pending", applied->held}, {"stale", applied->stale}});
  co_return applied->position;
}

boost::asio::awaitable<cache::MirrorResult<bool>> cache_pack(cache::Mirror& mirror, const CentralPack& pack) {
  cache::LivePack live;
  live.code_key = pack.code_key;
  live.code = pack.code;
  live.serial = pack.serial;
  live.batch = pack.batch;
  live.expiry = pack.expiry;
  live.status = pack.status;
  live.batch_state = str(pack.object, "batch_state");
  live.batch_reason = str(pack.object, "batch_reason");
  if (auto* seq = pack.object.if_contains("feed_seq"); seq && seq->is_int64()) live.seq = seq->get_int64();
  co_return co_await cache::cache_pack(mirror, live);
}

}  // namespace vpoint::service::central_detail
