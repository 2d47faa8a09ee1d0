#include "vpoint/service/http_server.hpp"

#include <boost/algorithm/hex.hpp>
#include <iterator>
#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "vpoint/service/logging.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service {
namespace {

namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// Per connection: what the session is doing, so a graceful stop can close idle connections but let
// running requests finish. Touched only on the session's strand.
struct SessionSlot {
  enum class Phase { idle, reading, handling, writing };
  asio::any_io_executor strand;
  Phase phase = Phase::idle;
  std::function<void()> cancel;  // aborts the pending socket operation; null once the session ended
};

// RFC 2253 text of a distinguished name ("CN=till-1,O=Apotheke"), UTF-8.
std::string rfc2253(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string out;
  if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
    char* data = nullptr;
    long length = BIO_get_mem_data(bio, &data);
    if (length > 0) out.assign(data, static_cast<std::size_t>(length));
  }
  BIO_free(bio);
  return out;
}

std::optional<ClientCertificate> verified_client_certificate(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return std::nullopt;
  std::optional<ClientCertificate> out;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    ClientCertificate cc;
    X509_NAME* subject = X509_get_subject_name(cert);
    cc.subject = rfc2253(subject);
    cc.issuer = rfc2253(X509_get_issuer_name(cert));
    int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
      unsigned char* utf8 = nullptr;
      int length = ASN1_STRING_to_UTF8(&utf8, data);
      if (length >= 0)
        cc.subject_cn.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
      OPENSSL_free(utf8);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &digest_length) == 1) {
      boost::algorithm::hex_lower(digest, digest + digest_length, std::back_inserter(cc.fingerprint_sha256));
    }
    out = std::move(cc);
  }
  X509_free(cert);
  return out;
}

bool is_http_syntax_error(const boost::system::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::need_more && ec != http::error::header_limit && ec != http::error::body_limit;
}

}  // namespace

Result<tcp::endpoint, std::string> parse_listen(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return Unexpected{std::string("expected host:port, e.g. 127.0.0.1:8080")};
  std::string_view host = text.substr(0, colon);
  auto port = parse_port(text.substr(colon + 1));
  if (!port) return Unexpected{std::string("port must be a number from 0 to 65535")};
  if (host.empty() || host == "*") return tcp::endpoint(asio::ip::address_v4::any(), *port);
  if (host == "localhost") return tcp::endpoint(asio::ip::address_v4::loopback(), *port);
  boost::system::error_code ec;
  if (host.front() == '[') {
    if (host.back() != ']')
      return Unexpected{std::string("IPv6 address must be in brackets, e.g. [::1]:8080")};
    auto v6 = asio::ip::make_address_v6(std::string(host.substr(1, host.size() - 2)), ec);
    if (ec) return Unexpected{"'" + std::string(host) + "' is not an IPv6 address"};
    return tcp::endpoint(v6, *port);
  }
  auto v4 = asio::ip::make_address_v4(std::string(host), ec);
  if (ec)
    return Unexpected{"'" + std::string(host) + "' is not an IPv4 address, [IPv6] address or localhost"};
  return tcp::endpoint(v4, *port);
}

struct HttpServer::Impl {
  ServerOptions options;
  Handler handler;
  // One io_context per thread, each run by exactly that thread: a session, and the Redis connection of its
  // thread (cache::Client lanes), live on one thread, so a request's Redis call needs no thread hand-off.
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::atomic<std::size_t> next_ioc{0};
  std::optional<ssl::context> ssl_ctx;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  tcp::endpoint bound;
  std::vector<std::thread> threads;
  std::mutex threads_mutex;
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> refused{0};  // connections closed at once: max_connections reached
  mutable std::mutex sessions_mutex;
  std::unordered_set<std::shared_ptr<SessionSlot>> sessions;
  std::vector<std::function<asio::awaitable<void>()>> hooks;

