#pragma once
// Redis transport: hiredis 0.14's redisReader parses RESP (RespCommand writes it) over our own
// Boost.Asio sockets (plain TCP or asio::ssl::stream). Pipelining, deadlines, reconnects, TLS, AUTH and
// Cluster slot routing (CRC16 hash tags, CLUSTER SLOTS, MOVED/ASK) live here, on the io_context, with no
// thread per connection. Knows Redis, nothing of HTTP.
//
// CONTRACT between the transport and its users (mirror operations, import, service). Extend, do not rename.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace boost::asio {
class io_context;
}

#include "vpoint/scanner/result.hpp"

namespace vpoint::cache {

// One RESP reply, owned (copied out of hiredis' redisReply tree).
struct Reply {
  enum class Type { string, array, integer, nil, status, error };
  Type type = Type::nil;
  std::string str;              // string, status and error replies
  long long integer = 0;        // integer replies
  std::vector<Reply> elements;  // array replies

  bool is_error() const { return type == Type::error; }
  bool is_nil() const { return type == Type::nil; }
};

// Infrastructure failures, mapped in exactly one place (style.md). A Redis error *reply* (e.g. a Function's
// redis.error_reply) is not a RedisError: it comes back as a Reply of Type::error.
enum class ErrorKind {
  io,           // socket error (message has the OS text)
  timeout,      // deadline passed
  closed,       // connection closed by peer / client shut down
  protocol,     // malformed RESP, unexpected reply shape
  auth,         // AUTH / HELLO refused
  unavailable,  // no connection could be made within the deadline ("mirror unavailable")
  tls,          // handshake / certificate failure
  cluster,      // slot map could not be learned, too many redirections
};
struct RedisError {
  ErrorKind kind = ErrorKind::io;
  std::string message;
};
std::string_view to_string(ErrorKind kind);

using Command = std::vector<std::string>;
using ReplyResult = vpoint::Result<Reply, RedisError>;

// One command written in RESP as its arguments are given: no vector of argument strings, no second copy.
// The hot path (one FCALL of ~30 arguments per pack operation) builds its command this way. E.g.
//   RespCommand c(3); c.arg("GET").arg(key); -> throws std::logic_error: 2 arguments given, 3 declared.
class RespCommand {
 public:
  explicit RespCommand(std::size_t argc);
  RespCommand& arg(std::string_view value);
  RespCommand& arg(long long value);
  // The RESP bytes; throws std::logic_error when fewer or more arguments were given than declared.
  const std::string& payload() const;
  std::string take() &&;

 private:
  void check() const;
  std::string out_;
  std::size_t declared_ = 0;
  std::size_t given_ = 0;
};

struct ClientOptions {
  // redis://[user:password@]host:port[/db] or rediss:// (TLS). Ignored when cluster_nodes is non-empty.
  std::string url = "redis://127.0.0.1:6379";
  // Seed nodes "host:port" of a Redis Cluster; non-empty selects Cluster mode.
  std::vector<std::string> cluster_nodes = {};
  // AUTH; overrides what the URL carries when non-empty.
  std::string username = {};
  std::string password = {};
  // TLS (rediss:// or tls = true for cluster): CA bundle to verify the server, optional client cert + key.
  bool tls = false;
  std::string tls_ca_file = {};
  std::string tls_cert_file = {};
  std::string tls_key_file = {};
  bool tls_verify_peer = true;
  // The name the server certificate is verified against and sent as SNI; "" = the host of url / each node.
  std::string tls_server_name = {};
  // Connections per node; concurrent callers are pipelined onto them.
  std::size_t connections_per_node = 2;
  std::chrono::milliseconds connect_timeout{1000};
  // Deadline of one command (or one pipeline) including queueing and reconnect attempts.
  std::chrono::milliseconds command_timeout{2000};
  std::chrono::milliseconds reconnect_backoff_min{20};
  std::chrono::milliseconds reconnect_backoff_max{2000};
  // Redirections (MOVED/ASK) followed for one command before giving up.
  int max_redirects = 5;
};

// Redis Cluster key slot of a key (CRC16/XMODEM mod 16384, honouring {hash tags}).
std::uint16_t key_slot(std::string_view key);

class Client {
 public:
  Client(boost::asio::any_io_executor executor, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs one command. In Cluster mode it is routed by `routing_key` (the slot owner); when routing_key is
  // empty, args[1] is used as the key (any node for key-less commands).
  boost::asio::awaitable<ReplyResult> command(Command args, std::string_view routing_key = {});

  // Runs many commands; they are pipelined (per node in Cluster mode) and the results come back in the
  // same order. Each entry of `routing_keys` routes the matching command (empty = args[1]); may be empty.
  boost::asio::awaitable<std::vector<ReplyResult>> pipeline(std::vector<Command> commands,
                                                            std::vector<std::string> routing_keys = {});

  // The same for commands already in RESP; each is routed by its entry of `routing_keys` (Cluster mode; an
  // empty or missing key = any master).
  boost::asio::awaitable<std::vector<ReplyResult>> pipeline(std::vector<RespCommand> commands,
                                                            std::vector<std::string> routing_keys);

  // Runs a command on every master (standalone: the one server). E.g. FUNCTION LOAD REPLACE, CONFIG GET.
  boost::asio::awaitable<std::vector<ReplyResult>> on_all_masters(Command args);

  bool cluster_mode() const;

  // Lanes: io_contexts each run by exactly one thread (vpointd's HTTP threads). A command issued on a lane's
  // thread goes through that lane's own connection to the node (pipelined across that thread's requests)
  // and completes there: no hand-off to another thread. Other callers use the shared pool on `executor`.
  // Call before those threads issue commands; the io_contexts must outlive the Client's use of them (after
  // they stop, their connections are closed when the io_contexts are destroyed).
  void add_lanes(std::vector<boost::asio::io_context*> contexts);
  // Closes every connection; pending and later commands fail with ErrorKind::closed.
  void close();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace vpoint::cache
