#pragma once
// vpointd's settings: plain structs, a default and a reason on every field (style.md, after redis-plus-plus's
// ConnectionPoolOptions). Sources, later ones win: defaults < `--config FILE.toml` < VPOINT_<SECTION>_<KEY>
// environment variables (scalars; lists comma-separated). Validated once at start; every message names the
// setting ("[redis] url: must start with redis:// or rediss://"). docs/config.md is the reference.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vpoint/scanner/result.hpp"

namespace vpoint::service {

struct HttpConfig {
  std::string listen = "127.0.0.1:8080";       // host:port, [v6]:port; port 0 = any free port (tests)
  unsigned threads = 0;                        // io_context threads; 0 = one per core
  std::uint64_t body_limit = 8 * 1024 * 1024;  // bytes; a 10 000-item bulk and scan images fit
  std::uint64_t header_limit = 16 * 1024;      // bytes of request line + headers
  unsigned idle_timeout_s = 30;      // keep-alive connection closed after this long without a request
  unsigned read_timeout_s = 15;      // one request (headers + body) must arrive within this
  unsigned shutdown_timeout_s = 10;  // SIGTERM: in-flight requests get this long to finish
  // Plain HTTP (no [tls] cert) on an address other than loopback carries API keys in clear text: refused at
  // start unless this is set (e.g. behind a TLS-terminating proxy).
  bool allow_plaintext = false;
  // Set: GET /metrics needs "Authorization: Bearer <metrics_key>", and /readyz shows its checks only with it
  // (without: {"ready": …} and the status code). /healthz stays open. Never logged.
  std::string metrics_key;
  // A request refused for its size (413/431/400) is answered, then up to this many bytes of what the client
  // still sends are read and dropped for up to 2 s before the close, so a client that writes its whole body
  // before reading sees the answer instead of a connection reset.
  std::uint64_t linger_bytes = 16 * 1024 * 1024;
  // Open connections at most; effective value min(this, open-file limit - 64), logged at start. Beyond it a
  // new connection is closed at once.
  unsigned max_connections = 10000;
  // One POST /v1/bulk may run this long; items not reached by then answer unconfirmed (reason deadline).
  unsigned bulk_deadline_s = 60;
};

struct TlsConfig {
  std::string cert;       // PEM chain; set = HTTPS only (TLS 1.2+)
  std::string key;        // PEM private key, required with cert
  std::string client_ca;  // PEM CA bundle; set = clients may identify with certificates ([[auth.certs]])
  bool require_client_cert = false;  // refuse TLS handshakes without a valid client certificate
};

struct RedisConfig {
  std::string url;                   // redis://[:password@]host:port[/db] or rediss:// (TLS); or cluster
  std::vector<std::string> cluster;  // Redis Cluster seed nodes "host:port"; exclusive with url
  std::string password;              // AUTH password (not logged)
  unsigned min_replicas_ack = 0;     // WAIT for this many replicas before acknowledging a decommission
  // TLS to Redis (standalone and Cluster); rediss:// in url sets it too. The server is verified against
  // tls_ca_file (else the system's CAs) under tls_server_name (else the host of url / of each node).
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;  // client certificate (Redis tls-auth-clients), with tls_key_file
  std::string tls_key_file;
  std::string tls_server_name;
};

// What a pack the mirror does not know gets while the central system cannot be asked (EU 2016/161 Art 29):
// record = verdict "unconfirmed", a pending placeholder and the scan kept for replay in scan order once the
// central system answers; refuse = verdict "refused", reason central_unavailable, nothing kept.
enum class OfflineMode { record, refuse };

struct CentralConfig {
  std::string url;                            // national system (or vpoint-central-sim) base URL; "" = none
  OfflineMode offline = OfflineMode::record;  // central unreachable and the pack unknown: record or refuse
  unsigned recall_lookback_days = 90;  // a recall alert lists this site's packs of the batch seen this far back
  unsigned bulk_read_through_max = 100;  // live look-ups per POST /v1/bulk; items beyond it answer unconfirmed
  unsigned feed_stale_s = 60;  // the change feed behind by more than this: answers carry a feed_stale warning
  // http:// is accepted only to a loopback address (the simulator next door) unless this is set.
  bool allow_insecure = false;
  std::string ca_file;      // https: trust this CA bundle (else the system's)
  std::string client_cert;  // PEM chain presented to the national system (mutual TLS), with client_key
  std::string client_key;
  std::string token_file;   // optional: its content (trimmed) is sent as "Authorization: Bearer <token>"
};

// POST /v1/scan image decoding (issue 15): off the HTTP threads, bounded.
struct ScanConfig {
  std::uint64_t max_pixels = 16'000'000;  // width x height from the image header; more → 422 image_too_large
  unsigned workers = 1;                   // decode threads
  unsigned queue = 4;                     // images waiting for a decode thread; beyond → 503 busy
};

struct MirrorConfig {
  // While the product cache's invalidation subscription is down, a cached product/batch (recall state) is
  // served at most this old; then it is read from Redis again.
  unsigned max_staleness_ms = 1000;
};

struct LocationConfig {
  std::string gln;   // this site's GLN (13 digits, GS1 check digit); the default location of keys
  std::string name;  // human-readable site name, shown in responses and logs
};

struct RulesConfig {
  unsigned repeat_window_s = 30;  // same location repeating a supply within this: "repeat", not an alert
};

enum class Role { pharmacy, wholesaler, returns, admin };

struct KeyConfig {
  std::string name;        // the actor recorded in the audit trail
  std::string key_sha256;  // lower/upper hex SHA-256 of the key (preferred: the config holds no secret)
  std::string key;         // the key itself (demos only); exactly one of key / key_sha256
  Role role = Role::pharmacy;
  std::string location;  // GLN; "" = [location] gln
};

// A client certificate (verified against [tls] client_ca, not expired) maps to a role by its SHA-256
// fingerprint, or by its subject together with its issuer. A subject CN alone is refused at start: any
// certificate the CA signs could carry it.
struct CertConfig {
  std::string fingerprint_sha256;  // hex, colons allowed; or
  std::string subject;             // subject DN, RFC 2253 ("CN=till-1,O=Apotheke"), or
  std::string subject_cn;          // the subject's CN only; either of the two with
  std::string issuer;              // the issuer DN, RFC 2253 (required with subject / subject_cn)
  std::string name;
  Role role = Role::pharmacy;
  std::string location;
};

struct AuthConfig {
  std::vector<KeyConfig> keys;    // [[auth.keys]]
  std::vector<CertConfig> certs;  // [[auth.certs]]
  // A TOML file of [[keys]] entries (the fields of [[auth.keys]]), e.g. mounted into a container; merged with
  // the inline keys (a name or key in both is an error) and read again on SIGHUP. "" = none.
  std::string keys_file;
  std::vector<KeyConfig> file_keys;  // its entries, read by load_config / load_config_text
};

struct WebhookConfig {
  std::string name;    // unique; delivery status is keyed by it ("" = "webhook-<n>")
  std::string url;     // http(s):// endpoint receiving alert POSTs; http:// only to loopback unless allowed
  std::string secret;  // HMAC-SHA256 signing secret, at least 32 bytes
  bool allow_insecure = false;
  std::string ca_file;  // https: trust this CA bundle (else the system's)
};

struct AuditConfig {
  std::string dir = "audit";       // daily NDJSON archive files (audit-YYYY-MM-DD.ndjson)
  unsigned retention_days = 1830;  // 5 years (issue 6: 1 830): the regulation's retention (domain.md)
  unsigned min_age_s = 300;        // audit entries stay in Redis at least this long before they are archived
  unsigned interval_s = 60;        // pause between archive rounds
};

struct LogConfig {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
};

struct Config {
  HttpConfig http;
  TlsConfig tls;
  RedisConfig redis;
  CentralConfig central;
  MirrorConfig mirror;
  ScanConfig scan;
  LocationConfig location;
  RulesConfig rules;
  AuthConfig auth;
  std::vector<WebhookConfig> webhooks;
  AuditConfig audit;
  LogConfig log;
};

// VPOINT_* variables of the current process.
std::map<std::string, std::string> vpoint_environment();

// Loads FILE (when given) and applies `env` on top, then validates. The error is one line naming the
// setting (and the file position for TOML syntax errors).
Result<Config, std::string> load_config(const std::optional<std::filesystem::path>& file,
                                        const std::map<std::string, std::string>& env);
// Same, from TOML text (tests, --check).
Result<Config, std::string> load_config_text(std::string_view toml_text,
                                             const std::map<std::string, std::string>& env = {});

// Checks a merged config; "" when valid, else the first problem.
std::string validate(const Config& config);

std::string_view to_string(Role role);
std::optional<Role> parse_role(std::string_view text);

// GLN: 13 digits with a valid GS1 mod-10 check digit.
bool is_valid_gln(std::string_view text);

}  // namespace vpoint::service
