#include "sync_support.hpp"

#include "vpoint/cache/alert_log.hpp"
#include "vpoint/cache/outbox.hpp"

#include <csignal>
#include <stdexcept>

#include <boost/json/parse.hpp>

namespace vpoint::test {

namespace json = boost::json;

Simulator::Simulator(std::uint64_t products, std::uint64_t packs) : products_(products), packs_(packs) { start(); }
Simulator::Simulator(std::uint64_t products, std::uint64_t packs, std::vector<std::string> extra_args,
                     ClientOptions admin, std::string token)
    : products_(products), packs_(packs), extra_args_(std::move(extra_args)), admin_(std::move(admin)),
      token_(std::move(token)) {
  start();
}
Simulator::~Simulator() { kill(); }

void Simulator::start() {
  kill();
  std::string listen = "127.0.0.1:" + std::to_string(port_);
  auto log = dir_ / ("sim-" + std::to_string(starts_++) + ".log");
  std::vector<std::string> argv{CENTRAL_SIM_PATH, "--listen", listen, "--data", (dir_ / "data").string(), "--seed", "11",
                                "--products", std::to_string(products_), "--packs", std::to_string(packs_),
                                "--threads", "1"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  process_ = std::make_unique<Process>(argv, log);
  const std::string banner = std::string("listening ") + (admin_.tls ? "https" : "http") + "://127.0.0.1:";
  if (!process_->wait_for_output(banner, std::chrono::seconds(20)))
    throw std::runtime_error("vpoint-central-sim did not start: " + process_->output());
  std::string out = process_->output();
  auto at = out.find(banner);
  port_ = static_cast<std::uint16_t>(std::stoi(out.substr(at + banner.size())));
}

void Simulator::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait_exit(std::chrono::seconds(5));
  process_.reset();
}

json::value Simulator::get_json(const std::string& target) {
  HttpClient client(port_, admin_);
  std::map<std::string, std::string> headers;
  if (!token_.empty()) headers["Authorization"] = "Bearer " + token_;
  auto res = client.get(target, headers);
  return json::parse(res.body());
}

json::value Simulator::post_json(const std::string& target, const std::string& body) {
  HttpClient client(port_, admin_);
  std::map<std::string, std::string> headers{{"Content-Type", "application/json"}};
  if (!token_.empty()) headers["Authorization"] = "Bearer " + token_;
  auto res = client.request(http::verb::post, target, body, headers);
  return json::parse(res.body());
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

LinkHarness::LinkHarness() {
  work_.emplace(io_.get_executor());
  for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  cache::ClientOptions options;
  options.url = redis_.url();
  client_ = std::make_unique<cache::Client>(io_.get_executor(), options);
  mirror_ = std::make_unique<cache::Mirror>(*client_);
  auto started = run(mirror_->start());
  if (!started) throw std::runtime_error("mirror start: " + started.error().message);
}

LinkHarness::~LinkHarness() {
  stop_link();
  client_->close();
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
}

service::CentralLink& LinkHarness::start_link(service::CentralLinkOptions options,
                                              std::shared_ptr<service::Readiness> readiness) {
  link_ = std::make_unique<service::CentralLink>(io_.get_executor(), *client_, *mirror_, std::move(options),
                                                 std::move(readiness));
  link_->start();
  return *link_;
}

void LinkHarness::stop_link() {
  if (!link_) return;
  link_->stop();
  link_.reset();
}

cache::PackResult LinkHarness::supply(const std::string& code, const std::string& serial, const std::string& location) {
  cache::PackRequest request;
  request.product_code = code;
  request.serial = serial;
  request.caller = {"pharmacy-1", location};
  auto result = run(mirror_->decommission(request, cache::Action::supply));
  if (!result) throw std::runtime_error("decommission: " + result.error().message);
  return *result;
}

std::int64_t LinkHarness::outbox_total() {
  cache::Outbox outbox(*client_);
  auto depth = run(outbox.depth());
  if (!depth) throw std::runtime_error(depth.error().message);
  return depth->total;
}

service::CentralLinkOptions test_link_options(const std::string& url, LinkRoles roles) {
  service::CentralLinkOptions o;
  o.url = url;
  o.follow_feed = roles.feed;
  o.drain_outbox = roles.drain;
  o.deliver_alerts = roles.alerts;
  o.reverify = roles.reverify;
  o.location = "4012345000009";
  o.feed_wait = std::chrono::seconds(1);
  o.backoff_min = std::chrono::milliseconds(50);
  o.backoff_max = std::chrono::milliseconds(300);
  o.drain_idle = std::chrono::milliseconds(30);
  o.lookup_timeout = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(3000);
  o.reverify_interval = std::chrono::milliseconds(200);
  o.lease_ttl = std::chrono::milliseconds(3000);
  return o;
}

boost::json::object delivery_status(LinkHarness& h, const std::string& alert_id, const std::string& target) {
  for (const auto& alert : alerts_in_redis(h)) {
    if (alert.at("id").as_string() != alert_id) continue;
    const auto& delivery = alert.at("delivery");
    if (!delivery.is_object()) return {};
    const auto* status = delivery.as_object().if_contains(target);
    return status && status->is_object() ? status->as_object() : boost::json::object{};
  }
  return {};
}

std::vector<boost::json::object> alerts_in_redis(LinkHarness& h) {
  cache::AlertLog log(h.client());
  auto listed = h.run(log.list(cache::AlertQuery{.limit = 100000}));
  if (!listed) throw std::runtime_error("reading the alert log: " + listed.error().message);
  return *listed;
}

void import_through_link(LinkHarness& h, Simulator& sim) {
  auto options = test_link_options(sim.url(), {.feed = true});
  h.start_link(options);
  bool loaded = eventually([&] { return h.link().status().generation > 0 && !h.link().loading(); },
                           std::chrono::seconds(30));
  h.stop_link();
  if (!loaded) throw std::runtime_error("the snapshot import through the link did not finish within 30 s");
}

}  // namespace vpoint::test
