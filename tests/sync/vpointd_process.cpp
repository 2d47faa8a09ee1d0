#include "vpointd_process.hpp"

#include <csignal>
#include <stdexcept>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include "redis_server.hpp"
#include "vpoint/scanner/ppn.hpp"

namespace vpoint::test {

namespace json = boost::json;
namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// [redis] url = "…", or cluster = ["host:port", …].
std::string redis_location(const VpointdOptions& o) {
  if (o.redis_cluster.empty()) return fmt::format("url = \"{}\"\n", o.redis_url);
  std::string nodes;
  for (const auto& n : o.redis_cluster) nodes += (nodes.empty() ? "\"" : ", \"") + n + "\"";
  return "cluster = [" + nodes + "]\n";
}

}  // namespace

Vpointd::Vpointd(VpointdOptions options) : options_(std::move(options)) {
  // A fixed free port (not 0) so that a restart listens where the clients already point.
  port_ = free_port();
  config_ = dir_ / "vpointd.toml";
  std::string toml = fmt::format(
      "[http]\nlisten = \"127.0.0.1:{}\"\nthreads = {}\nshutdown_timeout_s = 5\n{}\n"
      "[redis]\n{}{}\n",
      port_, options_.threads, options_.http_extra, redis_location(options_), options_.redis_extra);
  if (!options_.central_url.empty())
    toml += fmt::format("[central]\nurl = \"{}\"\noffline = \"{}\"\n{}\n", options_.central_url, options_.offline,
                        options_.central_extra);
  toml += fmt::format(
      "[location]\ngln = \"{}\"\nname = \"Test pharmacy\"\n\n[audit]\ndir = \"{}\"\n{}\n[log]\nlevel = \"warn\"\n\n"
      "[[auth.keys]]\nname = \"counter-1\"\nkey = \"{}\"\nrole = \"pharmacy\"\n\n"
      "[[auth.keys]]\nname = \"admin-1\"\nkey = \"{}\"\nrole = \"admin\"\n\n",
      kLocation, audit_dir().string(), options_.audit_extra, kPharmacyKey, kAdminKey);
  toml += options_.extra_toml;
  write_file(config_, toml);
  start();
}

Vpointd::~Vpointd() { kill9(); }

void Vpointd::start() {
  kill9();
  auto log = dir_ / fmt::format("vpointd-{}.log", starts_++);
  std::vector<std::string> argv = options_.wrapper;
  for (auto& arg : argv)
    if (arg == "{audit_dir}") arg = audit_dir().string();
  argv.insert(argv.end(), {VPOINTD_PATH, "--config", config_.string()});
  process_ = std::make_unique<Process>(std::move(argv), log);
  auto deadline = std::chrono::steady_clock::now() + options_.ready_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto code = process_->wait_exit(std::chrono::milliseconds(0))) {
      std::string out = process_->output();
      process_.reset();
      throw std::runtime_error(fmt::format("vpointd exited with {} during start: {}", *code, out));
    }
    try {
      ClientOptions quick = options_.client;
      quick.timeout = std::chrono::seconds(2);
      HttpClient client(port_, quick);
      if (!options_.wait_ready && client.get("/healthz").result_int() == 200) return;
      if (client.get("/readyz").result_int() == 200) return;
    } catch (const std::exception&) {
      // not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("vpointd was not ready within the timeout: " + process_->output());
}

std::optional<int> Vpointd::wait_exit(std::chrono::milliseconds timeout) {
  if (!process_) return std::nullopt;
  auto code = process_->wait_exit(timeout);
  return code;
}

void Vpointd::kill9() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait_exit(std::chrono::seconds(10));
  process_.reset();
}

std::optional<int> Vpointd::stop(std::chrono::milliseconds timeout) {
  if (!process_) return std::nullopt;
  process_->signal(SIGTERM);
  auto code = process_->wait_exit(timeout);
  if (code) process_.reset();
  return code;
}

std::string Vpointd::output() const {
  return read_file(dir_ / fmt::format("vpointd-{}.log", starts_ > 0 ? starts_ - 1 : 0));
}

Response Vpointd::request(http::verb method, const std::string& target, const std::string& body,
                          const std::string& key, const std::map<std::string, std::string>& headers) {
  HttpClient client(port_, options_.client);
  auto all = headers;
  if (!key.empty()) all.emplace("Authorization", "Bearer " + key);
  if (!body.empty()) all.emplace("Content-Type", "application/json");
  return client.request(method, target, body, all);
}

json::value Vpointd::get_json(const std::string& target, const std::string& key) {
  auto res = request(http::verb::get, target, "", key);
  if (res.result_int() != 200)
    throw std::runtime_error(fmt::format("GET {}: HTTP {}: {}", target, res.result_int(), res.body()));
  return json::parse(res.body());
}

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> call_worker(asio::ip::tcp::endpoint endpoint, CallBatch& batch,
                                  std::atomic<std::size_t>& next, std::chrono::milliseconds timeout) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  bool connected = false;
  beast::flat_buffer buffer;
  while (!batch.stop_sending) {
    if (!connected) {
      stream.expires_after(timeout);
      auto [ec] = co_await stream.async_connect(endpoint, kTuple);
      if (ec) co_return;
      connected = true;
      buffer.clear();
    }
    std::size_t i = next++;
    if (i >= batch.calls.size()) co_return;
    const Call& call = batch.calls[i];
    http::request<http::string_body> req{call.method, call.target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : call.headers) req.set(name, value);
    req.body() = call.body;
    req.prepare_payload();
    stream.expires_after(timeout);
    auto [write_ec, written] = co_await http::async_write(stream, req, kTuple);
    if (write_ec) co_return;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
    if (read_ec) co_return;
    Response res = parser.release();
    bool keep_alive = res.keep_alive();
    bool ok = batch.is_ok && batch.is_ok(res);
    batch.responses[i] = std::move(res);
    ++batch.answered;
    if (ok) ++batch.ok;
    if (!keep_alive) {
      beast::error_code ignored;
      stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      stream.close();
      connected = false;
    }
  }
}

}  // namespace

void run_calls(std::uint16_t port, CallBatch& batch, int connections, std::chrono::milliseconds timeout) {
  batch.responses.assign(batch.calls.size(), std::nullopt);
  asio::io_context io;
  std::atomic<std::size_t> next{0};
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  for (int c = 0; c < connections; ++c)
    asio::co_spawn(io, call_worker(endpoint, batch, next, timeout), asio::detached);
  io.run();  // one thread: the server under test does the work
}

}  // namespace vpoint::test
