// The Redis mirror: pack operations as one FCALL each, product/batch look-ups, the settings check.
#include "vpoint/cache/mirror.hpp"

#include "vpoint/cache/ids.hpp"

#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "feed_line.hpp"
#include "mirror_internal.hpp"
#include "mirror_keys.hpp"
#include "product_catalog.hpp"
#include "vpoint_lua.hpp"

namespace vpoint::cache {

using boost::asio::awaitable;
using namespace detail;

namespace detail {

MirrorError from_redis(const RedisError& error) {
  return MirrorError{MirrorErrorKind::unavailable,
                     fmt::format("mirror unavailable: {}: {}", to_string(error.kind), error.message), error};
}

MirrorError from_reply_error(const Reply& reply) {
  // noeviction at maxmemory: Redis refuses every command and Function that may write, before running it.
  if (reply.str.rfind("OOM", 0) == 0)
    return MirrorError{MirrorErrorKind::full, "mirror full: Redis is at maxmemory and refuses writes (" + reply.str + ")",
                       std::nullopt};
  return MirrorError{MirrorErrorKind::library, "mirror error: " + reply.str, std::nullopt};
}

std::optional<std::int64_t> reply_int(const Reply& reply) {
  if (reply.type == Reply::Type::integer) return reply.integer;
  if (reply.type != Reply::Type::string && reply.type != Reply::Type::status) return std::nullopt;
  std::int64_t value = 0;
  const char* end = reply.str.data() + reply.str.size();
  auto [ptr, ec] = std::from_chars(reply.str.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::string lua_library_text(bool test_mode) {
  std::string text = kLuaLibrary;
  if (test_mode) {
    static constexpr std::string_view kFlag = "local TEST_MODE = false";
    auto pos = text.find(kFlag);
    if (pos != std::string::npos) text.replace(pos, kFlag.size(), "local TEST_MODE = true");
  }
  return text;
}

std::map<std::string, std::string> hash_reply(const Reply& reply) {
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    out[reply.elements[i].str] = reply.elements[i + 1].str;
  }
  return out;
}

std::string random_transaction_id() { return random_id(); }

}  // namespace detail

namespace {


SettingProblem problem(std::string setting, std::string actual, std::string required, bool fatal,
                       std::string message) {
  return SettingProblem{std::move(setting), std::move(actual), std::move(required), fatal, std::move(message)};
}


std::optional<std::uint32_t> to_u32(std::string_view text) {
  std::uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

struct Mirror::Impl {
  Client& client;
  MirrorOptions options;
  std::atomic<long long> clock_offset_ms{0};

  std::mutex mutex;  // guards the fields below; never held over I/O
  std::int64_t generation = 0;
  int buckets = 16;
  bool outdated = false;  // the generation in effect has another value format (kMirrorFormat)
  // Products by code: product index and batch list are fixed within a generation; expiry/state are refreshed on
  // invalidate() (the feed publishes each product it changes).
  ProductCatalog products;
  // The invalidation subscription (watch_invalidations): once one is attached, a cached product is trusted only
  // while it is up, or for options.max_staleness after its fetch (bounded staleness: a recall is served late by
  // at most that much when messages cannot arrive).
  std::atomic<bool> invalidations_watched{false};
  std::atomic<bool> invalidations_up{false};
  std::atomic<std::int64_t> invalidations_down_since_ms{0};  // steady clock ms; 0 = up or never watched

  std::optional<std::chrono::steady_clock::duration> max_cache_age() const {
    if (!invalidations_watched.load(std::memory_order_relaxed) || invalidations_up.load(std::memory_order_relaxed))
      return std::nullopt;
    return options.max_staleness;
  }

  Impl(Client& c, MirrorOptions o) : client(c), options(std::move(o)), buckets(options.buckets_per_partition) {}

  std::pair<std::int64_t, int> layout() {
    std::lock_guard lock(mutex);
    return {generation, buckets};
  }
  bool is_outdated() {
    std::lock_guard lock(mutex);
    return outdated;
  }
  MirrorError outdated_error() {
    auto [gen, b] = layout();
    (void)b;
    return MirrorError{MirrorErrorKind::outdated,
                       fmt::format("mirror unavailable: generation {} was written in an older value format and is "
                                   "not read; it is imported again from the central system (or run vpoint import)",
                                   gen),
                       std::nullopt};
  }

  awaitable<MirrorResult<LibraryInfo>> load_library() {
    auto loads = co_await client.on_all_masters(cmd("FUNCTION", "LOAD", "REPLACE", lua_library_text(options.test_mode)));
    for (auto& r : loads) {
      if (!r) co_return Unexpected{from_redis(r.error())};
      if (r->is_error()) co_return Unexpected{MirrorError{MirrorErrorKind::library, "Functions library refused: " + r->str, std::nullopt}};
    }
    auto version = co_await client.command(cmd("FCALL", "vp_version", "0"));
    if (!version) co_return Unexpected{from_redis(version.error())};
    if (version->is_error()) co_return Unexpected{from_reply_error(*version)};
    if (version->elements.size() != 2) co_return Unexpected{MirrorError{MirrorErrorKind::protocol, "vp_version: unexpected reply", std::nullopt}};
    LibraryInfo info;
    info.version = static_cast<int>(reply_int(version->elements[0]).value_or(0));
    info.test_mode = reply_int(version->elements[1]).value_or(0) != 0;
    if (info.version != kLibraryVersion) {
      co_return Unexpected{MirrorError{MirrorErrorKind::library,
                                       fmt::format("Functions library version {} loaded, this build needs {}", info.version, kLibraryVersion),
                                       std::nullopt}};
    }
    co_return info;
  }

  awaitable<MirrorResult<LibraryInfo>> start() {
    auto info = co_await load_library();
    if (!info) co_return info;
    auto gen = co_await client.command(cmd("GET", std::string(kGenerationKey)));
    if (!gen) co_return Unexpected{from_redis(gen.error())};
    std::int64_t generation_found = gen->is_nil() ? 0 : reply_int(*gen).value_or(0);
    // The bucket count is fixed per generation: the first writer decides (SET NX), everyone reads it back.
    auto key = layout_key(generation_found);
    auto set = co_await client.command(cmd("SET", key, std::to_string(options.buckets_per_partition), "NX"));
    if (!set) co_return Unexpected{from_redis(set.error())};
    auto got = co_await client.command(cmd("GET", key));
    if (!got) co_return Unexpected{from_redis(got.error())};
    int bucket_count = static_cast<int>(reply_int(*got).value_or(options.buckets_per_partition));
    if (bucket_count < 1) bucket_count = 1;
    // An empty mirror (generation 0) is written in this build's format as packs arrive; any other generation
    // names its format, and one without (written before format 2) or of another format is not read.
    bool old_format = false;
    if (generation_found > 0) {
      auto format = co_await client.command(cmd("GET", format_key(generation_found)));
      if (!format) co_return Unexpected{from_redis(format.error())};
      old_format = reply_int(*format).value_or(0) != kMirrorFormat;
    }
    {
      std::lock_guard lock(mutex);
      generation = generation_found;
      buckets = bucket_count;
      outdated = old_format;
    }
    info->outdated = old_format;
    products.invalidate({});
    info->generation = generation_found;
    info->buckets_per_partition = bucket_count;
    co_return info;
  }

  awaitable<MirrorResult<std::optional<Product>>> fetch_product(std::string_view code_in, std::int64_t gen) {
    std::string code(code_in);
    auto rec = co_await client.command(cmd("HGETALL", product_key(gen, code)));
    if (!rec) co_return Unexpected{from_redis(rec.error())};
    auto fields = hash_reply(*rec);
    if (fields.empty()) co_return std::optional<Product>{};
    if (auto alias = fields.find("alias"); alias != fields.end()) {
      code = alias->second;
      rec = co_await client.command(cmd("HGETALL", product_key(gen, code)));
      if (!rec) co_return Unexpected{from_redis(rec.error())};
      fields = hash_reply(*rec);
      if (fields.empty()) co_return std::optional<Product>{};
    }
    Product product;
    product.code = code;
    product.gtin = fields["gtin"];
    product.ppn = fields["ppn"];
    product.name = fields["name"];
    product.market = fields["market"];
    product.index = to_u32(fields["idx"]).value_or(0);
    auto list = co_await client.command(cmd("LRANGE", batch_list_key(gen, code), "0", "-1"));
    if (!list) co_return Unexpected{from_redis(list.error())};
    std::vector<Command> reads;
    for (const auto& name : list->elements) reads.push_back({"HGETALL", batch_key(gen, code, name.str)});
    auto batch_replies = co_await client.pipeline(std::move(reads));
    for (std::size_t i = 0; i < batch_replies.size(); ++i) {
      if (!batch_replies[i]) co_return Unexpected{from_redis(batch_replies[i].error())};
      auto bf = hash_reply(*batch_replies[i]);
      Batch batch;
      batch.batch = list->elements[i].str;
      batch.index = static_cast<std::uint32_t>(i);
      batch.expiry = bf["expiry"];
      // A state this build does not know is never read as active (an absent one is: older generations).
      batch.state_text = bf.count("state") ? bf["state"] : std::string("active");
      batch.state = parse_batch_state(batch.state_text).value_or(BatchState::unknown);
      batch.reason = bf["reason"];
      if (auto t = bf.find("t"); t != bf.end()) {
        std::int64_t v = 0;
        std::from_chars(t->second.data(), t->second.data() + t->second.size(), v);
        batch.changed_at_ms = v;
      }
      product.batches.push_back(std::move(batch));
    }
    co_return std::optional<Product>{std::move(product)};
  }

  // The product of `code` from the catalog, or from Redis on a miss (or when `force`); null when unknown
  // (not cached: the feed may add it any time).
  awaitable<MirrorResult<std::shared_ptr<const Product>>> product_ref(const std::string& code, bool force) {
    if (!force)
      if (auto cached = products.find(code, max_cache_age())) co_return cached;
    auto [gen, b] = layout();
    (void)b;
    const std::uint64_t epoch = products.epoch();
    const auto fetched = std::chrono::steady_clock::now();
    auto product = co_await fetch_product(code, gen);
    if (!product) co_return Unexpected{product.error()};
    if (!*product) co_return std::shared_ptr<const Product>{};
    auto ref = std::make_shared<const Product>(std::move(**product));
    products.insert(code, ref, epoch, fetched);
    co_return ref;
  }

  // One pack operation ready to send: what vp_pack / vp_look are called with, minus what is read from the
  // request itself (the caller's frame keeps it alive while the operation runs).
  struct Prepared {
    const PackRequest* request = nullptr;
    Operation operation = Operation::verify;
    Action action = Action::supply;
    std::string routing_key;  // the pack's bucket: routes the call in a Cluster
    int partition = 0;
    std::int64_t generation = 0;
    std::string transaction_id;
    std::shared_ptr<const Product> ref;  // null: unknown product
  };

  std::optional<MirrorError> validate(const PackRequest& request) {
    if (!valid_code(request.product_code))
      return MirrorError{MirrorErrorKind::bad_request, "product_code: must be 1-20 characters", std::nullopt};
    if (!valid_serial(request.serial))
      return MirrorError{MirrorErrorKind::bad_request, "serial: must be 1-20 characters", std::nullopt};
    return std::nullopt;
  }

  Prepared prepare(Operation operation, Action action, const PackRequest& request,
                   std::shared_ptr<const Product> ref) {
    auto [gen, bucket_count] = layout();
    const std::string& code = ref ? ref->code : request.product_code;
    const auto [partition, bucket] = pack_place(code, request.serial, bucket_count);
    Prepared p;
    p.request = &request;
    p.operation = operation;
    p.action = action;
    p.partition = partition;
    p.generation = gen;
    p.routing_key = pack_key(partition, gen, bucket);
    p.transaction_id = request.transaction_id.empty() ? random_transaction_id() : request.transaction_id;
    p.ref = std::move(ref);
    return p;
  }

  // `verb function numkeys keys... args...` of vp_pack (FCALL) or vp_look (FCALL_RO, same arguments), written
  // in RESP directly (issue 19: no vector of ~30 argument strings per call).
  RespCommand pack_call(const Prepared& p, std::string_view verb, std::string_view function) const {
    const PackRequest& request = *p.request;
    const std::string& code = p.ref ? p.ref->code : request.product_code;
    const bool idem = !request.idempotency_key.empty();
    const std::size_t keys = idem ? 8 : 7;
    RespCommand c(3 + keys + 16);
    c.arg(verb).arg(function).arg(static_cast<long long>(keys));
    c.arg(p.routing_key)
        .arg(decommission_key(p.partition, code, request.serial))
        .arg(outbox_key(p.partition))
        .arg(audit_key(p.partition))
        .arg(undo_marker_key(p.partition, code, request.serial))
        .arg(unknown_status_key(p.partition, p.generation))
        .arg(pending_key(p.partition));
    if (idem) c.arg(idempotency_key(p.partition, request.caller.name, request.idempotency_key));
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    c.arg(operation_letter(p.operation))
        .arg(p.ref ? pack_field(p.ref->index, request.serial) : std::string())
        .arg(static_cast<long long>(p.action))
        .arg(request.caller.location)
        .arg(request.caller.name)
        .arg(p.transaction_id)
        .arg(static_cast<long long>(duration_cast<milliseconds>(options.undo_window).count()))
        .arg(static_cast<long long>(clock_offset_ms.load()))
        .arg(code)
        .arg(request.serial)
        .arg(static_cast<long long>(options.idempotency_ttl.count()))
        .arg(static_cast<long long>(options.audit_maxlen));
    if (request.expected_batch_index) {
      c.arg(static_cast<long long>(*request.expected_batch_index));
    } else {
      c.arg(std::string_view());
    }
    c.arg(static_cast<long long>(duration_cast<milliseconds>(options.undo_marker_ttl).count()));
    // The expected batch by name and expiry: the outbox entry carries them (the central system and a later
    // generation know batches by name, not by this generation's index).
    const Batch* expected = nullptr;
    if (p.ref && request.expected_batch_index && *request.expected_batch_index < p.ref->batches.size())
      expected = &p.ref->batches[*request.expected_batch_index];
    c.arg(expected ? std::string_view(expected->batch) : std::string_view());
    c.arg(expected ? std::string_view(expected->expiry) : std::string_view());
    return c;
  }

  MirrorResult<PackResult> parse(const Prepared& p, const Reply& reply) {
    if (reply.is_error()) return Unexpected{from_reply_error(reply)};
    // 13 elements; 12 from an idempotency record stored by library version 5 (no raw status).
    if (reply.type != Reply::Type::array || (reply.elements.size() != 12 && reply.elements.size() != 13))
      return Unexpected{MirrorError{MirrorErrorKind::protocol, "vp_pack: unexpected reply shape", std::nullopt}};
    std::array<std::int64_t, 12> n{};
    for (std::size_t i : {0, 1, 2, 3, 4, 7, 10, 11}) {
      auto v = reply_int(reply.elements[i]);
      if (!v) return Unexpected{MirrorError{MirrorErrorKind::protocol, fmt::format("vp_pack: element {} not a number", i), std::nullopt}};
      n[i] = *v;
    }
    if (n[0] < 0 || n[0] > static_cast<int>(Outcome::batch_mismatch) || !is_status_number(n[1]) || !is_status_number(n[2]))
      return Unexpected{MirrorError{MirrorErrorKind::protocol, "vp_pack: value out of range", std::nullopt}};
    PackResult r;
    r.outcome = static_cast<Outcome>(n[0]);
    r.previous = static_cast<PackStatus>(n[1]);
    r.status = static_cast<PackStatus>(n[2]);
    if (n[3] >= 0) {
      r.batch_index = static_cast<std::uint32_t>(n[3]);
      if (p.ref && *r.batch_index < p.ref->batches.size()) r.stored_batch = p.ref->batches[*r.batch_index];
    }
    if (n[4] >= 1 && n[4] <= 7) {
      DecommissionRecord d;
      d.action = static_cast<Action>(n[4]);
      d.location = reply.elements[5].str;
      d.actor = reply.elements[6].str;
      d.time_ms = n[7];
      d.transaction_id = reply.elements[8].str;
      r.last_decommission = std::move(d);
    }
    r.transaction_id = reply.elements[9].str;
    r.redis_time_ms = n[10];
    r.replay = n[11] != 0;
    if (reply.elements.size() == 13) r.central_status = reply.elements[12].str;
    r.partition = p.partition;
    return r;
  }

  bool wants_wait(Operation operation) const { return options.min_replicas_ack > 0 && operation != Operation::verify; }

  // Runs prepared operations as one pipeline; with min_replicas_ack a WAIT follows each state change on the
  // same connection (WAIT counts the writes of the connection that sends it).
  awaitable<std::vector<MirrorResult<PackResult>>> run(std::vector<Prepared> prepared, std::vector<Operation> ops,
                                                       bool retried = false) {
    std::vector<RespCommand> commands;
    std::vector<std::string> routing;
    std::vector<std::size_t> index_of;  // position of each prepared command in the pipeline
    commands.reserve(prepared.size());
    routing.reserve(prepared.size());
    index_of.reserve(prepared.size());
    for (std::size_t i = 0; i < prepared.size(); ++i) {
      index_of.push_back(commands.size());
      commands.push_back(pack_call(prepared[i], "FCALL", "vp_pack"));
      routing.push_back(prepared[i].routing_key);
      if (wants_wait(ops[i])) {
        RespCommand wait(3);
        wait.arg("WAIT")
            .arg(static_cast<long long>(options.min_replicas_ack))
            .arg(static_cast<long long>(options.replicas_ack_timeout.count()));
        commands.push_back(std::move(wait));
        routing.push_back(prepared[i].routing_key);
      }
    }
    auto replies = co_await client.pipeline(std::move(commands), std::move(routing));
    std::vector<MirrorResult<PackResult>> out;
    bool missing_library = false;
    for (std::size_t i = 0; i < prepared.size(); ++i) {
      auto& rr = replies.at(index_of[i]);
      if (!rr) {
        out.push_back(Unexpected{from_redis(rr.error())});
        continue;
      }
      // A restarted Redis without persistence has lost the library: load it again and retry once.
      if (rr->is_error() && rr->str.find("Function not found") != std::string::npos) missing_library = true;
      auto result = parse(prepared[i], *rr);
      if (result && wants_wait(ops[i]) && result->status != result->previous && !result->replay) {
        auto& wr = replies.at(index_of[i] + 1);
        if (wr && wr->type == Reply::Type::integer) result->replicas_acked = static_cast<int>(wr->integer);
        else result->replicas_acked = 0;
      }
      out.push_back(std::move(result));
    }
    if (missing_library && !retried) {
      auto loaded = co_await load_library();
      if (loaded) co_return co_await run(std::move(prepared), std::move(ops), true);
    }
    co_await look_when_full(prepared, ops, out);
    co_return out;
  }

  // Redis full (noeviction at maxmemory) refuses vp_pack before it runs, verifications included, because
  // vp_pack writes the audit entry. A verification is then answered by vp_look (no-writes, which Redis runs
  // when full): the same answer from the same state, flagged audit_lost. Changes stay refused (full).
  awaitable<void> look_when_full(const std::vector<Prepared>& prepared, const std::vector<Operation>& ops,
                                 std::vector<MirrorResult<PackResult>>& out) {
    std::vector<RespCommand> looks;
    std::vector<std::string> routing;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (ops[i] != Operation::verify || out[i] || out[i].error().kind != MirrorErrorKind::full) continue;
      looks.push_back(pack_call(prepared[i], "FCALL_RO", "vp_look"));
      routing.push_back(prepared[i].routing_key);
      which.push_back(i);
    }
    if (looks.empty()) co_return;
    auto replies = co_await client.pipeline(std::move(looks), std::move(routing));
    for (std::size_t k = 0; k < which.size(); ++k) {
      auto& rr = replies.at(k);
      if (!rr) continue;  // the first error (full) stands
      auto result = parse(prepared[which[k]], *rr);
      if (!result) continue;
      // A replay (idempotency record found) answers an earlier verification whose entry is stored: nothing lost.
      result->audit_lost = !result->replay;
      out[which[k]] = std::move(result);
    }
  }

  awaitable<MirrorResult<PackResult>> one(Operation operation, Action action, PackRequest request) {
    std::optional<MirrorError> bad = validate(request);
    if (bad) co_return Unexpected{std::move(*bad)};
    if (is_outdated()) co_return Unexpected{outdated_error()};
    auto ref = co_await product_ref(request.product_code, false);
    if (!ref) co_return Unexpected{ref.error()};
    auto prepared = prepare(operation, action, request, *ref);
    std::vector<Prepared> ps;
    ps.push_back(std::move(prepared));
    std::vector<Operation> ops(1, operation);
    auto results = co_await run(std::move(ps), std::move(ops));
    auto result = std::move(results.front());
    // A batch index beyond what we cached: the product got a new batch since; refresh once.
    if (result && result->batch_index && !result->stored_batch && *ref) {
      auto fresh = co_await product_ref(request.product_code, true);
      if (fresh && *fresh && *result->batch_index < (*fresh)->batches.size())
        result->stored_batch = (*fresh)->batches[*result->batch_index];
    }
    co_return result;
  }
  awaitable<std::vector<MirrorResult<PackResult>>> bulk(std::vector<BulkItem> items) {
    std::vector<MirrorResult<PackResult>> out(items.size());
    std::vector<Prepared> prepared;
    std::vector<Operation> ops;
    std::vector<std::size_t> positions;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const BulkItem& item = items[i];
      std::optional<MirrorError> bad = validate(item.request);
      if (!bad && is_outdated()) bad = outdated_error();
      if (bad) {
        out[i] = Unexpected{std::move(*bad)};
        continue;
      }
      MirrorResult<std::shared_ptr<const Product>> ref = co_await product_ref(item.request.product_code, false);
      if (!ref) {
        out[i] = Unexpected{ref.error()};
        continue;
      }
      prepared.push_back(prepare(item.operation, item.action, item.request, *ref));
      ops.push_back(item.operation);
      positions.push_back(i);
    }
    std::vector<MirrorResult<PackResult>> ran = co_await run(std::move(prepared), std::move(ops));
    for (std::size_t k = 0; k < ran.size() && k < positions.size(); ++k) out[positions[k]] = std::move(ran[k]);
    co_return out;
  }
};

Mirror::Mirror(Client& client, MirrorOptions options) : impl_(std::make_unique<Impl>(client, std::move(options))) {}
Mirror::~Mirror() = default;

awaitable<MirrorResult<LibraryInfo>> Mirror::start() { return impl_->start(); }
bool Mirror::outdated() const { return impl_->is_outdated(); }

awaitable<MirrorResult<std::string>> Mirror::ping() {
  auto pong = co_await impl_->client.command(cmd("PING"));
  if (!pong) co_return Unexpected{from_redis(pong.error())};
  if (pong->is_error()) co_return Unexpected{from_reply_error(*pong)};
  co_return pong->str;
}

awaitable<MirrorResult<int>> Mirror::library_version() {
  auto v = co_await impl_->client.command(cmd("FCALL", "vp_version", "0"));
  if (!v) co_return Unexpected{from_redis(v.error())};
  if (v->is_error()) co_return Unexpected{from_reply_error(*v)};
  if (v->elements.empty()) co_return Unexpected{MirrorError{MirrorErrorKind::protocol, "vp_version: unexpected reply", std::nullopt}};
  co_return static_cast<int>(reply_int(v->elements[0]).value_or(0));
}

awaitable<MirrorResult<PackResult>> Mirror::verify(const PackRequest& request) {
  return impl_->one(Operation::verify, Action::supply, request);
}
awaitable<MirrorResult<PackResult>> Mirror::decommission(const PackRequest& request, Action action) {
  return impl_->one(Operation::decommission, action, request);
}
awaitable<MirrorResult<PackResult>> Mirror::undo(const PackRequest& request, Action action) {
  return impl_->one(Operation::undo, action, request);
}

namespace {
// FCALL vp_decision (cache/lua/vpoint.lua). A plain function: GCC 12 miscompiles braced lists in coroutines.
Command decision_command(const DecisionEntry& e, int partition, std::int64_t audit_maxlen, std::int64_t idem_ttl_s) {
  const bool idem = !e.idempotency_key.empty();
  Command command{"FCALL", "vp_decision", idem ? "2" : "1", audit_key(partition)};
  if (idem) command.push_back(idempotency_key(partition, e.caller.name, e.idempotency_key));
  for (const std::string& arg :
       {std::to_string(audit_maxlen), std::to_string(idem_ttl_s), e.decision, std::string("tx"), e.transaction_id,
        std::string("code"), e.product_code, std::string("serial"), e.serial, std::string("prev"),
        e.previous_status, std::string("status"), e.status, std::string("location"), e.caller.location,
        std::string("actor"), e.caller.name, std::string("note"), e.note})
    command.push_back(arg);
  return command;
}
}  // namespace

awaitable<MirrorResult<DecisionRecorded>> Mirror::record_decision(const DecisionEntry& e) {
  if (!valid_code(e.product_code))
    co_return Unexpected{MirrorError{MirrorErrorKind::bad_request, "product_code: must be 1-20 characters", std::nullopt}};
  if (!valid_serial(e.serial))
    co_return Unexpected{MirrorError{MirrorErrorKind::bad_request, "serial: must be 1-20 characters", std::nullopt}};
  const int partition = partition_of(e.product_code, e.serial);
  const std::string au = audit_key(partition);
  auto reply = co_await impl_->client.command(
      decision_command(e, partition, impl_->options.audit_maxlen, impl_->options.idempotency_ttl.count()), au);
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  if (reply->type != Reply::Type::array || reply->elements.size() != 3)
    co_return Unexpected{MirrorError{MirrorErrorKind::protocol, "vp_decision: unexpected reply shape", std::nullopt}};
  co_return DecisionRecorded{reply->elements[0].str, reply->elements[1].str == "1", reply->elements[2].str};
}

awaitable<std::vector<MirrorResult<PackResult>>> Mirror::bulk(std::vector<BulkItem> items) {
  return impl_->bulk(std::move(items));
}

awaitable<MirrorResult<std::optional<Product>>> Mirror::product(std::string_view code) {
  auto [gen, b] = impl_->layout();
  (void)b;
  co_return co_await impl_->fetch_product(code, gen);
}

awaitable<MirrorResult<std::optional<Batch>>> Mirror::batch(std::string_view product_code, std::string_view batch) {
  auto product = co_await this->product(product_code);
  if (!product) co_return Unexpected{product.error()};
  if (!*product) co_return std::optional<Batch>{};
  if (const Batch* b = (*product)->find_batch(batch)) co_return std::optional<Batch>{*b};
  co_return std::optional<Batch>{};
}

awaitable<std::vector<MirrorResult<std::optional<PackPeek>>>> Mirror::peek_many(
    std::vector<std::pair<std::string, std::string>> packs) {
  using Peeked = MirrorResult<std::optional<PackPeek>>;
  std::vector<Peeked> out(packs.size(), Peeked{std::optional<PackPeek>{}});
  auto [gen, bucket_count] = impl_->layout();
  std::vector<Command> commands;
  std::vector<std::string> routing;
  std::vector<std::size_t> positions;
  std::vector<std::shared_ptr<const Product>> refs;
  for (std::size_t i = 0; i < packs.size(); ++i) {
    const auto& [code, serial] = packs[i];
    if (!valid_code(code) || !valid_serial(serial)) {
      out[i] = Unexpected{MirrorError{MirrorErrorKind::bad_request,
                                      valid_code(code) ? "serial: must be 1-20 characters"
                                                       : "product_code: must be 1-20 characters",
                                      std::nullopt}};
      continue;
    }
    if (impl_->is_outdated()) {
      out[i] = Unexpected{impl_->outdated_error()};
      continue;
    }
    auto ref = co_await impl_->product_ref(code, false);
    if (!ref) {
      out[i] = Unexpected{ref.error()};
      continue;
    }
    if (!*ref) continue;  // unknown product: nullopt
    // Same key and field as vp_pack (mirror_keys.hpp), read with a plain HGET: no Function, no write.
    const Product& product = **ref;
    const auto [partition, bucket] = pack_place(product.code, serial, bucket_count);
    std::string key = pack_key(partition, gen, bucket);
    std::string field = pack_field(product.index, serial);
    std::string raw_key = unknown_status_key(partition, gen);
    commands.push_back(cmd("HGET", key, field));
    commands.push_back(cmd("HGET", raw_key, field));  // raw text of an unknown status (same slot)
    routing.push_back(std::move(key));
    routing.push_back(std::move(raw_key));
    positions.push_back(i);
    refs.push_back(*ref);
  }
  if (commands.empty()) co_return out;
  auto replies = co_await impl_->client.pipeline(std::move(commands), std::move(routing));
  for (std::size_t k = 0; 2 * k + 1 < replies.size() && k < positions.size(); ++k) {
    std::size_t i = positions[k];
    auto& reply = replies[2 * k];
    if (!reply) {
      out[i] = Unexpected{from_redis(reply.error())};
      continue;
    }
    if (reply->is_error()) {
      out[i] = Unexpected{from_reply_error(*reply)};
      continue;
    }
    if (reply->is_nil()) continue;  // unknown serial: nullopt
    auto value = reply_int(*reply);
    if (!value || *value < 0) {
      out[i] = Unexpected{MirrorError{MirrorErrorKind::protocol, "peek: pack value is not a number", std::nullopt}};
      continue;
    }
    PackPeek peeked;
    peeked.product_code = refs[k]->code;
    const PackValue decoded = decode_pack_value(*value);
    peeked.status = static_cast<PackStatus>(decoded.status);
    peeked.batch_index = decoded.batch_index;
    peeked.pending = decoded.pending;
    if (decoded.status == kUnknownStatus && replies[2 * k + 1] && !replies[2 * k + 1]->is_nil())
      peeked.central_status = replies[2 * k + 1]->str;
    auto product = refs[k];
    if (peeked.batch_index >= product->batches.size()) {
      // A batch added since the product was cached: refresh once.
      auto fresh = co_await impl_->product_ref(packs[i].first, true);
      if (fresh && *fresh) product = *fresh;
    }
    if (peeked.batch_index < product->batches.size()) {
      peeked.batch = product->batches[peeked.batch_index].batch;
      peeked.expiry = product->batches[peeked.batch_index].expiry;
    }
    out[i] = Peeked{std::optional<PackPeek>{std::move(peeked)}};
  }
  co_return out;
}

awaitable<MirrorResult<std::optional<PackPeek>>> Mirror::peek(std::string_view product_code, std::string_view serial) {
  std::vector<std::pair<std::string, std::string>> one;
  one.emplace_back(std::string(product_code), std::string(serial));
  auto results = co_await peek_many(std::move(one));
  co_return std::move(results.front());
}

awaitable<MirrorResult<std::vector<SettingProblem>>> Mirror::check_settings() {
  auto replies = co_await impl_->client.on_all_masters(
      cmd("CONFIG", "GET", "hash-max-listpack-entries", "hash-max-listpack-value", "maxmemory-policy", "appendonly",
          "appendfsync"));
  std::vector<SettingProblem> problems;
  for (auto& r : replies) {
    if (!r) co_return Unexpected{from_redis(r.error())};
    if (r->is_error()) {
      problems.push_back(problem("CONFIG", r->str, "CONFIG GET allowed", true,
                          "the mirror cannot read the Redis settings it depends on: " + r->str));
      continue;
    }
    auto cfg = hash_reply(*r);
    auto entries = reply_int(Reply{Reply::Type::string, cfg["hash-max-listpack-entries"]}).value_or(0);
    if (entries < impl_->options.required_listpack_entries) {
      problems.push_back(problem("hash-max-listpack-entries", cfg["hash-max-listpack-entries"],
                          ">= " + std::to_string(impl_->options.required_listpack_entries), false,
                          "pack buckets hold a few hundred packs; below this limit they turn into hashtables and "
                          "need about three times the memory"));
    }
    auto value = reply_int(Reply{Reply::Type::string, cfg["hash-max-listpack-value"]}).value_or(0);
    if (value < 23) {
      problems.push_back(problem("hash-max-listpack-value", cfg["hash-max-listpack-value"], ">= 23", false,
                          "a pack field (3-character product index + serial of up to 20) must fit in a listpack "
                          "entry"));
    }
    if (cfg["maxmemory-policy"] != "noeviction") {
      problems.push_back(problem("maxmemory-policy", cfg["maxmemory-policy"], "noeviction", true,
                          "an evicting policy silently deletes packs, outbox and undo records: a decommissioned "
                          "pack would come back as unknown"));
    }
    if (cfg["appendonly"] != "yes") {
      problems.push_back(problem("appendonly", cfg["appendonly"], "yes", false,
                          "without AOF a Redis restart loses every decommission since the last RDB save "
                          "(docs/durability.md)"));
    } else if (cfg["appendfsync"] != "always") {
      problems.push_back(problem("appendfsync", cfg["appendfsync"], "always", false,
                          "with appendfsync everysec a power loss can lose up to one second of acknowledged "
                          "decommissions (docs/durability.md)"));
    }
  }
  co_return problems;
}

awaitable<MirrorResult<std::optional<std::vector<std::pair<std::string, std::string>>>>> Mirror::aggregation(
    std::string_view sscc) {
  using Children = std::vector<std::pair<std::string, std::string>>;
  auto [gen, b] = impl_->layout();
  (void)b;
  auto list = co_await impl_->client.command(cmd("LRANGE", aggregation_key(gen, sscc), "0", "-1"));
  if (!list) co_return Unexpected{from_redis(list.error())};
  if (list->elements.empty()) co_return std::optional<Children>{};
  Children children;
  for (const auto& e : list->elements) {
    auto bar = e.str.find('|');
    if (bar == std::string::npos) continue;
    children.emplace_back(e.str.substr(0, bar), e.str.substr(bar + 1));
  }
  co_return std::optional<Children>{std::move(children)};
}

awaitable<MirrorResult<std::pair<std::int64_t, std::int64_t>>> Mirror::stored_feed_position() {
  auto gen = co_await impl_->client.command(cmd("GET", std::string(kGenerationKey)));
  if (!gen) co_return Unexpected{from_redis(gen.error())};
  if (gen->is_error()) co_return Unexpected{from_reply_error(*gen)};
  const std::int64_t generation = gen->is_nil() ? 0 : reply_int(*gen).value_or(0);
  auto seq = co_await impl_->client.command(cmd("GET", seq_key(generation)));
  if (!seq) co_return Unexpected{from_redis(seq.error())};
  if (seq->is_error()) co_return Unexpected{from_reply_error(*seq)};
  co_return std::pair<std::int64_t, std::int64_t>{generation, seq->is_nil() ? 0 : reply_int(*seq).value_or(0)};
}

awaitable<MirrorResult<std::pair<std::int64_t, std::int64_t>>> Mirror::feed_position() {
  auto [gen, b] = impl_->layout();
  (void)b;
  auto seq = co_await impl_->client.command(cmd("GET", seq_key(gen)));
  if (!seq) co_return Unexpected{from_redis(seq.error())};
  co_return std::pair<std::int64_t, std::int64_t>{gen, seq->is_nil() ? 0 : reply_int(*seq).value_or(0)};
}

int Mirror::partition_of(std::string_view product_code, std::string_view serial) {
  return static_cast<int>(pack_hash(product_code, serial) % kPartitions);
}

std::pair<std::int64_t, int> Mirror::layout() const { return impl_->layout(); }

void Mirror::set_invalidations_up(bool up) {
  impl_->invalidations_watched = true;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  if (up) {
    impl_->invalidations_down_since_ms = 0;
  } else {
    std::int64_t expected = 0;
    impl_->invalidations_down_since_ms.compare_exchange_strong(expected, std::max<std::int64_t>(now_ms, 1));
  }
  impl_->invalidations_up = up;
}

std::optional<std::chrono::milliseconds> Mirror::invalidations_down_for() const {
  if (!impl_->invalidations_watched || impl_->invalidations_up) return std::nullopt;
  const auto since = impl_->invalidations_down_since_ms.load();
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  return std::chrono::milliseconds(since > 0 ? now_ms - since : 0);
}

void Mirror::set_test_clock_offset(std::chrono::milliseconds offset) { impl_->clock_offset_ms = offset.count(); }
std::chrono::milliseconds Mirror::test_clock_offset() const {
  return std::chrono::milliseconds(impl_->clock_offset_ms.load());
}

void Mirror::invalidate(std::string_view code) { impl_->products.invalidate(code == "*" ? std::string_view() : code); }

awaitable<MirrorResult<std::shared_ptr<const Product>>> Mirror::cached_product(std::string_view code) {
  co_return co_await impl_->product_ref(std::string(code), false);
}

std::size_t Mirror::cached_products() const { return impl_->products.size(); }

const MirrorOptions& Mirror::options() const { return impl_->options; }
Client& Mirror::client() { return impl_->client; }

}  // namespace vpoint::cache
