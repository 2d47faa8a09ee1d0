// The mirror side of the change feed and of read-through caching: a thin adapter over the cache module's
// feed-apply API, so that the link never builds mirror keys itself (design.md: service/ knows no Redis layout).
#include "link_internal.hpp"

namespace vpoint::service::central_detail {

boost::asio::awaitable<cache::MirrorResult<std::int64_t>> apply_changes(cache::Mirror& mirror,
                                                                       const std::vector<std::string>& lines) {
  (void)mirror;
  (void)lines;
  co_return vpoint::Unexpected{cache::MirrorError{cache::MirrorErrorKind::library, "feed apply is not available", std::nullopt}};
}

boost::asio::awaitable<cache::MirrorResult<bool>> cache_pack(cache::Mirror& mirror, const CentralPack& pack) {
  (void)mirror;
  (void)pack;
  co_return vpoint::Unexpected{cache::MirrorError{cache::MirrorErrorKind::library, "feed apply is not available", std::nullopt}};
}

}  // namespace vpoint::service::central_detail
