#pragma once
// vpointd as a real child process for the sync suite (issue 6: "kill -9 vpointd ... restart"): a generated
// TOML config on a free loopback port, start + wait for GET /readyz 200, SIGKILL, restart on the same port
// with the same config (so the same Redis and the same central URL). Every wait is bounded.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <atomic>
#include <functional>
#include <optional>
#include <vector>

#include <boost/json/value.hpp>

#include "service_support.hpp"

namespace vpoint::test {

struct VpointdOptions {
  std::string redis_url;             // [redis] url
  std::vector<std::string> redis_cluster;  // [redis] cluster (instead of url when not empty)
  std::string redis_extra;           // more [redis] lines (e.g. "min_replicas_ack = 1\n")
  std::string central_url;           // [central] url ("" = no central link)
  std::string offline = "record";    // [central] offline
  std::string central_extra;         // more [central] lines (e.g. "bulk_read_through_max = 2\n")
  std::string http_extra;            // more [http] lines (e.g. "bulk_deadline_s = 1\n")
  int threads = 2;                   // [http] threads
  std::string extra_toml;            // appended verbatim
  std::chrono::milliseconds ready_timeout{60000};
  bool wait_ready = true;            // start() waits for /readyz 200; false: only for the port to answer
  std::string audit_extra;           // more [audit] lines (e.g. "min_age_s = 0\ninterval_s = 1\n")
  // Runs vpointd through this command (argv prefix, e.g. unshare + a shell that mounts something first); the
  // wrapper must exec vpointd so that signals and the pid are vpointd's. An argument "{audit_dir}" is replaced
  // by the [audit] dir.
  std::vector<std::string> wrapper;
  // How start()'s readiness probe and request() connect: TLS with this CA (and client certificate) when vpointd
  // has a [tls] section in extra_toml.
  ClientOptions client;
};

class Vpointd {
 public:
  // Demo-like keys (docs/config.md: clear-text keys are for demos and tests).
  static constexpr const char* kPharmacyKey = "test-pharmacy-key-0001";
  static constexpr const char* kAdminKey = "test-admin-key-000001";
  static constexpr const char* kLocation = "4012345000009";

  // Writes the config and starts (start() below).
  explicit Vpointd(VpointdOptions options);
  ~Vpointd();
  Vpointd(const Vpointd&) = delete;
  Vpointd& operator=(const Vpointd&) = delete;

  // Starts the process and waits until /readyz answers 200; throws std::runtime_error with the log if it
  // exits or is not ready within options.ready_timeout.
  void start();
  // SIGKILL and reap: vpointd dies mid-work, nothing is flushed or drained.
  void kill9();
  // SIGTERM and wait for the exit (graceful); returns the exit status (nullopt after the timeout).
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));
  bool running() const { return process_ != nullptr; }
  // Waits up to `timeout` for the process to exit by itself; its exit status, or nullopt while it runs.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  std::uint16_t port() const { return port_; }
  const std::filesystem::path& config_path() const { return config_; }
  std::string output() const;  // log of the current (or last) run
  int starts() const { return starts_; }
  std::filesystem::path audit_dir() const { return dir_ / "audit"; }
  int pid() const { return process_ ? process_->pid() : -1; }

  // One request on a fresh connection with `Authorization: Bearer key` (none when key is empty).
  Response request(http::verb method, const std::string& target, const std::string& body = "",
                   const std::string& key = kPharmacyKey,
                   const std::map<std::string, std::string>& headers = {});
  // GET with the admin key, parsed; throws when the answer is not 200 JSON.
  boost::json::value get_json(const std::string& target, const std::string& key = kAdminKey);

 private:
  VpointdOptions options_;
  TempDir dir_;
  std::filesystem::path config_;
  std::uint16_t port_ = 0;
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

// Many requests over a few concurrent keep-alive loopback connections (a load of scanners): each connection
// takes the next call as soon as its previous one is answered. A connection that fails (refused, reset, closed,
// timed out) is not reopened: its current call stays unanswered (responses[i] == nullopt: "no answer").
struct Call {
  http::verb method = http::verb::get;
  std::string target;
  std::string body;
  std::map<std::string, std::string> headers;
};

struct CallBatch {
  std::vector<Call> calls;
  std::vector<std::optional<Response>> responses;  // filled by run_calls, one per call
  std::function<bool(const Response&)> is_ok;      // what counts towards `ok`
  std::atomic<std::size_t> answered{0};
  std::atomic<std::size_t> ok{0};
  std::atomic<bool> stop_sending{false};  // set from another thread: no new call is started
};

// Blocks until every call was answered or given up. Every connect/write/read is bounded by `timeout`.
void run_calls(std::uint16_t port, CallBatch& batch, int connections,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

}  // namespace vpoint::test
