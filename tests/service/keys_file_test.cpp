// [auth] keys_file (issue 18): API keys in a file of their own (e.g. mounted read-only into a container), with
// the rules and messages of [[auth.keys]], merged with the inline keys, read again on SIGHUP.
#include <catch2/catch.hpp>

#include <csignal>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "service_support.hpp"
#include "vpoint/service/auth.hpp"
#include "vpoint/service/config.hpp"

using namespace vpoint::service;
using vpoint::test::HttpClient;
using vpoint::test::TempDir;
using vpoint::test::write_file;

namespace {

const std::string kInlineKey = "inline-desk-key-0001";
const std::string kFileKey = "file-desk-key-000002";

const std::string kInline = "[location]\ngln = \"4012345000009\"\n"
                            "[[auth.keys]]\nname = \"inline-desk\"\nkey = \"" + kInlineKey + "\"\nrole = \"pharmacy\"\n";

std::string file_entry(const std::string& name, const std::string& key, const std::string& role,
                       const std::string& extra = "") {
  return "[[keys]]\nname = \"" + name + "\"\nkey = \"" + key + "\"\nrole = \"" + role + "\"\n" + extra;
}

// The error of load_config_text(toml, env), or "<valid>".
std::string error_of(const std::string& toml, const std::map<std::string, std::string>& env = {}) {
  auto config = load_config_text(toml, env);
  return config ? "<valid>" : config.error();
}

// GET /v1/me with the key: the caller's name, or "<status>" when not 200.
std::string me(std::uint16_t port, const std::string& key) {
  auto res = HttpClient(port).get("/v1/me", {{"Authorization", "Bearer " + key}});
  if (res.result_int() != 200) return fmt::format("<{}>", res.result_int());  // (operator+: GCC 12 -Wrestrict)
  return std::string(boost::json::parse(res.body()).at("name").as_string());
}

}  // namespace

TEST_CASE("keys_file entries are read, merged with the inline keys and checked by the same rules",
          "[service][config][auth]") {
  TempDir dir;
  const std::string path = (dir / "keys.toml").string();
  const std::string digest = to_hex(sha256("hashed-wholesale-key-3"));
  write_file(path, file_entry("file-desk", kFileKey, "returns") +
                       "[[keys]]\nname = \"dock\"\nkey_sha256 = \"" + digest +
                       "\"\nrole = \"wholesaler\"\nlocation = \"4099999000012\"\n");

  auto config = load_config_text(kInline + "[auth]\nkeys_file = \"" + path + "\"\n");
  REQUIRE(config);
  CHECK(config->auth.keys_file == path);
  REQUIRE(config->auth.keys.size() == 1);
  REQUIRE(config->auth.file_keys.size() == 2);
  CHECK(config->auth.file_keys[0].role == Role::returns);
  CHECK(config->auth.file_keys[1].location == "4099999000012");
  auto table = KeyTable::from_config(*config);
  REQUIRE(table);
  CHECK(table->size() == 3);
  REQUIRE(table->find_key(kFileKey));
  CHECK(table->find_key(kFileKey)->name == "file-desk");
  CHECK(table->find_key(kFileKey)->location == "4012345000009");  // default [location] gln
  CHECK(table->find_key("hashed-wholesale-key-3")->name == "dock");
  CHECK(table->find_key(kInlineKey)->name == "inline-desk");

  // The environment names the file as well (the container's way), and wins over the file's setting.
  auto by_env = load_config_text(kInline + "[auth]\nkeys_file = \"/nonexistent/keys.toml\"\n",
                                 {{"VPOINT_AUTH_KEYS_FILE", path}});
  REQUIRE(by_env);
  CHECK(by_env->auth.file_keys.size() == 2);
  CHECK(error_of("", {{"VPOINT_AUTH_KEYS", path}}) == "VPOINT_AUTH_KEYS: no such setting in [auth] (see docs/config.md)");

  // Each rule of [[auth.keys]], named by the file and the entry.
  const std::string where = "[auth] keys_file '" + path + "': [[keys]]";
  struct Case {
    std::string file;
    std::string error;
  };
  const Case cases[] = {
      {file_entry("a", kFileKey, "emperor"),
       where + " #1 role: 'emperor' is not one of pharmacy, wholesaler, returns, admin"},
      {file_entry("a", kFileKey, "pharmacy", "colour = \"red\"\n"), where + " #1 colour: unknown setting"},
      {file_entry("a", "short", "pharmacy"), where + " #1 (a) key: must be at least 16 characters"},
      {"[[keys]]\nname = \"a\"\nrole = \"admin\"\n", where + " #1 (a): set exactly one of key_sha256 or key"},
      {"[[keys]]\nname = \"a\"\nkey_sha256 = \"abc\"\nrole = \"admin\"\n", where + " #1 (a) key_sha256: must be 64 hex digits"},
      {file_entry("a", kFileKey, "pharmacy", "location = \"4012345000008\"\n"),
       where + " #1 (a) location: '4012345000008' is not a GLN (13 digits with a valid check digit)"},
      {file_entry("a", kFileKey, "pharmacy") + "[[keys]]\nrole = \"admin\"\n",
       where + " #2 name: required (it is the actor in the audit trail)"},
      // Across both lists: a name or a key (in clear or as its digest) configured twice.
      {file_entry("inline-desk", kFileKey, "pharmacy"), where + " #1 (inline-desk) name: used twice"},
      {file_entry("other", kInlineKey, "admin"), where + " #1 (other) key: the same key is configured twice"},
      {"[[keys]]\nname = \"other\"\nkey_sha256 = \"" + to_hex(sha256(kInlineKey)) + "\"\nrole = \"admin\"\n",
       where + " #1 (other) key_sha256: the same key is configured twice"},
      {"[keys]\nname = \"a\"\n", where + ": must be an array of tables"},
      {"[auth]\nkeys_file = \"x\"\n",
       "[auth] keys_file '" + path + "': auth: unknown setting (a keys file holds only [[keys]] entries)"},
      {"[[keys]]\nname = \"a\nrole = 1\n", "[auth] keys_file '" + path + "': line 2, column "},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    write_file(path, c.file);
    auto error = error_of(kInline + "[auth]\nkeys_file = \"" + path + "\"\n");
    if (c.error.back() == ' ') {
      CHECK(error.rfind(c.error, 0) == 0);  // a TOML syntax error: toml++ words the rest
    } else {
      CHECK(error == c.error);
    }
  }
  CHECK(error_of("[auth]\nkeys_file = \"" + (dir / "missing.toml").string() + "\"\n") ==
        "[auth] keys_file: file '" + (dir / "missing.toml").string() + "' does not exist");
  CHECK(error_of("[auth]\nkeys_file = 3\n") == "[auth] keys_file: must be a string");
  // Inline keys alone: the same clear key twice is found too (before, only digests were compared).
  CHECK(error_of(kInline + "[[auth.keys]]\nname = \"twin\"\nkey = \"" + kInlineKey + "\"\nrole = \"admin\"\n") ==
        "[[auth.keys]] #2 (twin) key: the same key is configured twice");
}

