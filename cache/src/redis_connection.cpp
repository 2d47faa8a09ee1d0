#include "redis_connection.hpp"

#include "redis_tls.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

namespace vpoint::cache::detail {

namespace asio = boost::asio;
using boost::system::error_code;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// A writer batch is capped so one huge pipeline cannot starve the reader of buffer space forever.
constexpr std::size_t kMaxWriteBatch = 4 * 1024 * 1024;
constexpr std::size_t kReadChunk = 64 * 1024;

RedisError map_error(const error_code& ec, std::string_view context) {
  std::string message = std::string(context) + ": " + ec.message();
  if (ec.category() == asio::error::get_ssl_category() || ec.category() == asio::ssl::error::get_stream_category()) {
    // stream_truncated: the peer went away without close_notify — a dropped connection, not a cert problem.
    if (ec == asio::ssl::error::stream_truncated) return {ErrorKind::closed, message};
    return {ErrorKind::tls, message};
  }
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == asio::error::operation_aborted || ec == asio::error::connection_aborted ||
      ec == asio::error::bad_descriptor) {
    return {ErrorKind::closed, message};
  }
  if (ec == asio::error::timed_out) return {ErrorKind::timeout, message};
  return {ErrorKind::io, message};
}

void encode_command(const Command& args, std::string& out) { out += encode_command(args); }

std::string encode_command(const Command& args) {
  RespCommand command(args.size());
  for (const auto& arg : args) command.arg(arg);
  return std::move(command).take();
}

}  // namespace vpoint::cache::detail

