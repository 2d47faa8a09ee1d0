// `vpoint`: the command line of vpoint. Only wiring; each subcommand lives in its own file.
#include <CLI/CLI.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vpoint: verification point for medicine packs"};
  app.require_subcommand(1);
  vpoint::cli::add_parse_command(app);
  vpoint::cli::add_decode_command(app);
  vpoint::cli::add_import_command(app);
  vpoint::cli::add_status_command(app);
  vpoint::cli::add_alerts_command(app);
  vpoint::cli::add_pack_commands(app);
  vpoint::cli::add_bulk_command(app);
  vpoint::cli::add_scan_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // usage errors are exit 2 (contract)
  }
  return vpoint::cli::exit_code;
}
