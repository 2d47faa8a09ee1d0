// Change feed apply and read-through pack caching (include/vpoint/cache/feed.hpp).
#include "vpoint/cache/feed.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <set>
#include <unordered_map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "feed_line.hpp"
#include "mirror_internal.hpp"
#include "mirror_keys.hpp"

namespace vpoint::cache {

using boost::asio::awaitable;
using namespace detail;
namespace json = boost::json;

namespace {


std::optional<std::uint32_t> to_u32(std::string_view text) {
  std::uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

// A product as this call knows it: loaded from Redis once, then kept up to date by the queued writes.
struct ProductState {
  std::string code;  // primary code (the key the mirror uses)
  std::string gtin;
  std::string ppn;
  std::uint32_t index = 0;
  std::unordered_map<std::string, std::uint32_t> batches;
};

// An unresolved line: not applied, the position moves on (feed.hpp).
struct Unresolved {
  std::string why;
};

class Applier {
 public:
  Applier(Mirror& mirror, std::int64_t generation, int buckets)
      : mirror_(mirror), client_(mirror.client()), gen_(generation), buckets_(std::max(1, buckets)) {}

  // Product named by a line's "gtin" or "ppn" (either code finds it); nullptr when the mirror lacks it.
  awaitable<MirrorResult<std::shared_ptr<ProductState>>> find(const json::object& o) {
    for (auto name : {"gtin", "ppn"}) {
      auto code = str(o, name);
      if (!valid_code(code)) continue;
      auto found = co_await find_code(std::string(code));
      if (!found) co_return found;
      if (*found) co_return found;
    }
    co_return std::shared_ptr<ProductState>{};
  }

  // product upsert: fields present are set; a new product gets the next index.
  awaitable<MirrorResult<std::optional<Unresolved>>> product(const json::object& o) {
    if (auto problem = product_line_problem(o)) co_return Unresolved{std::move(*problem)};
    auto gtin = str(o, "gtin");
    auto ppn = str(o, "ppn");
    auto found = co_await find(o);
    if (!found) co_return Unexpected{found.error()};
    auto state = *found;
    if (!state) {
      auto index = co_await next_product_index();
      if (!index) co_return Unexpected{index.error()};
      state = std::make_shared<ProductState>();
      state->code = std::string(gtin.empty() ? ppn : gtin);
      state->index = *index;
      auto list = "plist:" + std::to_string(gen_);
      queue(cmd("SADD", list, state->code), list);
      queue(cmd("HSET", product_key(gen_, state->code), "code", state->code, "idx", std::to_string(state->index)),
            product_key(gen_, state->code));
      known_[state->code] = state;
    }
    auto key = product_key(gen_, state->code);
    Command set = cmd("HSET", key);
    // A code is only added, never changed: packs are keyed by the primary code (mirror_keys.hpp).
    if (!gtin.empty() && state->gtin.empty()) state->gtin = std::string(gtin);
    if (!ppn.empty() && state->ppn.empty()) state->ppn = std::string(ppn);
    for (auto [field, value] : {std::pair<const char*, std::string_view>{"gtin", state->gtin}, {"ppn", state->ppn}}) {
      if (!value.empty()) {
        set.emplace_back(field);
        set.emplace_back(value);
      }
    }
    for (auto field : {"name", "market"}) {
      if (has_string(o, field)) {
        set.emplace_back(field);
        set.emplace_back(str(o, field));
      }
    }
    if (set.size() > 2) queue(std::move(set), key);
    for (const auto& other : {state->gtin, state->ppn}) {
      if (other.empty() || other == state->code) continue;
      auto alias = product_key(gen_, other);
      queue(cmd("HSET", alias, "alias", state->code), alias);
      known_[other] = state;
    }
    changed_.insert(state->code);
    co_return std::nullopt;
  }

  // batch upsert: appended when new (next index), else its state replaced.
  awaitable<MirrorResult<std::optional<Unresolved>>> batch(const json::object& o) {
    auto found = co_await find(o);
    if (!found) co_return Unexpected{found.error()};
    auto state = *found;
    if (!state) co_return Unresolved{"batch: \"gtin\"/\"ppn\" names no product of the mirror"};
    if (auto problem = batch_line_problem(o)) co_return Unresolved{std::move(*problem)};
    auto name = str(o, "batch");
    std::string state_text = central_text(o, "state");
    if (!parse_batch_state(state_text)) {
      ++unknown_batch_states;
      note_unknown(fmt::format("batch {}: state \"{}\" is not known: stored, read as unknown", name, state_text));
    }
    bool is_new = !state->batches.count(std::string(name));
    if (is_new && !has_string(o, "expiry")) co_return Unresolved{"batch: a new batch needs \"expiry\""};
    auto key = batch_key(gen_, state->code, name);
    Command set = cmd("HSET", key, "state", std::move(state_text), "reason", std::string(str(o, "reason")));
    if (has_string(o, "expiry")) {
      set.emplace_back("expiry");
      set.emplace_back(str(o, "expiry"));
    }
    if (auto t = o.find("changed_at"); t != o.end() && t->value().is_number()) {
      set.emplace_back("t");
      set.emplace_back(std::to_string(t->value().to_number<std::int64_t>()));
    } else if (is_new) {
      set.emplace_back("t");
      set.emplace_back("0");
    }
    // The hash first, then the list entry: a reader never sees a listed batch without its data.
    queue(std::move(set), key);
    if (is_new) {
      auto list = batch_list_key(gen_, state->code);
      queue(cmd("RPUSH", list, std::string(name)), list);
      state->batches[std::string(name)] = static_cast<std::uint32_t>(state->batches.size());
    }
    changed_.insert(state->code);
    co_return std::nullopt;
  }

  awaitable<MirrorResult<std::optional<Unresolved>>> pack(const json::object& o, bool remove, std::int64_t seq) {
    auto found = co_await find(o);
    if (!found) co_return Unexpected{found.error()};
    auto state = *found;
    if (!state) co_return Unresolved{"pack: \"gtin\"/\"ppn\" names no product of the mirror"};
    if (auto problem = pack_line_problem(o)) co_return Unresolved{std::move(*problem)};
    auto serial = str(o, "serial");
    // Plain variables, not a structured binding: the lambda below captures them (clang 14, the fuzz build,
    // cannot capture bindings).
    const PackPlace place = pack_place(state->code, serial, buckets_);
    const int partition = place.partition;
    const int bucket = place.bucket;
    auto key = pack_key(partition, gen_, bucket);
    auto field = pack_field(state->index, serial);
    // One Function call per pack line (vp_feed): the merge rule decides whether central's state is written now,
    // held until this site's pending transaction is answered, or is older than the pack's settled state.
    auto feed_call = [&](std::string value, std::string raw) {
      queue(Command{"FCALL", "vp_feed", "3", key, unknown_status_key(partition, gen_), pending_key(partition), field,
                    pending_field(state->code, serial), std::move(value), std::move(raw), std::to_string(seq),
                    std::to_string(gen_)},
            key);
    };
    if (remove) {
      feed_call("", "");
      co_return std::nullopt;
    }
    auto b = state->batches.find(std::string(str(o, "batch")));
    if (b == state->batches.end()) co_return Unresolved{"pack: \"batch\" names no batch of this product in the mirror"};
    std::string status_text = central_text(o, "status");
    auto status = parse_pack_status(status_text);
    if (!status) {
      ++unknown_statuses;
      note_unknown(fmt::format("pack {}: status \"{}\" is not known: stored, refused at every scan", serial, status_text));
    }
    feed_call(std::to_string(pack_value(b->second, status ? static_cast<std::uint8_t>(*status) : kUnknownStatus)),
              status ? std::string() : std::move(status_text));
    co_return std::nullopt;
  }

  std::optional<Unresolved> aggregation(const json::object& o, bool remove) {
    auto children = aggregation_children(o, remove);
    if (!children) return Unresolved{std::move(children.error())};
    auto sscc = str(o, "sscc");
    auto key = aggregation_key(gen_, sscc);
    auto list = "aglist:" + std::to_string(gen_);
    Command push = cmd("RPUSH", key);
    for (auto& child : *children) push.push_back(std::move(child));
    queue(cmd("UNLINK", key), key);
    if (push.size() > 2) {
      queue(std::move(push), key);
      queue(cmd("SADD", list, std::string(sscc)), list);
    } else {
      queue(cmd("SREM", list, std::string(sscc)), list);
    }
    return std::nullopt;
  }

  // Sends every queued write (one pipeline, per node in Cluster mode).
  awaitable<MirrorResult<bool>> flush() {
    if (writes_.empty()) co_return true;
    auto replies = co_await client_.pipeline(std::move(writes_), std::move(routes_));
    writes_.clear();
    routes_.clear();
    for (auto& r : replies) {
      if (!r) co_return Unexpected{from_redis(r.error())};
      if (r->is_error()) co_return Unexpected{from_reply_error(*r)};
      if (r->str == "held") ++held;
      else if (r->str == "stale") ++stale;
    }
    co_return true;
  }

  // Publishes each changed product and drops it from the mirror's own cache.
  awaitable<MirrorResult<std::vector<std::string>>> publish() {
    std::vector<std::string> codes(changed_.begin(), changed_.end());
    if (codes.empty()) co_return codes;
    std::vector<Command> pubs;
    for (const auto& code : codes) pubs.push_back(cmd("PUBLISH", std::string(kInvalidationChannel), code));
    auto replies = co_await client_.pipeline(std::move(pubs));
    for (const auto& code : codes) mirror_.invalidate(code);
    for (auto& r : replies) {
      if (!r) co_return Unexpected{from_redis(r.error())};
    }
    co_return codes;
  }

 private:
  void queue(Command c, std::string route) {
    writes_.push_back(std::move(c));
    routes_.push_back(std::move(route));
  }

  awaitable<MirrorResult<std::shared_ptr<ProductState>>> find_code(std::string code) {
    if (auto it = known_.find(code); it != known_.end()) co_return it->second;
    auto rec = co_await client_.command(cmd("HGETALL", product_key(gen_, code)));
    if (!rec) co_return Unexpected{from_redis(rec.error())};
    auto fields = hash_reply(*rec);
    std::string primary = code;
    if (auto alias = fields.find("alias"); alias != fields.end()) {
      primary = alias->second;
      if (auto it = known_.find(primary); it != known_.end()) co_return (known_[code] = it->second);
      rec = co_await client_.command(cmd("HGETALL", product_key(gen_, primary)));
      if (!rec) co_return Unexpected{from_redis(rec.error())};
      fields = hash_reply(*rec);
    }
    // Misses are not remembered: a product line later in the same call creates the product.
    if (fields.empty() || !fields.count("idx")) co_return std::shared_ptr<ProductState>{};
    auto state = std::make_shared<ProductState>();
    state->code = primary;
    state->gtin = fields["gtin"];
    state->ppn = fields["ppn"];
    state->index = to_u32(fields["idx"]).value_or(0);
    auto list = co_await client_.command(cmd("LRANGE", batch_list_key(gen_, primary), "0", "-1"));
    if (!list) co_return Unexpected{from_redis(list.error())};
    for (const auto& name : list->elements)
      state->batches.emplace(name.str, static_cast<std::uint32_t>(state->batches.size()));
    known_[primary] = state;
    known_[code] = state;
    co_return state;
  }

  // Next free product index of the generation. Import numbers products 0..n-1 without a counter, so the
  // counter (mirror:pseq:<gen>) starts at the product count; queued writes go first so the count is exact.
  awaitable<MirrorResult<std::uint32_t>> next_product_index() {
    auto flushed = co_await flush();
    if (!flushed) co_return Unexpected{flushed.error()};
    auto count = co_await client_.command(cmd("SCARD", "plist:" + std::to_string(gen_)));
    if (!count) co_return Unexpected{from_redis(count.error())};
    auto counter = product_counter_key(gen_);
    auto init = co_await client_.command(cmd("SET", counter, std::to_string(reply_int(*count).value_or(0)), "NX"));
    if (!init) co_return Unexpected{from_redis(init.error())};
    auto next = co_await client_.command(cmd("INCR", counter));
    if (!next) co_return Unexpected{from_redis(next.error())};
    if (next->is_error()) co_return Unexpected{from_reply_error(*next)};
    auto value = reply_int(*next).value_or(0);
    if (value < 1 || value > static_cast<std::int64_t>(kMaxProducts))
      co_return Unexpected{MirrorError{MirrorErrorKind::bad_data, "feed: more than 262144 products in the generation", std::nullopt}};
    co_return static_cast<std::uint32_t>(value - 1);
  }

 public:
  std::uint64_t unknown_statuses = 0;
  std::uint64_t unknown_batch_states = 0;
  std::uint64_t held = 0;   // vp_feed kept the pack (pending local transaction)
  std::uint64_t stale = 0;  // vp_feed: older than the pack's settled state
  std::vector<std::string> unknown_notes;  // at most 20

 private:
  void note_unknown(std::string note) {
    if (unknown_notes.size() < 20) unknown_notes.push_back(std::move(note));
  }

  Mirror& mirror_;
  Client& client_;
  std::int64_t gen_;
  int buckets_;
  std::unordered_map<std::string, std::shared_ptr<ProductState>> known_;
  std::vector<Command> writes_;
  std::vector<std::string> routes_;
  std::set<std::string> changed_;
};

// Generation in effect, its feed position and its bucket count.
struct Target {
  std::int64_t generation = 0;
  std::int64_t position = 0;
  int buckets = 16;
};

awaitable<MirrorResult<Target>> target_of(Mirror& mirror) {
  auto position = co_await mirror.feed_position();
  if (!position) co_return Unexpected{position.error()};
  Target t;
  t.generation = position->first;
  t.position = position->second;
  auto layout = co_await mirror.client().command(cmd("GET", layout_key(t.generation)));
  if (!layout) co_return Unexpected{from_redis(layout.error())};
  t.buckets = static_cast<int>(reply_int(*layout).value_or(mirror.options().buckets_per_partition));
  co_return t;
}


}  // namespace

awaitable<MirrorResult<FeedApplyResult>> apply_changes(Mirror& mirror, const std::vector<std::string>& lines) {
  // Everything is checked before anything is written: a line without seq/op cannot be ordered.
  std::vector<FeedLine> parsed;
  parsed.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view text = lines[i];
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) continue;
    auto line = parse_feed_line(text);
    if (!line)
      co_return Unexpected{MirrorError{MirrorErrorKind::bad_data, fmt::format("feed line {}: {}", i + 1, line.error()), std::nullopt}};
    parsed.push_back(std::move(*line));
  }
  std::stable_sort(parsed.begin(), parsed.end(), [](const FeedLine& a, const FeedLine& b) { return a.seq < b.seq; });

