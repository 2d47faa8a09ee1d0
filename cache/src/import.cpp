// Snapshot import into a new generation, then one SET of mirror:gen (include/vpoint/cache/import.hpp).
#include "vpoint/cache/import.hpp"

#include <chrono>
#include <limits>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "mirror_internal.hpp"
#include "mirror_keys.hpp"
#include "pack_line.hpp"
#include "vpoint/cache/outbox.hpp"

namespace vpoint::cache {

using boost::asio::awaitable;
using namespace detail;

namespace {

MirrorError bad_data(std::uint64_t line, std::string_view message) {
  return MirrorError{MirrorErrorKind::bad_data, fmt::format("snapshot line {}: {}", line, message), std::nullopt};
}

// Lookups by string_view without building a std::string (C++20 heterogeneous lookup).
struct ViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class T>
using ViewMap = std::unordered_map<std::string, T, ViewHash, std::equal_to<>>;

struct ProductInfo {
  std::string code;  // primary code
  std::uint32_t index = 0;
  ViewMap<std::uint32_t> batches;
};

}  // namespace

struct SnapshotLoader::Impl {
  Mirror& mirror;
  ImportOptions options;
  std::int64_t generation = -1;
  std::int64_t previous_generation = -1;
  int buckets = 16;
  bool ended = false;
  std::int64_t seq = 0;
  ImportProgress progress;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Every code (GTIN and PPN) -> the product it names.
  ViewMap<std::shared_ptr<ProductInfo>> products;
  std::vector<Command> pending;
  std::vector<std::string> pending_routes;
  // HSET being filled per pack bucket, indexed partition * buckets + bucket (empty = none); a vector, not a
  // map by key string, so a pack costs no key lookup or key string.
  std::vector<Command> buckets_pending;
  boost::json::parser parser;

  // Pipelines in flight. Parsing goes on while up to kMaxInFlight pipelines run, so the importer's CPU and
  // redis-server's overlap on two cores instead of adding up (docs/benchmarks.md "mirror"); memory stays
  // bounded by kMaxInFlight * commands_per_pipeline commands. Pipelines holding anything but pack HSETs
  // (RPUSH of a product's batch list, whose order gives the batch indices) run alone, in order.
  // The completion handlers share `Flight` (not Impl), so a loader dropped mid-import (an HTTP body cut
  // off) leaves nothing dangling. Handlers run on the loader's executor: calls are serialised with it.
  static constexpr std::size_t kMaxInFlight = 2;
  struct Flight {
    explicit Flight(boost::asio::any_io_executor ex) : wake(std::move(ex)) {}
    std::size_t count = 0;
    std::optional<MirrorError> error;
    boost::asio::steady_timer wake;
  };
  std::shared_ptr<Flight> flight;
  // True while `pending` holds a command other than a pack HSET.
  bool pending_ordered = false;

  Impl(Mirror& m, ImportOptions o) : mirror(m), options(std::move(o)) {}

  Client& client() { return mirror.client(); }

