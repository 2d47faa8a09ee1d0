// scripts/bench sync [--packs N] [--products P] [--rate R] [--seconds S] [--burst N] [--connections C] [--sim-fsync]
// The central link (issue 6, "Benchmark"), end to end with real processes on 127.0.0.1:
//   sync_import_packs_per_s  vpointd started on an empty mirror imports the simulator's snapshot over HTTP by
//                            itself: packs / seconds from starting vpointd until /readyz answers 200 (the
//                            new generation is live, the link then follows the change feed)
//   sync_import_ratio        that rate / `redis-cli --pipe` loading the same snapshot into a fresh server as the
//                            RESP commands the importer writes (one HSET per pack, same keys, fields and
//                            values; the product, batch and case keys too), measured in this run (goal >= 0.8)
//   lag_p50_ms, lag_p99_ms   decommissions (supply of distinct active packs) sent to vpointd at a fixed rate
//                            (default 1 000/s for 20 s) while the link drains: the simulator's receive time of
//                            each transaction minus the local decommission time it carries (the outbox
//                            entry's Redis TIME), for every transaction of the run
//   drain_per_s              a burst: N supplies made while the simulator refuses every connection (fault
//                            `refuse`), then the fault is cleared; transactions / (last - first receive time
//                            at the simulator). burst_empty_s: wall time from clearing the fault until the
//                            outbox is empty (includes the link's retry backoff, at most 5 s)
// Setup, in a temp dir removed at the end: redis-server with docker/redis.conf but `--appendonly no --save ""`
// (the same for the baseline server: neither side pays for persistence), vpoint-central-sim seeded
// procedurally (--seed 7, --no-fsync unless --sim-fsync), vpointd with a [central] url. Every phase is
// bounded in time and count; every process started here is ended on exit, on failure and on SIGINT/SIGTERM.
// VPOINT_BENCH_PACKS sets the default of --packs (10 000 000) for development runs.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "barcode_images.hpp"  // ScratchDir
#include "bench_support.hpp"
#include "redis_server.hpp"    // free_port, run_process
#include "result_line.hpp"
#include "service_support.hpp"  // HttpClient
#include "state.hpp"            // central_sim::parse_rfc3339
// The mirror's key layout, so that the redis-cli --pipe baseline writes exactly the keys and fields the import
// writes (internal to cache/, as in mirror_bench; checked against vpointd's import at run time).
#include "mirror_keys.hpp"
#include "vpoint/cache/mirror.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace http = boost::beast::http;
namespace keys = vpoint::cache::detail;
using namespace std::chrono_literals;
using vpoint::bench::append_command;
using vpoint::bench::BenchClock;
using vpoint::bench::Child;
using vpoint::bench::Latencies;
using vpoint::bench::ResultLine;
using vpoint::bench::seconds_since;
using vpoint::bench::throw_if_stopped;

constexpr const char* kRedisServer = "/usr/bin/redis-server";
constexpr const char* kRedisCli = "/usr/bin/redis-cli";
constexpr const char* kCurl = "/usr/bin/curl";
constexpr const char* kKey = "bench-sync-pharmacy-key-0001";
constexpr const char* kLocation = "4012345000009";
constexpr double kImportGoal = 0.8;  // issue 6: sync_import_ratio >= 0.8

struct Options {
  std::uint64_t packs = 10'000'000;
  std::uint32_t products = 1000;
  double rate = 1000;          // decommissions per second in the lag phase
  double seconds = 20;         // length of the lag phase
  std::uint64_t burst = 20'000;
  int connections = 32;        // client connections of the load phases
  bool sim_fsync = false;
};

constexpr const char* kUsage =
    "usage: sync_bench [--packs N (100000..100000000, default $VPOINT_BENCH_PACKS or 10000000)] [--products P]\n"
    "                  [--rate R (10..20000)] [--seconds S (5..600)] [--burst N (1000..1000000)]\n"
    "                  [--connections C (1..256)] [--sim-fsync]\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "sync_bench: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

std::uint64_t whole_number(const std::string& name, const std::string& text) {
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos)
    usage_error(name + ": '" + text + "' is not a positive whole number");
  return std::stoull(text);
}

