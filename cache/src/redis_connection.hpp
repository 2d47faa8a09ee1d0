#pragma once
// Private to the transport: one Redis connection (plain TCP or TLS) with automatic pipelining.
//
// Concurrency model: every Connection owns a strand; all of its state (socket, queues, reader) is touched
// only by coroutines running on that strand, so the io_context may run on several threads without locks.
// Callers hand a request over with async_execute: one post onto the strand; the reader (or the deadline timer,
// or a failure) completes it by posting the caller's handler to the caller's own executor. That is one thread
// hand-off each way per call, no coroutine frames on the strand (profiled: the former co_spawn submit + co_spawn
// wait cost four hand-offs per call, docs/benchmarks.md "service"). No lock is held across I/O.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include "vpoint/cache/redis.hpp"

struct redisReader;
struct redisReply;

namespace vpoint::cache::detail {

using Clock = std::chrono::steady_clock;

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string str() const { return host + ":" + std::to_string(port); }
};

// What every connection of one Client shares.
struct ConnectionSettings {
  std::string username;
  std::string password;
  int db = 0;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain TCP
  bool tls_verify_peer = true;
  std::string tls_server_name;  // "" = each endpoint's host
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds backoff_min{20};
  std::chrono::milliseconds backoff_max{2000};
};

// THE one place where socket / TLS / resolver failures become RedisError (style.md: one mapping function).
RedisError map_error(const boost::system::error_code& ec, std::string_view context);

// RESP encoding of a Command (through RespCommand); appends to `out`.
void encode_command(const Command& args, std::string& out);
std::string encode_command(const Command& args);

// What a waiter gets back. (Not a Result: async_initiate / use_awaitable wants a default-constructible value.)
struct Outcome {
  std::vector<Reply> replies;
  std::optional<RedisError> error;
};

using OutcomeHandler = boost::asio::any_completion_handler<void(Outcome)>;

// One queued payload of `expected` commands written in one piece; completed by the reader (replies), by a
// connection failure (error) or by the connection's deadline timer. Touched only on the connection's strand.
struct Request {
  explicit Request(OutcomeHandler h) : handler(std::move(h)) {}
  std::string payload;
  std::size_t expected = 1;
  Clock::time_point deadline;
  std::vector<Reply> replies;
  bool written = false;    // bytes handed to the socket: a failure now must not be retried (may have run)
  bool completed = false;  // the handler has been posted
  OutcomeHandler handler;
  // Keeps the caller's executor from running out of work while the request is pending (as Asio's own
  // composed operations do).
  boost::asio::any_completion_executor work;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::any_io_executor executor, Endpoint endpoint,
             std::shared_ptr<const ConnectionSettings> settings);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  using Strand = boost::asio::strand<boost::asio::any_io_executor>;
  const Strand& strand() const { return strand_; }
  const Endpoint& endpoint() const { return endpoint_; }
  // Requests queued or in flight; read from any thread to pick the least loaded connection of a pool.
  std::size_t load() const { return outstanding_.load(std::memory_order_relaxed); }

  // Runs `payload` (`expected` replies) and completes `token` with an Outcome on the token's own executor.
  // Thread-safe. E.g. co_await conn->async_execute(std::move(payload), 1, deadline, use_awaitable).
  template <class Token>
  auto async_execute(std::string payload, std::size_t expected, Clock::time_point deadline, Token&& token) {
    return boost::asio::async_initiate<Token, void(Outcome)>(
        [self = shared_from_this()](auto handler, std::string payload, std::size_t expected,
                                    Clock::time_point deadline) {
          self->start(std::move(payload), expected, deadline, OutcomeHandler(std::move(handler)));
        },
        token, std::move(payload), expected, deadline);
  }
  void start(std::string payload, std::size_t expected, Clock::time_point deadline, OutcomeHandler handler);

  // Fails everything pending with ErrorKind::closed and refuses later requests. Thread-safe (posts).
  void close();

 private:
  enum class State { disconnected, connecting, connected, closed };
  using TcpSocket = boost::asio::ip::tcp::socket;
  using TlsStream = boost::asio::ssl::stream<TcpSocket>;

  boost::asio::awaitable<void> run();
  boost::asio::awaitable<std::optional<RedisError>> connect();
  boost::asio::awaitable<std::optional<RedisError>> handshake_commands();
  boost::asio::awaitable<void> write_loop(std::uint64_t generation);
  boost::asio::awaitable<RedisError> read_loop();
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(
      boost::asio::const_buffer buffer);
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      boost::asio::mutable_buffer buffer);
  // Parses buffered bytes; delivers complete replies to `sink`. Returns a protocol error if RESP is malformed.
  std::optional<RedisError> parse_replies(std::vector<Reply>& sink);
  void deliver(Reply reply);
  void enqueue(const std::shared_ptr<Request>& request);
  void complete(const std::shared_ptr<Request>& request, std::optional<RedisError> error);
  // One timer per connection, armed at the earliest pending deadline; expire() times out what is due.
  void arm_deadline(Clock::time_point deadline);
  void expire();
  void drop(const RedisError& error);
  void close_socket();
  void do_close();
  RedisError not_connected_error() const;

  Strand strand_;
  Endpoint endpoint_;
  std::shared_ptr<const ConnectionSettings> settings_;
  State state_ = State::disconnected;
  bool running_ = false;      // run() is active
  std::uint64_t generation_ = 0;  // bumped on every (re)connect/drop; stale writers notice and stop
  std::unique_ptr<TcpSocket> tcp_;
  std::unique_ptr<TlsStream> tls_;
  redisReader* reader_ = nullptr;
  std::deque<std::shared_ptr<Request>> to_write_;   // never written: safe to send after a reconnect
  std::deque<std::shared_ptr<Request>> in_flight_;  // written, replies expected in FIFO order
  std::atomic<std::size_t> outstanding_{0};
  boost::asio::steady_timer wake_writer_;
  boost::asio::steady_timer backoff_timer_;
  boost::asio::steady_timer deadline_timer_;
  Clock::time_point deadline_armed_ = Clock::time_point::max();
  std::chrono::milliseconds backoff_;
  Clock::time_point next_connect_{};
  std::optional<RedisError> last_connect_error_;
  std::optional<RedisError> write_error_;
  std::string write_buffer_;
  std::vector<char> read_buffer_;
};

}  // namespace vpoint::cache::detail
