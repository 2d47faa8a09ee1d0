#include "decode_pool.hpp"

#include <algorithm>
#include <span>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace vpoint::service {

namespace asio = boost::asio;

DecodePool::DecodePool(std::size_t workers, std::size_t queue, prometheus::Registry* registry)
    : workers_(std::max<std::size_t>(workers, 1)), limit_(workers_ + queue), pool_(workers_) {
  if (registry) {
    auto& family = prometheus::BuildCounter()
                       .Name("vpoint_scan_decodes_total")
                       .Help("Images decoded for POST /v1/scan, by the kind of thread that decoded them")
                       .Register(*registry);
    on_pool_ = &family.Add({{"thread", "decode"}});
    on_caller_ = &family.Add({{"thread", "http"}});
  }
}

DecodePool::~DecodePool() {
  pool_.stop();
  pool_.join();
}

asio::awaitable<std::optional<DecodePool::Decoded>> DecodePool::decode(std::string image, scanner::DecodeOptions options) {
  if (in_flight_.fetch_add(1) >= limit_) {
    in_flight_.fetch_sub(1);
    co_return std::nullopt;
  }
  struct Release {
    std::atomic<std::size_t>& n;
    ~Release() { n.fetch_sub(1); }
  } release{in_flight_};
  auto ex = pool_.get_executor();
  // optional: co_spawn's completion needs a default-constructible result, and Result<T, E> is not.
  auto job = [this, ex, image = std::move(image), options]() -> asio::awaitable<std::optional<Decoded>> {
    const bool on_pool = ex.running_in_this_thread();
    if (auto* c = on_pool ? on_pool_ : on_caller_) c->Increment();
    co_return scanner::decode(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(image.data()), image.size()), options);
  };
  // Runs on a pool thread; this coroutine resumes on its own executor when the decode is done.
  co_return co_await asio::co_spawn(ex, std::move(job), asio::use_awaitable);
}

}  // namespace vpoint::service