  Impl(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {
    unsigned n = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    options.threads = n;
    for (unsigned i = 0; i < n; ++i) {
      iocs.push_back(std::make_unique<asio::io_context>(1));
      keep_running.push_back(asio::make_work_guard(*iocs.back()));
    }
  }

  ~Impl() {
    join();
    // Pending coroutine frames (only after a cut shutdown) refer to the members below: destroy them first.
    signals.reset();
    acceptor.reset();
    keep_running.clear();
    iocs.clear();
  }

  void join() {
    std::lock_guard lock(threads_mutex);
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
    threads.clear();
  }

  std::size_t open_connections() const {
    std::lock_guard lock(sessions_mutex);
    return sessions.size();
  }

  Result<tcp::endpoint, std::string> load_tls() {
    const TlsOptions& tls = options.tls;
    if (tls.cert.empty()) return bound;
    ssl_ctx.emplace(ssl::context::tls_server);
    // TLS 1.2+ only (issue 5); no compression, fresh DH per session.
    ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                         ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ssl_ctx->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    ssl_ctx->use_certificate_chain_file(tls.cert, ec);
    if (ec) return Unexpected{"[tls] cert: cannot load '" + tls.cert + "': " + ec.message()};
    ssl_ctx->use_private_key_file(tls.key, ssl::context::pem, ec);
    if (ec) return Unexpected{"[tls] key: cannot load '" + tls.key + "': " + ec.message()};
    if (SSL_CTX_check_private_key(ssl_ctx->native_handle()) != 1)
      return Unexpected{std::string("[tls] key: does not match the certificate in [tls] cert")};
    if (!tls.client_ca.empty()) {
      ssl_ctx->load_verify_file(tls.client_ca, ec);
      if (ec) return Unexpected{"[tls] client_ca: cannot load '" + tls.client_ca + "': " + ec.message()};
      // Ask every client for a certificate; API keys over TLS still work unless one is required.
      ssl_ctx->set_verify_mode(ssl::verify_peer |
                               (tls.require_client_cert ? ssl::verify_fail_if_no_peer_cert : 0));
    }
    return bound;
  }

  Result<tcp::endpoint, std::string> start() {
    if (started.exchange(true)) return Unexpected{std::string("server already started")};
    auto endpoint = parse_listen(options.listen);
    if (!endpoint) return Unexpected{"[http] listen: " + endpoint.error()};
    if (auto tls = load_tls(); !tls) return Unexpected{tls.error()};

    acceptor.emplace(*iocs.front());
    boost::system::error_code ec;
    std::string where = "[http] listen: cannot listen on " + options.listen + ": ";
    acceptor->open(endpoint->protocol(), ec);
    if (ec) return Unexpected{where + ec.message()};
    acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    acceptor->bind(*endpoint, ec);
    if (ec) return Unexpected{where + ec.message()};
    acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Unexpected{where + ec.message()};
    bound = acceptor->local_endpoint(ec);

    asio::co_spawn(acceptor->get_executor(), accept_loop(), [](std::exception_ptr e) {
      if (e) log_event(spdlog::level::critical, "accept_loop_failed");
    });
    if (options.handle_signals) {
      signals.emplace(*iocs.front(), SIGINT, SIGTERM);
      signals->async_wait([this](const boost::system::error_code& error, int signal_number) {
        if (error) return;
        log_event(spdlog::level::info, "signal",
                  {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"}});
        stop();
      });
    }
    std::lock_guard lock(threads_mutex);
    for (auto& ioc : iocs) {
      threads.emplace_back([ioc = ioc.get()] { ioc->run(); });
    }
    return bound;
  }

  void stop() {
    if (stopping.exchange(true)) return;
    if (!started) return;
    asio::co_spawn(*iocs.front(), drain(), [](std::exception_ptr) {});
  }

  void cancel_sessions(bool all) {
    std::lock_guard lock(sessions_mutex);
    for (const auto& slot : sessions) {
      asio::post(slot->strand, [slot, all] {
        bool waiting = slot->phase == SessionSlot::Phase::idle || slot->phase == SessionSlot::Phase::reading;
        if ((all || waiting) && slot->cancel) slot->cancel();
      });
    }
  }

  asio::awaitable<void> drain() {
    log_event(spdlog::level::info, "draining", {{"connections", open_connections()}});
    asio::dispatch(acceptor->get_executor(), [this] {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    });
    // Idle keep-alive connections go now; a session in a handler answers with Connection: close and ends.
    cancel_sessions(false);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto deadline = std::chrono::steady_clock::now() + options.shutdown_timeout;
    while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(kTuple);
    }
    if (auto left = open_connections(); left > 0) {
      log_event(spdlog::level::warn, "shutdown_timeout", {{"connections_cut", left}});
      cancel_sessions(true);
    }
    for (auto& hook : hooks) {
      try {
        co_await hook();
      } catch (const std::exception& e) {
        log_event(spdlog::level::err, "shutdown_hook_failed", {{"error", e.what()}});
      }
    }
    log_event(spdlog::level::info, "stopped");
    for (auto& ioc : iocs) ioc->stop();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      // Connections are dealt to the threads in turn.
      auto& ioc = *iocs[next_ioc.fetch_add(1, std::memory_order_relaxed) % iocs.size()];
      auto [ec, socket] = co_await acceptor->async_accept(ioc.get_executor(), kTuple);
      if (stopping || !acceptor->is_open()) co_return;
      if (ec) {
        log_event(spdlog::level::warn, "accept_failed", {{"error", ec.message()}});
        // Out of file descriptors and the like: back off instead of spinning.
        asio::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(50));
        co_await pause.async_wait(kTuple);
        continue;
      }
      boost::system::error_code ignored;
      if (options.max_connections != 0 && open_connections() >= options.max_connections) {
        // Full: close at once (the client sees the connection end) instead of holding a descriptor that would
        // starve the next accept; the next connection after one frees is served.
        // Counted before the close: whoever sees the connection end also sees it counted.
        const auto refused_before = refused.fetch_add(1);
        socket.close(ignored);
        if (refused_before % 1000 == 0)
          log_event(spdlog::level::warn, "connection_refused",
                    {{"reason", "max_connections"}, {"max_connections", options.max_connections},
                     {"refused_total", refused.load()}});
        continue;
      }
      socket.set_option(tcp::no_delay(true), ignored);
      auto slot = std::make_shared<SessionSlot>();
      slot->strand = socket.get_executor();
      {
        std::lock_guard lock(sessions_mutex);
        sessions.insert(slot);
      }
      asio::co_spawn(socket.get_executor(), session(std::move(socket), slot),
                     [this, slot](std::exception_ptr e) {
                       if (e) {
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::exception& ex) {
                           log_event(spdlog::level::err, "session_failed", {{"error", ex.what()}});
                         } catch (...) {
                         }
                       }
                       slot->cancel = nullptr;
                       std::lock_guard lock(sessions_mutex);
                       sessions.erase(slot);
                     });
    }
  }

  asio::awaitable<void> session(tcp::socket socket, std::shared_ptr<SessionSlot> slot) {
    Peer peer;
    boost::system::error_code ec;
    peer.remote = socket.remote_endpoint(ec);
    beast::flat_buffer buffer;
    if (ssl_ctx) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *ssl_ctx);
      slot->cancel = [&stream] { beast::get_lowest_layer(stream).cancel(); };
      slot->phase = SessionSlot::Phase::reading;
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      auto [hs_ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
      if (hs_ec) {
        // A rejected client certificate ends here: the client sees the TLS alert.
        log_event(spdlog::level::debug, "tls_handshake_failed",
                  {{"remote", peer.remote.address().to_string()}, {"error", hs_ec.message()}});
        slot->cancel = nullptr;
        co_return;
      }
      peer.tls = true;
      peer.client_certificate = verified_client_certificate(stream.native_handle());
      bool clean = co_await serve(stream, buffer, peer, *slot);
      if (clean) {
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        co_await stream.async_shutdown(kTuple);
      }
      slot->cancel = nullptr;
    } else {
      beast::tcp_stream stream(std::move(socket));
      slot->cancel = [&stream] { stream.cancel(); };
      co_await serve(stream, buffer, peer, *slot);
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      slot->cancel = nullptr;
    }
  }

  // Reads requests, calls the handler, writes replies, until the client closes, a deadline passes, the
  // request is unreadable, or the server stops. Returns true when the connection may be closed politely.
  template <class Stream>
  asio::awaitable<bool> serve(Stream& stream, beast::flat_buffer& buffer, const Peer& peer,
                              SessionSlot& slot) {
    auto& lowest = beast::get_lowest_layer(stream);
    for (;;) {
      if (stopping) co_return true;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      parser.body_limit(options.body_limit);
      bool idle = buffer.size() == 0;
      slot.phase = idle ? SessionSlot::Phase::idle : SessionSlot::Phase::reading;
      if (idle) {
        // Waiting for the next request: idle_timeout. Its first bytes start the read_timeout for the whole
        // request, so a client trickling a header byte by byte is closed after read_timeout, not idle_timeout.
        lowest.expires_after(options.idle_timeout);
        auto [first_ec, first_n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
        if (first_ec == asio::error::eof) co_return true;  // the client closed between requests
        if (first_ec) co_return co_await reject(stream, first_ec, 11);
        buffer.commit(first_n);
        slot.phase = SessionSlot::Phase::reading;
      }
      lowest.expires_after(options.read_timeout);
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kTuple);
      if (!ec) {
        slot.phase = SessionSlot::Phase::reading;
        lowest.expires_after(options.read_timeout);
        auto& head = parser.get();
        if (!parser.is_done() && beast::iequals(head[http::field::expect], "100-continue")) {
          http::response<http::empty_body> go_on{http::status::continue_, head.version()};
          auto [wec, wn] = co_await http::async_write(stream, go_on, kTuple);
          if (wec) co_return false;
        }
        if (!parser.is_done()) std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, kTuple);
      }
      if (ec) co_return co_await reject(stream, ec, parser.is_header_done() ? parser.get().version() : 11);

      Request request = parser.release();
      slot.phase = SessionSlot::Phase::handling;
      Reply reply = co_await call_handler(request, peer);
      bool keep_alive = request.keep_alive() && !stopping;
      slot.phase = SessionSlot::Phase::writing;
      lowest.expires_after(options.write_timeout);
      if (!co_await write_reply(stream, reply, request.version(), keep_alive)) co_return false;
      if (!keep_alive) co_return true;
    }
  }

  // A request that could not be read: answer with a problem when the client can still hear it, then close.
  template <class Stream>
  asio::awaitable<bool> reject(Stream& stream, const boost::system::error_code& ec, unsigned version) {
    std::optional<Response> answer;
    if (ec == http::error::body_limit) {
      answer =
          problem_response(ProblemCode::payload_too_large,
                           "request body is larger than " + std::to_string(options.body_limit) + " bytes",
                           {{"limit", options.body_limit}});
    } else if (ec == http::error::header_limit) {
      answer = problem_response(
          ProblemCode::header_too_large,
          "request line and headers are larger than " + std::to_string(options.header_limit) + " bytes",
          {{"limit", options.header_limit}});
    } else if (is_http_syntax_error(ec)) {
      answer = problem_response(ProblemCode::bad_request, "malformed HTTP request: " + ec.message());
    }
    if (!answer) {
      // Closed, timed out or cancelled: nobody to answer.
      co_return ec == http::error::end_of_stream;
    }
    log_event(spdlog::level::info, "request_rejected",
              {{"status", answer->result_int()}, {"error", ec.message()}});
    Reply reply = std::move(*answer);
    beast::get_lowest_layer(stream).expires_after(options.write_timeout);
    if (!co_await write_reply(stream, reply, version == 10 ? 10 : 11, false)) co_return false;
    co_return co_await linger(stream);
  }

  // After refusing a request whose body was not read: the client may still be sending it (urllib, curl with
  // a file: the whole body before reading). Closing with unread bytes makes the kernel send a reset, which
  // can destroy the answer before the client reads it. So: end our side (plain TCP: FIN after the answer),
  // read and drop up to linger_bytes for at most linger_timeout, then close.
  template <class Stream>
  asio::awaitable<bool> linger(Stream& stream) {
    auto& lowest = beast::get_lowest_layer(stream);
    constexpr bool plain = std::is_same_v<Stream, beast::tcp_stream>;
    if constexpr (plain) {
      boost::system::error_code ignored;
      lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    lowest.expires_after(options.linger_timeout);
    std::array<char, 16 * 1024> scratch;
    std::size_t drained = 0;
    boost::system::error_code ec;
    while (drained < options.linger_bytes) {
      std::size_t n = 0;
      std::tie(ec, n) = co_await stream.async_read_some(asio::buffer(scratch), kTuple);
      drained += n;
      if (ec) break;
    }
    log_event(spdlog::level::debug, "linger_done", {{"drained_bytes", drained}, {"end", ec ? ec.message() : "limit"}});
    co_return !plain && (ec == asio::error::eof || ec == ssl::error::stream_truncated);
  }

  asio::awaitable<Reply> call_handler(Request& request, const Peer& peer) {
    std::optional<Reply> reply;
    try {
      reply.emplace(co_await handler(request, peer));
    } catch (const std::exception& e) {
      log_event(spdlog::level::err, "handler_failed",
                {{"target", std::string(request.target())}, {"error", e.what()}});
    } catch (...) {
      log_event(spdlog::level::err, "handler_failed", {{"target", std::string(request.target())}});
    }
    if (!reply)
      reply.emplace(problem_response(ProblemCode::internal, "internal error; the server log has details"));
    co_return std::move(*reply);
  }

  template <class Stream>
  asio::awaitable<bool> write_reply(Stream& stream, Reply& reply, unsigned version, bool keep_alive) {
    if (auto* res = std::get_if<Response>(&reply)) {
      res->version(version);
      res->keep_alive(keep_alive);
      res->set(http::field::server, options.server_name);
      res->prepare_payload();
      auto [ec, n] = co_await http::async_write(stream, *res, kTuple);
      co_return !ec;
    }
    auto& streamed = std::get<StreamResponse>(reply);
    http::response<http::empty_body> head{std::move(streamed.header)};
    head.version(version);
    head.keep_alive(keep_alive);
    head.set(http::field::server, options.server_name);
    head.chunked(true);
    http::response_serializer<http::empty_body> serializer{head};
    auto [ec, n] = co_await http::async_write_header(stream, serializer, kTuple);
    if (ec) co_return false;
    bool alive = true;
    auto& lowest = beast::get_lowest_layer(stream);
    BodyWriter writer([&](std::string_view chunk) -> asio::awaitable<bool> {
      if (!alive || chunk.empty()) co_return alive;
      lowest.expires_after(options.write_timeout);
      auto [wec, wn] = co_await asio::async_write(
          stream, http::make_chunk(asio::const_buffer(chunk.data(), chunk.size())), kTuple);
      if (wec) alive = false;
      co_return alive;
    });
    try {
      if (streamed.produce) co_await streamed.produce(writer);
    } catch (const std::exception& e) {
      // The status line is gone already: the only honest signal left is to cut the chunked body.
      log_event(spdlog::level::err, "stream_failed", {{"error", e.what()}});
      co_return false;
    }
    if (!alive) co_return false;
    lowest.expires_after(options.write_timeout);
    auto [lec, ln] = co_await asio::async_write(stream, http::make_chunk_last(), kTuple);
    co_return !lec;
  }
};

