#include "remote_args.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/url/parse.hpp>

namespace vpoint::cli {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// Surrounding spaces, tabs and line ends (a key file written by `echo` ends with a newline).
std::string trimmed(std::string s) {
  const char* space = " \t\r\n";
  const auto first = s.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(space) - first + 1);
}

// The rule vpointd applies to a Bearer key: visible ASCII (it travels in a header).
bool sane_key(const std::string& key) {
  for (char c : key)
    if (c <= 0x20 || c >= 0x7f) return false;
  return !key.empty();
}

}  // namespace

void add_remote_options(CLI::App* sub, RemoteArgs& args) {
  sub->add_option(
      "--url", args.url,
      std::string("vpointd base URL, http:// or https:// (default: $VPOINT_URL, else ") + kDefaultUrl + ")");
  sub->add_option(
         "--key-file", args.key_file,
         "file holding the API key (default: the key in $VPOINT_KEY; no key: a client certificate or none)")
      ->check(CLI::ExistingFile);
  sub->add_option("--ca-file", args.ca_file, "PEM CA bundle the vpointd certificate must chain to (https://)")
      ->check(CLI::ExistingFile);
  auto* cert = sub->add_option("--cert", args.cert_file, "PEM client certificate (mutual TLS, https://)")
                   ->check(CLI::ExistingFile);
  auto* key =
      sub->add_option("--cert-key", args.cert_key_file, "private key of --cert")->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  sub->add_option("--timeout", args.timeout_s, "seconds to wait for connect, TLS handshake and each answer")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
}

Result<ApiEndpoint, std::string> resolve_endpoint(const RemoteArgs& args) {
  std::string flag = "--url";
  std::string text = args.url;
  if (text.empty()) {
    text = env("VPOINT_URL");
    flag = "VPOINT_URL";
  }
  if (text.empty()) {
    text = kDefaultUrl;
    flag = "--url";
  }
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed)
    return Unexpected{flag + ": '" + text + "' is not an absolute URL (" + parsed.error().message() + ")"};
  const auto& url = *parsed;
  ApiEndpoint e;
  const std::string scheme = url.scheme();
  if (scheme == "https")
    e.tls = true;
  else if (scheme != "http")
    return Unexpected{flag + ": must start with http:// or https://, not " + scheme + "://"};
  if (url.has_userinfo())
    return Unexpected{flag + ": no user or password in the URL (use --key-file or VPOINT_KEY)"};
  if (url.has_query() || url.has_fragment()) return Unexpected{flag + ": no query or fragment in the URL"};
  e.host = url.host_address();
  if (e.host.empty()) return Unexpected{flag + ": the URL names no host"};
  if (url.has_port()) {
    if (url.port_number() == 0) return Unexpected{flag + ": port must be 1-65535"};
    e.port = std::to_string(url.port_number());
  } else {
    e.port = e.tls ? "443" : "80";
  }
  e.path_prefix = url.encoded_path();
  while (!e.path_prefix.empty() && e.path_prefix.back() == '/') e.path_prefix.pop_back();
  if (!e.tls) {
    for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"--ca-file", &args.ca_file},
                                      {"--cert", &args.cert_file}}) {
      if (!value->empty())
        return Unexpected{std::string(name) + ": only with an https:// URL (" + flag + ")"};
    }
  }
  e.ca_file = args.ca_file;
  e.cert_file = args.cert_file;
  e.key_file = args.cert_key_file;
  e.timeout = std::chrono::seconds(args.timeout_s);
  if (!args.key_file.empty()) {
    std::ifstream in(args.key_file, std::ios::binary);
    std::ostringstream text_of;
    text_of << in.rdbuf();
    if (!in) return Unexpected{"--key-file: cannot read " + args.key_file};
    e.api_key = trimmed(text_of.str());
    if (!sane_key(e.api_key))
      return Unexpected{"--key-file: " + args.key_file + " must hold one key of visible ASCII characters"};
  } else if (const std::string key = trimmed(env("VPOINT_KEY")); !key.empty()) {
    if (!sane_key(key)) return Unexpected{"VPOINT_KEY: must be one key of visible ASCII characters"};
    e.api_key = key;
  }
  return e;
}

}  // namespace vpoint::cli
