#include "vpoint/cache/outbox.hpp"

#include "mirror_internal.hpp"
#include "mirror_keys.hpp"

namespace vpoint::cache {

using boost::asio::awaitable;
using namespace detail;

namespace {

// An entry as vp_pack writes it (cache/lua/vpoint.lua): tx, code, serial, op, action, batch, location, actor, t.
std::optional<OutboxEntry> entry_of(int partition, const Reply& entry) {
  if (entry.elements.size() != 2) return std::nullopt;
  auto f = hash_reply(entry.elements[1]);
  auto number = [&](const char* field) { return reply_int(Reply{Reply::Type::string, f[field], 0, {}}); };
  auto action = number("action"), batch = number("batch"), t = number("t");
  if (!action || *action < 1 || *action > 7 || !batch || *batch < 0 || !t) return std::nullopt;
  OutboxEntry e;
  e.partition = partition;
  e.id = entry.elements[0].str;
  e.transaction_id = f["tx"];
  e.code = f["code"];
  e.serial = f["serial"];
  e.operation = f["op"] == "u" ? Operation::undo : Operation::decommission;
  e.action = static_cast<Action>(*action);
  e.batch_index = static_cast<std::uint32_t>(*batch);
  e.batch_name = f["bname"];
  e.batch_expiry = f["bexp"];
  e.location = f["location"];
  e.actor = f["actor"];
  e.time_ms = *t;
  return e;
}

}  // namespace

awaitable<MirrorResult<std::vector<std::vector<OutboxEntry>>>> Outbox::read(const std::vector<int>& partitions,
                                                                            std::size_t count) {
  std::vector<Command> reads;
  std::vector<std::string> routing;
  reads.reserve(partitions.size());
  for (int p : partitions) {
    reads.push_back(cmd("XRANGE", outbox_key(p), "-", "+", "COUNT", std::to_string(count)));
    routing.push_back(outbox_key(p));
  }
  auto replies = co_await client_.pipeline(std::move(reads), std::move(routing));
  std::vector<std::vector<OutboxEntry>> out(partitions.size());
  for (std::size_t i = 0; i < replies.size() && i < partitions.size(); ++i) {
    if (!replies[i]) co_return Unexpected{from_redis(replies[i].error())};
    if (replies[i]->is_error()) co_return Unexpected{from_reply_error(*replies[i])};
    for (const auto& raw : replies[i]->elements) {
      auto entry = entry_of(partitions[i], raw);
      if (!entry)
        co_return Unexpected{MirrorError{MirrorErrorKind::protocol,
                                         "outbox " + outbox_key(partitions[i]) + ": malformed entry " +
                                             (raw.elements.empty() ? std::string() : raw.elements[0].str),
                                         std::nullopt}};
      out[i].push_back(std::move(*entry));
    }
  }
  co_return out;
}

awaitable<MirrorResult<std::size_t>> Outbox::acknowledge(const std::vector<OutboxEntry>& entries) {
  if (entries.empty()) co_return std::size_t{0};
  std::vector<Command> deletes;
  std::vector<std::string> routing;
  for (const auto& e : entries) {
    deletes.push_back(cmd("XDEL", outbox_key(e.partition), e.id));
    routing.push_back(outbox_key(e.partition));
  }
  auto replies = co_await client_.pipeline(std::move(deletes), std::move(routing));
  std::size_t removed = 0;
  for (const auto& r : replies) {
    if (!r) co_return Unexpected{from_redis(r.error())};
    if (r->type == Reply::Type::integer) removed += static_cast<std::size_t>(r->integer);
  }
  co_return removed;
}

awaitable<MirrorResult<std::vector<OutboxEntry>>> Outbox::read_after(int partition, const std::string& after,
                                                                     std::size_t count) {
  auto reply = co_await client_.command(
      cmd("XRANGE", outbox_key(partition), after.empty() ? std::string("-") : "(" + after, "+", "COUNT", std::to_string(count)));
  if (!reply) co_return Unexpected{from_redis(reply.error())};
  if (reply->is_error()) co_return Unexpected{from_reply_error(*reply)};
  std::vector<OutboxEntry> out;
  for (const auto& raw : reply->elements) {
    auto entry = entry_of(partition, raw);
    if (!entry)
      co_return Unexpected{MirrorError{MirrorErrorKind::protocol, "outbox " + outbox_key(partition) + ": malformed entry", std::nullopt}};
    out.push_back(std::move(*entry));
  }
  co_return out;
}

awaitable<MirrorResult<Settlement>> Outbox::settle(Mirror& mirror, const OutboxEntry& e, const CentralAnswer& answer) {
  std::vector<std::pair<OutboxEntry, CentralAnswer>> one;  // not a braced list inside co_await (GCC 12)
  one.emplace_back(e, answer);
  auto all = co_await settle_many(mirror, one);
  if (!all) co_return Unexpected{all.error()};
  if (!all->front()) co_return Unexpected{all->front().error()};
  co_return *all->front();
}

awaitable<MirrorResult<std::vector<MirrorResult<Settlement>>>> Outbox::settle_many(
    Mirror& mirror, const std::vector<std::pair<OutboxEntry, CentralAnswer>>& answered) {
  auto [gen, buckets] = mirror.layout();
  auto position = co_await mirror.feed_position();
  if (!position) co_return Unexpected{position.error()};
  std::vector<Command> calls;
  std::vector<std::string> routes;
  calls.reserve(answered.size());
  for (const auto& [e, answer] : answered) {
    auto product = co_await mirror.cached_product(e.code);  // in-process after the first of a product
    if (!product) co_return Unexpected{product.error()};
    const Product* ref = product->get();
    const auto [partition, bucket] = pack_place(e.code, e.serial, buckets);
    std::string field = ref ? pack_field(ref->index, e.serial) : std::string();
    std::string status, raw, batch;
    if (!answer.accepted && answer.central) {
      if (!answer.central->exists) {
        status = "x";
      } else {
        auto known = parse_pack_status(answer.central->status);
        status = std::to_string(known ? static_cast<int>(*known) : static_cast<int>(kUnknownStatus));
        if (!known) raw = raw_central_text(answer.central->status);
        if (ref)
          for (const auto& b : ref->batches)
            if (b.batch == answer.central->batch) batch = std::to_string(b.index);
      }
    }
    calls.push_back(Command{"FCALL", "vp_settle", "7", outbox_key(partition), pending_key(partition),
                            pack_key(partition, gen, bucket), unknown_status_key(partition, gen), audit_key(partition),
                            decommission_key(partition, e.code, e.serial), undo_marker_key(partition, e.code, e.serial),
                            e.id, e.transaction_id, e.code, e.serial, field, answer.accepted ? "a" : "r",
                            answer.seq ? std::to_string(*answer.seq) : std::string(), status, raw, batch,
                            answer.other_transaction, answer.code, std::to_string(gen), std::to_string(position->second),
                            std::to_string(mirror.options().audit_maxlen), e.location, e.actor,
                            std::to_string(mirror.test_clock_offset().count())});
    routes.push_back(outbox_key(partition));
  }
  // One pipeline (per node in Cluster): a drain round settles its whole batch in one round trip.
  auto replies = co_await client_.pipeline(std::move(calls), std::move(routes));
  std::vector<MirrorResult<Settlement>> out;
  out.reserve(replies.size());
  for (auto& reply : replies) {
    if (!reply) {
      out.push_back(Unexpected{from_redis(reply.error())});
      continue;
    }
    if (reply->is_error()) {
      out.push_back(Unexpected{from_reply_error(*reply)});
      continue;
    }
    if (reply->elements.size() != 3) {
      out.push_back(Unexpected{MirrorError{MirrorErrorKind::protocol, "vp_settle: unexpected reply shape", std::nullopt}});
      continue;
    }
    Settlement one;
    one.settled = reply_int(reply->elements[0]).value_or(0) == 1;
    if (auto st = reply_int(reply->elements[1]); st && is_status_number(*st))
      one.status = static_cast<PackStatus>(*st);
    one.pending_left = static_cast<int>(reply_int(reply->elements[2]).value_or(0));
    out.push_back(one);
  }
  co_return out;
}

std::string Outbox::stream_name(int partition) { return outbox_key(partition); }

awaitable<MirrorResult<OutboxDepth>> Outbox::depth() {
  std::vector<Command> commands;
  std::vector<std::string> routing;
  commands.reserve(kPartitions);
  for (int p = 0; p < kPartitions; ++p) {
    commands.push_back(cmd("XLEN", outbox_key(p)));
    routing.push_back(outbox_key(p));
  }
  auto replies = co_await client_.pipeline(std::move(commands), std::move(routing));
  OutboxDepth depth;
  for (int p = 0; p < static_cast<int>(replies.size()); ++p) {
    if (!replies[p]) co_return Unexpected{from_redis(replies[p].error())};
    if (replies[p]->integer > 0) {
      depth.partitions[p] = replies[p]->integer;
      depth.total += replies[p]->integer;
    }
  }
  co_return depth;
}

}  // namespace vpoint::cache
