// The `vpoint` client subcommands (verify, supply, undo, bulk, scan, …) as a user runs them: the real
// build/bin/vpoint binary against a real stack on loopback — redis-server, vpoint-central-sim and vpointd
// (plain HTTP and TLS) — and each answer checked against what the API itself says (issue 18, docs/cli.md).
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "barcode_images.hpp"
#include "redis_server.hpp"
#include "service_support.hpp"
#include "sync_support.hpp"
#include "vpointd_calls.hpp"
#include "vpointd_process.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kWholesalerKey = "test-wholesaler-key-01";

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `vpoint args…` with only `env` of the VPOINT_ / NO_COLOR variables set, `input` on stdin; stdout and
// stderr kept apart.
CliRun vpoint_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                  const std::string& input = "") {
  TempDir dir;
  write_file(dir / "stdin", input);
  std::string cmd = "exec env -u VPOINT_URL -u VPOINT_KEY -u NO_COLOR";
  for (const auto& [k, v] : env) cmd += fmt::format(" {}={}", k, shell_quoted(v));
  cmd += fmt::format(" {}", shell_quoted(VPOINT_CLI_PATH));
  for (const auto& a : args) cmd += fmt::format(" {}", shell_quoted(a));
  cmd += fmt::format(" <{} 2>{}", shell_quoted((dir / "stdin").string()), shell_quoted((dir / "stderr").string()));
  auto result = run_process({"/bin/sh", "-c", cmd}, 120s);
  return {result.exit_code, result.output, read_file(dir / "stderr")};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::string text(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : json::serialize(v);
}

json::object object_of(const std::string& line) {
  auto v = json::parse(line);
  REQUIRE(v.is_object());
  return v.as_object();
}

// redis-server + the simulator (10 products, 200 packs) + vpointd following it, with a pharmacy, an admin and
// a wholesaler key; `tls_toml` adds a [tls] section (and `client` says how the harness reaches it).
struct Stack {
  explicit Stack(const std::string& tls_toml = "", ClientOptions client = {}) : sim(10, 200) {
    VpointdOptions options;
    options.redis_url = redis.url();
    options.central_url = sim.url();
    options.extra_toml = std::string("[[auth.keys]]\nname = \"dock-1\"\nkey = \"") + kWholesalerKey +
                         "\"\nrole = \"wholesaler\"\n\n" + tls_toml;
    options.client = std::move(client);
    vpointd = std::make_unique<Vpointd>(options);
  }
  std::string url(const char* scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(vpointd->port());
  }
  // What the API answers for `body` on `route` (the reference the CLI's --json line must equal).
  json::object api(const std::string& route, const json::object& body,
                   const std::string& key = Vpointd::kPharmacyKey) {
    auto res = vpointd->request(http::verb::post, route, json::serialize(body), key);
    INFO(route << " " << res.body());
    REQUIRE(res.result_int() == 200);
    return object_of(res.body());
  }

  Simulator sim;
  RedisServer redis;
  std::unique_ptr<Vpointd> vpointd;
};

std::map<std::string, std::string> pharmacy_env(const Stack& s) {
  return {{"VPOINT_URL", s.url()}, {"VPOINT_KEY", Vpointd::kPharmacyKey}};
}

// The scan of `pack` with its serial replaced: a serial nobody issued.
std::string with_serial(const ScanPack& pack, const std::string& serial) {
  std::string scan = pack.scan;
  scan.replace(scan.find(pack.serial), pack.serial.size(), serial);
  return scan;
}

std::string gs_as_text(std::string scan) {
  for (auto at = scan.find('\x1d'); at != std::string::npos; at = scan.find('\x1d'))
    scan.replace(at, 1, "<GS>");
  return scan;
}

}  // namespace