namespace vpoint::cache {

// RESP arrays of bulk strings (the same bytes as hiredis' redisFormatCommandArgv), written as the arguments
// come: hiredis' formatter needs an argv array of all arguments first. The one encoder: Command vectors
// (encode_command) are written by it too.
RespCommand::RespCommand(std::size_t argc) : declared_(argc) {
  out_.reserve(64 + argc * 24);
  out_ += '*';
  out_ += std::to_string(argc);
  out_ += "\r\n";
}

RespCommand& RespCommand::arg(std::string_view value) {
  ++given_;
  out_ += '$';
  out_ += std::to_string(value.size());
  out_ += "\r\n";
  out_.append(value);
  out_ += "\r\n";
  return *this;
}

RespCommand& RespCommand::arg(long long value) {
  char digits[24];
  auto end = std::to_chars(std::begin(digits), std::end(digits), value).ptr;
  return arg(std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

void RespCommand::check() const {
  if (given_ != declared_)
    throw std::logic_error("RespCommand: " + std::to_string(given_) + " arguments given, " +
                           std::to_string(declared_) + " declared");
}

const std::string& RespCommand::payload() const {
  check();
  return out_;
}

std::string RespCommand::take() && {
  check();
  return std::move(out_);
}

}  // namespace vpoint::cache

namespace vpoint::cache::detail {

namespace {

// hiredis reads RESP straight into our Reply tree (its redisReplyObjectFunctions hook): no redisReply tree
// that would be copied into a Reply and freed again for every reply. An array's elements are sized when it
// is created, so a child is built in its parent's slot; only the root is a heap object (freeObject's only
// argument). Nothing may throw through hiredis' C frames: an allocation failure is hiredis' "out of memory".
void* place(const redisReadTask* task, Reply&& value) noexcept {
  try {
    if (task->parent != nullptr) {
      auto* parent = static_cast<Reply*>(task->parent->obj);
      Reply* slot = &parent->elements.at(static_cast<std::size_t>(task->idx));
      *slot = std::move(value);
      return slot;
    }
    return new Reply(std::move(value));
  } catch (...) {
    return nullptr;
  }
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) noexcept {
  Reply r;
  r.type = task->type == REDIS_REPLY_ERROR    ? Reply::Type::error
           : task->type == REDIS_REPLY_STATUS ? Reply::Type::status
                                              : Reply::Type::string;
  try {
    r.str.assign(str, len);
  } catch (...) {
    return nullptr;
  }
  return place(task, std::move(r));
}

void* create_array(const redisReadTask* task, int elements) noexcept {
  Reply r;
  r.type = Reply::Type::array;
  try {
    r.elements.resize(elements > 0 ? static_cast<std::size_t>(elements) : 0);
  } catch (...) {
    return nullptr;
  }
  return place(task, std::move(r));
}

void* create_integer(const redisReadTask* task, long long value) noexcept {
  Reply r;
  r.type = Reply::Type::integer;
  r.integer = value;
  return place(task, std::move(r));
}

void* create_nil(const redisReadTask* task) noexcept { return place(task, Reply{}); }

void free_root(void* object) noexcept { delete static_cast<Reply*>(object); }

redisReplyObjectFunctions reply_functions{create_string, create_array, create_integer, create_nil, free_root};

}  // namespace

Connection::Connection(asio::any_io_executor executor, Endpoint endpoint,
                       std::shared_ptr<const ConnectionSettings> settings)
    : strand_(asio::make_strand(executor)),
      endpoint_(std::move(endpoint)),
      settings_(std::move(settings)),
      wake_writer_(strand_),
      backoff_timer_(strand_),
      deadline_timer_(strand_),
      backoff_(settings_->backoff_min),
      read_buffer_(kReadChunk) {}

Connection::~Connection() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

void Connection::start(std::string payload, std::size_t expected, Clock::time_point deadline,
                       OutcomeHandler handler) {
  auto request = std::make_shared<Request>(std::move(handler));  // (Boost 1.81: no any_completion_handler assignment)
  request->payload = std::move(payload);
  request->expected = expected;
  request->deadline = deadline;
  request->work = asio::prefer(asio::get_associated_executor(request->handler, strand_),
                               asio::execution::outstanding_work.tracked);
  asio::dispatch(strand_, [self = shared_from_this(), request = std::move(request)] { self->enqueue(request); });
}

void Connection::enqueue(const std::shared_ptr<Request>& request) {
  outstanding_.fetch_add(1, std::memory_order_relaxed);
  if (state_ == State::closed) {
    complete(request, RedisError{ErrorKind::closed, "redis client closed"});
    return;
  }
  if (request->deadline <= Clock::now()) {
    complete(request, RedisError{ErrorKind::timeout, "command to " + endpoint_.str() + " reached its deadline before it was queued"});
    return;
  }
  to_write_.push_back(request);
  arm_deadline(request->deadline);
  if (state_ == State::connected) {
    wake_writer_.cancel();
  } else if (!running_) {
    running_ = true;
    asio::co_spawn(strand_, run(), asio::detached);
  }
}

void Connection::arm_deadline(Clock::time_point deadline) {
  if (deadline >= deadline_armed_) return;  // an earlier wake-up is already set; expire() re-arms after it
  deadline_armed_ = deadline;
  deadline_timer_.expires_at(deadline);  // cancels the later wait, whose handler then does nothing
  deadline_timer_.async_wait([self = shared_from_this(), deadline](boost::system::error_code ec) {
    if (ec || self->deadline_armed_ != deadline) return;
    self->deadline_armed_ = Clock::time_point::max();
    self->expire();
  });
}

void Connection::expire() {
  const auto now = Clock::now();
  auto next = Clock::time_point::max();
  // Never sent: drop it from the queue; nothing reached Redis.
  for (auto it = to_write_.begin(); it != to_write_.end();) {
    if ((*it)->deadline <= now) {
      auto request = *it;
      it = to_write_.erase(it);
      complete(request, state_ == State::connected
                            ? RedisError{ErrorKind::timeout, "command to " + endpoint_.str() +
                                                                 " still queued at its deadline"}
                            : not_connected_error());
    } else {
      next = std::min(next, (*it)->deadline);
      ++it;
    }
  }
  // Sent: the reply (if any) is read later and discarded; the connection stays usable. The command may have
  // run on the server — the caller decides (non-idempotent commands are never re-sent here).
  for (auto& request : in_flight_) {
    if (request->completed) continue;
    if (request->deadline <= now) {
      complete(request, RedisError{ErrorKind::timeout, "no reply from " + endpoint_.str() +
                                                           " before the deadline (the command may have run)"});
    } else {
      next = std::min(next, request->deadline);
    }
  }
  if (next != Clock::time_point::max()) arm_deadline(next);
}

void Connection::close() {
  asio::post(strand_, [self = shared_from_this()] { self->do_close(); });
}

void Connection::do_close() {
  state_ = State::closed;
  ++generation_;
  close_socket();
  wake_writer_.cancel();
  backoff_timer_.cancel();
  deadline_timer_.cancel();
  deadline_armed_ = Clock::time_point::max();
  RedisError error{ErrorKind::closed, "redis client closed"};
  auto pending = std::move(to_write_);
  to_write_.clear();
  for (auto& r : pending) complete(r, error);
  auto flying = std::move(in_flight_);
  in_flight_.clear();
  for (auto& r : flying) complete(r, error);
}

void Connection::complete(const std::shared_ptr<Request>& request, std::optional<RedisError> error) {
  if (request->completed) return;
  request->completed = true;
  outstanding_.fetch_sub(1, std::memory_order_relaxed);
  Outcome outcome{std::move(request->replies), std::move(error)};
  // Never run inline: the caller's continuation must not run inside the reader's or the sweeper's loops. The
  // strand post is a same-thread queue push; dispatch then runs it here when the caller lives on this very
  // io_context thread, or hands it to the caller's thread (the one cross-thread hand-off back).
  asio::post(strand_, [work = std::move(request->work), handler = std::move(request->handler),
                       outcome = std::move(outcome)]() mutable {
    asio::dispatch(work, [handler = std::move(handler), outcome = std::move(outcome)]() mutable {
      std::move(handler)(std::move(outcome));
    });
  });
}

RedisError Connection::not_connected_error() const {
  if (last_connect_error_ &&
      (last_connect_error_->kind == ErrorKind::auth || last_connect_error_->kind == ErrorKind::tls)) {
    return *last_connect_error_;
  }
  return {ErrorKind::unavailable, "redis " + endpoint_.str() + " unavailable: " +
                                      (last_connect_error_ ? last_connect_error_->message
                                                           : std::string("still connecting at the deadline"))};
}

void Connection::close_socket() {
  error_code ignored;
  if (tls_) tls_->lowest_layer().close(ignored);
  if (tcp_) tcp_->close(ignored);
}

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  while (state_ != State::closed && !to_write_.empty()) {
    if (Clock::now() < next_connect_) {
      backoff_timer_.expires_at(next_connect_);
      co_await backoff_timer_.async_wait(kTuple);
      continue;  // re-check: closed, or every waiter gave up
    }
    state_ = State::connecting;
    auto error = co_await connect();
    if (state_ == State::closed) break;
    if (error) {
      state_ = State::disconnected;
      close_socket();
      last_connect_error_ = error;
      next_connect_ = Clock::now() + backoff_;
      backoff_ = std::min(backoff_ * 2, settings_->backoff_max);
      // Fail fast whoever cannot live to see the next attempt; a refused password or certificate will not
      // fix itself within a deadline, so those callers get the clear auth/tls error now.
      const bool config_error = error->kind == ErrorKind::auth || error->kind == ErrorKind::tls;
      for (auto it = to_write_.begin(); it != to_write_.end();) {
        if (config_error || (*it)->deadline <= next_connect_) {
          auto request = *it;
          it = to_write_.erase(it);
          complete(request, not_connected_error());
        } else {
          ++it;
        }
      }
      continue;
    }
    state_ = State::connected;
    backoff_ = settings_->backoff_min;
    last_connect_error_.reset();
    write_error_.reset();
    const auto generation = ++generation_;
    asio::co_spawn(strand_, write_loop(generation), asio::detached);
    auto lost = co_await read_loop();
    drop(lost);
  }
  running_ = false;
}

asio::awaitable<std::optional<RedisError>> Connection::connect() {
  auto self = shared_from_this();
  const auto what = "connect to " + endpoint_.str();
  close_socket();
  tcp_.reset();
  tls_.reset();
  if (settings_->tls) {
    tls_ = std::make_unique<TlsStream>(strand_, *settings_->tls);
  } else {
    tcp_ = std::make_unique<TcpSocket>(strand_);
  }
  if (reader_ != nullptr) redisReaderFree(reader_);
  reader_ = redisReaderCreateWithFunctions(&reply_functions);
  if (reader_ == nullptr) throw std::bad_alloc();

  // Watchdog: closing the socket aborts whichever step (resolve excepted) is pending at the deadline.
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer watchdog(strand_);
  watchdog.expires_after(settings_->connect_timeout);
  watchdog.async_wait([this, self, timed_out](error_code ec) {
    if (!ec) {
      *timed_out = true;
      close_socket();
    }
  });
  auto fail = [&](const error_code& ec, std::string_view step) -> std::optional<RedisError> {
    if (*timed_out) {
      return RedisError{ErrorKind::timeout, what + ": no answer within " +
                                                std::to_string(settings_->connect_timeout.count()) + " ms"};
    }
    return map_error(ec, what + " (" + std::string(step) + ")");
  };

  asio::ip::tcp::resolver resolver(strand_);
  auto [rec, endpoints] = co_await resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port), kTuple);
  if (rec) co_return fail(rec, "resolve");
  auto& socket = tls_ ? tls_->next_layer() : *tcp_;
  auto [cec, chosen] = co_await asio::async_connect(socket, endpoints, kTuple);
  (void)chosen;
  if (cec || *timed_out) co_return fail(cec, "tcp");
  error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);  // pipelined small writes must not wait (Nagle)
  if (tls_) {
    const std::string& name = settings_->tls_server_name.empty() ? endpoint_.host : settings_->tls_server_name;
    detail::prepare_tls_handshake(*tls_, name, settings_->tls_verify_peer);
    auto [hec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kTuple);
    if (hec || *timed_out) co_return fail(hec, "tls handshake");
  }
  auto handshake_error = co_await handshake_commands();
  if (*timed_out) co_return fail({}, "auth");
  if (tls_ && handshake_error && handshake_error->kind == ErrorKind::closed) {
    // TLS 1.3 finishes the client's handshake before the server has checked our certificate: a server that
    // refuses it (or wants one we did not send) sends an alert and closes, and which of the two we see first
    // (alert or reset) is a race. Either way it is the TLS setup, not a dropped link: say so, and fail fast.
    handshake_error = RedisError{ErrorKind::tls, handshake_error->message +
                                                     " (the server closed the TLS connection before its first "
                                                     "reply: does it require a client certificate we did not "
                                                     "send or it does not trust?)"};
  }
  watchdog.cancel();
  co_return handshake_error;
}

