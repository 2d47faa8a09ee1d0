#pragma once
// Runs transport coroutines on a real io_context served by several threads (the Client must be strand-safe),
// and small helpers shared by the transport tests.
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "vpoint/cache/redis.hpp"

namespace vpoint::test {

// prefix + number (GCC 12 warns falsely, -Wrestrict, on "literal" + std::string&&).
inline std::string numbered(std::string_view prefix, long long n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// A reply the caller would see, or the error kind + message when the transport failed.
inline std::string show(const cache::ReplyResult& r) {
  if (!r) return "error(" + std::string(cache::to_string(r.error().kind)) + "): " + r.error().message;
  return r->str;
}

class IoThreads {
 public:
  explicit IoThreads(int threads = 2) : guard_(io_.get_executor()) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~IoThreads() {
    guard_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }
  boost::asio::io_context& context() { return io_; }

  // Starts `aw` on the io_context and returns a future of its result.
  template <class T>
  std::future<T> spawn(boost::asio::awaitable<T> aw) {
    auto promise = std::make_shared<std::promise<T>>();
    auto future = promise->get_future();
    boost::asio::co_spawn(
        io_,
        [aw = std::move(aw), promise]() mutable -> boost::asio::awaitable<void> {
          try {
            promise->set_value(co_await std::move(aw));
          } catch (...) {
            promise->set_exception(std::current_exception());
          }
        },
        boost::asio::detached);
    return future;
  }

  // Runs `aw` to completion (bounded: a hang fails the test instead of blocking it).
  template <class T>
  T run(boost::asio::awaitable<T> aw, std::chrono::seconds limit = std::chrono::seconds(20)) {
    auto future = spawn(std::move(aw));
    REQUIRE(future.wait_for(limit) == std::future_status::ready);
    return future.get();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

}  // namespace vpoint::test
