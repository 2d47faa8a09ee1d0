// vpoint-central-sim: the stand-in for the national repository (docs/central-sim.md). Wiring only.
#include <cctype>
#include <csignal>
#include <fstream>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/crypto.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "api.hpp"
#include "state.hpp"
#include "vpoint/service/http_server.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/problem.hpp"

namespace {

struct Options {
  std::string listen = "127.0.0.1:8090";  // HOST:PORT; port 0 = any free port (the URL is printed)
  std::string data_dir;                   // state survives restarts here; empty = memory only
  std::uint64_t seed = 1;                 // procedural data seed
  std::uint32_t products = 50;
  std::uint64_t packs = 10000;
  std::string snapshot;                   // seed from this NDJSON snapshot instead
  std::size_t print_packs = 0;            // print N usable packs as NDJSON and exit
  bool scan_text = false;                 // with --print-packs: add "scan" (what a scanner sends)
  unsigned threads = 2;
  std::size_t feed_retention = 1000000;
  bool no_fsync = false;
  std::string log_level = "warn";
  std::string tls_cert, tls_key;  // set: HTTPS only
  std::string client_ca;          // set: mutual TLS, a client certificate signed by this CA is required
  std::string token_file;         // set: every request needs "Authorization: Bearer <its content>"
};

std::string read_token(const std::string& path) {
  std::ifstream in(path);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  return token;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vpoint;
  Options o;
  CLI::App app{"vpoint-central-sim: central repository simulator (snapshot, change feed, transactions, alerts, faults)"};
  app.add_option("--listen", o.listen, "HOST:PORT to listen on (port 0: any free port)")->capture_default_str();
  app.add_option("--data", o.data_dir, "directory where the state lives and survives restarts");
  app.add_option("--seed", o.seed, "seed of the generated data")->capture_default_str();
  app.add_option("--products", o.products, "generated products (1..262144)")->capture_default_str()->check(CLI::Range(1u, central_sim::kMaxProducts));
  app.add_option("--packs", o.packs, "generated packs")->capture_default_str();
  app.add_option("--snapshot", o.snapshot, "seed from this NDJSON snapshot file instead of generating")->check(CLI::ExistingFile);
  app.add_option("--print-packs", o.print_packs, "print N usable (active, unexpired, not recalled) packs as NDJSON and exit");
  app.add_flag("--scan-text", o.scan_text, "with --print-packs: add \"scan\", the text a scanner sends for the pack");
  app.add_option("--threads", o.threads, "server threads")->capture_default_str()->check(CLI::Range(1u, 64u));
  app.add_option("--feed-retention", o.feed_retention, "changes kept for the change feed")->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{1} << 40));
  app.add_flag("--no-fsync", o.no_fsync, "do not fdatasync the journal per request (benchmarks only)");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, off (logs go to stderr)")->capture_default_str();
  app.add_option("--tls-cert", o.tls_cert, "PEM certificate chain: serve HTTPS only (TLS 1.2+)")->check(CLI::ExistingFile);
  app.add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  app.add_option("--client-ca", o.client_ca, "with --tls-cert: require a client certificate signed by this CA (mutual TLS)")->check(CLI::ExistingFile);
  app.add_option("--token-file", o.token_file, "require 'Authorization: Bearer <token>' with the token in this file (401 otherwise)")->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    std::cerr << "--tls-cert and --tls-key go together\n";
    return 2;
  }
  if (!o.client_ca.empty() && o.tls_cert.empty()) {
    std::cerr << "--client-ca needs --tls-cert and --tls-key\n";
    return 2;
  }
  std::string token = o.token_file.empty() ? "" : read_token(o.token_file);
  if (!o.token_file.empty() && token.empty()) {
    std::cerr << "--token-file: the file is empty\n";
    return 2;
  }

  auto logger = spdlog::stderr_logger_mt("central-sim");
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
  spdlog::level::level_enum level = spdlog::level::warn;
  if (!service::parse_log_level(o.log_level, level)) {
    std::cerr << "--log-level: '" << o.log_level << "' is not one of trace, debug, info, warn, error, critical, off\n";
    return 2;
  }
  logger->set_level(level);
  spdlog::set_default_logger(logger);

  central_sim::StateOptions state_options;
  state_options.data_dir = o.data_dir;
  state_options.feed_retention = o.feed_retention;
  state_options.fsync = !o.no_fsync;
  if (!o.snapshot.empty()) state_options.snapshot_file = o.snapshot;
  else state_options.seed = central_sim::SeedSpec{o.seed, o.products, o.packs, 0};
  auto central = central_sim::Central::open(state_options);
  if (!central) {
    std::cerr << "vpoint-central-sim: " << central.error() << "\n";
    return 1;
  }

  if (o.print_packs > 0) {
    std::string out;
    for (const auto& pack : (*central)->usable_packs(o.print_packs, o.scan_text)) out += boost::json::serialize(pack) + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }

  central_sim::SimApi api(**central, o.seed);
  service::ServerOptions server_options;
  server_options.listen = o.listen;
  server_options.threads = o.threads;
  server_options.body_limit = 512u * 1024 * 1024;  // admin uploads of big NDJSON files
  server_options.idle_timeout = std::chrono::seconds(60);
  server_options.read_timeout = std::chrono::seconds(120);
  server_options.write_timeout = std::chrono::seconds(60);
  server_options.shutdown_timeout = std::chrono::seconds(3);
  server_options.server_name = "vpoint-central-sim";
  server_options.tls.cert = o.tls_cert;
  server_options.tls.key = o.tls_key;
  server_options.tls.client_ca = o.client_ca;
  server_options.tls.require_client_cert = !o.client_ca.empty();
  service::Handler handler = api.handler();
  if (!token.empty()) {
    // The national systems identify a verification point by its certificate and a token; refuse without it.
    handler = [inner = handler, expected = "Bearer " + token](service::Request& req, const service::Peer& peer)
        -> boost::asio::awaitable<service::Reply> {
      auto given = req[boost::beast::http::field::authorization];
      if (given.size() != expected.size() || CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
        service::Response res = service::problem_response(service::ProblemCode::unauthorized, "a valid bearer token is required");
        res.set(boost::beast::http::field::www_authenticate, "Bearer");
        co_return res;
      }
      co_return co_await inner(req, peer);
    };
  }
  service::HttpServer server(server_options, std::move(handler));
  auto bound = server.start();
  if (!bound) {
    std::cerr << "vpoint-central-sim: " << bound.error() << "\n";
    return 1;
  }
  api.set_local_port(server.port());
  std::cout << "listening " << server.base_url() << std::endl;  // first stdout line: scripts read the URL here

  // SIGINT/SIGTERM: wake the long polls, then stop the server gracefully.
  boost::asio::signal_set signals(server.io_context(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    api.shutdown();
    server.stop();
  });
  server.wait();
  return 0;
}
