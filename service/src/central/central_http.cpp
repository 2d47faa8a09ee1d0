// HTTP/1.1 client over Beast (central_http.hpp).
#include "vpoint/service/central_http.hpp"

#include <boost/algorithm/hex.hpp>
#include <iterator>
#include <array>
#include <optional>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace vpoint::service {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kErrorBodyLimit = 64 * 1024;

// The one place where socket/TLS/parser errors become HttpErrors (style.md).
HttpError map_error(const boost::system::error_code& ec, std::string_view during) {
  HttpErrorKind kind = HttpErrorKind::io;
  if (ec == beast::error::timeout || ec == asio::error::timed_out) kind = HttpErrorKind::timeout;
  else if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated)
    kind = HttpErrorKind::tls;
  else if (ec.category() == http::make_error_code(http::error::end_of_stream).category()) kind = HttpErrorKind::protocol;
  else if (ec == asio::error::connection_refused || ec == asio::error::host_not_found ||
           ec == asio::error::network_unreachable)
    kind = HttpErrorKind::connect;
  return HttpError{kind, fmt::format("{}: {}", during, ec.message())};
}

}  // namespace

std::string_view to_string(HttpErrorKind kind) {
  switch (kind) {
    case HttpErrorKind::connect: return "connect";
    case HttpErrorKind::timeout: return "timeout";
    case HttpErrorKind::io: return "io";
    case HttpErrorKind::tls: return "tls";
    case HttpErrorKind::protocol: return "protocol";
  }
  return "io";
}

Result<Origin, std::string> parse_origin(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Unexpected{fmt::format("'{}' is not a URL ({})", url, parsed.error().message())};
  Origin o;
  std::string scheme(parsed->scheme());
  if (scheme == "https") o.tls = true;
  else if (scheme != "http") return Unexpected{fmt::format("'{}' must start with http:// or https://", url)};
  o.host = std::string(parsed->encoded_host());
  if (o.host.empty()) return Unexpected{fmt::format("'{}' has no host", url)};
  // [::1] -> ::1 for the resolver; the Host header keeps the brackets.
  std::string host_for_header = o.host;
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  o.port = parsed->has_port() ? std::string(parsed->port()) : (o.tls ? "443" : "80");
  o.host_header = parsed->has_port() ? host_for_header + ":" + o.port : host_for_header;
  o.base_path = std::string(parsed->encoded_path());
  while (!o.base_path.empty() && o.base_path.back() == '/') o.base_path.pop_back();
  return o;
}

struct HttpConnection::Impl {
  asio::any_io_executor executor;
  Origin origin;
  HttpClientOptions options;
  std::optional<ssl::context> tls_context;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool connected = false;
  std::string setup_error;  // an unreadable CA / client certificate: every connect fails with it

  Impl(asio::any_io_executor ex, Origin o, HttpClientOptions opts)
      : executor(std::move(ex)), origin(std::move(o)), options(std::move(opts)) {
    if (origin.tls) {
      tls_context.emplace(ssl::context::tls_client);
      tls_context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                               ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      boost::system::error_code ec;
      if (!options.ca_file.empty()) tls_context->load_verify_file(options.ca_file, ec);
      else tls_context->set_default_verify_paths(ec);
      if (ec) setup_error = fmt::format("CA file '{}': {}", options.ca_file, ec.message());
      tls_context->set_verify_mode(options.verify_peer ? ssl::verify_peer : ssl::verify_none);
      if (!options.client_cert.empty()) {
        tls_context->use_certificate_chain_file(options.client_cert, ec);
        if (!ec) tls_context->use_private_key_file(options.client_key, ssl::context::pem, ec);
        if (ec) setup_error = fmt::format("client certificate '{}' / key '{}': {}", options.client_cert,
                                          options.client_key, ec.message());
      }
    }
  }

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  // Closes the socket: an operation in flight completes with an error. The stream objects stay until the next
  // connect(), because that operation still refers to them when it resumes (stop() closes the connections of
  // running roles: issue 13, a null/freed stream dereferenced on resumption under ASan).
  void close() {
    boost::system::error_code ec;
    if (plain) plain->socket().close(ec);
    if (secure) beast::get_lowest_layer(*secure).socket().close(ec);
    connected = false;
  }