TEST_CASE(
    "vpoint verify: a known pack is ok (exit 0) and an unknown serial an alert (exit 1), human and json",
    "[cli][client]") {
  Stack s;
  auto packs = scan_packs(s.sim, 2);
  REQUIRE(packs.size() == 2);
  const std::string unknown = with_serial(packs[0], "NOTISSUED0001");

  // Human: one line per pack, the verdict first, then the pack, status and the reason in words.
  auto ok = vpoint_cli({"verify", packs[0].scan}, pharmacy_env(s));
  INFO(ok.out << ok.err);
  CHECK(ok.exit_code == 0);
  REQUIRE(lines_of(ok.out).size() == 1);
  CHECK_THAT(ok.out, Catch::StartsWith("OK ") && Catch::Contains("serial " + packs[0].serial) &&
                         Catch::Contains("— status active"));
  CHECK(ok.out.find('\x1b') == std::string::npos);  // stdout is a pipe: no colour

  auto alert = vpoint_cli({"verify", unknown}, pharmacy_env(s));
  INFO(alert.out << alert.err);
  CHECK(alert.exit_code == 1);
  CHECK_THAT(alert.out, Catch::StartsWith("ALERT ") && Catch::Contains("serial NOTISSUED0001") &&
                            Catch::Contains("The serial number is not known for this product.") &&
                            Catch::Contains("[alert "));

  // --json: the API's object as the API gives it for the same scan (an alert's id differs per request).
  auto ok_json = vpoint_cli({"verify", "--json", packs[0].scan}, pharmacy_env(s));
  CHECK(ok_json.exit_code == 0);
  REQUIRE(lines_of(ok_json.out).size() == 1);
  CHECK(object_of(lines_of(ok_json.out)[0]) == s.api("/v1/verify", {{"scan", packs[0].scan}}));

  auto alert_json = vpoint_cli({"verify", "--json", unknown}, pharmacy_env(s));
  CHECK(alert_json.exit_code == 1);
  REQUIRE(lines_of(alert_json.out).size() == 1);
  auto cli_answer = object_of(lines_of(alert_json.out)[0]);
  auto api_answer = s.api("/v1/verify", {{"scan", unknown}});
  CHECK(cli_answer.at("verdict") == "alert");
  CHECK(cli_answer.at("reason") == "unknown_serial");
  CHECK(cli_answer.at("alert_id").is_string());
  cli_answer.erase("alert_id");
  api_answer.erase("alert_id");
  CHECK(cli_answer == api_answer);

  // Several scans from stdin, GS typed as <GS>: one line each, in order; one not ok makes the exit 1.
  auto both = vpoint_cli({"verify", "--json"}, pharmacy_env(s),
                         gs_as_text(packs[1].scan) + "\r\n" + unknown + "\n\n" + packs[0].scan + "\n");
  CHECK(both.exit_code == 1);
  auto lines = lines_of(both.out);
  REQUIRE(lines.size() == 3);
  CHECK(text(object_of(lines[0]).at("pack").at("serial")) == packs[1].serial);
  CHECK(object_of(lines[0]).at("verdict") == "ok");
  CHECK(object_of(lines[1]).at("verdict") == "alert");
  CHECK(object_of(lines[2]).at("verdict") == "ok");
}

TEST_CASE("vpoint supply, the same supply again (refused, exit 1), then undo --action supply (exit 0)",
          "[cli][client]") {
  Stack s;
  auto packs = scan_packs(s.sim, 1);
  REQUIRE(packs.size() == 1);
  const std::string& scan = packs[0].scan;

  auto supplied = vpoint_cli({"supply", scan}, pharmacy_env(s));
  INFO(supplied.out << supplied.err);
  CHECK(supplied.exit_code == 0);
  CHECK_THAT(supplied.out, Catch::StartsWith("OK ") && Catch::Contains("— status supplied (was active)"));

  auto again = vpoint_cli({"supply", "--json", scan}, pharmacy_env(s));
  INFO(again.out << again.err);
  CHECK(again.exit_code == 1);
  REQUIRE(lines_of(again.out).size() == 1);
  auto repeat = object_of(lines_of(again.out)[0]);
  CHECK(repeat.at("verdict") == "refused");
  CHECK(repeat.at("repeat") == true);
  CHECK(repeat.at("action") == "supply");

  auto undone = vpoint_cli({"undo", "--action", "supply", scan}, pharmacy_env(s));
  INFO(undone.out << undone.err);
  CHECK(undone.exit_code == 0);
  CHECK_THAT(undone.out, Catch::StartsWith("OK ") && Catch::Contains("— status active (was supplied)"));
  // The mirror agrees: the pack is active again.
  CHECK(s.api("/v1/verify", {{"scan", scan}}).at("status") == "active");
}

