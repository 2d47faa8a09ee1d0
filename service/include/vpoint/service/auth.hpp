#pragma once
// Who is calling and what they may do (issue 5 "Identity and roles"). API keys (Authorization: Bearer)
// are stored as SHA-256 and compared in constant time; verified TLS client certificates map to an entry by
// subject CN or fingerprint. Each identity is bound to a name (the audit actor), a role and a location GLN.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vpoint/scanner/result.hpp"
#include "vpoint/service/config.hpp"
#include "vpoint/service/http_types.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service {

// Operations a role may be granted. Stable: values are bit positions in the role table.
enum class Permission : std::uint8_t {
  verify = 0,
  supply = 1,
  destroy = 2,
  sample = 3,
  free_sample = 4,
  undo = 5,
  bulk = 6,         // bulk of any operation the role may do item by item
  bulk_verify = 7,  // bulk verification only
  export_pack = 8,  // "export" (a C++ keyword)
  stolen = 9,
  lock = 10,
  unlock = 11,
  alerts = 12,  // read and acknowledge alerts
  import = 13,  // snapshot import, mirror administration
  status = 14,  // operational status beyond /healthz, /readyz
  returns = 15,  // returns-desk decisions (POST /v1/returns/decision: restock, quarantine, destroy)
};
std::string_view to_string(Permission permission);  // wire names: "verify", ..., "export", ...

// The role -> permission table as data (issue 5): pharmacy, wholesaler, returns desk, admin.
bool role_allows(Role role, Permission permission);
// The wire names of the permissions a role has, in permission order (GET /v1/me "actions").
std::vector<std::string_view> role_actions(Role role);
// The scan page's modes a role may use, in the order the page offers them (GET /v1/me "modes"):
// counter, receipt, returns, alerts.
std::vector<std::string_view> role_modes(Role role);

struct Caller {
  std::string name;  // audit actor
  Role role = Role::pharmacy;
  std::string location;      // GLN
  bool certificate = false;  // identified by a TLS client certificate rather than an API key
};

using Sha256 = std::array<unsigned char, 32>;
Sha256 sha256(std::string_view data);
std::string to_hex(const Sha256& digest);

// An immutable snapshot of the key and certificate tables; replaced as a whole on SIGHUP.
class KeyTable {
 public:
  // From a validated config: keys given in clear are hashed here, locations default to [location] gln.
  static Result<KeyTable, std::string> from_config(const Config& config);

  // Bearer token -> caller; every entry is compared (CRYPTO_memcmp, no early exit) so timing does not tell
  // how many or which keys exist.
  std::optional<Caller> find_key(std::string_view token) const;
  std::optional<Caller> find_certificate(const ClientCertificate& cert) const;
  std::size_t size() const { return keys_.size() + certs_.size(); }
  // [tls] require_client_cert: the certificate's identity wins over a bearer key sent with it.
  bool certificate_wins() const { return certificate_wins_; }

 private:
  struct KeyEntry {
    Sha256 digest;
    Caller caller;
  };
  struct CertEntry {
    std::string fingerprint_sha256;  // lower-case hex, no colons; or
    std::string subject;             // full subject DN, or
    std::string subject_cn;          // its CN, each only together with
    std::string issuer;              // the issuer DN
    Caller caller;
  };
  std::vector<KeyEntry> keys_;
  std::vector<CertEntry> certs_;
  bool certificate_wins_ = false;
};

// The live table, swappable from any thread while requests read it.
class Authenticator {
 public:
  explicit Authenticator(KeyTable table);
  void replace(KeyTable table);
  std::shared_ptr<const KeyTable> table() const;

  // Authorization: Bearer <key> wins over a client certificate, except with [tls] require_client_cert, where
  // the certificate decides and a key sent along is ignored; neither -> 401 unauthorized problem with
  // WWW-Authenticate handled by the caller.
  Result<Caller, Problem> authenticate(const Request& request, const Peer& peer) const;
  // 403 forbidden problem naming the role and the permission, or nullopt when allowed.
  static std::optional<Problem> authorize(const Caller& caller, Permission permission);

 private:
  mutable std::mutex mutex_;  // guards the pointer only; the table itself is immutable
  std::shared_ptr<const KeyTable> table_;
};

}  // namespace vpoint::service
