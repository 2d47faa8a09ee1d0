#pragma once
// The connection options every `vpoint` subcommand that talks to a running vpointd shares (verify, supply, …,
// bulk, scan): --url / VPOINT_URL, --key-file / VPOINT_KEY, --ca-file, --cert + --cert-key, --timeout
// (docs/cli.md "Connection options"). There is no --key: a key on the command line shows in `ps`.
#include <string>

#include <CLI/CLI.hpp>

#include "api_client.hpp"
#include "vpoint/scanner/result.hpp"

namespace vpoint::cli {

struct RemoteArgs {
  std::string url;       // "" = VPOINT_URL, else kDefaultUrl
  std::string key_file;  // "" = VPOINT_KEY (the key itself), else no key
  std::string ca_file, cert_file, cert_key_file;
  int timeout_s = 30;
};

// scripts/run's vpointd.
inline constexpr const char* kDefaultUrl = "http://127.0.0.1:8080";

void add_remote_options(CLI::App* sub, RemoteArgs& args);

// The endpoint the options describe, or a usage error naming the flag (or environment variable) and the rule.
Result<ApiEndpoint, std::string> resolve_endpoint(const RemoteArgs& args);

}  // namespace vpoint::cli