TEST_CASE("vpoint bulk splits a file over requests of --chunk items and prints every result in input order",
          "[cli][client]") {
  Stack s;
  auto packs = scan_packs(s.sim, 25);
  REQUIRE(packs.size() == 25);
  auto refs = packs_of(s.sim, 40);
  const PackRef* gtin_pack = nullptr;
  for (const auto& r : refs)
    if (r.key == "gtin" && gtin_pack == nullptr) gtin_pack = &r;
  REQUIRE(gtin_pack != nullptr);
  TempDir dir;

  // 25 good scans, an NDJSON {"scan"} line and a {"pack"} line, in chunks of 4: 7 requests.
  std::string file;
  for (const auto& p : packs) file += p.scan + "\n";
  file += json::serialize(json::object{{"scan", packs[0].scan}}) + "\n";
  file += json::serialize(json::object{{"pack", gtin_pack->pack_object()}}) + "\n";
  write_file(dir / "good.txt", file);
  auto good = vpoint_cli({"bulk", "--json", "--chunk", "4", (dir / "good.txt").string()},
                         {{"VPOINT_URL", s.url()}, {"VPOINT_KEY", kWholesalerKey}});
  INFO(good.err);
  CHECK(good.exit_code == 0);
  CHECK(good.err.empty());  // stderr is not a terminal: no progress bar
  auto lines = lines_of(good.out);
  REQUIRE(lines.size() == 27);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto item = object_of(lines[i]);
    INFO(i << ": " << lines[i]);
    CHECK(item.at("verdict") == "ok");
    CHECK(item.at("index") == static_cast<std::int64_t>(i % 4));  // each request numbers its own items
    const std::string serial = i < 25 ? packs[i].serial : i == 25 ? packs[0].serial : gtin_pack->serial;
    CHECK(text(item.at("pack").at("serial")) == serial);
  }

  // An unknown serial and a line that is no pack code among good ones: all answered, exit 1, human output.
  write_file(dir / "mixed.txt", packs[0].scan + "\n" + with_serial(packs[1], "NOTISSUED0002") + "\nhello\n" +
                                    packs[2].scan + "\n");
  auto mixed = vpoint_cli({"bulk", "--chunk", "3", (dir / "mixed.txt").string()},
                          {{"VPOINT_URL", s.url()}, {"VPOINT_KEY", kWholesalerKey}});
  INFO(mixed.out << mixed.err);
  CHECK(mixed.exit_code == 1);
  auto human = lines_of(mixed.out);
  REQUIRE(human.size() == 4);
  CHECK_THAT(human[0], Catch::StartsWith("OK "));
  CHECK_THAT(human[1], Catch::StartsWith("ALERT ") && Catch::Contains("NOTISSUED0002"));
  CHECK_THAT(human[2], Catch::StartsWith("REFUSED ") && Catch::Contains("hello") &&
                           Catch::Contains("could not be read as a pack code"));
  CHECK_THAT(human[3], Catch::StartsWith("OK ") && Catch::Contains(packs[2].serial));

  // The wholesaler may not supply to patients: the request is refused with 403 (stderr), exit 1.
  const std::map<std::string, std::string> dock{{"VPOINT_URL", s.url()}, {"VPOINT_KEY", kWholesalerKey}};
  auto supply = vpoint_cli({"bulk", "--operation", "decommission", "--action", "supply", "-"}, dock,
                           packs[3].scan + "\n");
  CHECK(supply.exit_code == 1);
  CHECK(supply.out.empty());
  CHECK_THAT(supply.err, Catch::Contains("HTTP 403"));

  // A bulk export from stdin in chunks of 2: every pack exported, and the mirror says so.
  auto exported =
      vpoint_cli({"bulk", "--operation", "decommission", "--action", "export", "--chunk", "2", "--json", "-"},
                 dock, packs[3].scan + "\n" + packs[4].scan + "\n" + packs[5].scan + "\n");
  INFO(exported.out << exported.err);
  CHECK(exported.exit_code == 0);
  auto answers = lines_of(exported.out);
  REQUIRE(answers.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(object_of(answers[i]).at("status") == "exported");
    CHECK(s.api("/v1/verify", {{"scan", packs[3 + i].scan}}).at("status") == "exported");
  }
}