asio::awaitable<std::optional<RedisError>> Connection::handshake_commands() {
  std::vector<Command> commands;
  if (!settings_->password.empty()) {
    if (settings_->username.empty()) {
      commands.push_back({"AUTH", settings_->password});
    } else {
      commands.push_back({"AUTH", settings_->username, settings_->password});
    }
  }
  if (settings_->db != 0) commands.push_back({"SELECT", std::to_string(settings_->db)});
  // Without AUTH, a PING tells us now (not on the first real command) that the server wants a password.
  if (settings_->password.empty()) commands.push_back({"PING"});

  std::string payload;
  for (const auto& c : commands) encode_command(c, payload);
  auto [wec, written] = co_await write_all(asio::buffer(payload));
  (void)written;
  if (wec) co_return map_error(wec, "send AUTH/SELECT to " + endpoint_.str());
  std::vector<Reply> replies;
  while (replies.size() < commands.size()) {
    auto [rec, n] = co_await read_some(asio::buffer(read_buffer_));
    if (rec) co_return map_error(rec, "read AUTH/SELECT reply from " + endpoint_.str());
    if (redisReaderFeed(reader_, read_buffer_.data(), n) != REDIS_OK) {
      co_return RedisError{ErrorKind::protocol, "RESP reader: " + std::string(reader_->errstr)};
    }
    if (auto perr = parse_replies(replies)) co_return perr;
  }
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const auto& reply = replies[i];
    if (!reply.is_error()) continue;
    const auto& verb = commands[i][0];
    if (verb == "AUTH" || reply.str.starts_with("NOAUTH") || reply.str.starts_with("WRONGPASS")) {
      co_return RedisError{ErrorKind::auth, "redis " + endpoint_.str() + " refused authentication: " + reply.str};
    }
    co_return RedisError{ErrorKind::protocol, "redis " + endpoint_.str() + " refused " + verb + ": " + reply.str};
  }
  co_return std::nullopt;
}

