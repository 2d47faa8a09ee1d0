// The central simulator over real loopback HTTP: in-process servers (HttpServer + SimApi) for protocol and
// fault tests, the real vpoint-central-sim process for the command line, restarts and --print-packs.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

#include "api.hpp"
#include "state.hpp"
#include "vpoint/scanner/gs1.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/scanner/ppn.hpp"
#include "vpoint/service/http_server.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace vpoint;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct TempDir {
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "central-sim-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

std::string text(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : json::serialize(v); }

struct Reply {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  json::value json() const { return json::parse(body); }
  std::vector<json::object> lines() const {
    std::vector<json::object> out;
    std::size_t start = 0;
    while (start < body.size()) {
      auto nl = body.find('\n', start);
      REQUIRE(nl != std::string::npos);  // every NDJSON line ends with a newline
      out.push_back(json::parse(std::string_view(body).substr(start, nl - start)).as_object());
      start = nl + 1;
    }
    return out;
  }
};

// One request on a fresh connection. nullopt when the server closed the connection without answering.
std::optional<Reply> request(std::uint16_t port, http::verb method, const std::string& target, const std::string& body = "",
                             const std::string& content_type = "application/json", std::chrono::seconds timeout = 20s) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  beast::error_code ec;
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return std::nullopt;
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!body.empty()) req.set(http::field::content_type, content_type);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req, ec);
  if (ec) return std::nullopt;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(4ULL << 30);
  http::read(stream, buffer, parser, ec);
  if (ec) return std::nullopt;
  auto& res = parser.get();
  return Reply{res.result_int(), res.body(), std::string(res[http::field::content_type])};
}

Reply must(std::optional<Reply> reply) {
  REQUIRE(reply.has_value());
  return std::move(*reply);
}

Reply get(std::uint16_t port, const std::string& target) { return must(request(port, http::verb::get, target)); }
Reply post(std::uint16_t port, const std::string& target, const json::value& body) {
  return must(request(port, http::verb::post, target, json::serialize(body)));
}

