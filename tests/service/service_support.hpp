#pragma once
// Test helpers for the service suite: a blocking Beast HTTP(S) client with socket timeouts, a throw-away
// PKI made with the openssl CLI, temp dirs, and a child process (vpointd) that is always reaped.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>

namespace vpoint::test {

namespace http = boost::beast::http;
using Response = http::response<http::string_body>;

struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
  std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

// CA, server certificate (CN=localhost, SAN 127.0.0.1), a client certificate of that CA (CN=station-1) and
// one of an unrelated CA (CN=intruder). EC P-256, generated with `openssl` into `dir`.
struct TestPki {
  explicit TestPki(const std::filesystem::path& dir);
  std::string ca, server_cert, server_key, client_cert, client_key, rogue_cert, rogue_key;
  std::string expired_cert, expired_key;      // CN station-1 from `ca`, expired a day ago
  std::string impostor_cert, impostor_key;    // CN station-1 from a second trusted CA ("other-ca")
  std::string ca_bundle;                      // ca + other-ca: a client_ca trusting two CAs
  std::string client_fingerprint;  // SHA-256 hex (lower case, no colons) of client_cert
};

struct ClientOptions {
  bool tls = false;
  std::string ca;           // verify the server against this CA
  std::string cert, key;    // client certificate for mutual TLS
  bool tls11_only = false;  // offer only TLS 1.1 (must be refused)
  std::chrono::seconds timeout{10};
};

// One keep-alive connection. Throws std::runtime_error when connecting or the TLS handshake fails.
class HttpClient {
 public:
  HttpClient(std::uint16_t port, ClientOptions options = {});
  ~HttpClient();

  Response request(http::verb method, const std::string& target, const std::string& body = "",
                   const std::map<std::string, std::string>& headers = {});
  Response get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    return request(http::verb::get, target, "", headers);
  }
  // Raw bytes, then one response (or throws when the server closed without answering).
  void write_raw(const std::string& bytes);
  Response read_response();
  // True when the server closed the connection (a read sees EOF).
  bool server_closed();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A child process with stdout+stderr to a file; SIGKILLed and reaped by the destructor if still running.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::filesystem::path& output,
          const std::map<std::string, std::string>& extra_env = {});
  ~Process();
  void signal(int sig);
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);  // exit code, or nullopt on timeout
  std::string output() const;
  int pid() const { return pid_; }
  // Polls the output until it contains `needle`; false after timeout.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) const;

 private:
  int pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path output_;
};

// Parses the port out of vpointd's {"event":"listening","url":"http://127.0.0.1:PORT"} log line.
std::optional<std::uint16_t> listening_port(const std::string& log);

}  // namespace vpoint::test
