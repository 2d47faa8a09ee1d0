// The central HTTP client (central_http.hpp) over real TLS on loopback: an HttpServer with a throw-away PKI
// stands in for an https:// central system or webhook receiver (issue 6: "https to the central system").
#include <catch2/catch.hpp>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include "service_support.hpp"
#include "vpoint/service/central_http.hpp"
#include "vpoint/service/http_server.hpp"

using namespace vpoint;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

const test::TestPki& pki() {
  static test::TempDir dir;
  static test::TestPki instance(dir.path);
  return instance;
}

// More than one 64 KiB read of the client, so the streamed body arrives in several pieces.
constexpr int kStreamLines = 3000;

std::string stream_line(int i) { return fmt::format("{{\"n\":{},\"pad\":\"{:0>40}\"}}", i, i); }

// An https:// receiver: /lines streams kStreamLines NDJSON lines chunked; anything else echoes the request
// with the transport facts the server saw (TLS, client port) so the test can tell connections apart.
class TlsReceiver {
 public:
  explicit TlsReceiver(std::string listen = "127.0.0.1:0", bool tls = true)
      : server_(options(std::move(listen), tls),
                [this](service::Request& req, const service::Peer& peer) { return handle(req, peer); }) {
    auto bound = server_.start();
    if (!bound) FAIL(bound.error());
  }
  ~TlsReceiver() {
    server_.stop();
    server_.wait();
  }
  std::string url() const { return server_.base_url() + "/api"; }
  std::set<unsigned short> client_ports() {
    std::lock_guard lock(mutex_);
    return client_ports_;
  }

 private:
  static service::ServerOptions options(std::string listen, bool tls) {
    service::ServerOptions o;
    o.listen = std::move(listen);
    o.threads = 1;
    if (tls) {
      o.tls.cert = pki().server_cert;
      o.tls.key = pki().server_key;
    }
    return o;
  }

  asio::awaitable<service::Reply> handle(service::Request& req, const service::Peer& peer) {
    {
      std::lock_guard lock(mutex_);
      client_ports_.insert(peer.remote.port());
    }
    if (req.target() == "/api/slow") {  // an answer that takes 2 s: long enough to be cut off
      asio::steady_timer timer(co_await asio::this_coro::executor, 2s);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (req.target() == "/api/lines") {
      service::StreamResponse streamed;
      streamed.header.result(http::status::ok);
      streamed.header.set(http::field::content_type, "application/x-ndjson");
      streamed.produce = [](service::BodyWriter& out) -> asio::awaitable<void> {
        std::string chunk;
        for (int i = 1; i <= kStreamLines; ++i) {
          chunk += stream_line(i) + "\n";
          if (i % 500 == 0 || i == kStreamLines) {
            if (!co_await out.write(chunk)) co_return;
            chunk.clear();
          }
        }
      };
      co_return streamed;
    }
    json::object body{{"method", req.method_string()},
                      {"target", req.target()},
                      {"body", req.body()},
                      {"tls", peer.tls},
                      {"signature", req["Vpoint-Signature"]}};
    service::Response res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = json::serialize(body);
    co_return res;
  }

  std::mutex mutex_;
  std::set<unsigned short> client_ports_;
  service::HttpServer server_;
};

// Runs one client coroutine to completion on its own io_context (the client's deadlines bound it).
template <class T>
T run(asio::io_context& io, asio::awaitable<T> task) {
  auto result = asio::co_spawn(io, std::move(task), asio::use_future);
  io.restart();
  io.run();
  return result.get();
}

service::HttpClientOptions trusting_test_ca() {
  service::HttpClientOptions options;
  options.ca_file = pki().ca;
  options.connect_timeout = 5s;
  options.request_timeout = 10s;
  return options;
}

}  // namespace

TEST_CASE("the central client sends requests over verified TLS and keeps the connection alive",
          "[sync][http][tls]") {
  TlsReceiver receiver;
  auto origin = service::parse_origin(receiver.url());
  REQUIRE(origin);
  REQUIRE(origin->tls);
  asio::io_context io;
  service::HttpConnection connection(io.get_executor(), *origin, trusting_test_ca());
  std::vector<json::object> answers;
  for (int i = 0; i < 3; ++i) {
    std::string body = fmt::format("{{\"alert\":{}}}", i);
    auto res = run(
        io, connection.request(http::verb::post, "/hooks/vpoint", body,
                               {{"Vpoint-Signature", service::webhook_signature("s", 1700000000, body)}}));
    REQUIRE(res);
    CHECK(res->result_int() == 200);
    answers.push_back(json::parse(res->body()).as_object());
  }
  for (int i = 0; i < 3; ++i) {
    const auto& a = answers[static_cast<std::size_t>(i)];
    CHECK(a.at("tls").as_bool());
    CHECK(a.at("method").as_string() == "POST");
    CHECK(a.at("target").as_string() == "/api/hooks/vpoint");  // the origin's base path is kept
    CHECK(a.at("body").as_string() == fmt::format("{{\"alert\":{}}}", i));
    CHECK(a.at("signature").as_string() ==
          service::webhook_signature("s", 1700000000, fmt::format("{{\"alert\":{}}}", i)));
  }
  CHECK(receiver.client_ports().size() == 1);  // all three on one keep-alive TLS connection

  // After close() the next request makes a new TLS connection.
  connection.close();
  auto again = run(io, connection.request(http::verb::get, "/status"));
  REQUIRE(again);
  CHECK(json::parse(again->body()).at("target").as_string() == "/api/status");
  CHECK(receiver.client_ports().size() == 2);
}