TEST_CASE("vpointd refuses to start on a bad keys file, naming the file and the field", "[service][vpointd][auth]") {
  TempDir dir;
  const std::string keys = (dir / "keys.toml").string();
  write_file(keys, file_entry("file-desk", kFileKey, "pharmacy", "location = \"12345\"\n"));
  write_file(dir / "vpointd.toml", kInline);
  vpoint::test::Process vpointd({VPOINTD_PATH, "--config", (dir / "vpointd.toml").string()}, dir / "out.log",
                                {{"VPOINT_HTTP_LISTEN", "127.0.0.1:0"}, {"VPOINT_AUTH_KEYS_FILE", keys}});
  CHECK(vpointd.wait_exit(std::chrono::seconds(10)) == 2);
  CHECK_THAT(vpointd.output(),
             Catch::Contains("[auth] keys_file '" + keys +
                             "': [[keys]] #1 (file-desk) location: '12345' is not a GLN (13 digits with a valid "
                             "check digit)"));
}

TEST_CASE("keys from the keys file work over HTTP and SIGHUP swaps them, keeping the old ones when the file is broken",
          "[service][vpointd][auth]") {
  TempDir dir;
  const std::string keys = (dir / "keys.toml").string();
  write_file(keys, file_entry("file-desk", kFileKey, "returns"));
  write_file(dir / "vpointd.toml", kInline);
  vpoint::test::Process vpointd(
      {VPOINTD_PATH, "--config", (dir / "vpointd.toml").string()}, dir / "out.log",
      {{"VPOINT_HTTP_LISTEN", "127.0.0.1:0"}, {"VPOINT_HTTP_THREADS", "1"}, {"VPOINT_AUTH_KEYS_FILE", keys}});
  REQUIRE(vpointd.wait_for_output("\"event\":\"listening\"", std::chrono::seconds(10)));
  auto port = vpoint::test::listening_port(vpointd.output());
  REQUIRE(port);
  CHECK(me(*port, kFileKey) == "file-desk");
  CHECK(me(*port, kInlineKey) == "inline-desk");
  CHECK(me(*port, "not-a-configured-key-01") == "<401>");

  // A changed file: the old file key stops working, the new one works, the inline key stays.
  const std::string fresh_key = "file-desk-key-000003";
  write_file(keys, file_entry("night-desk", fresh_key, "pharmacy"));
  vpointd.signal(SIGHUP);
  REQUIRE(vpointd.wait_for_output("\"event\":\"keys_reloaded\",\"entries\":2", std::chrono::seconds(10)));
  CHECK(me(*port, fresh_key) == "night-desk");
  CHECK(me(*port, kFileKey) == "<401>");
  CHECK(me(*port, kInlineKey) == "inline-desk");

  // A broken file: logged with the file and the field, and the keys in force stay.
  write_file(keys, file_entry("night-desk", fresh_key, "pharmacy") + file_entry("late-desk", "too-short", "pharmacy"));
  vpointd.signal(SIGHUP);
  REQUIRE(vpointd.wait_for_output("\"event\":\"reload_failed\"", std::chrono::seconds(10)));
  CHECK_THAT(vpointd.output(),
             Catch::Contains("[auth] keys_file '" + keys + "': [[keys]] #2 (late-desk) key: must be at least 16 characters"));
  CHECK(me(*port, fresh_key) == "night-desk");
  CHECK(me(*port, kInlineKey) == "inline-desk");
  // A file that is gone: the same.
  std::filesystem::remove(keys);
  vpointd.signal(SIGHUP);
  REQUIRE(vpointd.wait_for_output("does not exist", std::chrono::seconds(10)));
  CHECK(me(*port, fresh_key) == "night-desk");

  vpointd.signal(SIGTERM);
  CHECK(vpointd.wait_exit(std::chrono::seconds(15)) == 0);
  CHECK(vpointd.output().find(fresh_key) == std::string::npos);  // no key in the log
}
