// `vpointd --health URL` (issue 18): the probe a container's HEALTHCHECK runs. One GET against real vpointd
// processes over loopback (plain HTTP and TLS), a stopped one and a listener that never answers.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>

#include "redis_server.hpp"
#include "service_support.hpp"

using vpoint::test::Process;
using vpoint::test::run_process;
using vpoint::test::TempDir;
using vpoint::test::write_file;

namespace {

// vpointd on a free loopback port; `toml` is its config. Returns the base URL's port.
std::uint16_t start(Process& vpointd) {
  REQUIRE(vpointd.wait_for_output("\"event\":\"listening\"", std::chrono::seconds(20)));
  auto port = vpoint::test::listening_port(vpointd.output());
  REQUIRE(port);
  return *port;
}

vpoint::test::ProcessOutput health(std::vector<std::string> args) {
  args.insert(args.begin(), {VPOINTD_PATH, "--health"});
  return run_process(args, std::chrono::seconds(30));
}

}  // namespace

TEST_CASE("vpointd --health exits 0 on 200 and 1 on 503 or when nothing answers", "[service][vpointd][health]") {
  TempDir dir;
  // Redis configured but not answering (nothing listens on the port): vpointd serves, /healthz is 200 and
  // /readyz is 503 until Redis answers.
  write_file(dir / "vpointd.toml", "[http]\nlisten = \"127.0.0.1:0\"\nthreads = 1\n[redis]\nurl = \"redis://127.0.0.1:" +
                                       std::to_string(vpoint::test::free_port()) + "\"\n[audit]\ndir = \"" +
                                       (dir / "audit").string() + "\"\n");
  Process vpointd({VPOINTD_PATH, "--config", (dir / "vpointd.toml").string()}, dir / "out.log");
  const std::string base = "http://127.0.0.1:" + std::to_string(start(vpointd));

  auto up = health({base + "/healthz"});
  CHECK(up.exit_code == 0);
  CHECK(up.output.empty());
  // /readyz waits for its Redis checks' own deadline (Redis refuses here): give it more than the default 5 s
  // on a loaded machine.
  auto unready = health({base + "/readyz", "--health-timeout", "20"});
  CHECK(unready.exit_code == 1);
  CHECK_THAT(unready.output, Catch::Contains("vpointd: --health " + base + "/readyz: answered 503"));
  CHECK(health({base + "/no-such-route"}).exit_code == 1);  // 404 is not healthy either

  vpointd.signal(SIGTERM);
  REQUIRE(vpointd.wait_exit(std::chrono::seconds(15)) == 0);
  auto stopped = health({base + "/healthz"});
  CHECK(stopped.exit_code == 1);
  CHECK_THAT(stopped.output, Catch::Contains("connect"));

  // Usage errors are CLI errors (2), not an unhealthy answer: --health reads no config.
  CHECK(health({base + "/healthz", "--config", (dir / "vpointd.toml").string()}).exit_code == 2);
  auto not_a_url = health({"127.0.0.1:8080/healthz"});
  CHECK(not_a_url.exit_code == 1);
  CHECK_THAT(not_a_url.output, Catch::Contains("vpointd: --health: "));
}

TEST_CASE("vpointd --health over https checks the certificate against --health-ca-file", "[service][vpointd][health]") {
  TempDir dir;
  vpoint::test::TestPki pki(dir.path);
  write_file(dir / "vpointd.toml", "[http]\nlisten = \"127.0.0.1:0\"\nthreads = 1\n[tls]\ncert = \"" + pki.server_cert +
                                       "\"\nkey = \"" + pki.server_key + "\"\n");
  Process vpointd({VPOINTD_PATH, "--config", (dir / "vpointd.toml").string()}, dir / "out.log");
  const std::string url = "https://127.0.0.1:" + std::to_string(start(vpointd)) + "/healthz";
  CHECK(health({url, "--health-ca-file", pki.ca}).exit_code == 0);
  auto untrusted = health({url});  // the test CA is not among the system's
  CHECK(untrusted.exit_code == 1);
  CHECK_THAT(untrusted.output, Catch::Contains("tls"));
  CHECK(health({"http://127.0.0.1:" + url.substr(url.rfind(':') + 1), "--health-ca-file", pki.ca}).exit_code == 1);
}

TEST_CASE("vpointd --health gives up on a server that never answers within its timeout", "[service][vpointd][health]") {
  // A listening socket nobody accepts from: the kernel completes the connection, no answer ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t length = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/healthz";

  auto timed = [&](std::vector<std::string> args) {
    auto begin = std::chrono::steady_clock::now();
    auto out = health(std::move(args));
    return std::make_pair(out, std::chrono::steady_clock::now() - begin);
  };
  auto [short_run, short_took] = timed({url, "--health-timeout", "1"});
  CHECK(short_run.exit_code == 1);
  CHECK_THAT(short_run.output, Catch::Contains("timeout"));
  CHECK(short_took >= std::chrono::milliseconds(900));
  CHECK(short_took < std::chrono::seconds(4));
  auto [default_run, default_took] = timed({url});  // the default: 5 s
  CHECK(default_run.exit_code == 1);
  CHECK(default_took >= std::chrono::milliseconds(4500));
  CHECK(default_took < std::chrono::seconds(12));
  CHECK(health({url, "--health-timeout", "0"}).exit_code == 2);
  ::close(fd);
}
