#pragma once
// Test harness: real redis-server processes (Debian's /usr/bin/redis-server 7.0) on free loopback ports,
// each with its own temp dir, killed and cleaned up by RAII. Used by the cache, service and e2e suites.
//
//   vpoint::test::RedisServer redis;                          // plain, no persistence
//   vpoint::test::RedisServer secured({.password = "s3cret"});
//   vpoint::test::RedisServer tls({.tls = true});             // TLS only; certs in tls.tls_files()
//   vpoint::test::RedisCluster cluster;                       // 3 masters, all slots assigned, state ok
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace vpoint::test {

// A throw-away PKI made with the openssl CLI at test time (valid for 2 days, EC P-256).
struct TlsFiles {
  std::string ca_cert;        // CA that signed server and client certs
  std::string server_cert;    // CN/SAN IP 127.0.0.1
  std::string server_key;
  std::string client_cert;    // for tls_auth_clients (mutual TLS)
  std::string client_key;
  std::string other_ca_cert;  // an unrelated CA: a client trusting only this must refuse the server
};

struct RedisServerOptions {
  std::string password = {};               // --requirepass (the "default" user's password)
  bool tls = false;                        // serve TLS only: --tls-port <port> --port 0
  bool tls_auth_clients = false;           // with tls: require a client certificate signed by the CA
  bool appendonly = false;                 // --appendonly yes --appendfsync always (durability tests)
  bool cluster = false;                    // --cluster-enabled yes (RedisCluster sets this); with tls: TLS bus too
  std::optional<TlsFiles> tls_files = {};  // with tls: use these certificates instead of generating new ones
  std::vector<std::string> extra_args = {};  // appended verbatim, e.g. {"--maxmemory-policy", "allkeys-lru"}
  std::chrono::milliseconds start_timeout{10000};  // how long start() waits for PING before throwing
};

// Picks a free TCP port on 127.0.0.1 (bind port 0, read it, close).
std::uint16_t free_port();

// Exit code and combined stdout+stderr of a finished program.
struct ProcessOutput {
  int exit_code = -1;
  std::string output;
};
// Runs argv (argv[0] an absolute path) without a shell; kills it after `timeout`.
ProcessOutput run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

class RedisServer {
 public:
  // Starts redis-server and waits until it answers PING; throws std::runtime_error (with the log) if not.
  explicit RedisServer(RedisServerOptions options = {});
  // Kills the server (SIGKILL) and removes its dir.
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:<port>"
  std::string host_port() const;
  // redis://127.0.0.1:<port> or rediss://... (no credentials; pass the password separately)
  std::string url() const;
  const RedisServerOptions& options() const { return options_; }
  // The server's working dir (AOF, nodes.conf, redis.log, certs).
  const std::filesystem::path& dir() const { return dir_; }
  // Paths of the generated certs; empty strings unless options.tls.
  const TlsFiles& tls_files() const { return tls_; }
  bool running() const { return pid_ > 0; }

  // SIGKILL and reap: a crash, mid-operation.
  void kill();
  // SIGTERM and wait (redis shuts down cleanly; SIGKILL after 5 s).
  void stop();
  // Starts again on the same port and dir (data kept per the persistence options); waits for PING.
  void start();
  // stop() + start().
  void restart();

  // Runs redis-cli against this server (TLS/password flags added) and returns its trimmed stdout.
  // Throws std::runtime_error if redis-cli exits non-zero.
  std::string cli(const std::vector<std::string>& args) const;

 private:
  friend class RedisCluster;
  std::vector<std::string> cli_prefix() const;
  void generate_certs();

  RedisServerOptions options_;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  std::uint16_t cluster_bus_port_ = 0;
  TlsFiles tls_;
  pid_t pid_ = -1;
};

// A local Redis Cluster of `masters` masters and `replicas` replicas per master, created with
// `redis-cli --cluster create`, ready when the constructor returns (every node reports cluster_state:ok).
class RedisCluster {
 public:
  explicit RedisCluster(std::size_t masters = 3, RedisServerOptions node_options = {}, std::size_t replicas = 0);
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  std::size_t size() const { return nodes_.size(); }
  // The i-th node (with no replicas: the i-th master; with replicas, which node is a master is what
  // CLUSTER NODES says: owner_of_slot, role_of).
  RedisServer& node(std::size_t i) { return *nodes_.at(i); }
  // "master" or "slave" as the i-th node itself reports it (ROLE), "" when it does not answer.
  std::string role_of(std::size_t i) const;
  // "127.0.0.1:<port>" of every node: the seed list for ClientOptions::cluster_nodes.
  std::vector<std::string> seeds() const;
  // CLUSTER MYID of the i-th master.
  std::string node_id(std::size_t i) const;
  // Index of the master that owns `slot`, as node 0 sees it (CLUSTER NODES).
  std::size_t owner_of_slot(std::uint16_t slot) const;
  // Waits until every running node reports cluster_state:ok (throws after `timeout`).
  void wait_until_ok(std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) const;

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace vpoint::test
