#include "redis_server.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace vpoint::test {
namespace {

using namespace std::chrono_literals;
constexpr const char* kRedisServer = "/usr/bin/redis-server";
constexpr const char* kRedisCli = "/usr/bin/redis-cli";
constexpr const char* kOpenssl = "/usr/bin/openssl";

std::vector<char*> to_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// fork + exec; the child dies with the test process (PR_SET_PDEATHSIG) so no server outlives a crash.
pid_t spawn(const std::vector<std::string>& args, int out_fd) {
  auto argv = to_argv(args);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (out_fd >= 0) {
      dup2(out_fd, STDOUT_FILENO);
      dup2(out_fd, STDERR_FILENO);
    } else {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    int devnull_in = open("/dev/null", O_RDONLY);
    dup2(devnull_in, STDIN_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string read_file_tail(const std::filesystem::path& p, std::size_t max = 2000) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

std::uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("free_port: bind failed");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

ProcessOutput run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = spawn(argv, fds[1]);
  close(fds[1]);
  ProcessOutput result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    result.output.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/vpoint-redis-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  port_ = free_port();
  if (options_.cluster) {
    // The cluster bus defaults to port+10000, which may be taken or out of range: pick it explicitly.
    do {
      cluster_bus_port_ = free_port();
    } while (cluster_bus_port_ == port_);
  }
  try {
    if (options_.tls && options_.tls_files) tls_ = *options_.tls_files;
    else if (options_.tls) generate_certs();
    start();
  } catch (...) {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

RedisServer::~RedisServer() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::host_port() const { return "127.0.0.1:" + std::to_string(port_); }

std::string RedisServer::url() const { return (options_.tls ? "rediss://" : "redis://") + host_port(); }

void RedisServer::generate_certs() {
  auto path = [&](const char* name) { return (dir_ / name).string(); };
  const std::string ec_opts = "ec_paramgen_curve:prime256v1";
  auto run = [&](const std::vector<std::string>& args) {
    auto out = run_process(args, 20s);
    if (out.exit_code != 0) throw std::runtime_error("openssl failed: " + join(args) + "\n" + out.output);
  };
  auto make_ca = [&](const std::string& key, const std::string& cert, const std::string& cn) {
    run({kOpenssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", ec_opts, "-nodes", "-keyout", key, "-out", cert,
         "-days", "2", "-subj", "/CN=" + cn});
  };
  auto make_leaf = [&](const std::string& name, const std::string& cn, const std::string& ext) {
    const auto key = path((name + ".key").c_str());
    const auto csr = path((name + ".csr").c_str());
    const auto crt = path((name + ".crt").c_str());
    const auto extfile = path((name + ".ext").c_str());
    std::ofstream(extfile) << ext;
    run({kOpenssl, "req", "-newkey", "ec", "-pkeyopt", ec_opts, "-nodes", "-keyout", key, "-out", csr, "-subj",
         "/CN=" + cn});
    run({kOpenssl, "x509", "-req", "-in", csr, "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial",
         "-out", crt, "-days", "2", "-extfile", extfile});
  };
  make_ca(path("ca.key"), path("ca.crt"), "vpoint-test-ca");
  make_ca(path("other-ca.key"), path("other-ca.crt"), "vpoint-other-ca");
  make_leaf("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  make_leaf("client", "vpoint-test-client", "extendedKeyUsage=clientAuth\n");
  tls_ = TlsFiles{path("ca.crt"), path("server.crt"), path("server.key"), path("client.crt"), path("client.key"),
                  path("other-ca.crt")};
}

std::vector<std::string> RedisServer::cli_prefix() const {
  std::vector<std::string> args{kRedisCli, "-h", "127.0.0.1", "-p", std::to_string(port_)};
  if (options_.tls) {
    for (const auto& a : std::vector<std::string>{"--tls", "--cacert", tls_.ca_cert, "--cert", tls_.client_cert,
                                                  "--key", tls_.client_key}) {
      args.push_back(a);
    }
  }
  if (!options_.password.empty()) {
    args.push_back("-a");
    args.push_back(options_.password);
    args.push_back("--no-auth-warning");
  }
  return args;
}

std::string RedisServer::cli(const std::vector<std::string>& args) const {
  auto argv = cli_prefix();
  argv.insert(argv.end(), args.begin(), args.end());
  auto out = run_process(argv, 10s);
  if (out.exit_code != 0) throw std::runtime_error("redis-cli failed: " + join(args) + "\n" + out.output);
  return trim(out.output);
}

void RedisServer::start() {
  if (pid_ > 0) return;
  std::vector<std::string> args{kRedisServer, "--bind", "127.0.0.1", "--daemonize", "no", "--dir", dir_.string(),
                                "--logfile", (dir_ / "redis.log").string(), "--save", "", "--enable-debug-command",
                                "local"};
  if (options_.tls) {
    for (const auto& a : std::vector<std::string>{
             "--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", tls_.server_cert,
             "--tls-key-file", tls_.server_key, "--tls-ca-cert-file", tls_.ca_cert, "--tls-auth-clients",
             options_.tls_auth_clients ? "yes" : "no"}) {
      args.push_back(a);
    }
  } else {
    args.push_back("--port");
    args.push_back(std::to_string(port_));
  }
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  if (options_.appendonly) {
    for (const char* a : {"--appendonly", "yes", "--appendfsync", "always"}) args.push_back(a);
  } else {
    for (const char* a : {"--appendonly", "no"}) args.push_back(a);
  }
  if (options_.cluster) {
    if (options_.tls) {
      // The cluster bus and CLUSTER SLOTS speak TLS too (tls-cluster announces the TLS ports).
      for (const char* a : {"--tls-cluster", "yes", "--tls-replication", "yes"}) args.push_back(a);
    }
    for (const auto& a : std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                                  "--cluster-port", std::to_string(cluster_bus_port_),
                                                  "--cluster-node-timeout", "3000"}) {
      args.push_back(a);
    }
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  pid_ = spawn(args, -1);

  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto ping = cli_prefix();
  ping.push_back("PING");
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start: " + join(args) + "\n" +
                               read_file_tail(dir_ / "redis.log"));
    }
    auto out = run_process(ping, 2s);
    if (out.exit_code == 0 && out.output.find("PONG") != std::string::npos) return;
    std::this_thread::sleep_for(20ms);
  }
  kill();
  throw std::runtime_error("redis-server did not answer PING on port " + std::to_string(port_) + "\n" +
                           read_file_tail(dir_ / "redis.log"));
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  kill();
}

void RedisServer::restart() {
  stop();
  start();
}

RedisCluster::RedisCluster(std::size_t masters, RedisServerOptions node_options, std::size_t replicas) {
  node_options.cluster = true;
  for (std::size_t i = 0; i < masters * (1 + replicas); ++i) {
    nodes_.push_back(std::make_unique<RedisServer>(node_options));
    // TLS: every node serves the first node's certificates, so that one CA covers the whole cluster.
    if (node_options.tls && !node_options.tls_files) node_options.tls_files = nodes_.front()->tls_files();
  }
  auto args = nodes_.front()->cli_prefix();
  // cli_prefix carries -h/-p of node 0, harmless for --cluster create, which takes its own node list.
  args.push_back("--cluster");
  args.push_back("create");
  for (const auto& s : seeds()) args.push_back(s);
  for (const auto& a : {std::string("--cluster-replicas"), std::to_string(replicas), std::string("--cluster-yes")})
    args.push_back(a);
  auto out = run_process(args, 30s);
  if (out.exit_code != 0) throw std::runtime_error("redis-cli --cluster create failed:\n" + out.output);
  wait_until_ok();
  // Replicas attach asynchronously: ready once every one has finished its first sync (a failover needs it).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    while (role_of(i) == "slave" &&
           nodes_[i]->cli({"INFO", "replication"}).find("master_link_status:up") == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("Redis Cluster: replica " + nodes_[i]->host_port() + " did not sync within 30 s");
      std::this_thread::sleep_for(50ms);
    }
  }
}

std::vector<std::string> RedisCluster::seeds() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n->host_port());
  return out;
}