HttpServer::HttpServer(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  stop();
  wait();
}

Result<asio::ip::tcp::endpoint, std::string> HttpServer::start() { return impl_->start(); }
void HttpServer::stop() { impl_->stop(); }
void HttpServer::wait() { impl_->join(); }
std::uint16_t HttpServer::port() const { return impl_->bound.port(); }
asio::ip::tcp::endpoint HttpServer::local_endpoint() const { return impl_->bound; }
bool HttpServer::tls() const { return impl_->ssl_ctx.has_value(); }
std::size_t HttpServer::open_connections() const { return impl_->open_connections(); }
std::uint64_t HttpServer::refused_connections() const { return impl_->refused.load(); }
asio::io_context& HttpServer::io_context() { return *impl_->iocs.front(); }
std::vector<asio::io_context*> HttpServer::io_contexts() {
  std::vector<asio::io_context*> out;
  for (auto& ioc : impl_->iocs) out.push_back(ioc.get());
  return out;
}

std::string HttpServer::base_url() const {
  const auto& address = impl_->bound.address();
  std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return std::string(tls() ? "https://" : "http://") + host + ":" + std::to_string(impl_->bound.port());
}

void HttpServer::on_shutdown(std::function<asio::awaitable<void>()> hook) {
  impl_->hooks.push_back(std::move(hook));
}

}  // namespace vpoint::service
