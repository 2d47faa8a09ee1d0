#pragma once
// Subcommands of the `vpoint` CLI. Each registers itself on the CLI11 app and returns the exit code
// through the callback it installs. Contract of each command's output: README.md and docs/cli.md.
#include <CLI/CLI.hpp>

namespace vpoint::cli {

// Exit code chosen by the subcommand that ran (0 ok, 1 some input failed, 2 usage; the client subcommands also
// 3: vpointd unreachable).
inline int exit_code = 0;

void add_parse_command(CLI::App& app);
void add_decode_command(CLI::App& app);
void add_import_command(CLI::App& app);
void add_status_command(CLI::App& app);
void add_alerts_command(CLI::App& app);
// Client subcommands of a running vpointd (HTTP API).
void add_pack_commands(CLI::App& app);  // verify, supply, destroy, export, sample, free-sample, stolen, lock, unlock, undo
void add_bulk_command(CLI::App& app);
void add_scan_command(CLI::App& app);

}  // namespace vpoint::cli