std::string iso(std::chrono::system_clock::time_point t) {
  return central_sim::format_rfc3339(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

// An in-process simulator on a free loopback port.
class Sim {
 public:
  Sim() : Sim(small()) {}
  explicit Sim(central_sim::StateOptions options) {
    spdlog::set_level(spdlog::level::warn);  // the server core logs every start/stop at info
    auto central = central_sim::Central::open(options);
    if (!central) FAIL(central.error());
    central_ = std::move(*central);
    api_ = std::make_unique<central_sim::SimApi>(*central_, 7);
    service::ServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    server_options.threads = 2;
    server_options.shutdown_timeout = 2s;
    server_ = std::make_unique<service::HttpServer>(server_options, api_->handler());
    auto bound = server_->start();
    REQUIRE(bound);
    api_->set_local_port(server_->port());
  }
  ~Sim() {
    api_->shutdown();
    server_->stop();
    server_->wait();
  }
  static central_sim::StateOptions small(std::string data_dir = "") {
    central_sim::StateOptions o;
    o.seed = central_sim::SeedSpec{42, 12, 3000, 0};
    o.data_dir = std::move(data_dir);
    return o;
  }
  std::uint16_t port() const { return server_->port(); }
  central_sim::Central& central() { return *central_; }

 private:
  std::unique_ptr<central_sim::Central> central_;
  std::unique_ptr<central_sim::SimApi> api_;
  std::unique_ptr<service::HttpServer> server_;
};

struct PackRef {
  std::string key, code, serial, batch, expiry;
};

std::vector<PackRef> usable(std::uint16_t port, int n) {
  auto reply = get(port, "/admin/packs?limit=" + std::to_string(n));
  REQUIRE(reply.status == 200);
  std::vector<PackRef> out;
  json::value doc = reply.json();
  for (const auto& v : doc.at("packs").as_array()) {
    const auto& o = v.as_object();
    std::string key = o.contains("ppn") ? "ppn" : "gtin";
    out.push_back(PackRef{key, std::string(o.at(key).as_string()), std::string(o.at("serial").as_string()),
                          std::string(o.at("batch").as_string()), std::string(o.at("expiry").as_string())});
  }
  REQUIRE(out.size() == static_cast<std::size_t>(n));
  return out;
}

json::object tx(const std::string& id, const PackRef& p, const std::string& action, bool undo = false,
                const std::string& location = "4012345000108", std::string time = "") {
  if (time.empty()) time = iso(std::chrono::system_clock::now());
  return {{"id", id},       {p.key, p.code},  {"serial", p.serial},     {"batch", p.batch},
          {"expiry", p.expiry}, {"action", action}, {"undo", undo}, {"location", location},
          {"actor", "pharmacist-1"}, {"time", time}};
}

// Results of one POST /central/v1/transactions, as "accepted" or the NMVS code, in order.
std::vector<std::string> send(std::uint16_t port, const json::array& txs) {
  auto reply = post(port, "/central/v1/transactions", json::object{{"transactions", txs}});
  REQUIRE(reply.status == 200);
  std::vector<std::string> out;
  json::value doc = reply.json();
  const auto& results = doc.at("results").as_array();
  REQUIRE(results.size() == txs.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i].as_object();
    CHECK(r.at("id") == txs[i].as_object().at("id"));
    if (r.at("result") == "accepted") {
      CHECK(r.at("code").is_null());
      out.push_back("accepted");
    } else {
      CHECK(r.at("result") == "rejected");
      out.push_back(std::string(r.at("code").as_string()));
    }
  }
  return out;
}

std::string status_of(std::uint16_t port, const PackRef& p) {
  auto reply = get(port, "/central/v1/packs/" + p.code + "/" + p.serial);
  REQUIRE(reply.status == 200);
  return std::string(reply.json().at("status").as_string());
}

// The real executable, with stdout on a pipe (first line: "listening <url>").
class SimProcess {
 public:
  explicit SimProcess(std::vector<std::string> args) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 2);
      ::close(out[0]);
      std::vector<char*> argv;
      static std::string path = CENTRAL_SIM_PATH;
      argv.push_back(path.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(path.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_ = out[0];
  }
  ~SimProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(stdout_);
  }
  // Everything the process writes to stdout until it exits or `timeout` passes.
  std::string read_until_exit(std::chrono::milliseconds timeout = 10000ms) {
    std::string text;
    auto deadline = Clock::now() + timeout;
    char buf[65536];
    while (Clock::now() < deadline) {
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
  }
  std::uint16_t wait_listening() {
    std::string line;
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline && line.find('\n') == std::string::npos) {
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(stdout_, &c, 1) != 1) break;
      line.push_back(c);
    }
    REQUIRE(line.rfind("listening http://127.0.0.1:", 0) == 0);
    return static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }
  int kill_and_wait(int sig) {
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 10000ms) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
};

}  // namespace

TEST_CASE("the snapshot lists products then batches then packs then aggregations and ends with the feed position", "[central_sim][snapshot]") {
  Sim sim;
  auto reply = get(sim.port(), "/central/v1/snapshot");
  REQUIRE(reply.status == 200);
  CHECK(reply.content_type == "application/x-ndjson");
  auto lines = reply.lines();
  std::map<std::string, int> counts;
  std::map<std::string, std::set<std::string>> batches;  // product code -> batches
  std::map<std::string, std::string> alias;              // ppn -> gtin of the same product
  const std::vector<std::string> order{"product", "batch", "pack", "aggregation", "end"};
  std::size_t rank = 0;
  bool recalled = false, withdrawn = false, day00 = false, past = false, ppn_packs = false;
  for (const auto& o : lines) {
    std::string type(o.at("type").as_string());
    auto at = std::find(order.begin(), order.end(), type);
    REQUIRE(at != order.end());
    auto r = static_cast<std::size_t>(at - order.begin());
    REQUIRE(r >= rank);
    rank = r;
    ++counts[type];
    if (type == "product") {
      std::string gtin(o.at("gtin").as_string());
      CHECK(scanner::gs1::check_digit_ok(gtin));
      CHECK(gtin.size() == 14);
      if (o.contains("ppn")) {
        std::string ppn(o.at("ppn").as_string());
        CHECK(scanner::ppn::ppn_check_ok(ppn));
        CHECK(scanner::ppn::pzn_from_ntin(gtin) == scanner::ppn::pzn_from_ppn(ppn));  // NTIN and PPN: one PZN
        CHECK(o.at("market") == "DE");
        alias[ppn] = gtin;
      }
    } else if (type == "batch") {
      std::string expiry(o.at("expiry").as_string());
      REQUIRE(expiry.size() == 6);
      day00 = day00 || expiry.substr(4) == "00";
      past = past || expiry < "26";
      recalled = recalled || o.at("state") == "recalled";
      withdrawn = withdrawn || o.at("state") == "withdrawn";
      batches[std::string(o.at("gtin").as_string())].insert(std::string(o.at("batch").as_string()));
    } else if (type == "pack") {
      std::string code = o.contains("ppn") ? alias.at(std::string(o.at("ppn").as_string())) : std::string(o.at("gtin").as_string());
      ppn_packs = ppn_packs || o.contains("ppn");
      CHECK(batches[code].count(std::string(o.at("batch").as_string())) == 1);
      std::string serial(o.at("serial").as_string());
      CHECK(serial.size() >= 12);
      CHECK(serial.size() <= 20);
      CHECK(std::all_of(serial.begin(), serial.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }));
    } else if (type == "aggregation") {
      CHECK(scanner::gs1::check_digit_ok(std::string(o.at("sscc").as_string())));
      CHECK(o.at("children").as_array().size() == 16);
    } else {
      CHECK(o.at("seq") == 0);
    }
  }
  CHECK(counts["product"] == 12);
  CHECK(counts["pack"] == 3000);
  CHECK(counts["aggregation"] > 0);
  CHECK(counts["end"] == 1);
  CHECK(lines.back().at("type") == "end");
  CHECK((recalled && withdrawn && day00 && past && ppn_packs));
}

