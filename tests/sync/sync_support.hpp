#pragma once
// Harness of the sync suite: the central simulator as a real child process (temp --data dir, port 0 on the
// first start, the same port after a restart), an io_context running a Redis client, the mirror and a
// CentralLink, and small helpers to run coroutines and wait for conditions with a deadline.
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/object.hpp>

#include "redis_server.hpp"
#include "service_support.hpp"
#include "vpoint/cache/mirror.hpp"
#include "vpoint/cache/redis.hpp"
#include "vpoint/service/central_link.hpp"

namespace vpoint::test {

class Simulator {
 public:
  // --seed 11 --products `products` --packs `packs`
  explicit Simulator(std::uint64_t products = 4, std::uint64_t packs = 2000);
  // With extra command-line arguments (--tls-cert …, --token-file …); `admin` is how get_json/post_json
  // connect (TLS, client certificate) and `token` the bearer token they send.
  Simulator(std::uint64_t products, std::uint64_t packs, std::vector<std::string> extra_args, ClientOptions admin,
            std::string token = "");
  ~Simulator();
  void start();
  void kill();  // SIGKILL: the central system goes away without a word
  std::string url() const {
    return std::string(admin_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  std::uint16_t port() const { return port_; }

  // Admin/protocol calls (blocking). Throws on transport errors.
  boost::json::value get_json(const std::string& target);
  boost::json::value post_json(const std::string& target, const std::string& body);

 private:
  TempDir dir_;
  std::uint64_t products_, packs_;
  std::vector<std::string> extra_args_;
  ClientOptions admin_;
  std::string token_;
  std::uint16_t port_ = 0;
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

// Polls `done` every 20 ms until it holds or `timeout` passed.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout);

class LinkHarness {
 public:
  LinkHarness();
  ~LinkHarness();

  template <class T>
  T run(boost::asio::awaitable<T> task) {
    return boost::asio::co_spawn(io_, std::move(task), boost::asio::use_future).get();
  }

  // Makes and starts a link on this harness' Redis and mirror.
  service::CentralLink& start_link(service::CentralLinkOptions options,
                                   std::shared_ptr<service::Readiness> readiness = nullptr);
  void stop_link();

  RedisServer& redis() { return redis_; }
  cache::Client& client() { return *client_; }
  cache::Mirror& mirror() { return *mirror_; }
  service::CentralLink& link() { return *link_; }
  boost::asio::io_context& io() { return io_; }

  // Supply of one pack through the mirror (what POST /v1/decommission does): the outbox gets an entry.
  cache::PackResult supply(const std::string& code, const std::string& serial,
                           const std::string& location = "4012345000009");
  std::int64_t outbox_total();

 private:
  RedisServer redis_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::unique_ptr<cache::Client> client_;
  std::unique_ptr<cache::Mirror> mirror_;
  std::unique_ptr<service::CentralLink> link_;
};

// The link's roles a test runs; the others stay off so that they cannot interfere with what it checks.
struct LinkRoles {
  bool feed = false;      // snapshot + change feed
  bool drain = false;     // outbox write-back
  bool alerts = false;    // alert delivery
  bool reverify = false;  // offline re-verification
};
// Fast settings for tests (short backoff, short long polls) with only `roles` running.
service::CentralLinkOptions test_link_options(const std::string& url, LinkRoles roles);

// Every alert in the alert log (as GET /v1/alerts shows it: "id", "delivery", "acked"), oldest first.
std::vector<boost::json::object> alerts_in_redis(LinkHarness& h);
// One alert's delivery status at `target` ("central" or a webhook URL); an empty object while none is recorded.
boost::json::object delivery_status(LinkHarness& h, const std::string& alert_id, const std::string& target);
// Loads the simulator's snapshot into the harness' empty mirror through a link (feed only), then stops the
// link. Throws when the import does not finish within 30 s.
void import_through_link(LinkHarness& h, Simulator& sim);

}  // namespace vpoint::test
