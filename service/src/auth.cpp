#include "vpoint/service/auth.hpp"

#include <boost/algorithm/hex.hpp>
#include <iterator>
#include <algorithm>
#include <array>
#include <cctype>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <boost/beast/core/string.hpp>

namespace vpoint::service {
namespace {

constexpr std::uint32_t bits(std::initializer_list<Permission> permissions) {
  std::uint32_t mask = 0;
  for (Permission p : permissions) mask |= 1u << static_cast<unsigned>(p);
  return mask;
}

struct RoleGrant {
  Role role;
  std::uint32_t permissions;
};

using P = Permission;
// Issue 5 "Identity and roles". Adding a permission to a role is one edit here.
constexpr RoleGrant kRoleGrants[] = {
    {Role::pharmacy, bits({P::verify, P::supply, P::destroy, P::sample, P::free_sample, P::undo})},
    {Role::wholesaler, bits({P::verify, P::bulk, P::bulk_verify, P::export_pack, P::destroy, P::sample,
                             P::stolen, P::lock, P::unlock, P::undo})},
    {Role::returns, bits({P::verify, P::bulk_verify, P::destroy, P::undo, P::returns})},
    {Role::admin, bits({P::alerts, P::import, P::status})},
};

// The scan page's modes per role (issue 17), next to the permissions they rest on: "counter" verifies and
// decommissions at the counter, "receipt" checks incoming goods in bulk, "returns" takes returns decisions,
// "alerts" reads and acknowledges the location's alerts (every role; admin sees every location's).
struct RoleModes {
  Role role;
  std::array<std::string_view, 3> modes;  // "" = none
};
constexpr RoleModes kRoleModes[] = {
    {Role::pharmacy, {"counter", "alerts"}},
    {Role::wholesaler, {"receipt", "counter", "alerts"}},
    {Role::returns, {"returns", "alerts"}},
    {Role::admin, {"alerts"}},
};

constexpr std::string_view kPermissionNames[] = {
    "verify", "supply", "destroy", "sample", "free_sample", "undo",   "bulk",   "bulk_verify",
    "export", "stolen", "lock",    "unlock", "alerts",      "import", "status", "returns",
};

std::optional<Sha256> from_hex(std::string_view hex) {
  if (hex.size() != 2 * std::tuple_size_v<Sha256>) return std::nullopt;
  Sha256 out{};
  try {
    boost::algorithm::unhex(hex.begin(), hex.end(), out.begin());
  } catch (const boost::algorithm::hex_decode_error&) {
    return std::nullopt;
  }
  return out;
}

std::string normalise_fingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != ':') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace

std::string_view to_string(Permission permission) {
  auto index = static_cast<std::size_t>(permission);
  return index < std::size(kPermissionNames) ? kPermissionNames[index] : "?";
}

bool role_allows(Role role, Permission permission) {
  for (const RoleGrant& grant : kRoleGrants) {
    if (grant.role == role) return (grant.permissions >> static_cast<unsigned>(permission)) & 1u;
  }
  return false;
}

std::vector<std::string_view> role_actions(Role role) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < std::size(kPermissionNames); ++i) {
    if (role_allows(role, static_cast<Permission>(i))) out.push_back(kPermissionNames[i]);
  }
  return out;
}

std::vector<std::string_view> role_modes(Role role) {
  for (const RoleModes& row : kRoleModes) {
    if (row.role != role) continue;
    std::vector<std::string_view> out;
    for (std::string_view mode : row.modes)
      if (!mode.empty()) out.push_back(mode);
    return out;
  }
  return {};
}

Sha256 sha256(std::string_view data) {
  Sha256 out{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr);
  return out;
}

std::string to_hex(const Sha256& digest) {
  std::string out;
  out.reserve(2 * digest.size());
  boost::algorithm::hex_lower(digest.begin(), digest.end(), std::back_inserter(out));
  return out;
}

Result<KeyTable, std::string> KeyTable::from_config(const Config& config) {
  if (auto error = validate(config); !error.empty()) return Unexpected{error};
  KeyTable table;
  table.certificate_wins_ = config.tls.require_client_cert;
  // Inline [[auth.keys]] and the [auth] keys_file's entries (validate() found no name or key in both).
  for (const auto* keys : {&config.auth.keys, &config.auth.file_keys}) {
    for (const KeyConfig& key : *keys) {
      KeyEntry entry;
      if (!key.key.empty()) {
        entry.digest = sha256(key.key);
      } else {
        auto digest = from_hex(key.key_sha256);
        if (!digest) return Unexpected{"[[auth.keys]] (" + key.name + ") key_sha256: must be 64 hex digits"};
        entry.digest = *digest;
      }
      entry.caller =
          Caller{key.name, key.role, key.location.empty() ? config.location.gln : key.location, false};
      table.keys_.push_back(std::move(entry));
    }
  }
  for (const CertConfig& cert : config.auth.certs) {
    CertEntry entry;
    entry.subject = cert.subject;
    entry.subject_cn = cert.subject_cn;
    entry.issuer = cert.issuer;
    entry.fingerprint_sha256 = normalise_fingerprint(cert.fingerprint_sha256);
    entry.caller =
        Caller{cert.name, cert.role, cert.location.empty() ? config.location.gln : cert.location, true};
    table.certs_.push_back(std::move(entry));
  }
  return table;
}

