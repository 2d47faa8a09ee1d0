#include "product_catalog.hpp"

#include <functional>

namespace vpoint::cache::detail {

ProductCatalog::ProductCatalog() {
  for (auto& shard : shards_) shard.store(std::make_shared<const Map>());
}

std::size_t ProductCatalog::shard_of(std::string_view code) { return std::hash<std::string_view>{}(code) % kShards; }

std::shared_ptr<const Product> ProductCatalog::find(std::string_view code,
                                                    std::optional<std::chrono::steady_clock::duration> max_age) const {
  auto map = shards_[shard_of(code)].load(std::memory_order_acquire);
  auto it = map->find(code);
  if (it == map->end()) return nullptr;
  if (max_age && std::chrono::steady_clock::now() - it->second.fetched > *max_age) return nullptr;
  return it->second.product;
}

void ProductCatalog::insert(const std::string& code, std::shared_ptr<const Product> product, std::uint64_t epoch,
                            std::chrono::steady_clock::time_point fetched) {
  auto& shard = shards_[shard_of(code)];
  auto current = shard.load();
  for (;;) {
    // invalidate() bumps the epoch before it swaps shards: a fetch older than an invalidation is dropped, and
    // an insert that wins the swap before the invalidation is removed by it.
    if (epoch_.load() != epoch) return;
    auto next = std::make_shared<Map>(*current);
    (*next)[code] = Entry{product, fetched};
    if (shard.compare_exchange_weak(current, std::shared_ptr<const Map>(std::move(next)))) return;
  }
}

void ProductCatalog::invalidate(std::string_view code) {
  ++epoch_;
  for (auto& shard : shards_) {
    auto current = shard.load();
    for (;;) {
      std::shared_ptr<const Map> next;
      if (code.empty()) {
        if (current->empty()) break;
        next = std::make_shared<const Map>();
      } else {
        auto kept = std::make_shared<Map>();
        bool dropped = false;
        for (const auto& [key, entry] : *current) {
          const Product& p = *entry.product;
          if (key == code || p.code == code || p.gtin == code || p.ppn == code) dropped = true;
          else kept->emplace(key, entry);
        }
        if (!dropped) break;
        next = std::move(kept);
      }
      if (shard.compare_exchange_weak(current, next)) break;
    }
  }
}

std::size_t ProductCatalog::size() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) n += shard.load()->size();
  return n;
}

}  // namespace vpoint::cache::detail