Options parse_options(int argc, char** argv) {
  Options o;
  if (const char* env = std::getenv("VPOINT_BENCH_PACKS"); env && *env) o.packs = whole_number("VPOINT_BENCH_PACKS", env);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::uint64_t {
      if (i + 1 >= argc) usage_error(arg + ": needs a number");
      return whole_number(arg, argv[++i]);
    };
    if (arg == "--packs") o.packs = value();
    else if (arg == "--products") o.products = static_cast<std::uint32_t>(value());
    else if (arg == "--rate") o.rate = static_cast<double>(value());
    else if (arg == "--seconds") o.seconds = static_cast<double>(value());
    else if (arg == "--burst") o.burst = value();
    else if (arg == "--connections") o.connections = static_cast<int>(value());
    else if (arg == "--sim-fsync") o.sim_fsync = true;
    else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    else usage_error("unknown argument '" + arg + "'");
  }
  // Enough usable packs (~85 % of the seeded ones are active, unexpired, not recalled) for both load phases.
  if (o.packs < 100'000 || o.packs > 100'000'000) usage_error("--packs: must be 100000..100000000");
  if (o.products < 10 || o.products > 100'000) usage_error("--products: must be 10..100000");
  if (o.rate < 10 || o.rate > 20'000) usage_error("--rate: must be 10..20000");
  if (o.seconds < 5 || o.seconds > 600) usage_error("--seconds: must be 5..600");
  if (o.burst < 1000 || o.burst > 1'000'000) usage_error("--burst: must be 1000..1000000");
  if (o.connections < 1 || o.connections > 256) usage_error("--connections: must be 1..256");
  return o;
}

// ---- processes ------------------------------------------------------------------------------------------

std::string redis_cli(std::uint16_t port, const std::vector<std::string>& args) {
  std::vector<std::string> argv{kRedisCli, "-h", "127.0.0.1", "-p", std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  auto out = vpoint::test::run_process(argv, 30s);
  if (out.exit_code != 0) throw std::runtime_error("redis-cli failed: " + out.output);
  while (!out.output.empty() && (out.output.back() == '\n' || out.output.back() == '\r')) out.output.pop_back();
  return out.output;
}

// redis-server with the shipped config (docker/redis.conf: noeviction, listpack limits) on a free loopback
// port in its own dir, persistence off.
struct Redis {
  std::uint16_t port = 0;
  std::unique_ptr<Child> process;
};
Redis start_redis(const fs::path& dir) {
  fs::create_directories(dir);
  Redis r;
  r.port = vpoint::test::free_port();
  r.process = std::make_unique<Child>(
      std::vector<std::string>{kRedisServer, std::string(VPOINT_SOURCE_DIR) + "/docker/redis.conf", "--port",
                               std::to_string(r.port), "--bind", "127.0.0.1", "--dir", dir.string(), "--appendonly", "no",
                               "--save", ""},
      (dir / "redis.log").string());
  const auto deadline = BenchClock::now() + 10s;
  while (BenchClock::now() < deadline) {
    throw_if_stopped();
    auto out = vpoint::test::run_process({kRedisCli, "-h", "127.0.0.1", "-p", std::to_string(r.port), "ping"}, 2s);
    if (out.output.find("PONG") != std::string::npos) return r;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("redis-server did not answer PING within 10 s: " + vpoint::bench::read_text((dir / "redis.log").string()));
}

double redis_cpu_seconds(std::uint16_t port) {
  const std::string info = redis_cli(port, {"INFO", "cpu"});
  double total = 0;
  for (const char* name : {"used_cpu_sys:", "used_cpu_user:"}) {
    const auto pos = info.find(name);
    if (pos == std::string::npos) throw std::runtime_error(std::string("INFO cpu has no ") + name);
    total += std::stod(info.substr(pos + std::strlen(name)));
  }
  return total;
}

// The first stdout line of a server that prints "listening http://HOST:PORT" when it is ready.
std::string listening_url(const std::string& file, Child& process, std::chrono::seconds timeout) {
  const auto deadline = BenchClock::now() + timeout;
  while (BenchClock::now() < deadline) {
    throw_if_stopped();
    const std::string text = vpoint::bench::read_text(file);
    if (auto nl = text.find('\n'); nl != std::string::npos && text.rfind("listening ", 0) == 0) return text.substr(10, nl - 10);
    if (!process.running()) throw std::runtime_error("the simulator exited: " + text);
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("no 'listening' line in " + file);
}

std::uint16_t port_of(const std::string& url) { return static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1))); }

json::value parse_json(const std::string& text, const std::string& what) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) throw std::runtime_error(what + ": not JSON (" + ec.message() + "): " + text.substr(0, 300));
  return v;
}

// One call to the simulator's admin API (a fresh connection each time: rare calls).
json::value sim_admin(std::uint16_t port, http::verb verb, const std::string& target, const std::string& body = "") {
  vpoint::test::HttpClient client(port, {.timeout = 60s});
  auto res = client.request(verb, target, body, {{"Content-Type", "application/json"}});
  if (res.result_int() >= 300)
    throw std::runtime_error("simulator " + target + ": HTTP " + std::to_string(res.result_int()) + " " + res.body());
  return res.body().empty() ? json::value() : parse_json(res.body(), target);
}

std::uint64_t sim_transaction_total(std::uint16_t port) {
  return sim_admin(port, http::verb::get, "/admin/transactions?limit=1").at("total").to_number<std::uint64_t>();
}

// The transactions the simulator received after the first `from` (its log is in arrival order).
struct ReceivedTx {
  std::string result;
  std::int64_t local_ms = 0;     // "time" of the transaction: the local decommission (outbox entry, Redis TIME)
  std::int64_t received_ms = 0;  // when the simulator received and decided it
};
std::vector<ReceivedTx> sim_transactions_since(std::uint16_t port, std::uint64_t from) {
  const std::uint64_t total = sim_transaction_total(port);
  std::vector<ReceivedTx> out;
  if (total <= from) return out;
  auto page = sim_admin(port, http::verb::get, "/admin/transactions?limit=" + std::to_string(total - from));
  for (const auto& v : page.at("transactions").as_array()) {
    const auto& o = v.as_object();
    auto local = vpoint::central_sim::parse_rfc3339(o.at("request").as_object().at("time").as_string());
    auto received = vpoint::central_sim::parse_rfc3339(o.at("received").as_string());
    if (!local || !received) throw std::runtime_error("simulator transaction without a readable time: " + json::serialize(o));
    out.push_back({std::string(o.at("result").as_string()), *local, *received});
  }
  return out;
}

// Outbox depth over all partitions, as `vpoint status --json` reads it from the mirror.
std::int64_t outbox_total(std::uint16_t redis_port) {
  auto out = vpoint::test::run_process(
      {VPOINT_CLI, "status", "--redis", "redis://127.0.0.1:" + std::to_string(redis_port), "--json"}, 30s);
  if (out.exit_code != 0) throw std::runtime_error("vpoint status failed: " + out.output);
  return parse_json(out.output, "vpoint status").at("outbox").at("total").to_number<std::int64_t>();
}

