#include "api_client.hpp"

#include <cctype>
#include <optional>

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

namespace vpoint::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Answers are read whole; a bulk answer of 10 000 packs is a few MiB.
constexpr std::uint64_t kMaxAnswerBytes = 256ull * 1024 * 1024;

// The one mapping of socket, resolver and OpenSSL errors to a TransportError (style.md "Errors").
TransportError map_error(const ApiEndpoint& e, std::string_view stage, const boost::system::error_code& ec) {
  const std::string where = e.host + ":" + e.port;
  TransportErrorKind kind = TransportErrorKind::connect;
  if (ec == beast::error::timeout)
    kind = TransportErrorKind::timeout;
  else if (stage == "resolve")
    kind = TransportErrorKind::resolve;
  else if (stage == "TLS handshake" || ec.category() == asio::error::get_ssl_category() ||
           ec == ssl::error::stream_truncated)
    kind = TransportErrorKind::tls;
  else if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset)
    kind = TransportErrorKind::closed;
  else if (ec.category() == http::make_error_code(http::error::bad_version).category())
    kind = TransportErrorKind::protocol;
  std::string reason = ec == beast::error::timeout
                           ? "no answer within " + std::to_string(e.timeout.count()) + " s"
                           : ec.message();
  if (kind == TransportErrorKind::tls && ec.category() == asio::error::get_ssl_category()) {
    // OpenSSL's own words ("certificate verify failed", "wrong version number", …).
    if (const char* why = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) reason = why;
  }
  return TransportError{kind, where + ": " + std::string(stage) + ": " + reason};
}

}  // namespace

struct ApiClient::Impl {
  asio::io_context io;
  std::optional<ssl::context> tls_context;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  std::string setup_error;  // the TLS context could not be made (a certificate file OpenSSL cannot read)

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  bool connected() const { return plain != nullptr || secure != nullptr; }
  void close() {
    boost::system::error_code ignored;
    if (plain) plain->socket().close(ignored);
    if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
    plain.reset();
    secure.reset();
    buffer.clear();
  }
};

ApiClient::ApiClient(ApiEndpoint endpoint) : endpoint_(std::move(endpoint)), impl_(std::make_unique<Impl>()) {
  if (!endpoint_.tls) return;
  auto& ctx = impl_->tls_context.emplace(ssl::context::tls_client);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (!endpoint_.ca_file.empty())
    ctx.load_verify_file(endpoint_.ca_file, ec);
  else
    ctx.set_default_verify_paths(ec);
  if (ec) impl_->setup_error = "--ca-file " + endpoint_.ca_file + ": " + ec.message();
  ctx.set_verify_mode(ssl::verify_peer);
  ctx.set_verify_callback(ssl::host_name_verification(endpoint_.host));
  if (!endpoint_.cert_file.empty() && impl_->setup_error.empty()) {
    ctx.use_certificate_chain_file(endpoint_.cert_file, ec);
    if (ec)
      impl_->setup_error = "--cert " + endpoint_.cert_file + ": " + ec.message();
    else
      ctx.use_private_key_file(endpoint_.key_file, ssl::context::pem, ec);
    if (ec && impl_->setup_error.empty())
      impl_->setup_error = "--cert-key " + endpoint_.key_file + ": " + ec.message();
  }
}

ApiClient::~ApiClient() { impl_->close(); }

namespace {

using Outcome = Result<ApiAnswer, TransportError>;

asio::awaitable<std::optional<TransportError>> open(ApiClient::Impl& impl, const ApiEndpoint& e) {
  tcp::resolver resolver(impl.io);
  auto [rec, endpoints] = co_await resolver.async_resolve(e.host, e.port, kTuple);
  if (rec) co_return map_error(e, "resolve", rec);
  auto stream = std::make_unique<beast::tcp_stream>(impl.io);
  stream->expires_after(e.timeout);
  auto [cec, ignored] = co_await stream->async_connect(endpoints, kTuple);
  (void)ignored;
  if (cec) co_return map_error(e, "connect", cec);
  if (!e.tls) {
    impl.plain = std::move(stream);
    co_return std::nullopt;
  }
  auto secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*stream), *impl.tls_context);
  // SNI only for names (RFC 6066 §3: never an IP literal).
  boost::system::error_code not_ip;
  asio::ip::make_address(e.host, not_ip);
  if (not_ip && !SSL_set_tlsext_host_name(secure->native_handle(), e.host.c_str()))
    co_return TransportError{TransportErrorKind::tls,
                             e.host + ":" + e.port + ": TLS: cannot set the SNI host name"};
  beast::get_lowest_layer(*secure).expires_after(e.timeout);
  auto [hec] = co_await secure->async_handshake(ssl::stream_base::client, kTuple);
  if (hec) co_return map_error(e, "TLS handshake", hec);
  impl.secure = std::move(secure);
  co_return std::nullopt;
}

