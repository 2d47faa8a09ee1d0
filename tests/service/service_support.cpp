#include "service_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <openssl/ssl.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>

namespace vpoint::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "vpoint-service-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path = pattern;
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

namespace {

void run(const std::string& command) {
  std::string full = command + " >/dev/null 2>&1";
  if (std::system(full.c_str()) != 0) throw std::runtime_error("command failed: " + command);
}

std::string capture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  pclose(pipe);
  return out;
}

}  // namespace

TestPki::TestPki(const std::filesystem::path& dir) {
  auto p = [&](const std::string& name) { return (dir / name).string(); };
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  write_file(dir / "server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  write_file(dir / "client.ext", "extendedKeyUsage=clientAuth\n");
  for (const std::string ca_name : {"ca", "rogue-ca", "other-ca"}) {
    run("openssl req -x509 " + ec + " -keyout " + p(ca_name + ".key") + " -out " + p(ca_name + ".pem") +
        " -days 2 -subj /CN=" + ca_name);
  }
  auto leaf = [&](const std::string& name, const std::string& cn, const std::string& ca_name,
                  const std::string& ext, const std::string& days = "2") {
    run("openssl req " + ec + " -keyout " + p(name + ".key") + " -out " + p(name + ".csr") +
        " -subj /CN=" + cn);
    run("openssl x509 -req -in " + p(name + ".csr") + " -CA " + p(ca_name + ".pem") + " -CAkey " +
        p(ca_name + ".key") + " -CAcreateserial -out " + p(name + ".pem") + " -days " + days + " -extfile " +
        p(ext));
  };
  leaf("server", "localhost", "ca", "server.ext");
  leaf("client", "station-1", "ca", "client.ext");
  leaf("rogue", "intruder", "rogue-ca", "client.ext");
  leaf("expired", "station-1", "ca", "client.ext", "-1");  // notAfter a day before now
  leaf("impostor", "station-1", "other-ca", "client.ext");
  write_file(dir / "ca-bundle.pem", read_file(dir / "ca.pem") + read_file(dir / "other-ca.pem"));
  expired_cert = p("expired.pem");
  expired_key = p("expired.key");
  impostor_cert = p("impostor.pem");
  impostor_key = p("impostor.key");
  ca_bundle = p("ca-bundle.pem");
  ca = p("ca.pem");
  server_cert = p("server.pem");
  server_key = p("server.key");
  client_cert = p("client.pem");
  client_key = p("client.key");
  rogue_cert = p("rogue.pem");
  rogue_key = p("rogue.key");
  std::string line = capture("openssl x509 -in " + client_cert + " -noout -fingerprint -sha256");
  // "sha256 Fingerprint=AB:CD:..."
  auto eq = line.find('=');
  for (std::size_t i = eq + 1; i < line.size(); ++i) {
    char c = line[i];
    if (std::isxdigit(static_cast<unsigned char>(c)))
      client_fingerprint.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
}

struct HttpClient::Impl {
  asio::io_context ioc;
  asio::ssl::context ssl_ctx{asio::ssl::context::tls_client};
  std::optional<tcp::socket> plain;
  std::optional<asio::ssl::stream<tcp::socket>> secure;
  beast::flat_buffer buffer;

  template <class F>
  auto with_stream(F&& f) {
    if (secure) return f(*secure);
    return f(*plain);
  }
};

HttpClient::HttpClient(std::uint16_t port, ClientOptions options) : impl_(std::make_unique<Impl>()) {
  tcp::socket socket(impl_->ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  // Blocking reads/writes with a bound: a hung server fails the test instead of hanging it.
  timeval tv{static_cast<time_t>(options.timeout.count()), 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  socket.set_option(tcp::no_delay(true));
  if (!options.tls) {
    impl_->plain.emplace(std::move(socket));
    return;
  }
  auto& ctx = impl_->ssl_ctx;
  if (!options.ca.empty()) {
    ctx.load_verify_file(options.ca);
    ctx.set_verify_mode(asio::ssl::verify_peer);
  }
  if (!options.cert.empty()) {
    ctx.use_certificate_chain_file(options.cert);
    ctx.use_private_key_file(options.key, asio::ssl::context::pem);
  }
  if (options.tls11_only) {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_1_VERSION);
    SSL_CTX_set_security_level(ctx.native_handle(), 0);
  }
  impl_->secure.emplace(std::move(socket), ctx);
  boost::system::error_code ec;
  impl_->secure->handshake(asio::ssl::stream_base::client, ec);
  if (ec) throw std::runtime_error("TLS handshake failed: " + ec.message());
}

HttpClient::~HttpClient() = default;

Response HttpClient::request(http::verb method, const std::string& target, const std::string& body,
                             const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  if (!body.empty() || method == http::verb::post) req.prepare_payload();
  impl_->with_stream([&](auto& stream) { http::write(stream, req); });
  return read_response();
}

void HttpClient::write_raw(const std::string& bytes) {
  impl_->with_stream([&](auto& stream) { asio::write(stream, asio::buffer(bytes)); });
}

Response HttpClient::read_response() {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  impl_->with_stream([&](auto& stream) { http::read(stream, impl_->buffer, parser); });
  return parser.release();
}

bool HttpClient::server_closed() {
  char byte;
  boost::system::error_code ec;
  impl_->with_stream([&](auto& stream) { stream.read_some(asio::buffer(&byte, 1), ec); });
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::connection_reset;
}

Process::Process(std::vector<std::string> argv, const std::filesystem::path& output,
                 const std::map<std::string, std::string>& extra_env)
    : output_(output) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    for (const auto& [name, value] : extra_env) setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (!status_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

void Process::signal(int sig) {
  if (!status_) kill(pid_, sig);  // never a pid reaped already (it may belong to another process by now)
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!status_) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

std::string Process::output() const { return read_file(output_); }

bool Process::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (output().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::optional<std::uint16_t> listening_port(const std::string& log) {
  std::smatch m;
  static const std::regex kUrl(R"re("event":"listening","url":"https?://[^"]*:(\d+)")re");
  if (!std::regex_search(log, m, kUrl)) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

}  // namespace vpoint::test
