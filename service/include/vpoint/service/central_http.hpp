#pragma once
// An HTTP/1.1 client for one origin (the central system, or a webhook receiver): Beast over plain TCP or TLS,
// C++20 coroutines, one keep-alive connection, a deadline on every request, and line-by-line reading of
// NDJSON bodies (the snapshot arrives chunked and can be gigabytes: it is never held in memory whole).
//
// Not thread-safe: one coroutine uses a connection at a time. CentralHttpPool hands out connections to
// concurrent callers (read-through runs inside many HTTP requests at once).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include "vpoint/scanner/result.hpp"

namespace vpoint::service {

// Where to connect, parsed once from a base URL ("http://127.0.0.1:8090", "https://central.example/api").
struct Origin {
  bool tls = false;
  std::string host;
  std::string port;         // "80"/"443" when the URL has none
  std::string base_path;    // path prefix without the trailing '/' ("" or "/api")
  std::string host_header;  // host[:port] as the Host header carries it
};
// Errors name the rule: "[central] url: must be http:// or https://", ...
Result<Origin, std::string> parse_origin(std::string_view url);

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{2000};  // TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{
      10000};                                 // default deadline of one request (write + whole response)
  std::size_t body_limit = 64 * 1024 * 1024;  // largest non-streamed response body
  std::string ca_file;                        // https: trust this CA bundle (else the system's)
  bool verify_peer = true;                    // https: verify the certificate and the host name
  std::string client_cert;                    // https: PEM chain presented to the server (mutual TLS)
  std::string client_key;                     // its private key
  std::string bearer_token;                   // set: every request carries "Authorization: Bearer <token>"
  std::string user_agent = "vpointd";
};

// Infrastructure failures, mapped in one place (style.md): the central system is "unreachable" for all of
// them.
enum class HttpErrorKind { connect, timeout, io, tls, protocol };
std::string_view to_string(HttpErrorKind kind);
struct HttpError {
  HttpErrorKind kind = HttpErrorKind::io;
  std::string message;  // with the OS / OpenSSL text
};

using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
template <class T>
using HttpResult = vpoint::Result<T, HttpError>;

// What a streamed read ended with: the status, and for a non-2xx status the (bounded) body, for the log.
struct StreamOutcome {
  unsigned status = 0;
  std::string error_body;
  std::uint64_t lines = 0;
  bool stopped = false;  // the line handler asked to stop
};
// Called for each complete line (without '\n'; empty lines skipped); return false to stop reading.
using LineHandler = std::function<boost::asio::awaitable<bool>(std::string_view line)>;

class HttpConnection {
 public:
  HttpConnection(boost::asio::any_io_executor executor, Origin origin, HttpClientOptions options = {});
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // One request. `target` is appended to the origin's base path ("/central/v1/snapshot"). A request that
  // fails on a reused keep-alive connection before any response byte arrived is retried once on a fresh one
  // (the peer may have closed it while idle); callers only send requests that are safe to repeat (idempotent
  // by id).
  boost::asio::awaitable<HttpResult<HttpResponse>> request(
      boost::beast::http::verb method, std::string_view target, std::string body = {},
      std::vector<std::pair<std::string, std::string>> headers = {},
      std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // GET `target` and hand the body to `on_line` line by line as it arrives. `idle_timeout` bounds the wait
  // for each piece of the body (not the whole transfer).
  boost::asio::awaitable<HttpResult<StreamOutcome>> stream_lines(std::string_view target,
                                                                 const LineHandler& on_line,
                                                                 std::chrono::milliseconds idle_timeout);

  // Drops the connection (the next request connects anew).
  void close();
  const Origin& origin() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Connections to one origin shared by concurrent callers: acquire() takes an idle one (or makes one),
// the Lease returns it on destruction.
class HttpConnectionPool {
 public:
  HttpConnectionPool(boost::asio::any_io_executor executor, Origin origin, HttpClientOptions options = {},
                     std::size_t max_idle = 8);

  class Lease {
   public:
    Lease(HttpConnectionPool* pool, std::unique_ptr<HttpConnection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    HttpConnection* operator->() { return connection_.get(); }
    HttpConnection& operator*() { return *connection_; }

   private:
    HttpConnectionPool* pool_;
    std::unique_ptr<HttpConnection> connection_;
  };
  Lease acquire();
  const Origin& origin() const { return origin_; }

 private:
  boost::asio::any_io_executor executor_;
  Origin origin_;
  HttpClientOptions options_;
  std::size_t max_idle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<HttpConnection>> idle_;
};

// `Vpoint-Signature` of a webhook body (issue 6): "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body);
// Lower-case hex HMAC-SHA256 (OpenSSL HMAC).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

}  // namespace vpoint::service