  // Waits until fewer than `limit` pipelines are in flight (0: all done), then reports the first failure.
  awaitable<MirrorResult<bool>> wait_in_flight(std::size_t limit) {
    if (!flight) co_return true;
    while (flight->count > 0 && flight->count >= std::max<std::size_t>(limit, 1)) {
      flight->wake.expires_at(boost::asio::steady_timer::time_point::max());
      boost::system::error_code ec;  // operation_aborted: a pipeline finished
      co_await flight->wake.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    if (flight->error) co_return Unexpected{*flight->error};
    co_return true;
  }

  // Sends one pipeline without waiting for its replies (they are checked by wait_in_flight).
  awaitable<void> launch(std::vector<Command> batch, std::vector<std::string> routes) {
    auto ex = co_await boost::asio::this_coro::executor;
    if (!flight) flight = std::make_shared<Flight>(ex);
    ++flight->count;
    boost::asio::co_spawn(ex, client().pipeline(std::move(batch), std::move(routes)),
                          [f = flight](std::exception_ptr e, std::vector<ReplyResult> replies) {
                            --f->count;
                            if (!f->error && e)
                              f->error = MirrorError{MirrorErrorKind::unavailable, "import: pipeline failed", std::nullopt};
                            for (auto& r : replies) {
                              if (f->error) break;
                              if (!r) f->error = from_redis(r.error());
                              else if (r->is_error()) f->error = from_reply_error(*r);
                            }
                            f->wake.cancel();
                          });
  }

  awaitable<MirrorResult<bool>> flush(bool all) {
    if (all) {
      for (std::size_t i = 0; i < buckets_pending.size(); ++i) {
        if (buckets_pending[i].empty()) continue;
        std::string key = buckets_pending[i][1];
        pending.push_back(std::move(buckets_pending[i]));
        pending_routes.push_back(std::move(key));
        buckets_pending[i].clear();
      }
    }
    while (!pending.empty() && (all || pending.size() >= options.commands_per_pipeline)) {
      std::size_t n = std::min(pending.size(), options.commands_per_pipeline);
      std::vector<Command> batch;
      std::vector<std::string> routes;
      if (n == pending.size()) {
        batch.swap(pending);
        routes.swap(pending_routes);
      } else {
        batch.assign(std::make_move_iterator(pending.begin()), std::make_move_iterator(pending.begin() + n));
        routes.assign(std::make_move_iterator(pending_routes.begin()), std::make_move_iterator(pending_routes.begin() + n));
        pending.erase(pending.begin(), pending.begin() + n);
        pending_routes.erase(pending_routes.begin(), pending_routes.begin() + n);
      }
      const bool ordered = pending_ordered;
      pending_ordered = false;  // conservatively: what stays in `pending` is pack HSETs or ordered again below
      for (const auto& c : pending)
        if (c.empty() || c[0] != "HSET" || c[1].rfind("pk:", 0) != 0) pending_ordered = true;
      auto room = co_await wait_in_flight(ordered ? 0 : kMaxInFlight);
      if (!room) co_return co_await drain(room.error());
      co_await launch(std::move(batch), std::move(routes));
      if (ordered) {
        auto done = co_await wait_in_flight(0);
        if (!done) co_return co_await drain(done.error());
      }
    }
    if (all) {
      auto done = co_await wait_in_flight(0);
      if (!done) co_return co_await drain(done.error());
    }
    co_return true;
  }

  // On a failure: lets the pipelines still in flight end (no write after the error is reported), then
  // returns the first error.
  awaitable<MirrorResult<bool>> drain(MirrorError error) {
    while (flight && flight->count > 0) (void)co_await wait_in_flight(0);
    co_return Unexpected{flight && flight->error ? *flight->error : std::move(error)};
  }

  void queue(Command c, std::string route) {
    pending_ordered = true;  // products, batches, aggregations: see kMaxInFlight
    pending.push_back(std::move(c));
    pending_routes.push_back(std::move(route));
  }

  awaitable<MirrorResult<std::int64_t>> begin() {
    auto current = co_await client().command(cmd("GET", std::string(kGenerationKey)));
    if (!current) co_return Unexpected{from_redis(current.error())};
    if (!current->is_nil()) {
      previous_generation = reply_int(*current).value_or(0);
      if (!options.replace) {
        co_return Unexpected{MirrorError{
            MirrorErrorKind::bad_request,
            fmt::format("the mirror already holds generation {}; replacing a live mirror needs the operator "
                        "command (replace)",
                        previous_generation),
            std::nullopt}};
      }
    }
    auto next = co_await client().command(cmd("INCR", std::string(kNextGenerationKey)));
    if (!next) co_return Unexpected{from_redis(next.error())};
    if (next->is_error()) co_return Unexpected{from_reply_error(*next)};
    generation = next->integer;
    if (generation <= previous_generation) {  // mirror:gen:next lost (e.g. restored from an old dump)
      auto fixed = co_await client().command(cmd("SET", std::string(kNextGenerationKey), std::to_string(previous_generation + 1)));
      if (!fixed) co_return Unexpected{from_redis(fixed.error())};
      generation = previous_generation + 1;
    }
    buckets = std::max(1, mirror.options().buckets_per_partition);
    auto layout = co_await client().command(cmd("SET", layout_key(generation), std::to_string(buckets)));
    if (!layout) co_return Unexpected{from_redis(layout.error())};
    co_return generation;
  }

  // The product named by "gtin", else by "ppn" (a present field that names no product falls through).
  ProductInfo* find_product(bool has_gtin, std::string_view gtin, bool has_ppn, std::string_view ppn) {
    if (has_gtin)
      if (auto it = products.find(gtin); it != products.end()) return it->second.get();
    if (has_ppn)
      if (auto it = products.find(ppn); it != products.end()) return it->second.get();
    return nullptr;
  }
  ProductInfo* find_product(const boost::json::object& o) {
    auto gtin = get_string(o, "gtin");
    auto ppn = get_string(o, "ppn");
    return find_product(gtin != nullptr, sv(gtin), ppn != nullptr, sv(ppn));
  }

  MirrorResult<bool> on_product(const boost::json::object& o) {
    auto gtin = sv(get_string(o, "gtin"));
    auto ppn = sv(get_string(o, "ppn"));
    if (gtin.empty() && ppn.empty()) return Unexpected{bad_data(progress.lines, "product: needs \"gtin\" or \"ppn\"")};
    if (gtin.size() > 20 || ppn.size() > 20) return Unexpected{bad_data(progress.lines, "product: code longer than 20")};
    std::string code(gtin.empty() ? ppn : gtin);
    if (products.count(code)) return Unexpected{bad_data(progress.lines, "product: " + code + " appears twice")};
    if (products.size() >= kMaxProducts) return Unexpected{bad_data(progress.lines, "product: more than 262144 products")};
    auto info = std::make_shared<ProductInfo>();
    info->code = code;
    info->index = static_cast<std::uint32_t>(progress.products);
    products[code] = info;
    auto key = product_key(generation, code);
    queue(cmd("HSET", key, "code", code, "gtin", std::string(gtin), "ppn", std::string(ppn), "name",
              std::string(sv(get_string(o, "name"))), "market", std::string(sv(get_string(o, "market"))), "idx",
              std::to_string(info->index)),
          key);
    if (!gtin.empty() && !ppn.empty()) {
      products[std::string(ppn)] = info;
      auto alias = product_key(generation, ppn);
      queue(cmd("HSET", alias, "alias", code), alias);
    }
    auto list = "plist:" + std::to_string(generation);
    queue(cmd("SADD", list, code), list);
    ++progress.products;
    return true;
  }

  MirrorResult<bool> on_batch(const boost::json::object& o) {
    auto* product = find_product(o);
    if (!product) return Unexpected{bad_data(progress.lines, "batch: \"gtin\"/\"ppn\" names no product given earlier")};
    auto batch = sv(get_string(o, "batch"));
    if (batch.empty() || batch.size() > 20) return Unexpected{bad_data(progress.lines, "batch: \"batch\" must be 1-20 characters")};
    auto expiry = sv(get_string(o, "expiry"));
    if (expiry.size() != 6 || expiry.find_first_not_of("0123456789") != std::string_view::npos)
      return Unexpected{bad_data(progress.lines, "batch: \"expiry\" must be YYMMDD")};
    // A state this build does not know is stored as sent (never read as active: Mirror reads it as unknown).
    std::string state_text = central_text(o, "state");
    if (!parse_batch_state(state_text)) ++progress.unknown_batch_states;
    if (product->batches.find(batch) != product->batches.end()) return Unexpected{bad_data(progress.lines, "batch: appears twice")};
    auto index = static_cast<std::uint32_t>(product->batches.size());
    product->batches[std::string(batch)] = index;
    std::string changed_at = "0";
    if (auto it = o.find("changed_at"); it != o.end() && it->value().is_int64())
      changed_at = std::to_string(it->value().get_int64());
    auto list = batch_list_key(generation, product->code);
    queue(cmd("RPUSH", list, std::string(batch)), list);
    auto key = batch_key(generation, product->code, batch);
    queue(cmd("HSET", key, "expiry", std::string(expiry), "state", std::move(state_text), "reason",
              std::string(sv(get_string(o, "reason"))), "t", changed_at),
          key);
    ++progress.batches;
    return true;
  }

  MirrorResult<bool> on_pack(const PackFields& o) {
    const ProductInfo* product = find_product(o.has_gtin, o.gtin, o.has_ppn, o.ppn);
    if (!product) return Unexpected{bad_data(progress.lines, "pack: \"gtin\"/\"ppn\" names no product given earlier")};
    const auto serial = o.serial;
    if (serial.empty() || serial.size() > 20) return Unexpected{bad_data(progress.lines, "pack: \"serial\" must be 1-20 characters")};
    auto b = product->batches.find(o.batch);
    if (b == product->batches.end()) return Unexpected{bad_data(progress.lines, "pack: \"batch\" names no batch of this product given earlier")};
    auto status_text = !o.status_json.empty() ? std::string_view(o.status_json)
                       : o.has_status          ? o.status
                                               : std::string_view("active");
    auto status = parse_pack_status(status_text);
    const auto [partition, bucket] = pack_place(product->code, serial, buckets);
    if (buckets_pending.empty()) buckets_pending.resize(static_cast<std::size_t>(kPartitions) * static_cast<std::size_t>(buckets));
    auto& hset = buckets_pending[static_cast<std::size_t>(partition) * static_cast<std::size_t>(buckets) + static_cast<std::size_t>(bucket)];
    if (hset.empty()) {
      hset.reserve(2 + 2 * options.fields_per_hset);
      hset.emplace_back("HSET");
      hset.push_back(pack_key(partition, generation, bucket));
    }
    // Field and value built in place (mirror_keys.hpp pack_field / pack_value give the same bytes).
    auto& field = hset.emplace_back();
    field.reserve(3 + serial.size());
    field = encode_product_index(product->index);
    field.append(serial);
    hset.push_back(std::to_string(pack_value(b->second, status ? static_cast<std::uint8_t>(*status) : kUnknownStatus)));
    if (!status) {
      // Stored as unknown with its raw text (refused at every scan), never skipped or read as active.
      ++progress.unknown_statuses;
      auto raw_key = unknown_status_key(partition, generation);
      queue(cmd("HSET", raw_key, encode_product_index(product->index) + std::string(serial), raw_central_text(status_text)), raw_key);
    }
    if (hset.size() >= 2 + 2 * options.fields_per_hset) {
      std::string route = hset[1];
      pending.push_back(std::move(hset));
      pending_routes.push_back(std::move(route));
      hset.clear();  // moved-from: make it empty again
    }
    ++progress.packs;
    return true;
  }

  MirrorResult<bool> on_aggregation(const boost::json::object& o) {
    auto sscc = sv(get_string(o, "sscc"));
    if (sscc.size() != 18 || sscc.find_first_not_of("0123456789") != std::string_view::npos)
      return Unexpected{bad_data(progress.lines, "aggregation: \"sscc\" must be 18 digits")};
    auto it = o.find("children");
    if (it == o.end() || !it->value().is_array()) return Unexpected{bad_data(progress.lines, "aggregation: \"children\" must be an array")};
    auto key = aggregation_key(generation, sscc);
    Command c = cmd("RPUSH", key);
    for (const auto& child : it->value().get_array()) {
      if (!child.is_object()) return Unexpected{bad_data(progress.lines, "aggregation: each child must be an object")};
      const auto& co = child.get_object();
      auto code = sv(get_string(co, "gtin"));
      if (code.empty()) code = sv(get_string(co, "ppn"));
      auto serial = sv(get_string(co, "serial"));
      if (code.empty() || serial.empty()) return Unexpected{bad_data(progress.lines, "aggregation: child needs \"gtin\"/\"ppn\" and \"serial\"")};
      c.push_back(std::string(code) + "|" + std::string(serial));
    }
    if (c.size() > 2) queue(std::move(c), key);
    auto list = "aglist:" + std::to_string(generation);
    queue(cmd("SADD", list, std::string(sscc)), list);
    ++progress.aggregations;
    return true;
  }

  awaitable<MirrorResult<bool>> add_line(std::string_view line) {
    ++progress.lines;
    if (generation < 0) co_return Unexpected{MirrorError{MirrorErrorKind::bad_request, "import: begin() not called", std::nullopt}};
    if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) co_return true;  // blank line
    if (ended) co_return Unexpected{bad_data(progress.lines, "data after the end line")};
    if (PackFields fields; scan_pack_line(line, fields)) {
      auto handled = on_pack(fields);
      if (!handled) co_return handled;
      co_return co_await after_line();
    }
    boost::system::error_code ec;
    parser.reset();
    parser.write(line.data(), line.size(), ec);
    if (ec) co_return Unexpected{bad_data(progress.lines, "not valid JSON: " + ec.message())};
    auto value = parser.release();
    if (!value.is_object()) co_return Unexpected{bad_data(progress.lines, "not a JSON object")};
    const auto& o = value.get_object();
    auto type = sv(get_string(o, "type"));
    MirrorResult<bool> handled = true;
    if (type == "pack") handled = on_pack(pack_fields(o));
    else if (type == "product") handled = on_product(o);
    else if (type == "batch") handled = on_batch(o);
    else if (type == "aggregation") handled = on_aggregation(o);
    else if (type == "end") {
      auto it = o.find("seq");
      if (it == o.end() || !it->value().is_int64() || it->value().get_int64() < 0)
        co_return Unexpected{bad_data(progress.lines, "end: \"seq\" must be a non-negative integer")};
      seq = it->value().get_int64();
      ended = true;
    } else {
      co_return Unexpected{bad_data(progress.lines, "\"type\" must be product, batch, pack, aggregation or end")};
    }
    if (!handled) co_return handled;
    co_return co_await after_line();
  }

