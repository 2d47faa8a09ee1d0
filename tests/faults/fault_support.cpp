// Helpers shared by the fault tests (fault_support.hpp).
#include "fault_support.hpp"

#include <future>
#include <set>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "vpoint/cache/outbox.hpp"
#include "vpointd_process.hpp"

namespace vpoint::test {

namespace json = boost::json;
using namespace std::chrono_literals;

json::value body_json(const Response& res) {
  boost::system::error_code ec;
  auto v = json::parse(res.body(), ec);
  return ec ? json::value() : v;
}

std::string problem_type(const Response& res) {
  auto v = body_json(res);
  if (!v.is_object() || !v.as_object().contains("type") || !v.at("type").is_string()) return "";
  return std::string(v.at("type").as_string());
}

bool has_warning(const json::value& answer, std::string_view warning) {
  if (!answer.is_object() || !answer.as_object().contains("warnings")) return false;
  for (const auto& w : answer.at("warnings").as_array())
    if (w.is_string() && w.as_string() == warning) return true;
  return false;
}

void add_supply_verify_calls(CallBatch& load, const std::vector<ScanPack>& packs, const std::string& key_prefix) {
  const std::map<std::string, std::string> auth{{"Authorization", std::string("Bearer ") + Vpointd::kPharmacyKey},
                                                {"Content-Type", "application/json"}};
  for (std::size_t i = 0; i < packs.size(); ++i) {
    json::object body{{"scan", packs[i].scan}};
    if (i % 2 == 0) body["action"] = "supply";
    auto headers = auth;
    if (i % 2 == 0) headers["Idempotency-Key"] = fmt::format("{}-{}", key_prefix, i);
    load.calls.push_back(Call{http::verb::post, i % 2 == 0 ? "/v1/decommission" : "/v1/verify",
                              json::serialize(body), headers});
  }
  load.is_ok = [](const Response& r) { return r.result_int() == 200; };
}

LoadRunner::LoadRunner(std::uint16_t port, CallBatch& load, std::size_t connections, std::chrono::seconds limit)
    : load_(load), thread_([port, &load, connections, limit] { run_calls(port, load, connections, limit); }) {}

LoadRunner::~LoadRunner() {
  load_.stop_sending = true;
  join();
}

void LoadRunner::join() {
  if (thread_.joinable()) thread_.join();
}

SupplyTally tally_supplies(Vpointd& vpointd, const std::vector<ScanPack>& packs,
                           const std::map<std::size_t, std::string>& acked_tx, const std::map<std::string, int>& outbox) {
  SupplyTally t;
  std::set<std::string> acknowledged;
  for (const auto& [i, tx] : acked_tx) {
    acknowledged.insert(tx);
    auto page = vpointd.request(http::verb::get, "/v1/packs/" + packs[i].code + "/" + packs[i].serial);
    const bool supplied = page.result_int() == 200 && body_json(page).at("status") == "supplied";
    const auto it = outbox.find(tx);
    const int copies = it == outbox.end() ? 0 : it->second;
    if (supplied && copies >= 1) ++t.found;
    else ++t.lost;
  }
  for (const auto& [tx, n] : outbox)
    if (n > 1) ++t.doubled;  // acknowledged or not: a change in the outbox twice would reach central twice
  return t;
}

std::map<std::string, int> outbox_transactions(RedisServer& redis) {
  cache::ClientOptions options;
  options.url = redis.url();
  return outbox_transactions(options);
}

std::map<std::string, int> outbox_transactions(const cache::ClientOptions& options) {
  boost::asio::io_context io;
  cache::Client client(io.get_executor(), options);
  cache::Outbox outbox(client);
  std::vector<int> partitions;
  for (int p = 0; p < cache::kPartitions; ++p) partitions.push_back(p);
  auto read = boost::asio::co_spawn(io, outbox.read(partitions, 100000), boost::asio::use_future);
  // Not io.run(): the client's connections keep the io_context busy. Bounded: 30 s.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (read.wait_for(0s) != std::future_status::ready && std::chrono::steady_clock::now() < deadline)
    io.run_one_for(50ms);
  client.close();
  if (read.wait_for(0s) != std::future_status::ready) throw std::runtime_error("reading the outbox: no answer in 30 s");
  auto entries = read.get();
  if (!entries) throw std::runtime_error("reading the outbox: " + entries.error().message);
  std::map<std::string, int> out;
  for (const auto& partition : *entries)
    for (const auto& e : partition) ++out[e.transaction_id];
  return out;
}


}  // namespace vpoint::test
