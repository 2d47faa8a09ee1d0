// Helpers shared by the fault tests (fault_support.hpp).
#include "fault_support.hpp"

#include <future>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>

#include "vpoint/cache/outbox.hpp"

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