  awaitable<MirrorResult<bool>> after_line() {
    if (options.progress && options.progress_every && progress.lines % options.progress_every == 0)
      options.progress(progress);
    if (pending.size() >= options.commands_per_pipeline) co_return co_await flush(false);
    co_return true;
  }

  std::uint64_t unplaced = 0;  // outbox entries whose product the snapshot lacks (last overlay pass)

  // Lays every entry still in the outbox onto this generation (vp_overlay, one call per partition with
  // entries): the status the change led to, pending, in the batch the entry names (by name; the stored
  // pack's batch when the snapshot lacks it). Returns how many entries were laid.
  awaitable<MirrorResult<std::uint64_t>> overlay_pending() {
    constexpr std::size_t kPage = 1000;
    Outbox outbox(client());
    std::vector<int> all(kPartitions);
    for (int p = 0; p < kPartitions; ++p) all[static_cast<std::size_t>(p)] = p;
    auto first = co_await outbox.read(all, kPage);
    if (!first) co_return Unexpected{first.error()};
    std::vector<Command> calls;
    std::vector<std::string> routes;
    unplaced = 0;
    for (int p = 0; p < kPartitions; ++p) {
      auto entries = std::move((*first)[static_cast<std::size_t>(p)]);
      if (entries.empty()) continue;
      for (std::size_t got = entries.size(); got == kPage;) {  // a long backlog: page on
        auto more = co_await outbox.read_after(p, entries.back().id, kPage);
        if (!more) co_return Unexpected{more.error()};
        got = more->size();
        entries.insert(entries.end(), std::make_move_iterator(more->begin()), std::make_move_iterator(more->end()));
      }
      Command call{"FCALL", "vp_overlay", "", outbox_key(p)};
      std::vector<std::string> keys;  // pk keys of this partition, numbered from 2 in KEYS
      std::vector<std::string> args{entries.back().id};
      for (const auto& e : entries) {
        auto product = products.find(std::string_view(e.code));
        if (product == products.end()) {
          ++unplaced;
          continue;
        }
        const ProductInfo& info = *product->second;
        std::string key = pack_key(p, generation, pack_place(info.code, e.serial, buckets).bucket);
        auto k = std::find(keys.begin(), keys.end(), key);
        std::size_t number = static_cast<std::size_t>(k - keys.begin()) + 2;
        if (k == keys.end()) keys.push_back(key);
        const int status = e.operation == Operation::undo ? static_cast<int>(PackStatus::active) : static_cast<int>(e.action);
        auto b = e.batch_name.empty() ? info.batches.end() : info.batches.find(std::string_view(e.batch_name));
        // A batch the snapshot lacks: -1 tells the Function to keep the stored pack's batch.
        std::int64_t value = b == info.batches.end() ? status - kBatchFactor + kPendingBit
                                                     : pack_value(b->second, static_cast<std::uint8_t>(status), true);
        args.insert(args.end(), {e.id, std::to_string(number), pack_field(info.index, e.serial),
                                 pending_field(info.code, e.serial), std::to_string(value)});
      }
      if (keys.empty()) continue;
      call[2] = std::to_string(1 + keys.size());
      call.insert(call.end(), keys.begin(), keys.end());
      call.insert(call.end(), args.begin(), args.end());
      calls.push_back(std::move(call));
      routes.push_back(outbox_key(p));
    }
    if (calls.empty()) co_return std::uint64_t{0};
    auto replies = co_await client().pipeline(std::move(calls), std::move(routes));
    std::uint64_t laid = 0;
    for (auto& r : replies) {
      if (!r) co_return Unexpected{from_redis(r.error())};
      if (r->is_error()) co_return Unexpected{from_reply_error(*r)};
      laid += static_cast<std::uint64_t>(std::max<std::int64_t>(0, r->integer));
    }
    co_return laid;
  }