// Polls the outbox until it is empty; seconds it took, or -1 after `timeout`.
double wait_outbox_empty(std::uint16_t redis_port, std::chrono::seconds timeout) {
  const auto start = BenchClock::now();
  while (BenchClock::now() - start < timeout) {
    throw_if_stopped();
    if (outbox_total(redis_port) == 0) return seconds_since(start);
    std::this_thread::sleep_for(100ms);
  }
  return -1;
}

// ---- decommission load ----------------------------------------------------------------------------------

struct LoadRun {
  std::uint64_t requests = 0, ok = 0, other_verdict = 0, failed = 0;
  double seconds = 0;
  double max_behind_ms = 0;  // paced runs: how far the client fell behind its schedule at worst
  Latencies latency;         // client-side response time, µs
  std::string first_problem;
  double per_s() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

// POST /v1/decommission for bodies[0..n) from `connections` keep-alive connections. rate > 0: request i is sent
// at start + i / rate (open loop: a slow answer does not delay the schedule of the other connections);
// rate == 0: as fast as the connections go. Stops at `budget`.
LoadRun run_load(std::uint16_t port, const std::vector<std::string>& bodies, double rate, int connections,
                 std::chrono::seconds budget) {
  LoadRun total;
  std::mutex mutex;
  std::atomic<std::uint64_t> next{0};
  const auto start = BenchClock::now() + 50ms;
  const auto deadline = start + budget;
  const std::map<std::string, std::string> headers{{"Content-Type", "application/json"},
                                                   {"Authorization", std::string("Bearer ") + kKey}};
  auto worker = [&]() {
    LoadRun mine;
    std::unique_ptr<vpoint::test::HttpClient> client;
    while (!vpoint::bench::stop_requested() && BenchClock::now() < deadline) {
      const std::uint64_t i = next++;
      if (i >= bodies.size()) break;
      if (rate > 0) {
        const auto due = start + std::chrono::duration_cast<BenchClock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(i) / rate));
        std::this_thread::sleep_until(due);
        mine.max_behind_ms = std::max(mine.max_behind_ms, std::chrono::duration<double, std::milli>(BenchClock::now() - due).count());
      }
      const auto t0 = BenchClock::now();
      ++mine.requests;
      try {
        if (!client) client = std::make_unique<vpoint::test::HttpClient>(port, vpoint::test::ClientOptions{.timeout = 10s});
        auto res = client->request(http::verb::post, "/v1/decommission", bodies[i], headers);
        mine.latency.us.push_back(std::chrono::duration<double, std::micro>(BenchClock::now() - t0).count());
        if (res.result_int() == 200 && res.body().find("\"verdict\":\"ok\"") != std::string::npos) {
          ++mine.ok;
        } else {
          ++mine.other_verdict;
          if (mine.first_problem.empty()) mine.first_problem = std::to_string(res.result_int()) + " " + res.body().substr(0, 300);
        }
        if (res.need_eof()) client.reset();
      } catch (const std::exception& e) {
        ++mine.failed;
        if (mine.first_problem.empty()) mine.first_problem = e.what();
        client.reset();
      }
    }
    std::lock_guard lock(mutex);
    total.requests += mine.requests;
    total.ok += mine.ok;
    total.other_verdict += mine.other_verdict;
    total.failed += mine.failed;
    total.max_behind_ms = std::max(total.max_behind_ms, mine.max_behind_ms);
    total.latency.us.insert(total.latency.us.end(), mine.latency.us.begin(), mine.latency.us.end());
    if (total.first_problem.empty()) total.first_problem = mine.first_problem;
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(BenchClock::now() - start).count();
  return total;
}

// Request bodies for the load phases: usable packs (active, batch active, unexpired) as a scanner sends them.
std::vector<std::string> decommission_bodies(const std::string& ndjson_file) {
  std::vector<std::string> bodies;
  std::ifstream in(ndjson_file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto v = parse_json(line, "--print-packs line");
    bodies.push_back(json::serialize(json::object{{"scan", v.at("scan")}, {"action", "supply"}}));
  }
  return bodies;
}

// ---- the redis-cli --pipe baseline ----------------------------------------------------------------------

// Where the baseline writes a pack, to check it against vpointd's import.
struct Probe {
  std::string key, field, value;
};

struct Conversion {
  std::uint64_t lines = 0, packs = 0, commands = 0;
  std::vector<Probe> probes;
};