  if (mirror.outdated())
    co_return Unexpected{MirrorError{MirrorErrorKind::outdated, "feed: the generation in effect has an older value format; import a snapshot first", std::nullopt}};
  auto target = co_await target_of(mirror);
  if (!target) co_return Unexpected{target.error()};
  FeedApplyResult result;
  result.generation = target->generation;
  result.position_before = result.position = target->position;
  Applier applier(mirror, target->generation, target->buckets);
  for (const auto& line : parsed) {
    if (line.seq <= result.position) {  // replay: applied before (or twice in this call)
      ++result.skipped;
      continue;
    }
    if (line.seq != result.position + 1) result.gaps.push_back(FeedGap{result.position + 1, line.seq});
    result.position = line.seq;
    const auto& o = line.object;
    auto type = str(o, "type");
    MirrorResult<std::optional<Unresolved>> done = std::optional<Unresolved>{};
    if (line.type == FeedType::pack) done = co_await applier.pack(o, line.remove, line.seq);
    else if (line.type == FeedType::batch && !line.remove) done = co_await applier.batch(o);
    else if (line.type == FeedType::product && !line.remove) done = co_await applier.product(o);
    else if (line.type == FeedType::aggregation) done = applier.aggregation(o, line.remove);
    // Batch indexes are never reused and packs store them, so products and batches are never deleted here;
    // the next snapshot drops them.
    else if (line.type == FeedType::product || line.type == FeedType::batch) done = std::optional<Unresolved>{Unresolved{std::string(type) + ": delete is not applied"}};
    else done = std::optional<Unresolved>{Unresolved{"\"type\" must be product, batch, pack or aggregation"}};
    if (!done) co_return Unexpected{done.error()};
    if (*done) {
      ++result.unresolved;
      if (result.notes.size() < 20) result.notes.push_back(fmt::format("seq {}: {}", line.seq, (*done)->why));
    } else {
      ++result.applied;
    }
  }
  auto flushed = co_await applier.flush();
  if (!flushed) co_return Unexpected{flushed.error()};
  if (result.position != result.position_before) {
    auto set = co_await mirror.client().command(cmd("SET", seq_key(target->generation), std::to_string(result.position)));
    if (!set) co_return Unexpected{from_redis(set.error())};
    if (set->is_error()) co_return Unexpected{from_reply_error(*set)};
  }
  auto published = co_await applier.publish();
  if (!published) co_return Unexpected{published.error()};
  result.changed_products = std::move(*published);
  result.unknown_statuses = applier.unknown_statuses;
  result.unknown_batch_states = applier.unknown_batch_states;
  result.held = applier.held;
  result.stale = applier.stale;
  result.unknown_notes = std::move(applier.unknown_notes);
  co_return result;
}

