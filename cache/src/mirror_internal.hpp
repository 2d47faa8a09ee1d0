#pragma once
// Helpers shared by the mirror's sources (mirror.cpp, import.cpp, feed.cpp). Internal to cache/.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "vpoint/cache/mirror.hpp"

namespace vpoint::cache::detail {

// Builds a command from strings/literals (a braced list of literals inside co_await trips GCC 12).
template <class... Args>
Command cmd(Args&&... args) {
  Command c;
  c.reserve(sizeof...(args));
  (c.emplace_back(std::forward<Args>(args)), ...);
  return c;
}

// The one place where transport failures become mirror errors ("mirror unavailable: ...").
MirrorError from_redis(const RedisError& error);
MirrorError from_reply_error(const Reply& reply);
std::optional<std::int64_t> reply_int(const Reply& reply);
std::map<std::string, std::string> hash_reply(const Reply& reply);
std::string lua_library_text(bool test_mode);
std::string random_transaction_id();
// A status or state text the central system sent that this build does not know, as kept for people (the
// pack's answer, logs): at most 64 bytes. Any JSON value that is not a string is kept serialised.
inline std::string raw_central_text(std::string_view text) { return std::string(text.substr(0, 64)); }

// The operation as the Functions library's ARGV names it: "v", "d", "u".
inline const char* operation_letter(Operation op) {
  return op == Operation::verify ? "v" : op == Operation::decommission ? "d" : "u";
}

}  // namespace vpoint::cache::detail
