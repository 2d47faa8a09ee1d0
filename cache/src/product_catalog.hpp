#pragma once
// The one in-process cache of products (with their batch lists) by code (GTIN, PPN or mirror key). Internal to
// cache/: Mirror fills it on a miss and drops entries on the invalidation channel (kInvalidationChannel).
//
// Reads are on the hot path (every pack operation) and take no lock: each of 64 shards is an immutable map that
// a writer copies, changes and swaps in whole (std::atomic<std::shared_ptr>, compare-and-swap). Writes are rare
// (a product's first use, a feed change of a product) and copy only one shard.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::cache::detail {

class ProductCatalog {
 public:
  ProductCatalog();

  // The cached product of `code`, or null; also null when `max_age` is given and the entry was fetched longer
  // ago than that (bounded staleness while invalidations may be missed).
  std::shared_ptr<const Product> find(std::string_view code,
                                      std::optional<std::chrono::steady_clock::duration> max_age = std::nullopt) const;
  // Read before fetching a product from Redis; pass it to insert().
  std::uint64_t epoch() const { return epoch_.load(); }
  // Keeps `product` under `code`, unless an invalidation ran since `epoch` (the fetch may predate the change).
  // `fetched`: when the fetch started (its age counts from then).
  void insert(const std::string& code, std::shared_ptr<const Product> product, std::uint64_t epoch,
              std::chrono::steady_clock::time_point fetched);
  // Drops every entry of the product `code` names (as key, code, GTIN or PPN); "" drops everything.
  void invalidate(std::string_view code);
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const Product> product;
    std::chrono::steady_clock::time_point fetched;  // when it was read from Redis (before the fetch started)
  };
  // Looked up by string_view (transparent hash): a find builds no std::string.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, Entry, Hash, std::equal_to<>>;
  static constexpr std::size_t kShards = 64;
  static std::size_t shard_of(std::string_view code);
  std::array<std::atomic<std::shared_ptr<const Map>>, kShards> shards_;
  std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace vpoint::cache::detail
