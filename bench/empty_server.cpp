// empty_server [--listen HOST:PORT] [--threads N]: the baseline of `scripts/bench service` (issue 5, "Benchmark").
// A minimal Boost.Beast HTTP/1.1 server with C++20 coroutines: one io_context run by N threads (same count as
// vpointd), one coroutine per connection, keep-alive, and every request answered 200 with a fixed JSON body.
// No routing, parsing of the body, auth, logging, deadlines or TLS: it is the raw cost of Beast + Asio on this
// machine, so vpointd's requests/s divided by this is the share of the server left after our own work.
// Prints `listening http://HOST:PORT` as its first stdout line (port 0 = any free port); stops on SIGTERM/SIGINT.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Roughly the size of a vpointd verify answer, so both sides write a comparable response.
constexpr std::string_view kBody =
    R"({"pack":{"gtin":"05609073507345","serial":"J7RstvS86UZvFi6m","batch":"Y27ECSR0","expiry":"301130"},)"
    R"("verdict":"ok","status":"active","reason":null,"nmvs_code":null,"alert_id":null,"source":"mirror",)"
    R"("warnings":[]})";

asio::awaitable<void> session(tcp::socket socket) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> request;
    auto [read_error, read_bytes] = co_await http::async_read(socket, buffer, request, kTuple);
    if (read_error) break;
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::content_type, "application/json");
    response.keep_alive(request.keep_alive());
    response.body() = kBody;
    response.prepare_payload();
    auto [write_error, write_bytes] = co_await http::async_write(socket, response, kTuple);
    if (write_error || !response.keep_alive()) break;
  }
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(kTuple);
    if (error == asio::error::operation_aborted) co_return;
    if (error) continue;
    socket.set_option(tcp::no_delay(true));
    // Each connection on the shared io_context: the same scheduling model as vpointd's thread pool.
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket)), asio::detached);
  }
}

[[noreturn]] void usage_error(const char* message) {
  std::fprintf(stderr, "empty_server: %s\nusage: empty_server [--listen HOST:PORT] [--threads N]\n", message);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (i + 1 >= argc) usage_error("missing value");
    if (arg == "--listen") {
      listen = argv[++i];
    } else if (arg == "--threads") {
      threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
      if (threads == 0 || threads > 256) usage_error("--threads: must be 1..256");
    } else {
      usage_error("unknown option");
    }
  }
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) usage_error("--listen: expected HOST:PORT");

  asio::io_context ioc{static_cast<int>(threads)};
  boost::system::error_code error;
  auto address = asio::ip::make_address(listen.substr(0, colon), error);
  if (error) usage_error("--listen: bad host (an IP address is expected)");
  tcp::endpoint endpoint{address, static_cast<unsigned short>(std::strtoul(listen.c_str() + colon + 1, nullptr, 10))};
  tcp::acceptor acceptor{ioc};
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  auto bound = acceptor.local_endpoint();
  std::printf("listening http://%s:%u\n", bound.address().to_string().c_str(), static_cast<unsigned>(bound.port()));
  std::fflush(stdout);

  asio::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
  asio::co_spawn(ioc, accept_loop(acceptor), asio::detached);

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}
