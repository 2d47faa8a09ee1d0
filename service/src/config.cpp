#include "vpoint/service/config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include <spdlog/common.h>
#include <toml++/toml.h>

#include "vpoint/service/auth.hpp"
#include "vpoint/service/http_server.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/remote_url.hpp"

extern char** environ;

namespace vpoint::service {
namespace {

using StringRef = std::string& (*)(Config&);
using U32Ref = unsigned& (*)(Config&);
using U64Ref = std::uint64_t& (*)(Config&);
using BoolRef = bool& (*)(Config&);
using ListRef = std::vector<std::string>& (*)(Config&);
using OfflineRef = OfflineMode& (*)(Config&);
using Accessor = std::variant<StringRef, U32Ref, U64Ref, BoolRef, ListRef, OfflineRef>;

struct ScalarField {
  std::string_view section;
  std::string_view key;
  Accessor ref;
};

// Every scalar (and simple list) setting: one row each. Settable from the file and from
// VPOINT_<SECTION>_<KEY>. Arrays of tables ([[auth.keys]], [[auth.certs]], [[webhooks]]) are file-only; keys
// may also come from [auth] keys_file (VPOINT_AUTH_KEYS_FILE).
const ScalarField kScalarFields[] = {
    {"http", "listen", +[](Config& c) -> std::string& { return c.http.listen; }},
    {"http", "threads", +[](Config& c) -> unsigned& { return c.http.threads; }},
    {"http", "body_limit", +[](Config& c) -> std::uint64_t& { return c.http.body_limit; }},
    {"http", "header_limit", +[](Config& c) -> std::uint64_t& { return c.http.header_limit; }},
    {"http", "idle_timeout_s", +[](Config& c) -> unsigned& { return c.http.idle_timeout_s; }},
    {"http", "read_timeout_s", +[](Config& c) -> unsigned& { return c.http.read_timeout_s; }},
    {"http", "shutdown_timeout_s", +[](Config& c) -> unsigned& { return c.http.shutdown_timeout_s; }},
    {"http", "allow_plaintext", +[](Config& c) -> bool& { return c.http.allow_plaintext; }},
    {"http", "metrics_key", +[](Config& c) -> std::string& { return c.http.metrics_key; }},
    {"http", "linger_bytes", +[](Config& c) -> std::uint64_t& { return c.http.linger_bytes; }},
    {"http", "max_connections", +[](Config& c) -> unsigned& { return c.http.max_connections; }},
    {"http", "bulk_deadline_s", +[](Config& c) -> unsigned& { return c.http.bulk_deadline_s; }},
    {"tls", "cert", +[](Config& c) -> std::string& { return c.tls.cert; }},
    {"tls", "key", +[](Config& c) -> std::string& { return c.tls.key; }},
    {"tls", "client_ca", +[](Config& c) -> std::string& { return c.tls.client_ca; }},
    {"tls", "require_client_cert", +[](Config& c) -> bool& { return c.tls.require_client_cert; }},
    {"redis", "url", +[](Config& c) -> std::string& { return c.redis.url; }},
    {"redis", "cluster", +[](Config& c) -> std::vector<std::string>& { return c.redis.cluster; }},
    {"redis", "password", +[](Config& c) -> std::string& { return c.redis.password; }},
    {"redis", "min_replicas_ack", +[](Config& c) -> unsigned& { return c.redis.min_replicas_ack; }},
    {"redis", "tls", +[](Config& c) -> bool& { return c.redis.tls; }},
    {"redis", "tls_ca_file", +[](Config& c) -> std::string& { return c.redis.tls_ca_file; }},
    {"redis", "tls_cert_file", +[](Config& c) -> std::string& { return c.redis.tls_cert_file; }},
    {"redis", "tls_key_file", +[](Config& c) -> std::string& { return c.redis.tls_key_file; }},
    {"redis", "tls_server_name", +[](Config& c) -> std::string& { return c.redis.tls_server_name; }},
    {"central", "url", +[](Config& c) -> std::string& { return c.central.url; }},
    {"central", "offline", +[](Config& c) -> OfflineMode& { return c.central.offline; }},
    {"central", "recall_lookback_days", +[](Config& c) -> unsigned& { return c.central.recall_lookback_days; }},
    {"central", "bulk_read_through_max", +[](Config& c) -> unsigned& { return c.central.bulk_read_through_max; }},
    {"central", "feed_stale_s", +[](Config& c) -> unsigned& { return c.central.feed_stale_s; }},
    {"central", "allow_insecure", +[](Config& c) -> bool& { return c.central.allow_insecure; }},
    {"central", "ca_file", +[](Config& c) -> std::string& { return c.central.ca_file; }},
    {"central", "client_cert", +[](Config& c) -> std::string& { return c.central.client_cert; }},
    {"central", "client_key", +[](Config& c) -> std::string& { return c.central.client_key; }},
    {"central", "token_file", +[](Config& c) -> std::string& { return c.central.token_file; }},
    {"mirror", "max_staleness_ms", +[](Config& c) -> unsigned& { return c.mirror.max_staleness_ms; }},
    {"scan", "max_pixels", +[](Config& c) -> std::uint64_t& { return c.scan.max_pixels; }},
    {"scan", "workers", +[](Config& c) -> unsigned& { return c.scan.workers; }},
    {"scan", "queue", +[](Config& c) -> unsigned& { return c.scan.queue; }},
    {"location", "gln", +[](Config& c) -> std::string& { return c.location.gln; }},
    {"location", "name", +[](Config& c) -> std::string& { return c.location.name; }},
    {"rules", "repeat_window_s", +[](Config& c) -> unsigned& { return c.rules.repeat_window_s; }},
    {"auth", "keys_file", +[](Config& c) -> std::string& { return c.auth.keys_file; }},
    {"audit", "dir", +[](Config& c) -> std::string& { return c.audit.dir; }},
    {"audit", "retention_days", +[](Config& c) -> unsigned& { return c.audit.retention_days; }},
    {"audit", "min_age_s", +[](Config& c) -> unsigned& { return c.audit.min_age_s; }},
    {"audit", "interval_s", +[](Config& c) -> unsigned& { return c.audit.interval_s; }},
    {"log", "level", +[](Config& c) -> std::string& { return c.log.level; }},
};

constexpr std::string_view kSections[] = {"http",  "tls",   "redis", "central", "mirror", "scan",
                                          "location", "rules", "auth",  "audit",   "log"};

std::string setting(std::string_view section, std::string_view key) {
  // append(), not operator+: GCC 12 reports a false -Wrestrict on the temporary chain.
  std::string out;
  out.reserve(section.size() + key.size() + 3);
  out.append("[").append(section).append("] ").append(key);
  return out;
}

std::string env_name(std::string_view section, std::string_view key) {
  std::string name = "VPOINT_";
  for (char c : section) name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  name.push_back('_');
  for (char c : key) name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return name;
}

std::optional<std::uint64_t> parse_uint(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::optional<OfflineMode> parse_offline(std::string_view text) {
  if (text == "record") return OfflineMode::record;
  if (text == "refuse") return OfflineMode::refuse;
  return std::nullopt;
}

// The message for a value parse_offline() refuses. "accept" (before issue 12) answered ok to packs nobody
// could confirm: it is refused by name, so that an old config does not start with a changed meaning unseen.
std::string offline_error(std::string_view text) {
  if (text == "accept")
    return "\"accept\" is no longer a value: use \"record\" (answer unconfirmed, record the scan and check it when "
           "the central system is back) or \"refuse\"";
  return "must be \"record\" or \"refuse\"";
}

// Applies a TOML value; "" or the error (without the setting's name).
std::string apply_toml(Config& config, const ScalarField& field, const toml::node& node) {
  return std::visit(
      [&](auto ref) -> std::string {
        using Ref = decltype(ref);
        if constexpr (std::is_same_v<Ref, StringRef>) {
          if (!node.is_string()) return "must be a string";
          ref(config) = node.as_string()->get();
        } else if constexpr (std::is_same_v<Ref, U32Ref> || std::is_same_v<Ref, U64Ref>) {
          if (!node.is_integer()) return "must be a non-negative integer";
          std::int64_t v = node.as_integer()->get();
          if (v < 0) return "must be a non-negative integer";
          if (std::is_same_v<Ref, U32Ref> && v > 0xffffffffLL) return "is too large";
          ref(config) = static_cast<std::remove_reference_t<decltype(ref(config))>>(v);
        } else if constexpr (std::is_same_v<Ref, BoolRef>) {
          if (!node.is_boolean()) return "must be true or false";
          ref(config) = node.as_boolean()->get();
        } else if constexpr (std::is_same_v<Ref, ListRef>) {
          if (!node.is_array()) return "must be an array of strings";
          auto& list = ref(config);
          list.clear();
          for (const auto& item : *node.as_array()) {
            if (!item.is_string()) return "must be an array of strings";
            list.push_back(item.as_string()->get());
          }
        } else if constexpr (std::is_same_v<Ref, OfflineRef>) {
          if (!node.is_string()) return offline_error("");
          auto mode = parse_offline(node.as_string()->get());
          if (!mode) return offline_error(node.as_string()->get());
          ref(config) = *mode;
        }
        return "";
      },
      field.ref);
}

std::string apply_env(Config& config, const ScalarField& field, const std::string& text) {
  return std::visit(
      [&](auto ref) -> std::string {
        using Ref = decltype(ref);
        if constexpr (std::is_same_v<Ref, StringRef>) {
          ref(config) = text;
        } else if constexpr (std::is_same_v<Ref, U32Ref> || std::is_same_v<Ref, U64Ref>) {
          auto v = parse_uint(text);
          if (!v) return "must be a non-negative integer";
          if (std::is_same_v<Ref, U32Ref> && *v > 0xffffffffULL) return "is too large";
          ref(config) = static_cast<std::remove_reference_t<decltype(ref(config))>>(*v);
        } else if constexpr (std::is_same_v<Ref, BoolRef>) {
          if (text == "true" || text == "1") {
            ref(config) = true;
          } else if (text == "false" || text == "0") {
            ref(config) = false;
          } else {
            return "must be true or false";
          }
        } else if constexpr (std::is_same_v<Ref, ListRef>) {
          auto& list = ref(config);
          list.clear();
          std::stringstream in(text);
          for (std::string item; std::getline(in, item, ',');) {
            if (!item.empty()) list.push_back(item);
          }
        } else if constexpr (std::is_same_v<Ref, OfflineRef>) {
          auto mode = parse_offline(text);
          if (!mode) return offline_error(text);
          ref(config) = *mode;
        }
        return "";
      },
      field.ref);
}

const ScalarField* find_field(std::string_view section, std::string_view key) {
  for (const auto& field : kScalarFields) {
    if (field.section == section && field.key == key) return &field;
  }
  return nullptr;
}

// Reads one [[table]] entry's members (strings and booleans) into the given slots; unknown keys are errors.
using EntrySlot = std::variant<std::string*, bool*>;
std::string read_entry(const toml::table& table, const std::string& where,
                       std::initializer_list<std::pair<std::string_view, EntrySlot>> slots) {
  for (const auto& [key, node] : table) {
    const EntrySlot* slot = nullptr;
    for (const auto& [name, target] : slots) {
      if (name == key.str()) slot = &target;
    }
    if (slot == nullptr) return where + " " + std::string(key.str()) + ": unknown setting";
    if (auto* text = std::get_if<std::string*>(slot)) {
      if (!node.is_string()) return where + " " + std::string(key.str()) + ": must be a string";
      **text = node.as_string()->get();
    } else {
      if (!node.is_boolean()) return where + " " + std::string(key.str()) + ": must be true or false";
      *std::get<bool*>(*slot) = node.as_boolean()->get();
    }
  }
  return "";
}

std::string read_role(const std::string& text, Role& role, const std::string& where) {
  if (text.empty()) return where + " role: required (pharmacy, wholesaler, returns or admin)";
  auto parsed = parse_role(text);
  if (!parsed) return where + " role: '" + text + "' is not one of pharmacy, wholesaler, returns, admin";
  role = *parsed;
  return "";
}

const toml::array* table_array(const toml::node& node) {
  const toml::array* array = node.as_array();
  if (array == nullptr || !array->is_array_of_tables()) return nullptr;
  return array;
}

// Key entries ([[auth.keys]] in the config, [[keys]] in a keys file) -> `out`; `where` names the array
// ("[[auth.keys]]"), the entry number is appended.
std::string read_key_entries(const toml::node& node, const std::string& where, std::vector<KeyConfig>& out) {
  const toml::array* keys = table_array(node);
  if (keys == nullptr) return where + ": must be an array of tables";
  std::size_t index = 0;
  for (const auto& item : *keys) {
    std::string entry_where = where + " #" + std::to_string(++index);
    KeyConfig entry;
    std::string role;
    if (auto e = read_entry(*item.as_table(), entry_where,
                            {{"name", &entry.name},
                             {"key_sha256", &entry.key_sha256},
                             {"key", &entry.key},
                             {"role", &role},
                             {"location", &entry.location}});
        !e.empty())
      return e;
    if (auto e = read_role(role, entry.role, entry_where); !e.empty()) return e;
    out.push_back(std::move(entry));
  }
  return "";
}

std::string apply_auth(Config& config, const toml::node& node) {
  const toml::table* auth = node.as_table();
  if (auth == nullptr) return "[auth]: must be a table";
  for (const auto& [key, value] : *auth) {
    if (key.str() == "keys") {
      if (auto e = read_key_entries(value, "[[auth.keys]]", config.auth.keys); !e.empty()) return e;
    } else if (const ScalarField* field = find_field("auth", key.str())) {
      if (auto e = apply_toml(config, *field, value); !e.empty()) return setting("auth", key.str()) + ": " + e;
    } else if (key.str() == "certs") {
      const toml::array* certs = table_array(value);
      if (certs == nullptr) return "[[auth.certs]]: must be an array of tables";
      std::size_t index = 0;
      for (const auto& item : *certs) {
        std::string where = "[[auth.certs]] #" + std::to_string(++index);
        CertConfig entry;
        std::string role;
        if (auto e = read_entry(*item.as_table(), where,
                                {{"subject_cn", &entry.subject_cn},
                                 {"subject", &entry.subject},
                                 {"issuer", &entry.issuer},
                                 {"fingerprint_sha256", &entry.fingerprint_sha256},
                                 {"name", &entry.name},
                                 {"role", &role},
                                 {"location", &entry.location}});
            !e.empty())
          return e;
        if (auto e = read_role(role, entry.role, where); !e.empty()) return e;
        config.auth.certs.push_back(std::move(entry));
      }
    } else {
      return "[auth] " + std::string(key.str()) +
             ": unknown setting (expected keys_file, [[auth.keys]] or [[auth.certs]])";
    }
  }
  return "";
}

std::string apply_file(Config& config, const toml::table& root) {
  for (const auto& [key, node] : root) {
    std::string_view section = key.str();
    if (section == "auth") {
      if (auto e = apply_auth(config, node); !e.empty()) return e;
      continue;
    }
    if (section == "webhooks") {
      const toml::array* hooks = table_array(node);
      if (hooks == nullptr) return "[[webhooks]]: must be an array of tables";
      std::size_t index = 0;
      for (const auto& item : *hooks) {
        WebhookConfig hook;
        std::string where = "[[webhooks]] #" + std::to_string(++index);
        if (auto e = read_entry(*item.as_table(), where,
                                {{"name", &hook.name},
                                 {"url", &hook.url},
                                 {"secret", &hook.secret},
                                 {"allow_insecure", &hook.allow_insecure},
                                 {"ca_file", &hook.ca_file}});
            !e.empty())
          return e;
        if (hook.name.empty()) hook.name = "webhook-" + std::to_string(index);
        config.webhooks.push_back(std::move(hook));
      }
      continue;
    }
    if (std::find(std::begin(kSections), std::end(kSections), section) == std::end(kSections))
      return "[" + std::string(section) + "]: unknown section";
    const toml::table* table = node.as_table();
    if (table == nullptr) return "[" + std::string(section) + "]: must be a table";
    for (const auto& [name, value] : *table) {
      const ScalarField* field = find_field(section, name.str());
      if (field == nullptr) return setting(section, name.str()) + ": unknown setting";
      if (auto e = apply_toml(config, *field, value); !e.empty())
        return setting(section, name.str()) + ": " + e;
    }
  }
  return "";
}

std::string apply_environment(Config& config, const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) {
    if (name.rfind("VPOINT_", 0) != 0) continue;
    const ScalarField* match = nullptr;
    for (const auto& field : kScalarFields) {
      if (env_name(field.section, field.key) == name) match = &field;
    }
    if (match != nullptr) {
      if (auto e = apply_env(config, *match, value); !e.empty())
        return name + " (" + setting(match->section, match->key) + "): " + e;
      continue;
    }
    // A variable that names one of our sections but no setting in it is a typo, not someone else's.
    for (std::string_view section : kSections) {
      std::string prefix = env_name(section, "");
      if (name.rfind(prefix, 0) == 0)
        return name + ": no such setting in [" + std::string(section) + "] (see docs/config.md)";
    }
  }
  return "";
}

bool is_hex(std::string_view text, std::size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

bool has_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto port = parse_uint(text.substr(colon + 1));
  return port && *port > 0 && *port <= 65535;
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.rfind(prefix, 0) == 0; }

std::string check_file(const std::string& path, const std::string& name) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return name + ": file '" + path + "' does not exist";
  std::ifstream in(path);
  if (!in) return name + ": file '" + path + "' is not readable";
  return "";
}

// check_file for each optional file setting that is set: the first problem, or "".
std::string check_optional_files(std::initializer_list<std::pair<const std::string&, const char*>> files) {
  for (const auto& [path, name] : files) {
    if (path.empty()) continue;
    if (auto e = check_file(path, name); !e.empty()) return e;
  }
  return "";
}

std::string check_location(const std::string& location, const Config& config, const std::string& where) {
  if (location.empty()) {
    if (config.location.gln.empty()) return where + " location: required when [location] gln is not set";
    return "";
  }
  if (!is_valid_gln(location))
    return where + " location: '" + location + "' is not a GLN (13 digits with a valid check digit)";
  return "";
}

// "[auth] keys_file 'PATH': [[keys]]": how an entry of the keys file is named in messages.
std::string keys_file_where(const std::string& path) { return "[auth] keys_file '" + path + "': [[keys]]"; }

// The rules of a key entry, the same for [[auth.keys]] and the keys file. `names` and `digests` (SHA-256 hex of
// every key, given in clear or as key_sha256) are shared by both lists (and the certificates' names), so a
// name or a key configured twice is found across them.
std::string check_keys(const Config& c, const std::vector<KeyConfig>& keys, const std::string& array,
                       std::set<std::string>& names, std::set<std::string>& digests) {
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const KeyConfig& k = keys[i];
    std::string where = array + " #" + std::to_string(i + 1);
    if (k.name.empty()) return where + " name: required (it is the actor in the audit trail)";
    where += " (" + k.name + ")";
    if (!names.insert(k.name).second) return where + " name: used twice";
    if (k.key.empty() == k.key_sha256.empty()) return where + ": set exactly one of key_sha256 or key";
    if (!k.key_sha256.empty() && !is_hex(k.key_sha256, 64))
      return where + " key_sha256: must be 64 hex digits";
    if (!k.key.empty() && k.key.size() < 16) return where + " key: must be at least 16 characters";
    std::string digest = k.key.empty() ? k.key_sha256 : to_hex(sha256(k.key));
    for (char& ch : digest) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!digests.insert(digest).second)
      return where + (k.key.empty() ? " key_sha256" : " key") + ": the same key is configured twice";
    if (auto e = check_location(k.location, c, where); !e.empty()) return e;
  }
  return "";
}