std::optional<Caller> KeyTable::find_key(std::string_view token) const {
  Sha256 presented = sha256(token);
  const KeyEntry* match = nullptr;
  for (const KeyEntry& entry : keys_) {
    // Compare against every entry: the loop's duration does not depend on where (or whether) it matches.
    bool equal = CRYPTO_memcmp(presented.data(), entry.digest.data(), presented.size()) == 0;
    if (equal && match == nullptr) match = &entry;
  }
  if (match == nullptr) return std::nullopt;
  return match->caller;
}

std::optional<Caller> KeyTable::find_certificate(const ClientCertificate& cert) const {
  // A fingerprint pins one certificate and wins over a subject. A subject (or its CN) counts only together
  // with the issuer: any certificate of any CA in [tls] client_ca may carry any subject (issue 15).
  for (const CertEntry& entry : certs_) {
    if (!entry.fingerprint_sha256.empty() && entry.fingerprint_sha256 == cert.fingerprint_sha256)
      return entry.caller;
  }
  for (const CertEntry& entry : certs_) {
    if (!entry.fingerprint_sha256.empty() || entry.issuer.empty() || entry.issuer != cert.issuer) continue;
    if (!entry.subject.empty() && entry.subject == cert.subject) return entry.caller;
    if (entry.subject.empty() && !entry.subject_cn.empty() && entry.subject_cn == cert.subject_cn)
      return entry.caller;
  }
  return std::nullopt;
}

Authenticator::Authenticator(KeyTable table) : table_(std::make_shared<const KeyTable>(std::move(table))) {}

void Authenticator::replace(KeyTable table) {
  auto fresh = std::make_shared<const KeyTable>(std::move(table));
  std::lock_guard lock(mutex_);
  table_.swap(fresh);
}

std::shared_ptr<const KeyTable> Authenticator::table() const {
  std::lock_guard lock(mutex_);
  return table_;
}

namespace {
Problem unmapped(const ClientCertificate& cert) {
  return Problem{ProblemCode::unauthorized,
                 "the client certificate (subject '" + cert.subject + "', issuer '" + cert.issuer +
                     "') is not mapped to a caller in [[auth.certs]] (by fingerprint_sha256, or subject and issuer)",
                 {}};
}
}  // namespace

Result<Caller, Problem> Authenticator::authenticate(const Request& request, const Peer& peer) const {
  auto table = this->table();
  if (table->certificate_wins() && peer.client_certificate) {
    if (auto caller = table->find_certificate(*peer.client_certificate)) return std::move(*caller);
    return Unexpected{unmapped(*peer.client_certificate)};
  }
  auto header = request.find(http::field::authorization);
  if (header != request.end()) {
    std::string_view value = header->value();
    constexpr std::string_view kScheme = "bearer ";
    if (value.size() <= kScheme.size() || !boost::beast::iequals(value.substr(0, kScheme.size()), kScheme))
      return Unexpected{Problem{ProblemCode::unauthorized, "Authorization must be 'Bearer <api key>'", {}}};
    std::string_view token = value.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (auto caller = table->find_key(token)) return std::move(*caller);
    return Unexpected{Problem{ProblemCode::unauthorized, "the API key is not valid", {}}};
  }
  if (peer.client_certificate) {
    if (auto caller = table->find_certificate(*peer.client_certificate)) return std::move(*caller);
    return Unexpected{unmapped(*peer.client_certificate)};
  }
  return Unexpected{
      Problem{ProblemCode::unauthorized,
              "authentication required: send 'Authorization: Bearer <api key>' or a client certificate",
              {}}};
}

std::optional<Problem> Authenticator::authorize(const Caller& caller, Permission permission) {
  if (role_allows(caller.role, permission)) return std::nullopt;
  return Problem{
      ProblemCode::forbidden,
      "role '" + std::string(to_string(caller.role)) + "' may not " + std::string(to_string(permission)),
      {{"role", to_string(caller.role)}, {"permission", to_string(permission)}}};
}

}  // namespace vpoint::service