TEST_CASE("the central client reads a chunked NDJSON body over TLS line by line", "[sync][http][tls]") {
  TlsReceiver receiver;
  auto origin = service::parse_origin(receiver.url());
  REQUIRE(origin);
  asio::io_context io;
  service::HttpConnection connection(io.get_executor(), *origin, trusting_test_ca());
  std::vector<std::string> lines;
  auto outcome = run(io, connection.stream_lines(
                             "/lines",
                             [&](std::string_view line) -> asio::awaitable<bool> {
                               lines.emplace_back(line);
                               co_return true;
                             },
                             5s));
  REQUIRE(outcome);
  CHECK(outcome->status == 200);
  CHECK_FALSE(outcome->stopped);
  CHECK(outcome->lines == kStreamLines);
  REQUIRE(lines.size() == kStreamLines);
  CHECK(lines.front() == stream_line(1));
  CHECK(lines[1234] == stream_line(1235));
  CHECK(lines.back() == stream_line(kStreamLines));

  // A handler that stops early ends the stream; the connection is dropped, the next request still works.
  int seen = 0;
  auto stopped =
      run(io, connection.stream_lines(
                  "/lines", [&](std::string_view) -> asio::awaitable<bool> { co_return ++seen < 10; }, 5s));
  REQUIRE(stopped);
  CHECK(stopped->stopped);
  CHECK(seen == 10);
  auto after = run(io, connection.request(http::verb::get, "/after"));
  REQUIRE(after);
  CHECK(json::parse(after->body()).at("tls").as_bool());
}

TEST_CASE("the central client refuses a TLS server whose certificate it cannot verify", "[sync][http][tls]") {
  TlsReceiver receiver;
  auto origin = service::parse_origin(receiver.url());
  REQUIRE(origin);
  asio::io_context io;

  // The system trust store does not know the test CA: the handshake fails as a tls error naming the host.
  service::HttpClientOptions system_ca;
  system_ca.connect_timeout = 5s;
  service::HttpConnection untrusted(io.get_executor(), *origin, system_ca);
  auto refused = run(io, untrusted.request(http::verb::get, "/status"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == service::HttpErrorKind::tls);
  CHECK_THAT(refused.error().message, Catch::StartsWith("TLS handshake with 127.0.0.1"));
  CHECK(receiver.client_ports().empty());  // no request reached the handler

  // The right CA but an address the certificate does not name (it is for 127.0.0.1 and localhost, not ::1).
  TlsReceiver on_v6("[::1]:0");
  auto v6_origin = service::parse_origin(on_v6.url());
  REQUIRE(v6_origin);
  CHECK(v6_origin->host == "::1");
  service::HttpConnection mismatched(io.get_executor(), *v6_origin, trusting_test_ca());
  auto refused_name = run(io, mismatched.request(http::verb::get, "/status"));
  REQUIRE_FALSE(refused_name);
  CHECK(refused_name.error().kind == service::HttpErrorKind::tls);
  CHECK(on_v6.client_ports().empty());

  // verify_peer = false (a documented option for test set-ups) accepts the same server.
  service::HttpClientOptions no_verify = system_ca;
  no_verify.verify_peer = false;
  service::HttpConnection lenient(io.get_executor(), *origin, no_verify);
  auto accepted = run(io, lenient.request(http::verb::get, "/status"));
  REQUIRE(accepted);
  CHECK(json::parse(accepted->body()).at("tls").as_bool());
}

TEST_CASE("closing a connection while its request is in flight ends that request with an error, and the next one "
          "connects afresh",
          "[sync][http]") {
  // What CentralLink::stop() does to a role waiting in a long poll (issue 13: under ASan the resumed operation
  // dereferenced a stream that close() had already destroyed).
  for (bool tls : {true, false}) {
    CAPTURE(tls);
    TlsReceiver receiver("127.0.0.1:0", tls);
    auto origin = service::parse_origin(receiver.url());
    REQUIRE(origin);
    asio::io_context io;
    service::HttpConnection connection(io.get_executor(), *origin, trusting_test_ca());
    asio::steady_timer cut(io, 200ms);
    cut.async_wait([&](boost::system::error_code) { connection.close(); });
    auto started = std::chrono::steady_clock::now();
    auto cut_off = run(io, connection.request(http::verb::get, "/slow"));
    CHECK_FALSE(cut_off);
    CHECK(std::chrono::steady_clock::now() - started < 1500ms);
    auto again = run(io, connection.request(http::verb::get, "/status"));
    REQUIRE(again);
    CHECK(again->result_int() == 200);
    CHECK(json::parse(again->body()).at("target").as_string() == "/api/status");
    CHECK(receiver.client_ports().size() == 2);
  }
}