TEST_CASE("decommissions are accepted once and refused with NMVS codes after that", "[central_sim][transactions]") {
  Sim sim;
  auto packs = usable(sim.port(), 6);
  auto& p = packs[0];
  CHECK(send(sim.port(), {tx("t1", p, "supply")}) == std::vector<std::string>{"accepted"});
  CHECK(status_of(sim.port(), p) == "supplied");
  CHECK(send(sim.port(), {tx("t2", p, "supply"), tx("t3", p, "destroy")}) ==
        std::vector<std::string>{"NMVS_NC_PCK_19", "NMVS_NC_PCK_22"});

  PackRef unknown_product = p;
  unknown_product.key = "gtin";
  unknown_product.code = "09506000134352";
  PackRef unknown_serial = packs[1];
  unknown_serial.serial = "NOSUCHSERIAL0001";
  PackRef wrong_batch = packs[1];
  wrong_batch.batch = packs[1].batch == "X1" ? "X2" : "X1";
  PackRef wrong_expiry = packs[1];
  wrong_expiry.expiry = "991231";
  CHECK(send(sim.port(), {tx("t4", unknown_product, "supply"), tx("t5", unknown_serial, "supply"),
                          tx("t6", wrong_batch, "supply"), tx("t7", wrong_expiry, "supply")}) ==
        std::vector<std::string>{"NMVS_NC_PC_01", "NMVS_NC_PC_02", "NMVS_FE_LOT_03", "NMVS_FE_LOT_12"});
  CHECK(status_of(sim.port(), packs[1]) == "active");
}

TEST_CASE("undo needs the same status and location within 10 days and destroy is never undone", "[central_sim][transactions][undo]") {
  Sim sim;
  auto packs = usable(sim.port(), 4);
  auto now = std::chrono::system_clock::now();
  std::string supplied_at = iso(now - std::chrono::hours(24 * 11));
  CHECK(send(sim.port(), {tx("s1", packs[0], "supply", false, "GLN-A", supplied_at),
                          tx("s2", packs[1], "supply", false, "GLN-A"), tx("s3", packs[2], "destroy", false, "GLN-A")}) ==
        std::vector<std::string>{"accepted", "accepted", "accepted"});
  CHECK(send(sim.port(), {tx("u1", packs[0], "supply", true, "GLN-A"),   // 11 days later
                          tx("u2", packs[1], "supply", true, "GLN-B"),   // another location
                          tx("u3", packs[1], "export", true, "GLN-A"),   // status is supplied, not exported
                          tx("u4", packs[2], "destroy", true, "GLN-A"),  // never undone
                          tx("u5", packs[3], "supply", true, "GLN-A")}) ==  // still active
        std::vector<std::string>{"NMVS_NC_PCK_20", "NMVS_NC_PCK_21", "NMVS_NC_PCK_06", "NMVS_NC_PCK_27",
                                 "NMVS_NC_PCK_06"});
  CHECK(send(sim.port(), {tx("u6", packs[1], "supply", true, "GLN-A")}) == std::vector<std::string>{"accepted"});
  CHECK(status_of(sim.port(), packs[1]) == "active");
  auto history = get(sim.port(), "/central/v1/packs/" + packs[1].code + "/" + packs[1].serial).json().at("history").as_array();
  REQUIRE(history.size() == 2);
  CHECK(history[0].at("event") == "decommission");
  CHECK(history[1].at("event") == "undo");
  CHECK(history[1].at("transaction") == "u6");
}

