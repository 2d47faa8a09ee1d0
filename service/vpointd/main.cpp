// vpointd: the verification service. Only wiring: arguments -> config -> Daemon (service/daemon.hpp).
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "vpoint/service/config.hpp"
#include "vpoint/service/daemon.hpp"
#include "vpoint/service/logging.hpp"

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
  auto bound = daemon.start(/*handle_signals=*/true);
  if (!bound) {
    svc::log_event(spdlog::level::critical, "start_failed", {{"error", bound.error()}});
    std::fprintf(stderr, "vpointd: %s\n", bound.error().c_str());
    return 1;
  }
  daemon.wait();  // returns after SIGTERM/SIGINT drained the in-flight requests
  return 0;
}
