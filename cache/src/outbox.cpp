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