TEST_CASE("vpoint reads the key from --key-file and from VPOINT_KEY, and a wrong key is 401 with exit 1",
          "[cli][client]") {
  Stack s;
  auto packs = scan_packs(s.sim, 1);
  REQUIRE(packs.size() == 1);
  TempDir dir;
  write_file(dir / "key", std::string(Vpointd::kPharmacyKey) + "\n");
  write_file(dir / "wrong", "not-a-key-of-this-site\n");

  auto from_file =
      vpoint_cli({"verify", "--url", s.url(), "--key-file", (dir / "key").string(), packs[0].scan});
  INFO(from_file.out << from_file.err);
  CHECK(from_file.exit_code == 0);
  CHECK_THAT(from_file.out, Catch::StartsWith("OK "));

  auto from_env =
      vpoint_cli({"verify", packs[0].scan}, {{"VPOINT_URL", s.url()}, {"VPOINT_KEY", Vpointd::kPharmacyKey}});
  CHECK(from_env.exit_code == 0);
  CHECK_THAT(from_env.out, Catch::StartsWith("OK "));

  // --key-file wins over VPOINT_KEY.
  auto wrong = vpoint_cli({"verify", "--key-file", (dir / "wrong").string(), packs[0].scan, packs[0].scan},
                          {{"VPOINT_URL", s.url()}, {"VPOINT_KEY", Vpointd::kPharmacyKey}});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.out.empty());
  CHECK_THAT(wrong.err, Catch::StartsWith("vpoint verify: ") && Catch::Contains("HTTP 401 unauthorized"));
  CHECK(lines_of(wrong.err).size() == 1);  // stopped after the first: the second would be refused alike

  auto none = vpoint_cli({"verify", "--url", s.url(), packs[0].scan});
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.err, Catch::Contains("HTTP 401"));

  // The key is allowed, the action is not (a pharmacy cannot lock): 403, exit 1.
  auto forbidden = vpoint_cli({"lock", packs[0].scan}, pharmacy_env(s));
  CHECK(forbidden.exit_code == 1);
  CHECK_THAT(forbidden.err, Catch::Contains("HTTP 403"));
}

TEST_CASE("vpoint against no vpointd exits 3: connection refused, and no answer within --timeout",
          "[cli][client]") {
  // Connection refused: a free port nobody listens on.
  const std::string url = "http://127.0.0.1:" + std::to_string(free_port());
  auto refused = vpoint_cli({"verify", "--url", url,
                             "0109506000134352211\x1d"
                             "10L1\x1d"
                             "17261231"});
  CHECK(refused.exit_code == 3);
  CHECK(refused.out.empty());
  CHECK_THAT(refused.err, Catch::StartsWith("vpoint verify: vpointd unreachable: 127.0.0.1:") &&
                              Catch::Contains("connect"));

  // A listener that never answers (the kernel accepts the connection; nobody reads): the timeout.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const std::string silent_url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  const auto started = std::chrono::steady_clock::now();
  auto timed_out = vpoint_cli({"supply", "--url", silent_url, "--timeout", "1", "x"});
  CHECK(timed_out.exit_code == 3);
  CHECK_THAT(timed_out.err, Catch::Contains("no answer within 1 s"));
  CHECK(std::chrono::steady_clock::now() - started < 15s);

  // An unknown host name.
  auto dns = vpoint_cli({"verify", "--url", "http://no-such-host.invalid:8080", "x"});
  CHECK(dns.exit_code == 3);
  CHECK_THAT(dns.err, Catch::Contains("resolve"));
}

