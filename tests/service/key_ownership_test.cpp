// Issue 13 "Cache owns its keys": service/ reaches Redis only through the typed APIs of cache/. This test reads
// every source file under service/ and fails on a raw Redis call or a Redis key or command spelled out there.
#include <catch2/catch.hpp>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Source {
  std::string code;                  // comments and string literals blanked out
  std::vector<std::string> literals;  // the string literals' contents
};

// Splits C++ text into code and string literals; comments are dropped (they may name keys to explain them).
Source split(const std::string& text) {
  Source out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 2, "//") == 0) {
      i = text.find('\n', i);
      if (i == std::string::npos) break;
    } else if (text.compare(i, 2, "/*") == 0) {
      auto end = text.find("*/", i + 2);
      i = end == std::string::npos ? text.size() : end + 2;
    } else if (text.compare(i, 2, "R\"") == 0) {
      auto open = text.find('(', i);
      std::string close(1, ')');  // built by append: GCC 12 warns (-Wrestrict) on ")" + substr(...)
      close.append(text, i + 2, open - i - 2);
      close.push_back('"');
      auto end = text.find(close, open);
      out.literals.push_back(text.substr(open + 1, end - open - 1));
      i = end + close.size();
      out.code += "\"\"";
    } else if (text[i] == '\'' && i > 0 && std::isxdigit(static_cast<unsigned char>(text[i - 1])) &&
               i + 1 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1]))) {
      out.code.push_back(text[i++]);  // a digit separator (100'000), not a character literal
    } else if (text[i] == '"' || text[i] == '\'') {
      const char quote = text[i];
      std::string literal;
      for (++i; i < text.size() && text[i] != quote; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) literal.push_back(text[++i]);
        else literal.push_back(text[i]);
      }
      ++i;
      if (quote == '"') out.literals.push_back(literal);
      out.code += "\"\"";
    } else {
      out.code.push_back(text[i++]);
    }
  }
  return out;
}

// Key prefixes of cache/ (cache/src/mirror_keys.hpp, alert_log.cpp, offline.cpp, lease.cpp, link_record.hpp,
// audit_log.hpp). The bare word "alerts" is the API's field, the permission and the CLI command, not a key: it
// cannot reach Redis from service/ without a command, which the first check rules out.
const std::vector<std::string> kKeyPrefixes = {"ob:",  "au:",     "mirror:", "alerts:", "alerts{",  "central:status",
                                               "audit:archived", "vpoint:lease", "pend:", "offline:", "dx:",
                                               "dxm:", "pk:",     "idem:",   "prod:",   "bix:",     "bat:"};
const std::vector<std::string> kRedisCommands = {"HSET",  "HGET",    "HGETALL", "HMGET",  "HDEL",   "XADD",
                                                 "XRANGE", "XREVRANGE", "XDEL", "XTRIM",  "XLEN",   "FCALL",
                                                 "EVAL",  "EVALSHA", "PUBLISH", "SUBSCRIBE", "EXPIRE", "PEXPIRE"};
const std::vector<std::string> kRawCalls = {"cache::Command", "cache::Reply", ".command(", ".pipeline(",
                                            ".on_all_masters(", "->command(", "->pipeline("};

std::vector<std::string> violations(const std::string& file, const std::string& text) {
  std::vector<std::string> out;
  Source s = split(text);
  for (const auto& call : kRawCalls)
    if (s.code.find(call) != std::string::npos) out.push_back(file + ": raw Redis call " + call);
  for (const auto& literal : s.literals) {
    for (const auto& prefix : kKeyPrefixes)
      if (literal.rfind(prefix, 0) == 0) out.push_back(file + ": Redis key literal \"" + literal + "\"");
    for (const auto& command : kRedisCommands)
      if (literal == command) out.push_back(file + ": Redis command literal \"" + literal + "\"");
  }
  return out;
}

}  // namespace

TEST_CASE("the check finds raw Redis calls, key and command literals, and ignores comments", "[service][keys]") {
  CHECK(violations("x.cpp", "auto r = co_await client.command(cmd(\"GET\", k));").size() == 1);
  CHECK(violations("x.cpp", "cache::Command c;").size() == 1);
  CHECK(violations("x.cpp", "auto k = \"au:{\" + p + \"}\";").size() == 1);
  CHECK(violations("x.cpp", "auto k = std::string(\"mirror:gen\");").size() == 1);
  CHECK(violations("x.cpp", "f(\"XRANGE\", key);").size() == 1);
  CHECK(violations("x.cpp", "// XRANGE au:{P} with client.command(...)\n/* ob:{P} */ int x;").empty());
  CHECK(violations("x.cpp", "int n = 100'000; f(\"XADD\");").size() == 1);
  CHECK(violations("x.cpp", "json::object{{\"alerts\", arr}}; fmt::format(\"{}: {}\", a, b);").empty());
}

TEST_CASE("service/ sends no Redis command and names no Redis key: cache/ owns them", "[service][keys]") {
  const fs::path root = fs::path(VPOINT_SOURCE_DIR) / "service";
  REQUIRE(fs::is_directory(root));
  std::size_t files = 0;
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const auto ext = entry.path().extension();
    if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".hpp")) continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto v = violations(fs::relative(entry.path(), VPOINT_SOURCE_DIR).string(), text.str());
    found.insert(found.end(), v.begin(), v.end());
    ++files;
  }
  CHECK(files > 40);  // the walk saw the sources (not an empty or wrong directory)
  for (const auto& v : found) UNSCOPED_INFO(v);
  CHECK(found.empty());
}