std::string toml_error(const toml::parse_error& e) {
  const auto& where = e.source().begin;
  return "line " + std::to_string(where.line) + ", column " + std::to_string(where.column) + ": " +
         std::string(e.description());
}

// [auth] keys_file -> config.auth.file_keys (replaced). Errors name the file and the entry; the entries' rules
// are checked by validate().
std::string read_keys_file(Config& config) {
  config.auth.file_keys.clear();
  const std::string& path = config.auth.keys_file;
  if (path.empty()) return "";
  if (auto e = check_file(path, "[auth] keys_file"); !e.empty()) return e;
  const std::string file = "[auth] keys_file '" + path + "'";
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return file + ": " + toml_error(e);
  }
  for (const auto& [key, node] : root) {
    if (key.str() != "keys")
      return file + ": " + std::string(key.str()) + ": unknown setting (a keys file holds only [[keys]] entries)";
    if (auto e = read_key_entries(node, keys_file_where(path), config.auth.file_keys); !e.empty()) return e;
  }
  return "";
}

}  // namespace

std::string_view to_string(Role role) {
  switch (role) {
    case Role::pharmacy:
      return "pharmacy";
    case Role::wholesaler:
      return "wholesaler";
    case Role::returns:
      return "returns";
    case Role::admin:
      return "admin";
  }
  return "?";
}