std::string RedisCluster::node_id(std::size_t i) const { return nodes_.at(i)->cli({"CLUSTER", "MYID"}); }

std::string RedisCluster::role_of(std::size_t i) const {
  if (!nodes_.at(i)->running()) return "";
  try {
    auto role = nodes_[i]->cli({"ROLE"});
    return role.substr(0, role.find('\n'));
  } catch (const std::exception&) {
    return "";
  }
}

std::size_t RedisCluster::owner_of_slot(std::uint16_t slot) const {
  std::istringstream lines(nodes_.front()->cli({"CLUSTER", "NODES"}));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string t; fields >> t;) f.push_back(t);
    if (f.size() < 9) continue;
    const auto address = f[1].substr(0, f[1].find('@'));
    for (std::size_t k = 8; k < f.size(); ++k) {
      if (f[k].starts_with("[")) continue;  // migration markers
      const auto dash = f[k].find('-');
      const int lo = std::stoi(f[k].substr(0, dash));
      const int hi = dash == std::string::npos ? lo : std::stoi(f[k].substr(dash + 1));
      if (slot >= lo && slot <= hi) {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (nodes_[i]->host_port() == address) return i;
        }
      }
    }
  }
  throw std::runtime_error("no node owns slot " + std::to_string(slot));
}

void RedisCluster::wait_until_ok(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool ok = true;
    for (const auto& n : nodes_) {
      if (!n->running()) continue;
      if (n->cli({"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) {
        ok = false;
        break;
      }
    }
    if (ok) return;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("Redis Cluster did not reach cluster_state:ok within " + std::to_string(timeout.count()) +
                           " ms");
}

}  // namespace vpoint::test
