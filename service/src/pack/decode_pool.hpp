#pragma once
// Image decoding off the HTTP threads (issue 15): POST /v1/scan hands the image to a small pool of decode
// threads ([scan] workers) with a bounded queue ([scan] queue); a full pool answers "busy" at once instead of
// letting camera photos stall every verification. Internal to the pack routes.
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include "vpoint/scanner/decode.hpp"

namespace vpoint::service {

class DecodePool {
 public:
  using Decoded = Result<std::vector<scanner::Symbol>, scanner::DecodeError>;

  // `registry` (optional) gets vpoint_scan_decodes_total{thread="decode"|"http"}: where each decode ran (the
  // pool's threads, or the caller's thread: never expected, counted so that a test can tell).
  DecodePool(std::size_t workers, std::size_t queue, prometheus::Registry* registry = nullptr);
  ~DecodePool();
  DecodePool(const DecodePool&) = delete;
  DecodePool& operator=(const DecodePool&) = delete;

  // Decodes `image` on a pool thread; the caller's coroutine resumes on its own executor. nullopt = busy (every
  // worker and queue slot taken).
  boost::asio::awaitable<std::optional<Decoded>> decode(std::string image, scanner::DecodeOptions options);

  std::size_t workers() const { return workers_; }
  std::size_t in_flight() const { return in_flight_.load(); }

 private:
  std::size_t workers_;
  std::size_t limit_;  // workers + queue
  std::atomic<std::size_t> in_flight_{0};
  boost::asio::thread_pool pool_;
  prometheus::Counter* on_pool_ = nullptr;
  prometheus::Counter* on_caller_ = nullptr;
};

}  // namespace vpoint::service
