#pragma once
// Helpers shared by the central link's sources. Internal to service/src/central/.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/alert_log.hpp"
#include "vpoint/service/central_link.hpp"

namespace vpoint::service::central_detail {

// RFC 3339 UTC with milliseconds, as every vpoint timestamp ("2026-12-06T05:56:02.482Z").
using cache::iso_time_ms;

// The mirror side of the change feed, through the cache module's feed-apply API: applies the NDJSON change
// lines (each with "seq" and "op") in order and returns the feed position now in effect.
boost::asio::awaitable<cache::MirrorResult<std::int64_t>> apply_changes(cache::Mirror& mirror,
                                                                       const std::vector<std::string>& lines);

// Writes one looked-up pack (and its product/batch when the mirror lacks them) into the mirror.
boost::asio::awaitable<cache::MirrorResult<bool>> cache_pack(cache::Mirror& mirror, const CentralPack& pack);

// GET target of the central system's live look-up of one pack, each value a percent-encoded segment.
std::string pack_lookup_target(std::string_view code, std::string_view serial);
std::int64_t unix_ms_now();
std::string random_hex(std::size_t bytes);

}  // namespace vpoint::service::central_detail
