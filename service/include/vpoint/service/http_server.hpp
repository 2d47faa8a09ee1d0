#pragma once
// A reusable Boost.Beast HTTP/1.1 server core: coroutine sessions on one io_context per thread (connections
// dealt to the threads in turn; all of a session runs on its thread),
// keep-alive, header/body limits, idle/read/write deadlines, optional TLS 1.2+ and mutual TLS, graceful
// shutdown. It knows no routes: every request goes to one Handler (vpointd's Api, or the central simulator).
// Shape follows Beast's example/advanced/server-flex-awaitable.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "vpoint/scanner/result.hpp"
#include "vpoint/service/http_types.hpp"

namespace vpoint::service {

// "127.0.0.1:8080", "[::1]:0", "localhost:8443", "*:8080" / ":8080" (all IPv4 interfaces), "[::]:8080".
// No DNS: only literals and `localhost`. Port 0 asks the kernel for a free port (see HttpServer::port()).
Result<asio::ip::tcp::endpoint, std::string> parse_listen(std::string_view text);

struct TlsOptions {
  std::string cert;       // PEM certificate chain file; empty = plain HTTP
  std::string key;        // PEM private key file (required with cert)
  std::string client_ca;  // PEM CA bundle; set = ask for client certificates and verify them (mutual TLS)
  bool require_client_cert = false;  // true = a handshake without a valid client certificate fails
};

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";     // see parse_listen
  unsigned threads = 0;                      // threads (one io_context each); 0 = hardware_concurrency()
  std::size_t body_limit = 8 * 1024 * 1024;  // bytes; larger bodies get 413 payload_too_large (bulk, images)
  std::size_t header_limit = 16 * 1024;      // bytes of request line + headers; larger get 431
  std::chrono::seconds idle_timeout{30};     // keep-alive connection with no request starting
  std::chrono::seconds read_timeout{15};   // from the first byte of a request to its last (and TLS handshake)
  std::chrono::seconds write_timeout{30};  // per response write (per chunk for streamed bodies)
  std::chrono::seconds shutdown_timeout{10};  // graceful stop: in-flight requests get this long to finish
  // A request refused before its body was read (413, 431, 400): after the answer, up to linger_bytes of
  // what the client still sends are read and dropped for at most linger_timeout, then the connection closes.
  // A client that writes its whole body before reading thus gets the answer, not a connection reset.
  std::size_t linger_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds linger_timeout{2000};
  // Open connections at most (0 = no limit); a connection beyond it is closed at once, without a reply.
  std::size_t max_connections = 0;
  bool handle_signals = false;                // SIGINT/SIGTERM start a graceful stop (vpointd sets it)
  std::string server_name = "vpoint";         // Server header
  TlsOptions tls;
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Handler handler);
  ~HttpServer();  // stops (hard) and joins if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the thread pool; returns the bound endpoint (the real port when 0 was asked).
  // Errors (address in use, unreadable certificate, ...) name the setting and carry the OS/OpenSSL text.
  Result<asio::ip::tcp::endpoint, std::string> start();

  // Graceful stop, idempotent and safe from any thread or handler: stop accepting, let in-flight requests
  // finish (responses go out with Connection: close), close idle connections, run the shutdown hooks, then
  // stop the io_context. Requests still running after shutdown_timeout are cut.
  void stop();
  // Blocks until the server has stopped and its threads are joined.
  void wait();

  std::uint16_t port() const;
  asio::ip::tcp::endpoint local_endpoint() const;
  bool tls() const;
  std::string base_url() const;  // "http://127.0.0.1:8080" / "https://[::1]:8443"
  std::size_t open_connections() const;
  std::uint64_t refused_connections() const;  // closed at once because max_connections was reached

  // The first thread's io_context (signals, the graceful stop and its hooks run there).
  asio::io_context& io_context();
  // Every thread's io_context, one per thread, in thread order: e.g. for cache::Client::add_lanes. They live
  // as long as the server; after stop() + wait() nothing runs on them any more.
  std::vector<asio::io_context*> io_contexts();
  // Runs on the io_context after the sessions drained and before it stops (flush outbox, close Redis...).
  void on_shutdown(std::function<asio::awaitable<void>()> hook);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpoint::service
