#pragma once
// The Redis connection options every `vpoint` subcommand that reads the mirror shares (import, status,
// alerts): --redis / --cluster / --password, and TLS as vpointd's [redis] tls settings (docs/cli.md).
#include <chrono>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "vpoint/cache/redis.hpp"

namespace vpoint::cli {

struct RedisArgs {
  std::string redis = "redis://127.0.0.1:6379";
  std::vector<std::string> cluster;
  std::string password;
  bool tls = false;  // also set by a rediss:// URL
  std::string tls_ca_file, tls_cert_file, tls_key_file, tls_server_name;
};

// Registers the options on `sub`; `url_help` describes --redis.
void add_redis_options(CLI::App* sub, RedisArgs& args, const std::string& url_help = "Redis URL of the mirror");

cache::ClientOptions client_options(const RedisArgs& args, std::chrono::milliseconds command_timeout);

}  // namespace vpoint::cli