std::optional<RedisError> Connection::parse_replies(std::vector<Reply>& sink) {
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      return RedisError{ErrorKind::protocol, "malformed reply from " + endpoint_.str() + ": " + reader_->errstr};
    }
    if (raw == nullptr) return std::nullopt;
    std::unique_ptr<Reply> reply(static_cast<Reply*>(raw));  // the root create_* made
    sink.push_back(std::move(*reply));
  }
}

void Connection::deliver(Reply reply) {
  auto& request = in_flight_.front();
  request->replies.push_back(std::move(reply));
  if (request->replies.size() == request->expected) {
    auto done = std::move(request);
    in_flight_.pop_front();
    complete(done, std::nullopt);  // no-op if its waiter already gave up at the deadline
  }
}

asio::awaitable<void> Connection::write_loop(std::uint64_t generation) {
  auto self = shared_from_this();
  std::string buffer;
  std::vector<std::shared_ptr<Request>> batch;  // keeps payloads alive while the write is in progress
  while (generation_ == generation && state_ == State::connected) {
    if (to_write_.empty()) {
      wake_writer_.expires_at(Clock::time_point::max());
      co_await wake_writer_.async_wait(kTuple);
      continue;
    }
    // Automatic pipelining: everything queued since the last write goes out in one write, and replies are
    // matched in the same FIFO order by read_loop.
    buffer.clear();
    batch.clear();
    while (!to_write_.empty() && buffer.size() < kMaxWriteBatch) {
      auto request = std::move(to_write_.front());
      to_write_.pop_front();
      request->written = true;
      buffer += request->payload;
      in_flight_.push_back(request);
      batch.push_back(std::move(request));
    }
    auto [ec, n] = co_await write_all(asio::buffer(buffer));
    (void)n;
    if (ec) {
      if (generation_ == generation) {
        write_error_ = map_error(ec, "write to " + endpoint_.str());
        close_socket();  // read_loop sees the failure and drops the connection
      }
      co_return;
    }
  }
}