template <class Stream>
asio::awaitable<Outcome> exchange(ApiClient::Impl& impl, const ApiEndpoint& e, Stream& stream,
                                  http::request<http::string_body>& req) {
  impl.lowest().expires_after(e.timeout);
  auto [wec, written] = co_await http::async_write(stream, req, kTuple);
  (void)written;
  if (wec) co_return Unexpected{map_error(e, "send", wec)};
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  impl.lowest().expires_after(e.timeout);
  auto [rec, read] = co_await http::async_read(stream, impl.buffer, parser, kTuple);
  (void)read;
  if (rec) co_return Unexpected{map_error(e, "read", rec)};
  auto res = parser.release();
  ApiAnswer answer;
  answer.status = res.result_int();
  std::string media(res[http::field::content_type]);
  media = media.substr(0, media.find(';'));
  for (auto& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  answer.content_type = media;
  answer.body = std::move(res.body());
  if (!res.keep_alive()) impl.close();
  co_return answer;
}

asio::awaitable<Outcome> post_once(ApiClient::Impl& impl, const ApiEndpoint& e,
                                   http::request<http::string_body>& req) {
  if (!impl.connected()) {
    auto failed = co_await open(impl, e);
    if (failed) co_return Unexpected{std::move(*failed)};
  }
  if (impl.secure) co_return co_await exchange(impl, e, *impl.secure, req);
  co_return co_await exchange(impl, e, *impl.plain, req);
}

}  // namespace

Result<ApiAnswer, TransportError> ApiClient::post(const std::string& target, const std::string& body,
                                                  const std::string& content_type,
                                                  const std::string& idempotency_key) {
  if (!impl_->setup_error.empty())
    return Unexpected{TransportError{TransportErrorKind::tls, impl_->setup_error}};
  http::request<http::string_body> req{http::verb::post, endpoint_.path_prefix + target, 11};
  const bool default_port = endpoint_.port == (endpoint_.tls ? "443" : "80");
  const bool ipv6 = endpoint_.host.find(':') != std::string::npos;
  const std::string host = ipv6 ? "[" + endpoint_.host + "]" : endpoint_.host;
  req.set(http::field::host, default_port ? host : host + ":" + endpoint_.port);
  req.set(http::field::user_agent, "vpoint-cli");
  req.set(http::field::accept, "application/json, application/problem+json");
  req.set(http::field::content_type, content_type);
  if (!endpoint_.api_key.empty()) req.set(http::field::authorization, "Bearer " + endpoint_.api_key);
  if (!idempotency_key.empty()) req.set("Idempotency-Key", idempotency_key);
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();
  // A kept-alive connection the server has closed meanwhile fails at once: one retry on a fresh connection
  // (safe: a change carries its Idempotency-Key, a verification changes nothing).
  const bool reused = impl_->connected();
  for (int attempt = 0;; ++attempt) {
    auto future = asio::co_spawn(impl_->io, post_once(*impl_, endpoint_, req), asio::use_future);
    impl_->io.restart();
    impl_->io.run();
    Outcome out = future.get();
    if (out) return out;
    impl_->close();
    const auto kind = out.error().kind;
    if (!reused || attempt > 0 || kind == TransportErrorKind::timeout || kind == TransportErrorKind::resolve)
      return out;
  }
}

std::string new_idempotency_key() {
  static boost::uuids::random_generator generate;
  return boost::uuids::to_string(generate());
}

}  // namespace vpoint::cli
