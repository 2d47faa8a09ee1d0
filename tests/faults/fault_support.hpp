#pragma once
// Helpers shared by the fault tests: answers read as JSON, the problem type, the outbox read straight from Redis.
#include <map>
#include <string>

#include <boost/json/value.hpp>

#include "redis_server.hpp"
#include "vpoint/cache/redis.hpp"
#include "sync_support.hpp"

namespace vpoint::test {

// The body as JSON (null when it is not JSON).
boost::json::value body_json(const Response& res);
// The problem's "type" ("" when the body is not a problem document).
std::string problem_type(const Response& res);
// Every outbox entry, by transaction id (a count above 1 is a doubled change). Bounded: 30 s.
std::map<std::string, int> outbox_transactions(const cache::ClientOptions& options);
std::map<std::string, int> outbox_transactions(RedisServer& redis);

}  // namespace vpoint::test