asio::awaitable<RedisError> Connection::read_loop() {
  std::vector<Reply> replies;
  for (;;) {
    auto [ec, n] = co_await read_some(asio::buffer(read_buffer_));
    if (ec) co_return write_error_ ? *write_error_ : map_error(ec, "read from " + endpoint_.str());
    if (redisReaderFeed(reader_, read_buffer_.data(), n) != REDIS_OK) {
      co_return RedisError{ErrorKind::protocol, "RESP reader: " + std::string(reader_->errstr)};
    }
    replies.clear();
    if (auto perr = parse_replies(replies)) co_return *perr;
    for (auto& reply : replies) {
      if (in_flight_.empty()) {
        co_return RedisError{ErrorKind::protocol,
                             "unexpected reply from " + endpoint_.str() + " (nothing in flight): " + reply.str};
      }
      deliver(std::move(reply));
    }
  }
}

void Connection::drop(const RedisError& error) {
  if (state_ != State::closed) state_ = State::disconnected;
  ++generation_;
  close_socket();
  wake_writer_.cancel();
  if (state_ == State::closed) return;  // do_close already failed everything with "closed"
  spdlog::warn("redis: connection to {} lost ({} commands in flight failed): {}", endpoint_.str(),
               in_flight_.size(), error.message);
  // In-flight commands may or may not have run: fail them, never re-send (a decommission must not run
  // twice). Queued commands that were never written stay queued for the reconnect.
  RedisError failed{error.kind, "connection to " + endpoint_.str() +
                                    " lost with the command in flight (not retried): " + error.message};
  if (failed.kind == ErrorKind::timeout) failed.kind = ErrorKind::io;
  auto flying = std::move(in_flight_);
  in_flight_.clear();
  for (auto& r : flying) complete(r, failed);
}

asio::awaitable<std::tuple<error_code, std::size_t>> Connection::write_all(asio::const_buffer buffer) {
  if (tls_) co_return co_await asio::async_write(*tls_, buffer, kTuple);
  co_return co_await asio::async_write(*tcp_, buffer, kTuple);
}

asio::awaitable<std::tuple<error_code, std::size_t>> Connection::read_some(asio::mutable_buffer buffer) {
  if (tls_) co_return co_await tls_->async_read_some(buffer, kTuple);
  co_return co_await tcp_->async_read_some(buffer, kTuple);
}

}  // namespace vpoint::cache::detail