  // Only from the coroutine that uses the connection, with no operation of its own in flight.
  asio::awaitable<std::optional<HttpError>> connect() {
    close();
    plain.reset();
    secure.reset();
    buffer.clear();
    if (!setup_error.empty()) co_return HttpError{HttpErrorKind::tls, setup_error};
    tcp::resolver resolver(executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(origin.host, origin.port, kTuple);
    if (rec) co_return HttpError{HttpErrorKind::connect, fmt::format("resolving {}: {}", origin.host, rec.message())};
    if (origin.tls) {
      secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(executor, *tls_context);
    } else {
      plain = std::make_unique<beast::tcp_stream>(executor);
    }
    lowest().expires_after(options.connect_timeout);
    auto [cec, ep] = co_await lowest().async_connect(endpoints, kTuple);
    if (cec) {
      HttpError e = map_error(cec, fmt::format("connecting to {}:{}", origin.host, origin.port));
      if (e.kind == HttpErrorKind::io) e.kind = HttpErrorKind::connect;
      close();
      co_return e;
    }
    lowest().socket().set_option(tcp::no_delay(true));
    if (secure) {
      if (!SSL_set_tlsext_host_name(secure->native_handle(), origin.host.c_str())) {
        close();
        co_return HttpError{HttpErrorKind::tls, "TLS: cannot set SNI host name"};
      }
      if (options.verify_peer) secure->set_verify_callback(ssl::host_name_verification(origin.host));
      auto [hec] = co_await secure->async_handshake(ssl::stream_base::client, kTuple);
      if (hec) {
        HttpError e = map_error(hec, "TLS handshake with " + origin.host);
        e.kind = e.kind == HttpErrorKind::timeout ? e.kind : HttpErrorKind::tls;
        close();
        co_return e;
      }
    }
    connected = true;
    co_return std::nullopt;
  }

  // Runs one Beast operation on whichever stream is active (TLS or plain): `operation` is a generic lambda
  // that starts the operation on the stream it is given and returns its awaitable (error_code, bytes).
  // (No co_await inside a conditional operator: GCC 12 resumes such an expression with the wrong operand.)
  template <class Operation>
  asio::awaitable<boost::system::error_code> on_stream(Operation operation) {
    if (secure) {
      auto [ec, n] = co_await operation(*secure);
      co_return ec;
    }
    if (!plain) co_return asio::error::not_connected;
    auto [ec, n] = co_await operation(*plain);
    co_return ec;
  }
  template <class Message>
  asio::awaitable<boost::system::error_code> write(Message& message) {
    return on_stream([&](auto& stream) { return http::async_write(stream, message, kTuple); });
  }
  template <class Parser>
  asio::awaitable<boost::system::error_code> read_header(Parser& parser) {
    return on_stream([&](auto& stream) { return http::async_read_header(stream, buffer, parser, kTuple); });
  }
  template <class Parser>
  asio::awaitable<boost::system::error_code> read_some(Parser& parser) {
    return on_stream([&](auto& stream) { return http::async_read_some(stream, buffer, parser, kTuple); });
  }
  template <class Parser>
  asio::awaitable<boost::system::error_code> read(Parser& parser) {
    return on_stream([&](auto& stream) { return http::async_read(stream, buffer, parser, kTuple); });
  }

  http::request<http::string_body> make_request(http::verb method, std::string_view target, std::string body,
                                                const std::vector<std::pair<std::string, std::string>>& headers) {
    http::request<http::string_body> req{method, origin.base_path + std::string(target), 11};
    req.set(http::field::host, origin.host_header);
    req.set(http::field::user_agent, options.user_agent);
    req.keep_alive(true);
    if (!options.bearer_token.empty()) req.set(http::field::authorization, "Bearer " + options.bearer_token);
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || method == http::verb::post || method == http::verb::put) {
      if (req.find(http::field::content_type) == req.end()) req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
      req.prepare_payload();
    }
    return req;
  }

  // One attempt. `response_started` tells the caller whether a retry on a fresh connection is safe.
  asio::awaitable<HttpResult<HttpResponse>> attempt(http::request<http::string_body>& req,
                                                    std::chrono::milliseconds timeout, bool& response_started) {
    response_started = false;
    if (!connected) {
      if (auto e = co_await connect()) co_return Unexpected{*e};
    }
    lowest().expires_after(timeout);
    if (auto ec = co_await write(req)) {
      close();
      co_return Unexpected{map_error(ec, fmt::format("sending {} {}", req.method_string(), req.target()))};
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.body_limit);
    auto ec = co_await read_header(parser);
    if (!ec) {
      response_started = true;
      if (!parser.is_done()) ec = co_await read(parser);
    } else if (buffer.size() > 0) {
      response_started = true;
    }
    if (ec) {
      close();
      co_return Unexpected{map_error(ec, fmt::format("reading the answer to {} {}", req.method_string(), req.target()))};
    }
    HttpResponse res = parser.release();
    if (!res.keep_alive()) close();
    co_return res;
  }
};

