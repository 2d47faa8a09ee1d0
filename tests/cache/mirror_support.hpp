#pragma once
// Shared by the mirror tests: a real redis-server (tests/support/redis_server.hpp), a Client and a Mirror in
// test mode on one io_context, and a runner for coroutines.
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "redis_server.hpp"
#include "vpoint/cache/import.hpp"
#include "vpoint/cache/mirror.hpp"

namespace vpoint::test {

// co_spawn's completion handler needs a default-constructible result; Result<T, E> is not.
template <class T>
boost::asio::awaitable<std::optional<T>> as_optional(boost::asio::awaitable<T> task) {
  co_return std::optional<T>(co_await std::move(task));
}

// Runs one coroutine on `io` to completion (bounded: throws after `limit`).
template <class T>
T run_on(boost::asio::io_context& io, boost::asio::awaitable<T> task,
         std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io, as_optional(std::move(task)), [&](std::exception_ptr e, std::optional<T> value) {
    error = e;
    if (!e && value) out.emplace(std::move(*value));
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  io.restart();
  while (!done && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
  if (error) std::rethrow_exception(error);
  if (!done) throw std::runtime_error("coroutine did not finish in time");
  return std::move(*out);
}

inline RedisServerOptions mirror_redis_options(bool appendonly = false) {
  RedisServerOptions o;
  o.appendonly = appendonly;
  o.extra_args = {"--hash-max-listpack-entries", "1024"};
  return o;
}

// A small snapshot: product A (GTIN + PPN), batches L1 (active) and L2 (recalled), packs S000..S0nn active,
// plus pack SUPPLIED1 already supplied by the central system; product B with one batch and one pack.
inline std::string small_snapshot(int packs = 20, std::int64_t seq = 42) {
  std::ostringstream s;
  s << R"({"type":"product","gtin":"04150123456782","ppn":"110375286414","name":"Aspirin 100","market":"DE"})" << "\n";
  s << R"({"type":"batch","gtin":"04150123456782","batch":"L1","expiry":"281231","state":"active"})" << "\n";
  s << R"({"type":"batch","ppn":"110375286414","batch":"L2","expiry":"270600","state":"recalled","reason":"contamination","changed_at":1700000000000})" << "\n";
  s << R"({"type":"product","gtin":"05012345678900","name":"Ibuprofen","market":"DE"})" << "\n";
  s << R"({"type":"batch","gtin":"05012345678900","batch":"B7","expiry":"290101","state":"active"})" << "\n";
  for (int i = 0; i < packs; ++i) {
    char serial[16];
    std::snprintf(serial, sizeof serial, "S%03d", i);
    s << R"({"type":"pack","gtin":"04150123456782","serial":")" << serial << R"(","batch":"L1","status":"active"})" << "\n";
  }
  s << R"({"type":"pack","gtin":"04150123456782","serial":"RECALLED1","batch":"L2","status":"active"})" << "\n";
  s << R"({"type":"pack","gtin":"04150123456782","serial":"SUPPLIED1","batch":"L1","status":"supplied"})" << "\n";
  s << R"({"type":"pack","gtin":"05012345678900","serial":"IBU1","batch":"B7","status":"active"})" << "\n";
  s << R"({"type":"aggregation","sscc":"340123450000000017","children":[{"gtin":"04150123456782","serial":"S000"},{"gtin":"04150123456782","serial":"S001"}]})" << "\n";
  s << R"({"type":"end","seq":)" << seq << "}\n";
  return s.str();
}

inline constexpr const char* kGtinA = "04150123456782";
inline constexpr const char* kPpnA = "110375286414";
inline constexpr const char* kGtinB = "05012345678900";
inline constexpr const char* kHere = "4012345000009";   // GLN of the pharmacy
inline constexpr const char* kThere = "4012345000016";  // GLN of another pharmacy

struct MirrorFixture {
  explicit MirrorFixture(RedisServerOptions redis_options = mirror_redis_options(),
                         cache::MirrorOptions mirror_options = test_mirror_options())
      : redis(std::move(redis_options)),
        client(io.get_executor(), client_options(redis)),
        mirror(client, mirror_options) {
    auto started = run(mirror.start());
    if (!started) throw std::runtime_error("mirror start: " + started.error().message);
  }

  static cache::MirrorOptions test_mirror_options() {
    cache::MirrorOptions o;
    o.test_mode = true;
    return o;
  }
  static cache::ClientOptions client_options(const RedisServer& server) {
    cache::ClientOptions o;
    o.url = server.url();
    return o;
  }

  template <class T>
  T run(boost::asio::awaitable<T> task) {
    return run_on(io, std::move(task));
  }

  cache::ImportStats load(const std::string& ndjson, cache::ImportOptions options = {}) {
    std::istringstream in(ndjson);
    auto stats = run(cache::import_snapshot(mirror, in, std::move(options)));
    if (!stats) throw std::runtime_error("import: " + stats.error().message);
    return *stats;
  }

  cache::PackRequest request(std::string code, std::string serial, std::string location = kHere,
                             std::string actor = "pharmacist") {
    cache::PackRequest r;
    r.product_code = std::move(code);
    r.serial = std::move(serial);
    r.caller = {std::move(actor), std::move(location)};
    return r;
  }

  cache::PackResult verify(const cache::PackRequest& r) { return must(run(mirror.verify(r))); }
  cache::PackResult decommission(const cache::PackRequest& r, cache::Action a) {
    return must(run(mirror.decommission(r, a)));
  }
  cache::PackResult undo(const cache::PackRequest& r, cache::Action a) { return must(run(mirror.undo(r, a))); }

  static cache::PackResult must(cache::MirrorResult<cache::PackResult> r) {
    if (!r) throw std::runtime_error("mirror: " + r.error().message);
    return std::move(*r);
  }

  boost::asio::io_context io;
  RedisServer redis;
  cache::Client client;
  cache::Mirror mirror;
};

// A mirror on a 3-master Redis Cluster (started, not loaded): run its calls with run_on(io, ...).
struct ClusterMirror {
  ClusterMirror() : cluster(3, mirror_redis_options()), client(io.get_executor(), options(cluster)),
                    mirror(client, MirrorFixture::test_mirror_options()) {}
  static cache::ClientOptions options(const RedisCluster& c) {
    cache::ClientOptions o;
    o.cluster_nodes = c.seeds();
    return o;
  }
  RedisCluster cluster;
  boost::asio::io_context io;
  cache::Client client;
  cache::Mirror mirror;
};

}  // namespace vpoint::test
