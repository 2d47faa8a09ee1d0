#pragma once
// In-process cache of the mirror's products (with their batch lists) by product code (GTIN or PPN), so that
// a pack operation costs ONE Redis round trip (design.md "Data flow of one scan"). Filled from
// Mirror::product() on a miss; entries are dropped on the invalidation channel (cache::kInvalidationChannel:
// a product code, or "*" for everything) and everything is dropped after the subscriber reconnects.
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::service {

class ProductCache {
 public:
  explicit ProductCache(cache::Mirror& mirror) : mirror_(mirror) {}

  // The product, or null when the mirror does not know the code (unknown codes are not cached: the feed may
  // add them any time). An error means the mirror is unavailable.
  boost::asio::awaitable<cache::MirrorResult<std::shared_ptr<const cache::Product>>> get(
      std::string_view code);

  // Drops `code` (any entry of the product it names: GTIN, PPN or mirror key); "" or "*" drops everything.
  void invalidate(std::string_view code);
  std::size_t size() const;

 private:
  cache::Mirror& mirror_;
  mutable std::mutex mutex_;  // never held across a co_await
  std::unordered_map<std::string, std::shared_ptr<const cache::Product>> products_;
  std::uint64_t epoch_ = 0;  // bumped by invalidate(): a fetch that raced an invalidation is not stored
};

}  // namespace vpoint::service