  awaitable<MirrorResult<ImportStats>> finish() {
    if (!ended) {
      co_return Unexpected{bad_data(progress.lines, "snapshot truncated: no {\"type\":\"end\"} line; generation " +
                                                        std::to_string(generation) + " was not switched to")};
    }
    auto flushed = co_await flush(true);
    if (!flushed) co_return Unexpected{flushed.error()};
    // This site's pending changes go on top of the new generation before it goes live, and once more right after
    // the switch for changes made meanwhile in the old one (merge rule, docs/design.md "Truth model").
    auto laid = co_await overlay_pending();
    if (!laid) co_return Unexpected{laid.error()};
    // The switch: the feed position belongs to the generation, then one SET makes it live.
    auto set_seq = co_await client().command(cmd("SET", seq_key(generation), std::to_string(seq)));
    if (!set_seq) co_return Unexpected{from_redis(set_seq.error())};
    auto set_format = co_await client().command(cmd("SET", format_key(generation), std::to_string(kMirrorFormat)));
    if (!set_format) co_return Unexpected{from_redis(set_format.error())};
    auto set_gen = co_await client().command(cmd("SET", std::string(kGenerationKey), std::to_string(generation)));
    if (!set_gen) co_return Unexpected{from_redis(set_gen.error())};
    auto pub = co_await client().command(cmd("PUBLISH", std::string(kInvalidationChannel), "*"));
    if (!pub) co_return Unexpected{from_redis(pub.error())};
    auto started_again = co_await mirror.start();
    if (!started_again) co_return Unexpected{started_again.error()};
    auto laid_again = co_await overlay_pending();
    if (!laid_again) co_return Unexpected{laid_again.error()};
    if (options.drop_previous && previous_generation >= 0 && previous_generation != generation) {
      auto dropped = co_await drop_generation(mirror, previous_generation);
      if (!dropped) co_return Unexpected{dropped.error()};
    }
    if (options.progress) options.progress(progress);
    ImportStats stats;
    static_cast<ImportProgress&>(stats) = progress;
    stats.generation = generation;
    stats.seq = seq;
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    stats.pending_laid = std::max(*laid, *laid_again);  // the second pass lays the first's entries again
    stats.pending_unplaced = unplaced;
    co_return stats;
  }
};

SnapshotLoader::SnapshotLoader(Mirror& mirror, ImportOptions options)
    : impl_(std::make_unique<Impl>(mirror, std::move(options))) {}
SnapshotLoader::~SnapshotLoader() = default;
awaitable<MirrorResult<std::int64_t>> SnapshotLoader::begin() { return impl_->begin(); }
awaitable<MirrorResult<bool>> SnapshotLoader::add_line(std::string_view line) { return impl_->add_line(line); }
awaitable<MirrorResult<ImportStats>> SnapshotLoader::finish() { return impl_->finish(); }

awaitable<MirrorResult<ImportStats>> import_snapshot(Mirror& mirror, std::istream& in, ImportOptions options) {
  SnapshotLoader loader(mirror, std::move(options));
  auto gen = co_await loader.begin();
  if (!gen) co_return Unexpected{gen.error()};
  std::string line;
  while (std::getline(in, line)) {
    auto added = co_await loader.add_line(line);
    if (!added) co_return Unexpected{added.error()};
  }
  if (in.bad()) co_return Unexpected{MirrorError{MirrorErrorKind::bad_data, "snapshot: read error", std::nullopt}};
  co_return co_await loader.finish();
}

awaitable<MirrorResult<std::uint64_t>> drop_generation(Mirror& mirror, std::int64_t generation) {
  // Every key of a generation is known without SCAN (which cannot walk a Cluster through one client): the
  // pack buckets by layout, products from plist:<gen>, aggregations from aglist:<gen>.
  Client& client = mirror.client();
  std::vector<Command> deletes;
  std::vector<std::string> routes;
  auto del = [&](std::string key) {
    deletes.push_back(cmd("UNLINK", key));
    routes.push_back(std::move(key));
  };
  auto layout = co_await client.command(cmd("GET", layout_key(generation)));
  if (!layout) co_return Unexpected{from_redis(layout.error())};
  int buckets = static_cast<int>(reply_int(*layout).value_or(0));
  for (int p = 0; p < kPartitions; ++p) {
    for (int b = 0; b < buckets; ++b) del(pack_key(p, generation, b));
    del(unknown_status_key(p, generation));
  }
  auto plist = "plist:" + std::to_string(generation);
  auto codes = co_await client.command(cmd("SMEMBERS", plist));
  if (!codes) co_return Unexpected{from_redis(codes.error())};
  for (const auto& code : codes->elements) {
    auto product = co_await client.command(cmd("HGET", product_key(generation, code.str), "ppn"));
    if (!product) co_return Unexpected{from_redis(product.error())};
    if (!product->is_nil() && !product->str.empty() && product->str != code.str) del(product_key(generation, product->str));
    auto names = co_await client.command(cmd("LRANGE", batch_list_key(generation, code.str), "0", "-1"));
    if (!names) co_return Unexpected{from_redis(names.error())};
    for (const auto& name : names->elements) del(batch_key(generation, code.str, name.str));
    del(batch_list_key(generation, code.str));
    del(product_key(generation, code.str));
  }
  auto aglist = "aglist:" + std::to_string(generation);
  auto ssccs = co_await client.command(cmd("SMEMBERS", aglist));
  if (!ssccs) co_return Unexpected{from_redis(ssccs.error())};
  for (const auto& sscc : ssccs->elements) del(aggregation_key(generation, sscc.str));
  del(plist);
  del(aglist);
  del(layout_key(generation));
  del(format_key(generation));
  del(seq_key(generation));
  del(product_counter_key(generation));
  std::uint64_t deleted = 0;
  for (std::size_t i = 0; i < deletes.size(); i += 1000) {
    std::size_t n = std::min<std::size_t>(1000, deletes.size() - i);
    std::vector<Command> part(deletes.begin() + i, deletes.begin() + i + n);
    std::vector<std::string> part_routes(routes.begin() + i, routes.begin() + i + n);
    auto replies = co_await client.pipeline(std::move(part), std::move(part_routes));
    for (auto& r : replies) {
      if (!r) co_return Unexpected{from_redis(r.error())};
      if (r->type == Reply::Type::integer) deleted += static_cast<std::uint64_t>(r->integer);
    }
  }
  co_return deleted;
}

}  // namespace vpoint::cache
