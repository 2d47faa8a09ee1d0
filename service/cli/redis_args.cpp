#include "redis_args.hpp"

namespace vpoint::cli {

void add_redis_options(CLI::App* sub, RedisArgs& args, const std::string& url_help) {
  sub->add_option("--redis", args.redis, url_help + ": redis://[user:password@]host:port[/db] or rediss://")
      ->capture_default_str()
      ->check([](const std::string& url) -> std::string {
        if (url.rfind("redis://", 0) == 0 || url.rfind("rediss://", 0) == 0) return "";
        return "must start with redis:// or rediss://";
      });
  sub->add_option("--cluster", args.cluster, "Redis Cluster seed node host:port (repeatable; instead of --redis)");
  sub->add_option("--password", args.password, "Redis AUTH password");
  sub->add_flag("--tls", args.tls, "TLS to Redis (set by a rediss:// URL; needed with --cluster)");
  sub->add_option("--tls-ca-file", args.tls_ca_file, "CA bundle the Redis server certificate must chain to")
      ->check(CLI::ExistingFile);
  auto* cert = sub->add_option("--tls-cert-file", args.tls_cert_file, "client certificate (Redis tls-auth-clients)")
                   ->check(CLI::ExistingFile);
  auto* key = sub->add_option("--tls-key-file", args.tls_key_file, "private key of --tls-cert-file")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  sub->add_option("--tls-server-name", args.tls_server_name,
                  "name the server certificate is checked against (default: the host of --redis / each node)");
}

cache::ClientOptions client_options(const RedisArgs& args, std::chrono::milliseconds command_timeout) {
  cache::ClientOptions options;
  options.url = args.redis;
  options.cluster_nodes = args.cluster;
  options.password = args.password;
  options.tls = args.tls || args.redis.rfind("rediss://", 0) == 0;
  options.tls_ca_file = args.tls_ca_file;
  options.tls_cert_file = args.tls_cert_file;
  options.tls_key_file = args.tls_key_file;
  options.tls_server_name = args.tls_server_name;
  options.command_timeout = command_timeout;
  return options;
}

}  // namespace vpoint::cli
