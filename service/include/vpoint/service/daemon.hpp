#pragma once
// vpointd assembled: config -> key table, metrics, readiness, Api with the core routes, HttpServer.
// main.cpp only parses arguments and calls this; tests run the same object in-process.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "vpoint/service/api.hpp"
#include "vpoint/service/auth.hpp"
#include "vpoint/service/config.hpp"
#include "vpoint/service/http_server.hpp"
#include "vpoint/service/metrics.hpp"
#include "vpoint/service/readiness.hpp"

namespace vpoint::service {

// [http] and [tls] as server options.
ServerOptions server_options(const Config& config);

// Raises the soft open-file limit to the hard one and returns the connections vpointd may hold:
// min(wanted, limit - 64). The process's limit stays raised.
struct OpenFiles {
  std::uint64_t before = 0;  // soft limit found
  std::uint64_t limit = 0;   // soft limit now
  std::size_t max_connections = 0;
};
OpenFiles raise_open_file_limit(unsigned wanted_connections);

// GET /healthz, GET /readyz, GET /metrics (open: probes and scrapers carry no keys).
// GET /, /healthz (open), /readyz and /metrics. `metrics_key` set ([http] metrics_key): /metrics needs it as a
// bearer token, /readyz shows its checks only with it.
void add_core_routes(Api& api, std::shared_ptr<Readiness> readiness, std::shared_ptr<Metrics> metrics,
                     std::string metrics_key = {});

class Daemon {
 public:
  // `config_file` and `env` are kept for reload_keys(). Throws std::invalid_argument when the config's key
  // table is invalid (load_config has validated it already, so only programmer misuse gets there).
  Daemon(Config config, std::optional<std::filesystem::path> config_file = std::nullopt,
         std::map<std::string, std::string> env = {});
  ~Daemon();

  // Registers the routes added so far, binds and starts serving. `handle_signals`: SIGINT/SIGTERM drain and
  // stop, SIGHUP reloads the keys.
  Result<asio::ip::tcp::endpoint, std::string> start(bool handle_signals = false);
  void stop();
  void wait();

  // Re-reads the config file (and environment) and swaps in its [[auth.keys]] / [[auth.certs]]. Other
  // settings need a restart. "" on success, else the error (the old keys stay).
  std::string reload_keys();

  const Config& config() const { return config_; }
  Api& api() { return *api_; }
  HttpServer& server() { return *server_; }
  Metrics& metrics() { return *metrics_; }
  Readiness& readiness() { return *readiness_; }
  Authenticator& authenticator() { return *auth_; }

 private:
  void watch_sighup();

  Config config_;
  std::optional<std::filesystem::path> config_file_;
  std::map<std::string, std::string> env_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<Readiness> readiness_;
  std::shared_ptr<Authenticator> auth_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
  struct Signals;
  std::unique_ptr<Signals> signals_;
};

}  // namespace vpoint::service