TEST_CASE("a recalled batch can no longer be supplied but still destroyed and the recall is on the feed", "[central_sim][recall][feed]") {
  Sim sim;
  auto packs = usable(sim.port(), 1);
  auto& p = packs[0];
  std::uint64_t head = sim.central().seq();
  auto recall = post(sim.port(), "/admin/batches/" + p.code + "/" + p.batch + "/recall", json::object{{"reason", "sterility"}});
  REQUIRE(recall.status == 200);
  auto feed = get(sim.port(), "/central/v1/changes?since=" + std::to_string(head));
  auto lines = feed.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("type") == "batch");
  CHECK(text(lines[0].at("batch")) == p.batch);
  CHECK(lines[0].at("state") == "recalled");
  CHECK(lines[0].at("reason") == "sterility");
  CHECK(lines[0].at("op") == "upsert");
  CHECK(lines[0].at("seq") == head + 1);
  CHECK(send(sim.port(), {tx("r1", p, "supply"), tx("r2", p, "destroy")}) ==
        std::vector<std::string>{"NMVS_FE_LOT_01", "accepted"});
  // The accepted transaction is a change on the feed too, for the other vpoint instances.
  auto after = get(sim.port(), "/central/v1/changes?since=" + std::to_string(head + 1)).lines();
  REQUIRE(after.size() == 1);
  CHECK(after[0].at("type") == "pack");
  CHECK(text(after[0].at("serial")) == p.serial);
  CHECK(after[0].at("status") == "destroyed");
}

TEST_CASE("a replayed transaction id gets its first result and changes nothing", "[central_sim][transactions][idempotency]") {
  Sim sim;
  auto packs = usable(sim.port(), 1);
  auto& p = packs[0];
  CHECK(send(sim.port(), {tx("same-id", p, "supply")}) == std::vector<std::string>{"accepted"});
  auto reset = post(sim.port(), "/admin/packs/" + p.code + "/" + p.serial + "/status", json::object{{"status", "active"}});
  REQUIRE(reset.status == 200);
  std::uint64_t seq = sim.central().seq();
  // Same id, even with another action: the first result, no state change, no feed entry.
  CHECK(send(sim.port(), {tx("same-id", p, "destroy")}) == std::vector<std::string>{"accepted"});
  CHECK(status_of(sim.port(), p) == "active");
  CHECK(sim.central().seq() == seq);
  CHECK(get(sim.port(), "/admin/transactions?id=same-id").json().at("transactions").as_array().size() == 1);
}

TEST_CASE("the long poll answers as soon as a change arrives and empty after the wait", "[central_sim][feed]") {
  Sim sim;
  auto packs = usable(sim.port(), 1);
  std::string head = std::to_string(sim.central().seq());
  auto started = Clock::now();
  auto empty = get(sim.port(), "/central/v1/changes?since=" + head + "&wait=1");
  auto waited = Clock::now() - started;
  CHECK(empty.status == 200);
  CHECK(empty.body.empty());
  CHECK(waited >= 900ms);
  CHECK(waited < 5s);

  auto poll = std::async(std::launch::async, [&] { return get(sim.port(), "/central/v1/changes?since=" + head + "&wait=20"); });
  std::this_thread::sleep_for(300ms);
  started = Clock::now();
  CHECK(send(sim.port(), {tx("lp1", packs[0], "supply")}) == std::vector<std::string>{"accepted"});
  REQUIRE(poll.wait_for(5s) == std::future_status::ready);
  CHECK(Clock::now() - started < 5s);
  auto lines = poll.get().lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("status") == "supplied");
  CHECK(lines[0].at("seq") == std::stoull(head) + 1);

  CHECK(get(sim.port(), "/central/v1/changes?since=999999").status == 410);
  CHECK(get(sim.port(), "/central/v1/changes?since=abc").status == 400);
}