TEST_CASE("vpoint client usage errors exit 2 and name the flag and the rule", "[cli][client]") {
  TempDir dir;
  write_file(dir / "scans", "x\n");
  write_file(dir / "notes.txt", "not an image");
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases{
      {{"undo", "x"}, "--action is required"},
      {{"undo", "--action", "give_away", "x"}, "--action: give_away not in"},
      {{"verify", "--url", "ftp://127.0.0.1:1", "x"}, "--url: must start with http:// or https://"},
      {{"verify", "--url", "http://user:pw@127.0.0.1:1", "x"}, "--url: no user or password in the URL"},
      {{"verify", "--url", "http://127.0.0.1:1", "--ca-file", (dir / "scans").string(), "x"},
       "--ca-file: only with an https:// URL"},
      {{"verify", "--timeout", "0", "x"}, "--timeout"},
      {{"verify", "--key-file", (dir / "missing").string(), "x"}, "--key-file"},
      {{"verify", "--key", "secret", "x"}, "--key"},
      {{"bulk", "--chunk", "0", (dir / "scans").string()}, "--chunk"},
      {{"bulk", "--operation", "decommission", (dir / "scans").string()},
       "--action: required with --operation decommission"},
      {{"bulk", "--action", "supply", (dir / "scans").string()},
       "--action: only with --operation decommission"},
      {{"bulk", "--url", "http://127.0.0.1:1"}, "FILE: give exactly one of FILE and --sscc"},
      {{"bulk", "--sscc", "12345", "--url", "http://127.0.0.1:1"}, "--sscc: must be 18 digits"},
      {{"scan", "--url", "http://127.0.0.1:1", (dir / "notes.txt").string()}, "is not a PNG or JPEG image"},
      {{"scan", "--operation", "decommission", (dir / "notes.txt").string()}, "--action: required"},
  };
  for (const auto& c : cases) {
    auto run = vpoint_cli(c.args, {}, "");
    INFO(c.args[0] << " " << c.args[1] << ": " << run.err);
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains(c.says));
    CHECK(run.out.empty());
  }
  // Nothing on stdin and no argument: nothing to send.
  auto nothing = vpoint_cli({"verify", "--url", "http://127.0.0.1:1"}, {}, "");
  CHECK(nothing.exit_code == 2);
  CHECK_THAT(nothing.err, Catch::Contains("SCAN: no scan given"));
}

