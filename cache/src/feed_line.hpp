#pragma once
// A change-feed line (feed.cpp): its envelope and the checks that need no Redis, kept apart from the applier's
// coroutines so the fuzz target tests/fuzz/fuzz_feed_line.cpp can compile them alone (clang 14, the fuzz build,
// cannot compile the cache library's coroutines with the sanitizers).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "vpoint/scanner/result.hpp"

namespace vpoint::cache::detail {

// The string member `name` of o ("" when absent or not a string) and whether it is a string.
std::string_view str(const boost::json::object& o, std::string_view name);
bool has_string(const boost::json::object& o, std::string_view name);

// EU 2016/161 Art 4 / GS1: product codes and serials are 1-20 characters; an expiry is YYMMDD.
bool valid_code(std::string_view code);
bool valid_serial(std::string_view serial);
bool valid_expiry(std::string_view expiry);

enum class FeedType { product, batch, pack, aggregation, other };

struct FeedLine {
  std::int64_t seq = 0;
  bool remove = false;  // "op": "delete"
  FeedType type = FeedType::other;
  boost::json::object object;
};

// One line: a JSON object with a positive integer "seq" and "op" upsert or delete. The error says why, without
// the line number (the caller adds it). Everything else about the line is checked when it is applied: a line
// the mirror cannot resolve is skipped with a note, it does not stop the feed.
Result<FeedLine, std::string> parse_feed_line(std::string_view text);

// The Redis-free checks of each kind of line, in the order the applier makes them; nullopt = passes.
// A product upsert names a code, each at most 20 characters (before the product is looked up).
std::optional<std::string> product_line_problem(const boost::json::object& o);
// A batch upsert (once its product is found): a 1-20 character name and, when given, an expiry YYMMDD.
std::optional<std::string> batch_line_problem(const boost::json::object& o);
// A pack line (once its product is found): a 1-20 character serial.
std::optional<std::string> pack_line_problem(const boost::json::object& o);
// An aggregation line: an 18-digit "sscc" and, unless deleted, "children" [{gtin|ppn, serial}] as "code|serial".
Result<std::vector<std::string>, std::string> aggregation_children(const boost::json::object& o, bool remove);

}  // namespace vpoint::cache::detail