TEST_CASE("bad input gets problem+json and changes nothing", "[central_sim][errors]") {
  Sim sim;
  auto port = sim.port();
  auto malformed = must(request(port, http::verb::post, "/central/v1/transactions", "{\"transactions\":[", "application/json"));
  CHECK(malformed.status == 400);
  CHECK(malformed.content_type == "application/problem+json");
  auto wrong_type = must(request(port, http::verb::post, "/central/v1/transactions", "{}", "text/plain"));
  CHECK(wrong_type.status == 415);
  auto bad_action = post(port, "/central/v1/transactions",
                         json::object{{"transactions", json::array{json::object{{"id", "x"}, {"gtin", "09506000134352"}, {"serial", "A1"}, {"action", "eat"}}}}});
  CHECK(bad_action.status == 400);
  CHECK(bad_action.json().at("field") == "transactions[0].action");
  auto unknown = get(port, "/central/v1/packs/09506000134352/NOPE");
  CHECK(unknown.status == 404);
  CHECK(unknown.content_type == "application/problem+json");
  auto upload = must(request(port, http::verb::post, "/admin/upload",
                             "{\"type\":\"product\",\"gtin\":\"09506000134352\",\"name\":\"X\"}\n{\"type\":\"pack\",\"gtin\":\"09506000134352\",\"serial\":\"S1\",\"batch\":\"NOBATCH\"}\n",
                             "application/x-ndjson"));
  CHECK(upload.status == 400);
  CHECK(upload.json().at("detail").as_string().starts_with("line 2"));
  CHECK(get(port, "/central/v1/packs/09506000134352/S1").status == 404);  // the valid line 1 was not applied either
  auto faults = post(port, "/admin/faults", json::object{{"error_rate", 2}});
  CHECK(faults.status == 400);
  CHECK(sim.central().seq() == 0);
}

TEST_CASE("uploaded products and batches and packs are in the snapshot and on the feed and can be looked up", "[central_sim][admin]") {
  Sim sim;
  std::string ndjson =
      "{\"type\":\"product\",\"gtin\":\"09506000134352\",\"name\":\"Testamol\",\"market\":\"DE\"}\n"
      "{\"type\":\"batch\",\"gtin\":\"09506000134352\",\"batch\":\"B1\",\"expiry\":\"301200\"}\n"
      "{\"type\":\"pack\",\"gtin\":\"09506000134352\",\"serial\":\"SER-0001\",\"batch\":\"B1\"}\n";
  auto up = must(request(sim.port(), http::verb::post, "/admin/upload", ndjson, "application/x-ndjson"));
  REQUIRE(up.status == 200);
  CHECK(up.json().at("packs") == 1);
  auto pack = get(sim.port(), "/central/v1/packs/09506000134352/SER-0001").json().as_object();
  CHECK(pack.at("gtin") == "09506000134352");
  CHECK(pack.at("batch") == "B1");
  CHECK(pack.at("expiry") == "301200");
  CHECK(pack.at("status") == "active");
  auto feed = get(sim.port(), "/central/v1/changes?since=0").lines();
  REQUIRE(feed.size() == 3);
  CHECK(feed[2].at("type") == "pack");
  auto snapshot = get(sim.port(), "/central/v1/snapshot").lines();
  CHECK(std::count_if(snapshot.begin(), snapshot.end(), [](const json::object& o) { return o.at("type") == "pack"; }) == 3001);
  CHECK(snapshot.back().at("seq") == 3);
  auto del = must(request(sim.port(), http::verb::delete_, "/admin/packs/09506000134352/SER-0001"));
  CHECK(del.status == 200);
  CHECK(get(sim.port(), "/central/v1/packs/09506000134352/SER-0001").status == 404);
  auto last = get(sim.port(), "/central/v1/changes?since=3").lines();
  REQUIRE(last.size() == 1);
  CHECK(last[0].at("op") == "delete");
}