std::optional<Role> parse_role(std::string_view text) {
  for (Role role : {Role::pharmacy, Role::wholesaler, Role::returns, Role::admin}) {
    if (to_string(role) == text) return role;
  }
  return std::nullopt;
}

bool is_valid_gln(std::string_view text) {
  if (text.size() != 13) return false;
  int sum = 0;
  for (std::size_t i = 0; i < 12; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    // GS1 General Specifications §7.9: weights 1,3 alternating from the left for a 13-digit key.
    sum += (text[i] - '0') * (i % 2 == 0 ? 1 : 3);
  }
  if (text[12] < '0' || text[12] > '9') return false;
  return (10 - sum % 10) % 10 == text[12] - '0';
}

std::map<std::string, std::string> vpoint_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    if (!starts_with(text, "VPOINT_")) continue;
    auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

std::string validate(const Config& c) {
  auto listen = parse_listen(c.http.listen);
  if (!listen) return "[http] listen: " + listen.error();
  if (c.tls.cert.empty() && !listen->address().is_loopback() && !c.http.allow_plaintext)
    return "[http] listen: " + listen->address().to_string() +
           " is not a loopback address and [tls] cert is not set: plain HTTP would carry API keys in clear text; "
           "set [tls] cert and key, or [http] allow_plaintext = true (e.g. behind a TLS-terminating proxy)";
  if (!c.http.metrics_key.empty() && c.http.metrics_key.size() < 16)
    return "[http] metrics_key: must be at least 16 characters";
  if (c.http.threads > 1024) return "[http] threads: must be at most 1024 (0 = one per core)";
  if (c.http.body_limit < 1024 || c.http.body_limit > (1ULL << 30))
    return "[http] body_limit: must be between 1024 bytes and 1 GiB";
  if (c.http.header_limit < 1024 || c.http.header_limit > (1ULL << 20))
    return "[http] header_limit: must be between 1024 bytes and 1 MiB";
  if (c.http.idle_timeout_s == 0) return "[http] idle_timeout_s: must be at least 1";
  if (c.http.read_timeout_s == 0) return "[http] read_timeout_s: must be at least 1";
  if (c.http.linger_bytes > (1ULL << 30)) return "[http] linger_bytes: must be at most 1 GiB";
  if (c.http.max_connections < 16 || c.http.max_connections > 1'000'000)
    return "[http] max_connections: must be 16-1000000";
  if (c.http.bulk_deadline_s == 0 || c.http.bulk_deadline_s > 3600) return "[http] bulk_deadline_s: must be 1-3600";

  if (!c.tls.key.empty() && c.tls.cert.empty()) return "[tls] cert: required when [tls] key is set";
  if (!c.tls.cert.empty() && c.tls.key.empty()) return "[tls] key: required when [tls] cert is set";
  if (!c.tls.client_ca.empty() && c.tls.cert.empty())
    return "[tls] client_ca: mutual TLS needs [tls] cert and key as well";
  if (c.tls.require_client_cert && c.tls.client_ca.empty())
    return "[tls] require_client_cert: needs [tls] client_ca";
  if (!c.tls.cert.empty()) {
    if (auto e = check_file(c.tls.cert, "[tls] cert"); !e.empty()) return e;
    if (auto e = check_file(c.tls.key, "[tls] key"); !e.empty()) return e;
  }
  if (!c.tls.client_ca.empty()) {
    if (auto e = check_file(c.tls.client_ca, "[tls] client_ca"); !e.empty()) return e;
  }

  if (!c.redis.url.empty() && !c.redis.cluster.empty())
    return "[redis] cluster: set either [redis] url or [redis] cluster, not both";
  if (!c.redis.url.empty() && !starts_with(c.redis.url, "redis://") && !starts_with(c.redis.url, "rediss://"))
    return "[redis] url: must start with redis:// or rediss://";
  for (const auto& node : c.redis.cluster) {
    if (!has_host_port(node)) return "[redis] cluster: '" + node + "' is not host:port";
  }
  if (c.redis.min_replicas_ack > 64) return "[redis] min_replicas_ack: must be at most 64";
  const bool redis_tls = c.redis.tls || starts_with(c.redis.url, "rediss://");
  if (!redis_tls && (!c.redis.tls_ca_file.empty() || !c.redis.tls_cert_file.empty() ||
                     !c.redis.tls_key_file.empty() || !c.redis.tls_server_name.empty()))
    return "[redis] tls: the tls_* settings need [redis] tls = true (or a rediss:// url)";
  if (c.redis.tls_cert_file.empty() != c.redis.tls_key_file.empty())
    return "[redis] tls_cert_file: tls_cert_file and tls_key_file go together";
  if (auto e = check_optional_files({{c.redis.tls_ca_file, "[redis] tls_ca_file"},
                                     {c.redis.tls_cert_file, "[redis] tls_cert_file"},
                                     {c.redis.tls_key_file, "[redis] tls_key_file"}});
      !e.empty())
    return e;

  if (!c.central.url.empty()) {
    if (auto e = check_remote_url(c.central.url, c.central.allow_insecure, "[central] allow_insecure"); !e.empty())
      return "[central] url: " + e;
  }
  if (c.central.client_cert.empty() != c.central.client_key.empty())
    return "[central] client_cert: client_cert and client_key go together";
  if (auto e = check_optional_files({{c.central.ca_file, "[central] ca_file"},
                                     {c.central.client_cert, "[central] client_cert"},
                                     {c.central.client_key, "[central] client_key"},
                                     {c.central.token_file, "[central] token_file"}});
      !e.empty())
    return e;

  if (!c.location.gln.empty() && !is_valid_gln(c.location.gln))
    return "[location] gln: '" + c.location.gln + "' is not a GLN (13 digits with a valid check digit)";
  if (c.rules.repeat_window_s > 86400) return "[rules] repeat_window_s: must be at most 86400 (one day)";

  std::set<std::string> names;
  std::set<std::string> digests;
  if (auto e = check_keys(c, c.auth.keys, "[[auth.keys]]", names, digests); !e.empty()) return e;
  if (auto e = check_keys(c, c.auth.file_keys, keys_file_where(c.auth.keys_file), names, digests); !e.empty())
    return e;
  for (std::size_t i = 0; i < c.auth.certs.size(); ++i) {
    const CertConfig& k = c.auth.certs[i];
    std::string where = "[[auth.certs]] #" + std::to_string(i + 1);
    if (k.name.empty()) return where + " name: required (it is the actor in the audit trail)";
    where += " (" + k.name + ")";
    if (!names.insert(k.name).second) return where + " name: used twice";
    if (k.subject_cn.empty() && k.subject.empty() && k.fingerprint_sha256.empty())
      return where + ": set fingerprint_sha256, or subject (or subject_cn) together with issuer";
    if (!k.subject.empty() && !k.subject_cn.empty()) return where + ": set subject or subject_cn, not both";
    if (k.fingerprint_sha256.empty() && k.issuer.empty())
      return where + " issuer: required with " + (k.subject.empty() ? "subject_cn" : "subject") +
             " (since issue 15: any CA in [tls] client_ca could sign a certificate with that subject; or pin the "
             "certificate with fingerprint_sha256)";
    if (!k.fingerprint_sha256.empty()) {
      std::string hex = k.fingerprint_sha256;
      hex.erase(std::remove(hex.begin(), hex.end(), ':'), hex.end());
      if (!is_hex(hex, 64)) return where + " fingerprint_sha256: must be 64 hex digits (colons allowed)";
    }
    if (c.tls.client_ca.empty()) return where + ": client certificates need [tls] client_ca";
    if (auto e = check_location(k.location, c, where); !e.empty()) return e;
  }
  for (std::size_t i = 0; i < c.webhooks.size(); ++i) {
    std::string where = "[[webhooks]] #" + std::to_string(i + 1);
    const WebhookConfig& hook = c.webhooks[i];
    if (hook.name.empty()) return where + " name: required";
    if (hook.name == "central" || hook.name.find_first_of(" :/") != std::string::npos)
      return where + " name: must not be \"central\" nor contain spaces, ':' or '/'";
    where += " (" + hook.name + ")";
    for (std::size_t j = 0; j < i; ++j) {
      if (c.webhooks[j].name == hook.name) return where + " name: used twice";
    }
    if (auto e = check_remote_url(hook.url, hook.allow_insecure, where + " allow_insecure"); !e.empty())
      return where + " url: " + e;
    if (hook.secret.size() < 32)
      return where + " secret: must be at least 32 bytes (alerts are signed with it; e.g. openssl rand -hex 32)";
    if (!hook.ca_file.empty())
      if (auto e = check_file(hook.ca_file, where + " ca_file"); !e.empty()) return e;
  }
  if (c.central.recall_lookback_days == 0 || c.central.recall_lookback_days > 3660)
    return "[central] recall_lookback_days: must be 1-3660";
  if (c.central.bulk_read_through_max > 10000) return "[central] bulk_read_through_max: must be 0-10000";
  if (c.central.feed_stale_s == 0 || c.central.feed_stale_s > 86400) return "[central] feed_stale_s: must be 1-86400";
  if (c.mirror.max_staleness_ms < 10 || c.mirror.max_staleness_ms > 3600000)
    return "[mirror] max_staleness_ms: must be 10-3600000";
  if (c.scan.max_pixels < 10000 || c.scan.max_pixels > 100'000'000)
    return "[scan] max_pixels: must be 10000-100000000";
  if (c.scan.workers < 1 || c.scan.workers > 64) return "[scan] workers: must be 1-64";
  if (c.scan.queue > 1024) return "[scan] queue: must be 0-1024";
  if (c.audit.dir.empty()) return "[audit] dir: must not be empty";
  if (c.audit.retention_days == 0) return "[audit] retention_days: must be at least 1";
  if (c.audit.interval_s == 0 || c.audit.interval_s > 86400) return "[audit] interval_s: must be 1-86400";
  if (c.audit.min_age_s > 30 * 86400) return "[audit] min_age_s: must be at most 2592000 (30 days)";
  spdlog::level::level_enum level;
  if (!parse_log_level(c.log.level, level))
    return "[log] level: '" + c.log.level + "' is not one of trace, debug, info, warn, error, critical, off";
  return "";
}

Result<Config, std::string> load_config_text(std::string_view toml_text,
                                             const std::map<std::string, std::string>& env) {
  Config config;
  try {
    toml::table root = toml::parse(toml_text);
    if (auto e = apply_file(config, root); !e.empty()) return Unexpected{e};
  } catch (const toml::parse_error& e) {
    return Unexpected{toml_error(e)};
  }
  if (auto e = apply_environment(config, env); !e.empty()) return Unexpected{e};
  if (auto e = read_keys_file(config); !e.empty()) return Unexpected{e};
  if (auto e = validate(config); !e.empty()) return Unexpected{e};
  return config;
}

Result<Config, std::string> load_config(const std::optional<std::filesystem::path>& file,
                                        const std::map<std::string, std::string>& env) {
  std::string text;
  if (file) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) return Unexpected{"cannot read config file '" + file->string() + "'"};
    std::stringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
  }
  auto config = load_config_text(text, env);
  if (!config && file) return Unexpected{file->string() + ": " + config.error()};
  return config;
}

}  // namespace vpoint::service
