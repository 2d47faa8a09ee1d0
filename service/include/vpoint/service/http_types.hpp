#pragma once
// The request/response vocabulary shared by the HTTP server core, the router and handlers.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace vpoint::service {

namespace asio = boost::asio;
namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A TLS client certificate that passed verification against [tls] client_ca.
struct ClientCertificate {
  std::string subject_cn;          // subject commonName ("" when the subject has none)
  std::string subject;             // subject DN, RFC 2253 ("CN=till-1,O=Apotheke")
  std::string issuer;              // issuer DN, RFC 2253
  std::string fingerprint_sha256;  // lower-case hex of SHA-256 over the DER certificate, no colons
};

// Who is on the other end of the connection (transport facts only; identity is auth's business).
struct Peer {
  asio::ip::tcp::endpoint remote;
  bool tls = false;
  std::optional<ClientCertificate> client_certificate;
};

// Writes one chunk of a streamed (chunked) body. Returns false once the client is gone or the write deadline
// passed; the producer should then stop.
class BodyWriter {
 public:
  using WriteFn = std::function<asio::awaitable<bool>(std::string_view)>;
  explicit BodyWriter(WriteFn write) : write_(std::move(write)) {}
  asio::awaitable<bool> write(std::string_view chunk) { return write_(chunk); }

 private:
  WriteFn write_;
};

// A response whose body is produced while it is sent (NDJSON snapshot, long-poll feed). The header is sent
// first with Transfer-Encoding: chunked; `produce` then writes chunks; the last chunk is sent when it
// returns.
struct StreamResponse {
  http::response_header<> header;
  std::function<asio::awaitable<void>(BodyWriter&)> produce;
};

// What a handler returns: a complete response, or a streamed one.
using Reply = std::variant<Response, StreamResponse>;

inline unsigned reply_status(const Reply& reply) {
  return std::visit(
      [](const auto& r) -> unsigned {
        if constexpr (std::is_same_v<std::decay_t<decltype(r)>, Response>)
          return r.result_int();
        else
          return r.header.result_int();
      },
      reply);
}

// The one handler an HttpServer calls per request. Never touches the socket (style.md "Pure cores, thin
// shells"); an exception escaping it becomes a 500 `internal` problem and is logged once.
using Handler = std::function<asio::awaitable<Reply>(Request&, const Peer&)>;

}  // namespace vpoint::service
