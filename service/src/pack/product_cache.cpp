#include "vpoint/service/product_cache.hpp"

#include <iterator>

namespace vpoint::service {

boost::asio::awaitable<cache::MirrorResult<std::shared_ptr<const cache::Product>>> ProductCache::get(
    std::string_view code_in) {
  std::string code(code_in);
  std::uint64_t epoch = 0;
  {
    std::lock_guard lock(mutex_);
    if (auto it = products_.find(code); it != products_.end()) co_return it->second;
    epoch = epoch_;
  }
  auto fetched = co_await mirror_.product(code);
  if (!fetched) co_return vpoint::Unexpected{fetched.error()};
  if (!*fetched) co_return std::shared_ptr<const cache::Product>{};
  auto product = std::make_shared<const cache::Product>(std::move(**fetched));
  std::lock_guard lock(mutex_);
  // An invalidation that arrived while we read may concern exactly this product: do not keep the old copy.
  if (epoch == epoch_) products_[code] = product;
  co_return product;
}

void ProductCache::invalidate(std::string_view code) {
  std::lock_guard lock(mutex_);
  ++epoch_;
  if (code.empty() || code == "*") {
    products_.clear();
    return;
  }
  std::erase_if(products_, [&](const auto& entry) {
    const cache::Product& p = *entry.second;
    return entry.first == code || p.code == code || p.gtin == code || p.ppn == code;
  });
}

std::size_t ProductCache::size() const {
  std::lock_guard lock(mutex_);
  return products_.size();
}

}  // namespace vpoint::service
