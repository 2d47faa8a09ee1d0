#pragma once
// Helpers shared by the mirror's sources (mirror.cpp, import.cpp, feed.cpp). Internal to cache/.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::cache::detail {

// The one place where transport failures become mirror errors ("mirror unavailable: ...").
MirrorError from_redis(const RedisError& error);
MirrorError from_reply_error(const Reply& reply);
std::optional<std::int64_t> reply_int(const Reply& reply);
std::map<std::string, std::string> hash_reply(const Reply& reply);
std::string lua_library_text(bool test_mode);
std::string random_transaction_id();

}  // namespace vpoint::cache::detail
