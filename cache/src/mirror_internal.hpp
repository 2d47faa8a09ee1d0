#pragma once
// Helpers shared by the mirror's sources (mirror.cpp, import.cpp, feed.cpp). Internal to cache/.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "mirror_keys.hpp"
#include "vpoint/cache/mirror.hpp"

namespace boost::json {
class object;
}  // namespace boost::json

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
// The text of a status/state member of a central object: absent -> "active"; a string as sent; any other JSON
// value serialised (a status this build does not know, never read as active); at most 64 bytes (feed.cpp).
std::string central_text(const boost::json::object& o, std::string_view name);
// A pack status number as the Functions store it: a known PackStatus or 15 (not known).
inline bool is_status_number(std::int64_t v) {
  return (v >= 0 && v <= static_cast<int>(PackStatus::checked_out)) || v == static_cast<int>(PackStatus::unknown);
}

// Where a pack lives: partition P (the hash tag of all its keys) and bucket of pk:{P}:<gen>:<bucket>.
struct PackPlace {
  int partition = 0;
  int bucket = 0;
};
inline PackPlace pack_place(std::string_view code, std::string_view serial, int buckets) {
  const std::uint32_t h = pack_hash(code, serial);
  return PackPlace{static_cast<int>(h % kPartitions),
                   static_cast<int>((h / kPartitions) % static_cast<std::uint32_t>(std::max(1, buckets)))};
}

// The operation as the Functions library's ARGV names it: "v", "d", "u".
inline const char* operation_letter(Operation op) {
  return op == Operation::verify ? "v" : op == Operation::decommission ? "d" : "u";
}

}  // namespace vpoint::cache::detail