// The snapshot (NDJSON as GET /central/v1/snapshot serves it) as the RESP commands the importer writes
// (cache/src/import.cpp), but one command per pack instead of its multi-field HSETs: the product and batch
// hashes and lists, the pack buckets, the cases, the feed position and the generation switch.
Conversion snapshot_to_resp(const std::string& ndjson_file, const std::string& resp_file, std::int64_t generation,
                            int buckets) {
  struct Product {
    std::uint32_t index = 0;
    std::string code;
    std::map<std::string, std::uint32_t, std::less<>> batches;
  };
  std::map<std::string, std::shared_ptr<Product>, std::less<>> products;  // every code (GTIN and PPN)
  const std::string gen = std::to_string(generation);
  const std::string plist = "plist:" + gen, aglist = "aglist:" + gen;
  Conversion c;
  std::ifstream in(ndjson_file, std::ios::binary);
  vpoint::bench::Out out(resp_file);
  json::parser parser;
  std::string line, key, field, value;
  auto str = [](const json::object& o, const char* name) -> std::string_view {
    auto* v = o.if_contains(name);
    return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view{};
  };
  auto product_of = [&](const json::object& o) -> Product& {
    for (const char* name : {"gtin", "ppn"})
      if (auto it = products.find(str(o, name)); it != products.end()) return *it->second;
    throw std::runtime_error("snapshot line " + std::to_string(c.lines) + ": names no product given earlier");
  };
  while (std::getline(in, line)) {
    ++c.lines;
    if (line.empty()) continue;
    parser.reset();
    boost::system::error_code ec;
    parser.write(line.data(), line.size(), ec);
    if (ec) throw std::runtime_error("snapshot line " + std::to_string(c.lines) + ": " + ec.message());
    const json::value v = parser.release();
    const auto& o = v.as_object();
    const auto type = str(o, "type");
    auto& r = out.buf();
    if (type == "pack") {
      Product& p = product_of(o);
      const auto serial = str(o, "serial");
      auto status = vpoint::cache::parse_pack_status(o.contains("status") ? str(o, "status") : "active");
      auto batch = p.batches.find(str(o, "batch"));
      if (!status || batch == p.batches.end()) throw std::runtime_error("snapshot line " + std::to_string(c.lines) + ": bad pack");
      const std::uint32_t h = keys::pack_hash(p.code, serial);
      key = keys::pack_key(static_cast<int>(h % vpoint::cache::kPartitions), generation,
                           static_cast<int>((h / vpoint::cache::kPartitions) % static_cast<std::uint32_t>(buckets)));
      field = keys::pack_field(p.index, serial);
      value = std::to_string(keys::pack_value(batch->second, static_cast<std::uint8_t>(*status)));
      append_command(r, {"HSET", key, field, value});
      if (c.packs % 100'000 == 0) c.probes.push_back({key, field, value});
      ++c.packs;
      ++c.commands;
    } else if (type == "product") {
      const auto gtin = str(o, "gtin"), ppn = str(o, "ppn");
      auto p = std::make_shared<Product>();
      p->code = std::string(gtin.empty() ? ppn : gtin);
      p->index = static_cast<std::uint32_t>(products.size());
      const std::string idx = std::to_string(p->index);
      append_command(r, {"HSET", keys::product_key(generation, p->code), "code", p->code, "gtin", gtin, "ppn", ppn, "name",
                         str(o, "name"), "market", str(o, "market"), "idx", idx});
      append_command(r, {"SADD", plist, p->code});
      c.commands += 2;
      if (!gtin.empty() && !ppn.empty()) {
        append_command(r, {"HSET", keys::product_key(generation, ppn), "alias", p->code});
        products.emplace(std::string(ppn), p);
        ++c.commands;
      }
      products.emplace(p->code, p);
    } else if (type == "batch") {
      Product& p = product_of(o);
      const auto batch = str(o, "batch");
      p.batches.emplace(std::string(batch), static_cast<std::uint32_t>(p.batches.size()));
      const auto* changed = o.if_contains("changed_at");
      const std::string changed_at = changed && changed->is_int64() ? std::to_string(changed->get_int64()) : "0";
      append_command(r, {"RPUSH", keys::batch_list_key(generation, p.code), batch});
      append_command(r, {"HSET", keys::batch_key(generation, p.code, batch), "expiry", str(o, "expiry"), "state",
                         o.contains("state") ? str(o, "state") : "active", "reason", str(o, "reason"), "t", changed_at});
      c.commands += 2;
    } else if (type == "aggregation") {
      const auto sscc = str(o, "sscc");
      for (const auto& child : o.at("children").as_array()) {
        const auto& co = child.as_object();
        const auto code = str(co, "gtin").empty() ? str(co, "ppn") : str(co, "gtin");
        append_command(r, {"RPUSH", keys::aggregation_key(generation, sscc), std::string(code) + "|" + std::string(str(co, "serial"))});
        ++c.commands;
      }
      append_command(r, {"SADD", aglist, sscc});
      ++c.commands;
    } else if (type == "end") {
      append_command(r, {"SET", keys::seq_key(generation), std::to_string(o.at("seq").to_number<std::int64_t>())});
      append_command(r, {"SET", keys::kGenerationKey, gen});
      c.commands += 2;
    }
    out.maybe_flush();
  }
  out.close();
  return c;
}

// ---- vpointd --------------------------------------------------------------------------------------------

std::string vpointd_config(std::uint16_t port, std::uint16_t redis_port, const std::string& central_url,
                           const fs::path& audit_dir) {
  return "[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\nthreads = " +
         std::to_string(std::max(1u, std::thread::hardware_concurrency())) + "\n\n[redis]\nurl = \"redis://127.0.0.1:" +
         std::to_string(redis_port) + "\"\n\n[central]\nurl = \"" + central_url + "\"\n\n[location]\ngln = \"" + kLocation +
         "\"\nname = \"Bench pharmacy\"\n\n[audit]\ndir = \"" + audit_dir.string() +
         "\"\n\n[log]\nlevel = \"info\"\n\n[[auth.keys]]\nname = \"bench-counter\"\nkey = \"" + kKey +
         "\"\nrole = \"pharmacy\"\n";
}

// The fields of vpointd's last log line with this "event" (JSON lines).
std::optional<json::object> last_event(const std::string& log_file, std::string_view event) {
  std::ifstream in(log_file);
  std::string line;
  std::optional<json::object> found;
  const std::string needle = "\"event\":\"" + std::string(event) + "\"";
  while (std::getline(in, line)) {
    if (line.find(needle) == std::string::npos) continue;
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (!ec && v.is_object()) found = v.as_object();
  }
  return found;
}

// Waits until GET /readyz answers 200; prints the loading progress every 10 s.
void wait_ready(std::uint16_t port, Child& vpointd, const std::string& log_file, std::chrono::seconds timeout) {
  const auto start = BenchClock::now();
  auto next_report = start + 10s;
  std::unique_ptr<vpoint::test::HttpClient> client;
  while (BenchClock::now() - start < timeout) {
    throw_if_stopped();
    if (!vpointd.running()) throw std::runtime_error("vpointd exited; its log:\n" + vpoint::bench::read_text(log_file).substr(0, 3000));
    try {
      if (!client) client = std::make_unique<vpoint::test::HttpClient>(port, vpoint::test::ClientOptions{.timeout = 5s});
      auto res = client->get("/readyz");
      if (res.result_int() == 200) return;
      if (BenchClock::now() > next_report) {  // the mirror check says "loading: N packs imported"
        boost::system::error_code ec;
        auto body = json::parse(res.body(), ec);
        const json::value* detail = ec ? nullptr : body.find_pointer("/checks/mirror/detail", ec);
        std::printf("  %.0f s: /readyz %d, mirror: %s\n", seconds_since(start), res.result_int(),
                    detail && detail->is_string() ? detail->get_string().c_str() : res.body().substr(0, 200).c_str());
        next_report += 10s;
      }
    } catch (const std::exception&) {
      client.reset();  // not listening yet
    }
    std::this_thread::sleep_for(100ms);
  }
  throw std::runtime_error("vpointd not ready after " + std::to_string(timeout.count()) + " s");
}

// CPU seconds used so far by the three servers of the run.
struct CpuSample {
  double vpointd = 0, sim = 0, redis = 0;
  CpuSample operator-(const CpuSample& o) const { return {vpointd - o.vpointd, sim - o.sim, redis - o.redis}; }
};
CpuSample cpu_sample(const Child& vpointd, const Child& sim, std::uint16_t redis_port) {
  return {vpoint::bench::process_cpu_seconds(vpointd.pid()), vpoint::bench::process_cpu_seconds(sim.pid()),
          redis_cpu_seconds(redis_port)};
}

double load_average() {
  double avg[1] = {0};
  return getloadavg(avg, 1) == 1 ? avg[0] : -1;
}

struct LagFigures {
  std::uint64_t transactions = 0, accepted = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double per_s = 0;        // transactions / (last - first receive time)
  std::uint64_t posts = 0;  // POST /central/v1/transactions requests (one receive time each)
  std::string worst_by_second;  // max lag of each second of local decommission time, first 60 s
};
LagFigures lag_figures(const std::vector<ReceivedTx>& txs) {
  LagFigures f;
  if (txs.empty()) return f;
  Latencies lags;
  std::int64_t first = txs.front().received_ms, last = first;
  for (const auto& t : txs) {
    lags.us.push_back(static_cast<double>(t.received_ms - t.local_ms) * 1000);
    f.accepted += t.result == "accepted";
    first = std::min(first, t.received_ms);
    last = std::max(last, t.received_ms);
  }
  f.transactions = txs.size();
  f.p50_ms = lags.percentile(0.50) / 1000;
  f.p99_ms = lags.percentile(0.99) / 1000;
  f.max_ms = lags.percentile(1.0) / 1000;
  f.per_s = last > first ? static_cast<double>(txs.size()) * 1000.0 / static_cast<double>(last - first) : 0;
  // One POST stamps all its transactions with one receive time (the log is in arrival order).
  for (std::size_t i = 0; i < txs.size(); ++i) f.posts += i == 0 || txs[i].received_ms != txs[i - 1].received_ms;
  // Whether the tail is spread out or comes from a few stalls: the worst lag of each second.
  std::int64_t local0 = txs.front().local_ms;
  for (const auto& t : txs) local0 = std::min(local0, t.local_ms);
  std::vector<std::int64_t> worst;
  for (const auto& t : txs) {
    const auto second = static_cast<std::size_t>((t.local_ms - local0) / 1000);
    if (second >= 60) continue;
    if (worst.size() <= second) worst.resize(second + 1, 0);
    worst[second] = std::max(worst[second], t.received_ms - t.local_ms);
  }
  for (auto w : worst) {
    if (!f.worst_by_second.empty()) f.worst_by_second += ' ';
    f.worst_by_second += std::to_string(w);
  }
  return f;
}

// The servers of one run, ended in reverse order (vpointd, the simulator, Redis) when it goes out of scope.
struct Run {
  fs::path tmp;
  Redis redis;
  std::unique_ptr<Child> sim;
  std::string central_url;
  std::uint16_t sim_port = 0;
  std::uint16_t port = 0;  // vpointd's
  std::string log_file;
  std::unique_ptr<Child> vpointd;
  std::uint64_t imported = 0;  // packs vpointd's import reported
};

void start_simulator(Run& run, const Options& opt) {
  run.redis = start_redis(run.tmp / "redis");
  std::vector<std::string> argv{VPOINT_CENTRAL_SIM, "--listen", "127.0.0.1:0", "--data", (run.tmp / "central").string(),
                                "--seed", "7", "--products", std::to_string(opt.products), "--packs",
                                std::to_string(opt.packs)};
  if (!opt.sim_fsync) argv.push_back("--no-fsync");
  run.sim = std::make_unique<Child>(argv, (run.tmp / "central.out").string());
  run.central_url = listening_url((run.tmp / "central.out").string(), *run.sim, 120s);
  run.sim_port = port_of(run.central_url);
}

// `wanted` request bodies of distinct usable packs (printed by the simulator from its data dir).
std::vector<std::string> load_bodies(const Run& run, std::uint64_t wanted) {
  const auto file = (run.tmp / "packs.ndjson").string();
  if (vpoint::bench::run_redirected({VPOINT_CENTRAL_SIM, "--data", (run.tmp / "central").string(), "--print-packs",
                                     std::to_string(wanted), "--scan-text"},
                                    "", file, 300s) != 0)
    throw std::runtime_error("vpoint-central-sim --print-packs failed: " + vpoint::bench::read_text(file).substr(0, 500));
  auto bodies = decommission_bodies(file);
  if (bodies.size() < wanted)
    throw std::runtime_error("the simulator has " + std::to_string(bodies.size()) + " usable packs, the load phases need " +
                             std::to_string(wanted) + ": raise --packs or lower --rate/--seconds/--burst");
  bodies.resize(wanted);
  return bodies;
}

// 1. vpointd started on the empty mirror imports the snapshot itself; returns packs/s until /readyz is 200.
double import_phase(Run& run, const Options& opt, ResultLine& result) {
  std::printf("1. import: vpointd on an empty mirror, snapshot over HTTP from the simulator\n");
  run.port = vpoint::test::free_port();
  const auto config_file = (run.tmp / "vpointd.toml").string();
  run.log_file = (run.tmp / "vpointd.log").string();
  fs::create_directories(run.tmp / "audit");
  std::ofstream(config_file) << vpointd_config(run.port, run.redis.port, run.central_url, run.tmp / "audit");
  const CpuSample before{0, vpoint::bench::process_cpu_seconds(run.sim->pid()), redis_cpu_seconds(run.redis.port)};
  const auto t = BenchClock::now();
  run.vpointd = std::make_unique<Child>(std::vector<std::string>{VPOINTD, "--config", config_file}, run.log_file);
  wait_ready(run.port, *run.vpointd, run.log_file, std::chrono::seconds(120 + opt.packs / 5000));
  const double import_s = seconds_since(t);
  const CpuSample cpu = cpu_sample(*run.vpointd, *run.sim, run.redis.port) - before;
  run.imported = opt.packs;
  double loader_s = 0;
  if (auto done = last_event(run.log_file, "snapshot_import_done")) {
    if (auto* p = done->if_contains("packs")) run.imported = p->to_number<std::uint64_t>();
    if (auto* s = done->if_contains("seconds")) loader_s = s->to_number<double>();
  }
  if (run.imported != opt.packs)
    std::printf("WARNING: vpointd imported %llu packs, the simulator seeded %llu\n",
                static_cast<unsigned long long>(run.imported), static_cast<unsigned long long>(opt.packs));
  const double rate = static_cast<double>(run.imported) / import_s;
  std::printf("  ready after %.2f s = %.0f packs/s end to end (the loader itself reports %.2f s); CPU: vpointd %.2f s "
              "(start-up included), simulator %.2f s, redis-server %.2f s\n",
              import_s, rate, loader_s, cpu.vpointd, cpu.sim, cpu.redis);
  result.add("import_s", import_s, 2);
  result.add("sync_import_packs_per_s", rate, 0);
  result.add("import_vpointd_cpu_s", cpu.vpointd, 2);
  result.add("import_sim_cpu_s", cpu.sim, 2);
  result.add("import_redis_cpu_s", cpu.redis, 2);
  return rate;
}

// The baseline: the same snapshot, fetched once, as RESP through redis-cli --pipe into a fresh server.
void baseline_phase(const Run& run, const Options& opt, double import_rate, ResultLine& result) {
  const auto snapshot_file = (run.tmp / "snapshot.ndjson").string(), resp_file = (run.tmp / "snapshot.resp").string();
  const auto curl_out = (run.tmp / "curl.out").string();
  auto t = BenchClock::now();
  if (vpoint::bench::run_redirected({kCurl, "-sS", "--fail", "--max-time", std::to_string(120 + opt.packs / 20000), "-o",
                                     snapshot_file, run.central_url + "/central/v1/snapshot"},
                                    "", curl_out, std::chrono::seconds(130 + opt.packs / 20000)) != 0)
    throw std::runtime_error("curl of the snapshot failed: " + vpoint::bench::read_text(curl_out));
  const double fetch_s = seconds_since(t);
  const std::int64_t generation = std::stoll(redis_cli(run.redis.port, {"GET", std::string(keys::kGenerationKey)}));
  const int buckets = std::stoi(redis_cli(run.redis.port, {"GET", keys::layout_key(generation)}));
  t = BenchClock::now();
  const Conversion conv = snapshot_to_resp(snapshot_file, resp_file, generation, buckets);
  std::printf("  snapshot fetched alone with curl: %.2f s = %.0f packs/s (%.0f MB); as RESP: %llu commands (%.0f MB, "
              "converted in %.1f s)\n",
              fetch_s, static_cast<double>(conv.packs) / fetch_s, static_cast<double>(fs::file_size(snapshot_file)) / 1e6,
              static_cast<unsigned long long>(conv.commands), static_cast<double>(fs::file_size(resp_file)) / 1e6,
              seconds_since(t));
  fs::remove(snapshot_file);
  std::size_t found = 0;
  for (const auto& p : conv.probes) found += redis_cli(run.redis.port, {"HGET", p.key, p.field}) == p.value;
  if (conv.packs != run.imported || found != conv.probes.size())
    std::printf("WARNING: the baseline's layout differs from vpointd's import (%llu packs in the snapshot; %zu/%zu "
                "sampled packs found at the baseline's key, field and value)\n",
                static_cast<unsigned long long>(conv.packs), found, conv.probes.size());

  Redis base = start_redis(run.tmp / "redis-baseline");
  const auto pipe_out = (run.tmp / "pipe.out").string();
  const double cli_cpu0 = vpoint::bench::cpu_seconds(RUSAGE_CHILDREN), server_cpu0 = redis_cpu_seconds(base.port);
  t = BenchClock::now();
  const int rc = vpoint::bench::run_redirected({kRedisCli, "-h", "127.0.0.1", "-p", std::to_string(base.port), "--pipe"},
                                               resp_file, pipe_out, std::chrono::seconds(120 + opt.packs / 10000));
  const double pipe_s = seconds_since(t);
  const std::string text = vpoint::bench::read_text(pipe_out);
  if (rc != 0 || text.find("errors: 0,") == std::string::npos)
    throw std::runtime_error("redis-cli --pipe failed (exit " + std::to_string(rc) + "):\n" + text);
  fs::remove(resp_file);
  const double pipe_rate = static_cast<double>(conv.packs) / pipe_s;
  std::printf("  baseline redis-cli --pipe: %.2f s = %.0f packs/s; CPU: redis-cli %.2f s, redis-server %.2f s\n", pipe_s,
              pipe_rate, vpoint::bench::cpu_seconds(RUSAGE_CHILDREN) - cli_cpu0, redis_cpu_seconds(base.port) - server_cpu0);
  const double ratio = import_rate / pipe_rate;
  std::printf("  sync_import_ratio = %.3f (goal >= %.1f: %s)\n", ratio, kImportGoal, ratio >= kImportGoal ? "met" : "NOT met");
  result.add("pipe_s", pipe_s, 2);
  result.add("snapshot_fetch_packs_per_s", static_cast<double>(conv.packs) / fetch_s, 0);
  result.add("pipe_packs_per_s", pipe_rate, 0);
  result.add("sync_import_ratio", ratio, 3);
  result.add("sync_import_goal_met", ratio >= kImportGoal);
}

void print_load(const char* what, LoadRun& load) {
  std::printf("  %s %llu in %.2f s = %.0f/s: %llu ok, %llu other verdicts, %llu failed%s%s; response p50 %.1f ms, "
              "p99 %.1f ms\n",
              what, static_cast<unsigned long long>(load.requests), load.seconds, load.per_s(),
              static_cast<unsigned long long>(load.ok), static_cast<unsigned long long>(load.other_verdict),
              static_cast<unsigned long long>(load.failed), load.first_problem.empty() ? "" : "; first problem: ",
              load.first_problem.c_str(), load.latency.percentile(0.5) / 1000, load.latency.percentile(0.99) / 1000);
}

// 2. Decommissions at a fixed rate while the link drains: lag from the local decommission to the simulator.
void lag_phase(const Run& run, const Options& opt, const std::vector<std::string>& bodies, ResultLine& result) {
  std::printf("2. lag: %zu supplies at %.0f/s over %d connections, the central link writing back\n", bodies.size(),
              opt.rate, opt.connections);
  const std::uint64_t tx0 = sim_transaction_total(run.sim_port);
  LoadRun load = run_load(run.port, bodies, opt.rate, opt.connections, std::chrono::seconds(static_cast<int>(opt.seconds) + 60));
  print_load("sent", load);
  std::printf("  at worst %.0f ms behind schedule\n", load.max_behind_ms);
  const double drained_after = wait_outbox_empty(run.redis.port, 120s);
  if (drained_after < 0) throw std::runtime_error("the outbox did not drain within 120 s of the lag phase");
  const LagFigures lag = lag_figures(sim_transactions_since(run.sim_port, tx0));
  std::printf("  outbox empty %.1f s after the last request; simulator received %llu transactions (%llu accepted) at "
              "%.0f/s; lag local decommission -> simulator: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
              drained_after, static_cast<unsigned long long>(lag.transactions),
              static_cast<unsigned long long>(lag.accepted), lag.per_s, lag.p50_ms, lag.p99_ms, lag.max_ms);
  std::printf("  %llu POSTs (%.0f transactions each); worst lag of each second, ms: %s\n",
              static_cast<unsigned long long>(lag.posts),
              static_cast<double>(lag.transactions) / static_cast<double>(std::max<std::uint64_t>(1, lag.posts)),
              lag.worst_by_second.c_str());
  if (lag.transactions != load.ok)
    std::printf("WARNING: %llu ok decommissions but %llu transactions at the simulator\n",
                static_cast<unsigned long long>(load.ok), static_cast<unsigned long long>(lag.transactions));
  result.add("rate_target", opt.rate, 0);
  result.add("rate_sent", load.per_s(), 0);
  result.add("decommissions", static_cast<double>(load.requests), 0);
  result.add("decommissions_ok", static_cast<double>(load.ok), 0);
  result.add("decommission_p50_ms", load.latency.percentile(0.5) / 1000, 1);
  result.add("decommission_p99_ms", load.latency.percentile(0.99) / 1000, 1);
  result.add("transactions", static_cast<double>(lag.transactions), 0);
  result.add("accepted", static_cast<double>(lag.accepted), 0);
  result.add("lag_p50_ms", lag.p50_ms, 0);
  result.add("lag_p99_ms", lag.p99_ms, 0);
  result.add("lag_max_ms", lag.max_ms, 0);
  result.add("steady_accepted_per_s", lag.per_s, 0);
  result.add("steady_posts", static_cast<double>(lag.posts), 0);
}

// 3. Drain throughput: a backlog made while the central system refuses connections, then let through.
void drain_phase(const Run& run, const Options& opt, const std::vector<std::string>& bodies, ResultLine& result) {
  std::printf("3. burst: %zu supplies while the simulator refuses every connection, then the fault is cleared\n",
              bodies.size());
  sim_admin(run.sim_port, http::verb::put, "/admin/faults", R"({"refuse":true})");
  const std::uint64_t tx0 = sim_transaction_total(run.sim_port);
  LoadRun burst = run_load(run.port, bodies, 0, opt.connections, 300s);
  print_load("made", burst);
  const std::int64_t backlog = outbox_total(run.redis.port);
  const CpuSample cpu0 = cpu_sample(*run.vpointd, *run.sim, run.redis.port);
  sim_admin(run.sim_port, http::verb::delete_, "/admin/faults");
  const double empty_s = wait_outbox_empty(run.redis.port, std::chrono::seconds(120 + opt.burst / 200));
  if (empty_s < 0) throw std::runtime_error("the burst's outbox did not drain in time");
  const CpuSample cpu = cpu_sample(*run.vpointd, *run.sim, run.redis.port) - cpu0;
  const LagFigures drain = lag_figures(sim_transactions_since(run.sim_port, tx0));
  const double n = static_cast<double>(std::max<std::uint64_t>(1, drain.transactions));
  std::printf("  outbox %lld entries; fault cleared: outbox empty after %.2f s; simulator received %llu transactions "
              "(%llu accepted): drain_per_s = %.0f (first to last receive), %llu POSTs = %.0f ms per POST round\n",
              static_cast<long long>(backlog), empty_s, static_cast<unsigned long long>(drain.transactions),
              static_cast<unsigned long long>(drain.accepted), drain.per_s, static_cast<unsigned long long>(drain.posts),
              drain.posts > 1 ? 1000.0 * n / drain.per_s / static_cast<double>(drain.posts - 1) : 0);
  std::printf("  CPU while draining, per transaction: vpointd %.0f us, simulator %.0f us, redis-server %.0f us (%.1f s "
              "of the 2 cores' %.1f s)\n",
              cpu.vpointd * 1e6 / n, cpu.sim * 1e6 / n, cpu.redis * 1e6 / n, cpu.vpointd + cpu.sim + cpu.redis, 2 * empty_s);
  result.add("burst", static_cast<double>(burst.requests), 0);
  result.add("burst_local_per_s", burst.per_s(), 0);
  result.add("burst_backlog", static_cast<double>(backlog), 0);
  result.add("burst_empty_s", empty_s, 2);
  result.add("burst_accepted", static_cast<double>(drain.accepted), 0);
  result.add("drain_per_s", drain.per_s, 0);
  result.add("drain_posts", static_cast<double>(drain.posts), 0);
  result.add("drain_vpointd_cpu_us", cpu.vpointd * 1e6 / n, 0);
  result.add("drain_sim_cpu_us", cpu.sim * 1e6 / n, 0);
  result.add("drain_redis_cpu_us", cpu.redis * 1e6 / n, 0);
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_options(argc, argv);
  vpoint::bench::install_stop_signals();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const auto run_start = BenchClock::now();
  ResultLine result;
  result.field("bench", "\"sync\"");
  result.add("packs", static_cast<double>(opt.packs), 0);
  result.add("load_avg_start", load_average(), 2);
  std::printf("sync benchmark: %llu packs, %u products; lag phase %.0f decommissions/s for %.0f s; burst %llu; "
              "%d connections; load average %.2f (2 shared cores)\n",
              static_cast<unsigned long long>(opt.packs), opt.products, opt.rate, opt.seconds,
              static_cast<unsigned long long>(opt.burst), opt.connections, load_average());
  try {
    vpoint::test::ScratchDir dir("vpoint-bench-sync");
    Run run;
    run.tmp = dir.path();
    start_simulator(run, opt);
    const auto steady_count = static_cast<std::ptrdiff_t>(opt.rate * opt.seconds);
    const auto bodies = load_bodies(run, static_cast<std::uint64_t>(steady_count) + opt.burst);
    std::printf("simulator %s (seed 7, %s), redis-server 127.0.0.1:%u (docker/redis.conf, --appendonly no --save \"\"), "
                "%zu decommission bodies\n",
                run.central_url.c_str(), opt.sim_fsync ? "journal fsync on" : "--no-fsync", run.redis.port, bodies.size());

    const double import_rate = import_phase(run, opt, result);
    baseline_phase(run, opt, import_rate, result);
    lag_phase(run, opt, {bodies.begin(), bodies.begin() + steady_count}, result);
    drain_phase(run, opt, {bodies.begin() + steady_count, bodies.end()}, result);

    if (auto state = redis_cli(run.redis.port, {"HGET", "central:status", "state"}); !state.empty())
      std::printf("central:status state: %s\n", state.c_str());
    run.vpointd->stop(15s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sync_bench: %s\n", e.what());
    return vpoint::bench::stop_requested() ? 130 : 1;
  }
  result.add("load_avg_end", load_average(), 2);
  result.add("seconds", seconds_since(run_start), 0);
  std::printf("RESULT %s\n", result.str().c_str());
  return 0;
}