TEST_CASE("faults add latency or fail or refuse central requests but never admin requests", "[central_sim][faults]") {
  Sim sim;
  auto port = sim.port();
  auto packs = usable(port, 1);
  REQUIRE(post(port, "/admin/faults", json::object{{"latency_ms", 400}}).status == 200);
  auto started = Clock::now();
  CHECK(get(port, "/central/v1/changes?since=0").status == 200);
  CHECK(Clock::now() - started >= 400ms);
  started = Clock::now();
  CHECK(get(port, "/admin/status").status == 200);
  CHECK(Clock::now() - started < 400ms);

  REQUIRE(post(port, "/admin/faults", json::object{{"latency_ms", 0}, {"error_rate", 1.0}}).status == 200);
  auto failed = post(port, "/central/v1/transactions", json::object{{"transactions", json::array{tx("f1", packs[0], "supply")}}});
  CHECK(failed.status == 503);
  CHECK(failed.content_type == "application/problem+json");
  CHECK(get(port, "/admin/transactions").json().at("total") == 0);  // not applied

  REQUIRE(post(port, "/admin/faults", json::object{{"error_rate", 0.0}, {"refuse", true}}).status == 200);
  CHECK_FALSE(request(port, http::verb::get, "/central/v1/snapshot").has_value());
  CHECK(get(port, "/admin/status").status == 200);
  REQUIRE(must(request(port, http::verb::delete_, "/admin/faults")).status == 200);
  CHECK(get(port, "/central/v1/changes?since=0").status == 200);

  REQUIRE(post(port, "/admin/faults", json::object{{"refuse_seconds", 1}}).status == 200);
  CHECK_FALSE(request(port, http::verb::get, "/central/v1/changes?since=0").has_value());
  std::this_thread::sleep_for(1200ms);
  CHECK(get(port, "/central/v1/changes?since=0").status == 200);
}

TEST_CASE("a held feed announces nothing while look-ups and transactions see every change, then catches up", "[central_sim][faults][feed]") {
  Sim sim;
  auto port = sim.port();
  auto packs = usable(port, 1);
  std::string head = std::to_string(sim.central().seq());
  REQUIRE(post(port, "/admin/faults", json::object{{"feed_hold", true}}).status == 200);
  CHECK(get(port, "/admin/faults").json().at("feed_hold") == true);
  // A poll waiting when the change arrives is not woken with it.
  auto poll = std::async(std::launch::async, [&] { return get(port, "/central/v1/changes?since=" + head + "&wait=1"); });
  std::this_thread::sleep_for(200ms);
  CHECK(send(port, {tx("h1", packs[0], "supply")}) == std::vector<std::string>{"accepted"});
  REQUIRE(poll.wait_for(5s) == std::future_status::ready);
  auto held = poll.get();
  CHECK(held.status == 200);
  CHECK(held.body.empty());
  CHECK(get(port, "/central/v1/changes?since=" + head).body.empty());
  CHECK(status_of(port, packs[0]) == "supplied");  // the live look-up knows it
  REQUIRE(post(port, "/admin/faults", json::object{{"feed_hold", false}}).status == 200);
  auto lines = get(port, "/central/v1/changes?since=" + head).lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("status") == "supplied");
}

TEST_CASE("after a response dropped after applying the retry gets the first result and nothing is doubled", "[central_sim][faults][idempotency]") {
  Sim sim;
  auto port = sim.port();
  auto packs = usable(port, 1);
  REQUIRE(post(port, "/admin/faults", json::object{{"drop_after_apply", 1}}).status == 200);
  json::object body{{"transactions", json::array{tx("d1", packs[0], "supply")}}};
  CHECK_FALSE(request(port, http::verb::post, "/central/v1/transactions", json::serialize(body)).has_value());
  CHECK(status_of(port, packs[0]) == "supplied");  // applied although unanswered
  CHECK(send(port, {tx("d1", packs[0], "supply")}) == std::vector<std::string>{"accepted"});
  CHECK(get(port, "/admin/transactions").json().at("total") == 1);
  CHECK(get(port, "/central/v1/changes?since=0").lines().size() == 1);
  CHECK(get(port, "/admin/faults").json().at("dropped") == 1);
}

