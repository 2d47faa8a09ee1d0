// vpointd: the verification service. Only wiring: arguments -> config -> Daemon (service/daemon.hpp).
// `vpointd --health URL` is a probe instead (a container's HEALTHCHECK): one GET, no config, no server.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "vpoint/cache/alert_log.hpp"
#include "vpoint/service/audit_archive.hpp"
#include "vpoint/service/central_http.hpp"
#include "vpoint/service/central_link.hpp"
#include "vpoint/service/config.hpp"
#include "vpoint/service/daemon.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/pack_api.hpp"

namespace {

// --health URL: GET it once (http or https, `ca_file` for a private CA); 0 when it answers 200, else 1 with the
// reason on stderr. Bounded: connect + TLS handshake, then the request, each by `timeout`, and the whole run
// by twice that (a name that does not resolve in time counts as no answer).
int health_check(const std::string& url, const std::string& ca_file, std::chrono::seconds timeout) {
  namespace svc = vpoint::service;
  auto origin = svc::parse_origin(url);
  if (!origin) {
    std::fprintf(stderr, "vpointd: --health: %s\n", origin.error().c_str());
    return 1;
  }
  // parse_origin keeps the path as the base path; the query goes along as the target.
  std::string target = origin->base_path.empty() ? "/" : "";
  if (auto q = url.find('?'); q != std::string::npos) target += url.substr(q, url.find('#', q) - q);
  svc::HttpClientOptions options;
  options.connect_timeout = timeout;
  options.request_timeout = timeout;
  options.body_limit = 1024 * 1024;
  options.ca_file = ca_file;
  options.user_agent = "vpointd-health";
  int status = 1;
  std::string outcome = "no answer within " + std::to_string(2 * timeout.count()) + " s";
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        svc::HttpConnection connection(io.get_executor(), *origin, options);
        auto res = co_await connection.request(boost::beast::http::verb::get, target);
        if (!res) {
          outcome = std::string(svc::to_string(res.error().kind)) + ": " + res.error().message;
        } else if (res->result_int() == 200) {
          status = 0;
        } else {
          outcome = "answered " + std::to_string(res->result_int());
        }
        io.stop();
      },
      boost::asio::detached);
  io.run_for(2 * timeout);
  if (status != 0) std::fprintf(stderr, "vpointd: --health %s: %s\n", url.c_str(), outcome.c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  namespace svc = vpoint::service;
  CLI::App app{"vpointd: verification point service for medicine packs (config reference: docs/config.md)"};
  std::string config_path;
  bool check_only = false;
  std::string health_url;
  std::string health_ca_file;
  unsigned health_timeout_s = 5;
  auto* config_option =
      app.add_option("-c,--config", config_path, "TOML config file; VPOINT_<SECTION>_<KEY> variables override it")
          ->check(CLI::ExistingFile);
  auto* check_option = app.add_flag("--check", check_only, "validate the configuration and exit");
  auto* health_option =
      app.add_option("--health", health_url,
                     "probe: GET this URL (e.g. http://127.0.0.1:8080/healthz) and exit 0 on HTTP 200, else 1; "
                     "reads no config and starts no server")
          ->excludes(config_option)
          ->excludes(check_option);
  app.add_option("--health-ca-file", health_ca_file, "--health over https: PEM CA bundle (else the system's CAs)")
      ->check(CLI::ExistingFile)
      ->needs(health_option);
  app.add_option("--health-timeout", health_timeout_s, "--health: seconds for connecting and for the answer each")
      ->check(CLI::Range(1u, 60u))
      ->needs(health_option);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!health_url.empty()) return health_check(health_url, health_ca_file, std::chrono::seconds(health_timeout_s));

  std::optional<std::filesystem::path> file;
  if (!config_path.empty()) file = config_path;
  auto env = svc::vpoint_environment();
  auto config = svc::load_config(file, env);
  if (!config) {
    std::fprintf(stderr, "vpointd: config: %s\n", config.error().c_str());
    return 2;
  }
  if (check_only) {
    std::printf("vpointd: config ok\n");
    return 0;
  }
  spdlog::level::level_enum level = spdlog::level::info;
  svc::parse_log_level(config->log.level, level);
  svc::init_logging(level);

  svc::Daemon daemon(std::move(*config), file, std::move(env));
  // The pack API over the Redis mirror ([redis]): refuses to start when a fatal Redis setting is wrong (e.g. an
  // evicting maxmemory-policy) or TLS/AUTH is refused, naming the setting. Redis not answering yet: vpointd
  // starts unready, connects when it answers, and stops (exit 1) if its settings then turn out fatal.
  std::unique_ptr<svc::PackRuntime> pack;
  svc::OfflineReplayer replay_offline;  // the pack routes' answer to a replayed offline scan (central link)
  if (!daemon.config().redis.url.empty() || !daemon.config().redis.cluster.empty()) {
    auto runtime = svc::PackRuntime::start(
        daemon.config(), std::shared_ptr<svc::Metrics>(&daemon.metrics(), [](svc::Metrics*) {}));
    if (!runtime) {
      svc::log_event(spdlog::level::critical, "start_failed", {{"error", runtime.error()}});
      std::fprintf(stderr, "vpointd: %s\n", runtime.error().c_str());
      return 1;
    }
    pack = std::move(*runtime);
    // Each HTTP thread gets its own Redis connection: a request's FCALL is written and its reply read on the
    // thread serving the request. (The daemon, declared first, outlives the pack runtime.)
    pack->client().add_lanes(daemon.server().io_contexts());
    for (const auto& warning : pack->setting_warnings())
      svc::log_event(spdlog::level::warn, "redis_setting",
                     {{"setting", warning.setting}, {"actual", warning.actual}, {"required", warning.required},
                      {"message", warning.message}});
    replay_offline = svc::register_pack_routes(daemon.api(), pack->services());
    svc::add_pack_readiness(daemon.readiness(), pack->services());
  }
  // The audit archive ([audit]): acknowledged audit entries -> daily NDJSON files, then trimmed from Redis;
  // GET /v1/packs reads both. Refuses to start when [audit] dir cannot be created or written.
  std::shared_ptr<svc::AuditArchive> archive;
  if (pack) {
    auto archive_options = svc::audit_archive_options(daemon.config());
    archive_options.metrics = daemon.metrics().shared_registry();
    auto opened = svc::AuditArchive::open(pack->io_context().get_executor(), pack->client(),
                                          std::move(archive_options));
    if (!opened) {
      svc::log_event(spdlog::level::critical, "start_failed", {{"error", opened.error()}});
      std::fprintf(stderr, "vpointd: %s\n", opened.error().c_str());
      return 1;
    }
    archive = std::move(*opened);
    pack->services()->archive = archive;
    // Not required: scans are answered while the archive cannot write; the entries wait in Redis.
    daemon.readiness().set_check("audit_archive", false, [archive]() -> boost::asio::awaitable<svc::CheckResult> {
      auto h = archive->health();
      if (!h.failing)
        co_return svc::CheckResult{svc::CheckState::ok,
                                   h.last_ok_ms ? "last round " + vpoint::cache::iso_time_ms(h.last_ok_ms) : "no round yet"};
      co_return svc::CheckResult{svc::CheckState::failing,
                                 fmt::format("failing since {} ({} rounds): {}; entries stay in Redis, nothing is "
                                             "trimmed until a round succeeds",
                                             vpoint::cache::iso_time_ms(h.failing_since_ms), h.failed_rounds, h.error)};
    });
    archive->start();
  }
  // The central link ([central] url): start-up snapshot, change feed, outbox write-back, alert delivery. It
  // runs on the Redis side's io_context and replaces the "mirror" / "central" readiness checks.
  std::unique_ptr<svc::CentralLink> link;
  if (pack && !daemon.config().central.url.empty()) {
    link = std::make_unique<svc::CentralLink>(
        pack->io_context().get_executor(), pack->client(), pack->mirror(), svc::central_link_options(daemon.config()),
        std::shared_ptr<svc::Readiness>(&daemon.readiness(), [](svc::Readiness*) {}));
    link->set_offline_replayer(replay_offline);
    link->start();
    // Read-through for packs the mirror does not know (issue 6), and offline mode (EU 2016/161 Art 29).
    // Both run on the link's executor (the Redis side's io_context), not on the HTTP threads.
    svc::CentralLink* l = link.get();
    auto ex = pack->io_context().get_executor();
    auto& central = pack->services()->central;
    central.feed_behind = [l] { return l->feed_behind(); };
    central.look_up = [l, ex](std::string code,
                              std::string serial) -> boost::asio::awaitable<svc::CentralLookup::Status> {
      auto rt = co_await boost::asio::co_spawn(ex, l->read_through(std::move(code), std::move(serial)),
                                               boost::asio::use_awaitable);
      if (rt.status == svc::ReadThroughStatus::not_found) co_return svc::CentralLookup::Status::not_found;
      // Found but not cached is "could not confirm", never "unknown": no alert for a pack central knows.
      if (rt.status == svc::ReadThroughStatus::found && rt.cached) co_return svc::CentralLookup::Status::found;
      co_return svc::CentralLookup::Status::unavailable;
    };
  }
  auto bound = daemon.start(/*handle_signals=*/true);
  if (!bound) {
    svc::log_event(spdlog::level::critical, "start_failed", {{"error", bound.error()}});
    std::fprintf(stderr, "vpointd: %s\n", bound.error().c_str());
    return 1;
  }
  std::mutex fatal_mutex;
  std::string fatal;
  if (pack) {
    pack->on_fatal([&daemon, &fatal_mutex, &fatal](std::string error) {
      {
        std::lock_guard lock(fatal_mutex);
        fatal = std::move(error);
      }
      daemon.stop();
    });
  }
  daemon.wait();  // returns after SIGTERM/SIGINT drained the in-flight requests, or a fatal Redis setting
  if (link) link->stop();  // the outbox keeps whatever was not sent yet: nothing acknowledged is lost
  if (archive) archive->stop();  // a round cut short resumes from the Redis watermarks on the next start
  std::lock_guard lock(fatal_mutex);
  if (!fatal.empty()) {
    std::fprintf(stderr, "vpointd: %s\n", fatal.c_str());
    return 1;
  }
  return 0;
}