awaitable<MirrorResult<bool>> cache_pack(Mirror& mirror, const LivePack& pack) {
  auto bad = [](std::string why) { return MirrorError{MirrorErrorKind::bad_request, std::move(why), std::nullopt}; };
  if (pack.code_key != "gtin" && pack.code_key != "ppn") co_return Unexpected{bad("code_key: must be gtin or ppn")};
  if (!valid_code(pack.code)) co_return Unexpected{bad("code: must be 1-20 characters")};
  if (!valid_serial(pack.serial)) co_return Unexpected{bad("serial: must be 1-20 characters")};
  if (pack.batch.empty() || pack.batch.size() > 20) co_return Unexpected{bad("batch: must be 1-20 characters")};
  auto target = co_await target_of(mirror);
  if (!target) co_return Unexpected{target.error()};
  Applier applier(mirror, target->generation, target->buckets);
  json::object o;
  o[pack.code_key] = pack.code;
  o["serial"] = pack.serial;
  o["batch"] = pack.batch;
  o["status"] = pack.status;
  auto product = co_await applier.find(o);
  if (!product) co_return Unexpected{product.error()};
  if (!*product) {
    json::object line;
    line[pack.code_key] = pack.code;
    auto made = co_await applier.product(line);
    if (!made) co_return Unexpected{made.error()};
    if (*made) co_return Unexpected{bad((*made)->why)};
    product = co_await applier.find(o);
    if (!product) co_return Unexpected{product.error()};
  }
  if (*product && !(*product)->batches.count(pack.batch)) {
    if (!valid_expiry(pack.expiry)) co_return Unexpected{bad("expiry: must be YYMMDD (the mirror lacks the batch)")};
    json::object line;
    line[pack.code_key] = pack.code;
    line["batch"] = pack.batch;
    line["expiry"] = pack.expiry;
    // The batch as the look-up gave it: a recalled batch learned here is stored recalled, and one whose state
    // was not given is stored as not known (refused), never as active.
    line["state"] = pack.batch_state.empty() ? std::string("(not given by the look-up)") : pack.batch_state;
    if (!pack.batch_reason.empty()) line["reason"] = pack.batch_reason;
    auto made = co_await applier.batch(line);
    if (!made) co_return Unexpected{made.error()};
    if (*made) co_return Unexpected{bad((*made)->why)};
  }
  auto done = co_await applier.pack(o, false, pack.seq);
  if (!done) co_return Unexpected{done.error()};
  if (*done) co_return Unexpected{bad((*done)->why)};
  auto flushed = co_await applier.flush();
  if (!flushed) co_return Unexpected{flushed.error()};
  auto published = co_await applier.publish();
  if (!published) co_return Unexpected{published.error()};
  co_return true;
}

}  // namespace vpoint::cache