HttpConnection::HttpConnection(asio::any_io_executor executor, Origin origin, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(origin), std::move(options))) {}
HttpConnection::~HttpConnection() { impl_->close(); }

void HttpConnection::close() { impl_->close(); }
const Origin& HttpConnection::origin() const { return impl_->origin; }

asio::awaitable<HttpResult<HttpResponse>> HttpConnection::request(
    http::verb method, std::string_view target, std::string body,
    std::vector<std::pair<std::string, std::string>> headers, std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (timeout.count() <= 0) timeout = s.options.request_timeout;
  auto req = s.make_request(method, target, std::move(body), headers);
  bool reused = s.connected;
  bool started = false;
  auto result = co_await s.attempt(req, timeout, started);
  if (!result && reused && !started && result.error().kind != HttpErrorKind::timeout) {
    result = co_await s.attempt(req, timeout, started);
  }
  co_return result;
}

asio::awaitable<HttpResult<StreamOutcome>> HttpConnection::stream_lines(std::string_view target,
                                                                        const LineHandler& on_line,
                                                                        std::chrono::milliseconds idle_timeout) {
  Impl& s = *impl_;
  // A fresh connection: a snapshot is long, and a stale keep-alive connection would only waste a retry.
  if (auto e = co_await s.connect()) co_return Unexpected{*e};
  auto req = s.make_request(http::verb::get, target, {}, {{"Accept", "application/x-ndjson"}});
  s.lowest().expires_after(idle_timeout);
  if (auto ec = co_await s.write(req)) {
    s.close();
    co_return Unexpected{map_error(ec, "sending GET " + std::string(target))};
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // bounded by the handler, not by size: 10 M packs are ~1 GB
  if (auto ec = co_await s.read_header(parser)) {
    s.close();
    co_return Unexpected{map_error(ec, "reading the answer to GET " + std::string(target))};
  }
  StreamOutcome outcome;
  outcome.status = parser.get().result_int();
  bool ok = outcome.status / 100 == 2;
  std::array<char, 64 * 1024> chunk;
  std::string pending;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    s.lowest().expires_after(idle_timeout);
    auto ec = co_await s.read_some(parser);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      s.close();
      co_return Unexpected{map_error(ec, "reading the body of GET " + std::string(target))};
    }
    std::size_t got = chunk.size() - parser.get().body().size;
    if (!ok) {
      if (outcome.error_body.size() < kErrorBodyLimit) outcome.error_body.append(chunk.data(), got);
      continue;
    }
    pending.append(chunk.data(), got);
    std::size_t start = 0;
    for (;;) {
      std::size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(pending.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      start = nl + 1;
      if (line.empty()) continue;
      ++outcome.lines;
      if (!co_await on_line(line)) {
        outcome.stopped = true;
        s.close();  // the rest of the body is unread: the connection cannot be reused
        co_return outcome;
      }
    }
    pending.erase(0, start);
  }
  if (ok && !pending.empty()) {
    ++outcome.lines;
    if (!co_await on_line(pending)) outcome.stopped = true;
  }
  if (!parser.get().keep_alive()) s.close();
  co_return outcome;
}

HttpConnectionPool::HttpConnectionPool(asio::any_io_executor executor, Origin origin, HttpClientOptions options,
                                       std::size_t max_idle)
    : executor_(std::move(executor)), origin_(std::move(origin)), options_(std::move(options)), max_idle_(max_idle) {}

HttpConnectionPool::Lease HttpConnectionPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  return Lease(this, std::make_unique<HttpConnection>(executor_, origin_, options_));
}

HttpConnectionPool::Lease::~Lease() {
  if (!pool_ || !connection_) return;
  std::lock_guard lock(pool_->mutex_);
  if (pool_->idle_.size() < pool_->max_idle_) pool_->idle_.push_back(std::move(connection_));
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), digest, &length);
  std::string out;
  out.reserve(2 * length);
  boost::algorithm::hex_lower(digest, digest + length, std::back_inserter(out));
  return out;
}

std::string webhook_signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body) {
  std::string signed_text = fmt::format("{}.{}", unix_seconds, body);
  return fmt::format("t={},v1={}", unix_seconds, hmac_sha256_hex(secret, signed_text));
}

}  // namespace vpoint::service
