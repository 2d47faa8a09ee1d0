#include "vpoint/service/daemon.hpp"

#include <algorithm>
#include <stdexcept>

#include <sys/resource.h>

#include <boost/asio/signal_set.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <openssl/crypto.h>

#include "vpoint/service/logging.hpp"
#include "vpoint/service/openapi.hpp"
#include "vpoint/service/scan_page.hpp"

namespace vpoint::service {

ServerOptions server_options(const Config& config) {
  ServerOptions options;
  options.listen = config.http.listen;
  options.threads = config.http.threads;
  options.body_limit = config.http.body_limit;
  options.header_limit = config.http.header_limit;
  options.idle_timeout = std::chrono::seconds(config.http.idle_timeout_s);
  options.read_timeout = std::chrono::seconds(config.http.read_timeout_s);
  options.shutdown_timeout = std::chrono::seconds(config.http.shutdown_timeout_s);
  options.linger_bytes = static_cast<std::size_t>(config.http.linger_bytes);
  options.max_connections = config.http.max_connections;
  options.server_name = "vpointd";
  options.tls.cert = config.tls.cert;
  options.tls.key = config.tls.key;
  options.tls.client_ca = config.tls.client_ca;
  options.tls.require_client_cert = config.tls.require_client_cert;
  return options;
}

namespace {

// "Authorization: Bearer <key>" equal to `key`, compared without an early exit (the key is a secret).
bool has_metrics_key(const Request& request, const std::string& key) {
  std::string_view header = request[http::field::authorization];
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() != kBearer.size() + key.size() || header.substr(0, kBearer.size()) != kBearer) return false;
  return CRYPTO_memcmp(header.data() + kBearer.size(), key.data(), key.size()) == 0;
}

// GET /v1/me: {"name","role","location","certificate","actions":[permission names],"modes":[scan page modes]}.
boost::json::object me_json(const Caller& caller) {
  boost::json::array actions, modes;
  for (std::string_view name : role_actions(caller.role)) actions.emplace_back(name);
  for (std::string_view mode : role_modes(caller.role)) modes.emplace_back(mode);
  return boost::json::object{{"name", caller.name},
                             {"role", to_string(caller.role)},
                             {"location", caller.location},
                             {"certificate", caller.certificate},
                             {"actions", std::move(actions)},
                             {"modes", std::move(modes)}};
}

}  // namespace

void add_core_routes(Api& api, std::shared_ptr<Readiness> readiness, std::shared_ptr<Metrics> metrics,
                     std::string metrics_key) {
  add_scan_page(api);  // GET /: the scan station page
  add_openapi(api);    // GET /openapi.json: the description of every route
  api.add(http::verb::get, "/healthz", Access::open(), [](ApiContext&) -> asio::awaitable<Reply> {
    co_return json_response(boost::json::object{{"status", "up"}});
  });
  api.add(http::verb::get, "/readyz", Access::open(), [readiness, metrics_key](ApiContext& a) -> asio::awaitable<Reply> {
    auto report = co_await readiness->evaluate();
    // The checks name Redis, the central system and their errors: with a metrics key, only for its holder.
    boost::json::object body = report.body;
    if (!metrics_key.empty() && !has_metrics_key(a.request, metrics_key)) body = {{"ready", report.ready}};
    Response res = json_response(body, report.ready ? http::status::ok : http::status::service_unavailable);
    res.set(http::field::cache_control, "no-store");
    co_return res;
  });
  // Who the caller is and what the scan page should offer it (issue 17): any authenticated caller.
  api.add(http::verb::get, "/v1/me", Access::caller(), [](ApiContext& a) -> asio::awaitable<Reply> {
    co_return json_response(me_json(*a.caller));
  });
  api.add(http::verb::get, "/metrics", Access::open(), [metrics, metrics_key](ApiContext& a) -> asio::awaitable<Reply> {
    if (!metrics_key.empty() && !has_metrics_key(a.request, metrics_key)) {
      Response res = problem_response(ProblemCode::unauthorized, "GET /metrics needs the metrics key as a bearer token");
      res.set(http::field::www_authenticate, "Bearer");
      co_return res;
    }
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, kMetricsContentType);
    res.body() = metrics->serialize();
    co_return res;
  });
}