TEST_CASE("state survives a restart of the process even after kill -9", "[central_sim][persistence]") {
  TempDir dir;
  std::vector<std::string> args{"--listen", "127.0.0.1:0", "--data", dir.path.string(), "--seed", "5", "--products", "8", "--packs", "500"};
  std::string snapshot_before;
  PackRef p;
  {
    SimProcess sim(args);
    auto port = sim.wait_listening();
    p = usable(port, 1)[0];
    CHECK(send(port, {tx("p1", p, "supply")}) == std::vector<std::string>{"accepted"});
    REQUIRE(post(port, "/admin/batches/" + p.code + "/" + p.batch + "/withdraw", json::object{}).status == 200);
    REQUIRE(post(port, "/central/v1/alerts", json::object{{"id", "a1"}, {"reason", "unknown_serial"}}).status == 202);
    snapshot_before = get(port, "/central/v1/snapshot").body;
    sim.kill_and_wait(SIGKILL);
  }
  auto next_args = args;
  next_args[5] = "6";  // another seed: ignored, the data dir decides
  SimProcess sim(next_args);
  auto port = sim.wait_listening();
  CHECK(status_of(port, p) == "supplied");
  CHECK(get(port, "/central/v1/snapshot").body == snapshot_before);
  CHECK(send(port, {tx("p1", p, "destroy")}) == std::vector<std::string>{"accepted"});  // first result
  CHECK(status_of(port, p) == "supplied");
  auto feed = get(port, "/central/v1/changes?since=0").lines();
  REQUIRE(feed.size() == 2);
  CHECK(feed[1].at("state") == "withdrawn");
  CHECK(get(port, "/admin/alerts").json().at("total") == 1);
  auto status = sim.kill_and_wait(SIGTERM);
  CHECK(WIFEXITED(status));
}

TEST_CASE("print-packs prints usable packs as NDJSON that scan back to the same pack", "[central_sim][cli]") {
  SimProcess sim({"--print-packs", "25", "--scan-text", "--products", "9", "--packs", "900"});
  std::string out = sim.read_until_exit();
  CHECK(sim.wait_exit() == 0);
  int count = 0;
  bool ppn_seen = false;
  std::size_t start = 0;
  while (start < out.size()) {
    auto nl = out.find('\n', start);
    REQUIRE(nl != std::string::npos);
    auto o = json::parse(std::string_view(out).substr(start, nl - start)).as_object();
    start = nl + 1;
    ++count;
    CHECK(o.at("status") == "active");
    CHECK(o.at("expiry").as_string().size() == 6);
    auto parsed = scanner::parse(std::string(o.at("scan").as_string()));
    REQUIRE(parsed);
    CHECK(parsed->pack.serial == o.at("serial").as_string());
    CHECK(parsed->pack.batch == o.at("batch").as_string());
    CHECK(parsed->pack.expiry == o.at("expiry").as_string());
    if (o.contains("ppn")) {
      ppn_seen = true;
      CHECK(parsed->pack.ppn == o.at("ppn").as_string());
    } else {
      CHECK(parsed->pack.gtin == o.at("gtin").as_string());
    }
  }
  CHECK(count == 25);
  CHECK(ppn_seen);
}

TEST_CASE("a snapshot file seeds a simulator with the same data and a restart keeps it", "[central_sim][snapshot]") {
  TempDir dir;
  std::string original;
  {
    Sim source;
    auto packs = usable(source.port(), 1);
    CHECK(send(source.port(), {tx("s-1", packs[0], "supply")}) == std::vector<std::string>{"accepted"});
    original = get(source.port(), "/central/v1/snapshot").body;
  }
  std::ofstream(dir.path / "snap.ndjson") << original;
  central_sim::StateOptions options;
  options.snapshot_file = (dir.path / "snap.ndjson").string();
  options.data_dir = (dir.path / "data").string();
  auto sorted_lines = [](const std::string& body) {
    std::multiset<std::string> lines;
    std::size_t start = 0;
    while (start < body.size()) {
      auto nl = body.find('\n', start);
      lines.insert(body.substr(start, nl - start));
      start = nl + 1;
    }
    return lines;
  };
  {
    Sim copy(options);
    CHECK(sorted_lines(get(copy.port(), "/central/v1/snapshot").body) == sorted_lines(original));
    CHECK(copy.central().seq() == 1);  // the end line's position
  }
  options.snapshot_file.clear();  // a restart reads the copy kept in the data dir
  Sim again(options);
  CHECK(sorted_lines(get(again.port(), "/central/v1/snapshot").body) == sorted_lines(original));
}