TEST_CASE(
    "vpoint over TLS: --ca-file verifies vpointd, a client certificate identifies the caller, and without "
    "the "
    "CA the handshake fails with exit 3",
    "[cli][client][tls]") {
  TempDir pki_dir;
  TestPki pki(pki_dir.path);
  ClientOptions harness;
  harness.tls = true;
  harness.ca = pki.ca;
  Stack s("[tls]\ncert = \"" + pki.server_cert + "\"\nkey = \"" + pki.server_key + "\"\nclient_ca = \"" +
              pki.ca + "\"\n\n[[auth.certs]]\nfingerprint_sha256 = \"" + pki.client_fingerprint +
              "\"\nname = \"station-1\"\nrole = \"pharmacy\"\n",
          harness);
  auto packs = scan_packs(s.sim, 1);
  REQUIRE(packs.size() == 1);
  const std::string url = s.url("https");

  auto verified = vpoint_cli({"verify", "--json", "--ca-file", pki.ca, packs[0].scan},
                             {{"VPOINT_URL", url}, {"VPOINT_KEY", Vpointd::kPharmacyKey}});
  INFO(verified.out << verified.err);
  CHECK(verified.exit_code == 0);
  REQUIRE(lines_of(verified.out).size() == 1);
  CHECK(object_of(verified.out).at("verdict") == "ok");

  // No key: the client certificate is the identity (mutual TLS).
  auto by_cert = vpoint_cli({"supply", "--url", url, "--ca-file", pki.ca, "--cert", pki.client_cert,
                             "--cert-key", pki.client_key, packs[0].scan});
  INFO(by_cert.out << by_cert.err);
  CHECK(by_cert.exit_code == 0);
  CHECK_THAT(by_cert.out, Catch::StartsWith("OK ") && Catch::Contains("status supplied"));

  // The system's CAs do not know the test CA: the handshake fails, nothing is sent.
  auto untrusted =
      vpoint_cli({"verify", "--url", url, packs[0].scan}, {{"VPOINT_KEY", Vpointd::kPharmacyKey}});
  CHECK(untrusted.exit_code == 3);
  CHECK_THAT(untrusted.err, Catch::Contains("vpointd unreachable") && Catch::Contains("TLS handshake") &&
                                Catch::Contains("certificate verify failed"));

  // Plain HTTP to the TLS port: no HTTP answer comes back.
  auto plain = vpoint_cli({"verify", "--url", s.url("http"), "--timeout", "5", packs[0].scan},
                          {{"VPOINT_KEY", Vpointd::kPharmacyKey}});
  CHECK(plain.exit_code == 3);
}

TEST_CASE("vpoint scan sends a photo of a GS1 DataMatrix and prints the pack found in it", "[cli][client]") {
  Stack s;
  const PackRef* pack = nullptr;
  auto refs = packs_of(s.sim, 40);
  for (const auto& r : refs)  // a GTIN pack with a real day in its expiry (zint checks the date)
    if (r.key == "gtin" && r.expiry.substr(4) != "00" && pack == nullptr) pack = &r;
  REQUIRE(pack != nullptr);
  ScratchDir dir;
  auto image = render(Symbology::gs1_datamatrix, "[01]" + pack->code + "[21]" + pack->serial + "[10]" +
                                                     pack->batch + "[17]" + pack->expiry);
  const auto photo = dir.path() / "pack.png";
  write_file(photo, to_png(pad(image, 40)));

  auto json_run = vpoint_cli({"scan", "--json", photo.string()}, pharmacy_env(s));
  INFO(json_run.out << json_run.err);
  CHECK(json_run.exit_code == 0);
  auto lines = lines_of(json_run.out);
  REQUIRE(lines.size() == 1);
  auto item = object_of(lines[0]);
  CHECK(item.at("verdict") == "ok");
  CHECK(text(item.at("pack").at("serial")) == pack->serial);
  CHECK(item.at("symbol").at("format") == "DataMatrix");

  // The same photo as a supply, in words.
  auto supplied = vpoint_cli({"scan", "--operation", "decommission", "--action", "supply", photo.string()},
                             pharmacy_env(s));
  INFO(supplied.out << supplied.err);
  CHECK(supplied.exit_code == 0);
  CHECK_THAT(supplied.out, Catch::StartsWith("OK ") && Catch::Contains("serial " + pack->serial) &&
                               Catch::Contains("status supplied"));

  // A photo without any code: vpointd's 422, on stderr, exit 1.
  const auto blank = dir.path() / "blank.png";
  write_file(blank, to_png(pad(Gray{10, 10, std::vector<std::uint8_t>(100, 255)}, 20)));
  auto empty = vpoint_cli({"scan", blank.string()}, pharmacy_env(s));
  CHECK(empty.exit_code == 1);
  CHECK_THAT(empty.err, Catch::Contains("blank.png") && Catch::Contains("HTTP 422"));
}