OpenFiles raise_open_file_limit(unsigned wanted_connections) {
  OpenFiles out;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.before = limit.rlim_cur;
    if (limit.rlim_cur < limit.rlim_max) {
      rlimit raised = limit;
      raised.rlim_cur = limit.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    out.limit = limit.rlim_cur;
  }
  // 64 descriptors stay for Redis connections, the central link, audit files and logs.
  std::uint64_t room = out.limit > 64 + 16 ? out.limit - 64 : 16;
  out.max_connections = static_cast<std::size_t>(std::min<std::uint64_t>(wanted_connections, room));
  return out;
}

struct Daemon::Signals {
  asio::signal_set hup;
  asio::signal_set term;
  explicit Signals(asio::io_context& ioc) : hup(ioc, SIGHUP), term(ioc, SIGINT, SIGTERM) {}
};

Daemon::Daemon(Config config, std::optional<std::filesystem::path> config_file,
               std::map<std::string, std::string> env)
    : config_(std::move(config)),
      config_file_(std::move(config_file)),
      env_(std::move(env)),
      metrics_(std::make_shared<Metrics>()),
      readiness_(Readiness::with_defaults(config_)) {
  auto table = KeyTable::from_config(config_);
  if (!table) throw std::invalid_argument(table.error());
  auth_ = std::make_shared<Authenticator>(std::move(*table));
  api_ = std::make_unique<Api>(auth_, metrics_);
  add_core_routes(*api_, readiness_, metrics_, config_.http.metrics_key);
  ServerOptions options = server_options(config_);
  OpenFiles files = raise_open_file_limit(config_.http.max_connections);
  options.max_connections = files.max_connections;
  log_event(spdlog::level::info, "connection_limit",
            {{"open_files_before", files.before}, {"open_files", files.limit},
             {"max_connections", files.max_connections}, {"configured", config_.http.max_connections}});
  server_ = std::make_unique<HttpServer>(std::move(options), api_->handler());
}

Daemon::~Daemon() {
  server_->stop();
  server_->wait();
  signals_.reset();
}

Result<asio::ip::tcp::endpoint, std::string> Daemon::start(bool handle_signals) {
  if (handle_signals) {
    // Installed before the threads run, so no signal arrives to the default (fatal) action once serving.
    signals_ = std::make_unique<Signals>(server_->io_context());
    watch_sighup();
    signals_->term.async_wait([this](const boost::system::error_code& ec, int signal_number) {
      if (ec) return;
      log_event(spdlog::level::info, "signal", {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"}});
      server_->stop();
    });
  }
  auto bound = server_->start();
  if (!bound) return bound;
  log_event(spdlog::level::info, "listening",
            {{"url", server_->base_url()},
             {"tls", server_->tls()},
             {"mutual_tls", !config_.tls.client_ca.empty()},
             {"keys", auth_->table()->size()},
             {"location", config_.location.gln}});
  return bound;
}

void Daemon::watch_sighup() {
  signals_->hup.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (auto error = reload_keys(); !error.empty())
      log_event(spdlog::level::err, "reload_failed", {{"error", error}});
    watch_sighup();
  });
}

std::string Daemon::reload_keys() {
  auto fresh = load_config(config_file_, env_);
  if (!fresh) return fresh.error();
  auto table = KeyTable::from_config(*fresh);
  if (!table) return table.error();
  std::size_t count = table->size();
  auth_->replace(std::move(*table));
  log_event(spdlog::level::info, "keys_reloaded", {{"entries", count}});
  return "";
}

void Daemon::stop() { server_->stop(); }
void Daemon::wait() { server_->wait(); }

}  // namespace vpoint::service
