#pragma once
// Helpers shared by the fault tests: answers read as JSON, the problem type, the outbox read straight from Redis.
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json/value.hpp>

#include "redis_server.hpp"
#include "vpoint/cache/redis.hpp"
#include "sync_support.hpp"
#include "vpointd_calls.hpp"
#include "vpointd_process.hpp"

namespace vpoint::test {

// The body as JSON (null when it is not JSON).
boost::json::value body_json(const Response& res);
// The problem's "type" ("" when the body is not a problem document).
std::string problem_type(const Response& res);
// Whether a pack answer carries `warning` in its "warnings".
bool has_warning(const boost::json::value& answer, std::string_view warning);

// The load of the Redis fault tests into `load`: each pack once, even ones supplied (with an Idempotency-Key
// "<key_prefix>-<i>"), odd ones verified, in pack order, as the pharmacy counter.
void add_supply_verify_calls(CallBatch& load, const std::vector<ScanPack>& packs, const std::string& key_prefix);

// Runs `load` on its own thread over `connections` connections for at most `limit`; join() (or the destructor)
// stops sending and waits.
class LoadRunner {
 public:
  LoadRunner(std::uint16_t port, CallBatch& load, std::size_t connections, std::chrono::seconds limit);
  ~LoadRunner();
  void join();

 private:
  CallBatch& load_;
  std::thread thread_;
};

// The count of a fault: each acknowledged supply (pack index -> its transaction id) must be "supplied" in the
// mirror (GET /v1/packs) and in `outbox` once; any outbox entry twice is doubled.
struct SupplyTally {
  std::size_t found = 0, lost = 0, doubled = 0;
};
SupplyTally tally_supplies(Vpointd& vpointd, const std::vector<ScanPack>& packs,
                           const std::map<std::size_t, std::string>& acked_tx, const std::map<std::string, int>& outbox);

// Every outbox entry, by transaction id (a count above 1 is a doubled change). Bounded: 30 s.
std::map<std::string, int> outbox_transactions(const cache::ClientOptions& options);
std::map<std::string, int> outbox_transactions(RedisServer& redis);

}  // namespace vpoint::test
