// The embedded page (service/web/ through service/web/embed.cmake): every inline script and style block is
// allowed by exactly one hash in the Content-Security-Policy, every hash names a block, and the page loads
// nothing from anywhere (no src/href other than data: and the fragment-free same document).
#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <regex>
#include <set>
#include <string>

#include "vpoint/service/scan_page.hpp"

namespace {

std::string sha256_base64(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  REQUIRE(EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr) == 1);
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(length));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(n));
}

// The inline blocks between <tag> and </tag>.
std::vector<std::string> blocks(const std::string& html, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  for (std::size_t at = html.find(open); at != std::string::npos; at = html.find(open, at)) {
    std::size_t start = at + open.size();
    std::size_t end = html.find(close, start);
    REQUIRE(end != std::string::npos);
    out.push_back(html.substr(start, end - start));
    at = end;
  }
  return out;
}

// The 'sha256-…' sources of one CSP directive.
std::set<std::string> hashes(const std::string& csp, const std::string& directive) {
  std::set<std::string> out;
  auto at = csp.find(directive + " ");
  REQUIRE(at != std::string::npos);
  std::string value = csp.substr(at, csp.find(';', at) - at);
  std::regex source("'sha256-([A-Za-z0-9+/=]+)'");
  for (std::sregex_iterator it(value.begin(), value.end(), source), end; it != end; ++it) out.insert((*it)[1]);
  return out;
}

}  // namespace

TEST_CASE("the embedded page's CSP allows exactly its own inline scripts and styles", "[service][page]") {
  const auto& page = vpoint::service::scan_page();
  auto scripts = blocks(page.html, "script");
  auto styles = blocks(page.html, "style");
  // app.js and the four modes; one style sheet.
  REQUIRE(scripts.size() == 5);
  REQUIRE(styles.size() == 1);
  std::set<std::string> script_hashes, style_hashes;
  for (const auto& s : scripts) script_hashes.insert(sha256_base64(s));
  for (const auto& s : styles) style_hashes.insert(sha256_base64(s));
  CHECK(hashes(page.content_security_policy, "script-src") == script_hashes);
  CHECK(hashes(page.content_security_policy, "style-src") == style_hashes);
  // A block changed after hashing would not run: a one-byte edit changes its hash.
  CHECK(script_hashes.count(sha256_base64(scripts[0] + " ")) == 0);
  CHECK(page.content_security_policy.find("default-src 'none'") != std::string::npos);
  CHECK(page.content_security_policy.find("connect-src 'self'") != std::string::npos);
  CHECK(page.content_security_policy.find("unsafe-inline") == std::string::npos);
}

TEST_CASE("the embedded page links nothing outside itself", "[service][page]") {
  const auto& html = vpoint::service::scan_page().html;
  // The build step replaced every <link rel="stylesheet"> and <script src> by the file's text.
  CHECK(html.find("<script src=") == std::string::npos);
  CHECK(html.find("rel=\"stylesheet\"") == std::string::npos);
  std::regex reference(R"re((?:src|href)\s*=\s*"([^"]*)")re");
  for (std::sregex_iterator it(html.begin(), html.end(), reference), end; it != end; ++it) {
    std::string target = (*it)[1];
    INFO(target);
    CHECK(target.rfind("data:", 0) == 0);
  }
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
}
