// vpointd: the verification service. Only wiring: arguments -> config -> Daemon (service/daemon.hpp).
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "vpoint/service/config.hpp"
#include "vpoint/service/daemon.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/pack_api.hpp"

int main(int argc, char** argv) {
  namespace svc = vpoint::service;
  CLI::App app{"vpointd: verification point service for medicine packs (config reference: docs/config.md)"};
  std::string config_path;
  bool check_only = false;
  app.add_option("-c,--config", config_path, "TOML config file; VPOINT_<SECTION>_<KEY> variables override it")
      ->check(CLI::ExistingFile);
  app.add_flag("--check", check_only, "validate the configuration and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

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
  // The pack API over the Redis mirror ([redis]): refuses to start when Redis is unreachable or a fatal Redis
  // setting is wrong (e.g. an evicting maxmemory-policy), naming the setting.
  std::unique_ptr<svc::PackRuntime> pack;
  if (!daemon.config().redis.url.empty() || !daemon.config().redis.cluster.empty()) {
    auto runtime = svc::PackRuntime::start(
        daemon.config(), std::shared_ptr<svc::Metrics>(&daemon.metrics(), [](svc::Metrics*) {}));
    if (!runtime) {
      svc::log_event(spdlog::level::critical, "start_failed", {{"error", runtime.error()}});
      std::fprintf(stderr, "vpointd: %s\n", runtime.error().c_str());
      return 1;
    }
    pack = std::move(*runtime);
    for (const auto& warning : pack->setting_warnings())
      svc::log_event(spdlog::level::warn, "redis_setting",
                     {{"setting", warning.setting}, {"actual", warning.actual}, {"required", warning.required},
                      {"message", warning.message}});
    svc::register_pack_routes(daemon.api(), pack->services());
    svc::add_pack_readiness(daemon.readiness(), pack->services());
  }
  auto bound = daemon.start(/*handle_signals=*/true);
  if (!bound) {
    svc::log_event(spdlog::level::critical, "start_failed", {{"error", bound.error()}});
    std::fprintf(stderr, "vpointd: %s\n", bound.error().c_str());
    return 1;
  }
  daemon.wait();  // returns after SIGTERM/SIGINT drained the in-flight requests
  return 0;
}
