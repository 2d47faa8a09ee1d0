// Write-back (link_internal.hpp): each partition's outbox in order, in batches, as POST
// /central/v1/transactions (transaction id = idempotency key). An entry leaves the outbox only once the central
// system answered accepted or rejected for it; a rejection becomes an alert naming both transactions. One
// drainer per range of partitions at a time across instances (leases "outbox:<range>").
#include <unordered_map>

#include <boost/beast/http/verb.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "link_internal.hpp"
#include "vpoint/cache/lease.hpp"
#include "vpoint/service/logging.hpp"

namespace vpoint::service::central_detail {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t kOutboxReadSlice = 64;  // outbox streams read per pipelined step of a drain round

asio::awaitable<std::optional<cache::Product>> product_of(LinkContext& link, std::unordered_map<std::string, std::optional<cache::Product>>& cache_map,
                                                          const std::string& code) {
  if (auto it = cache_map.find(code); it != cache_map.end()) co_return it->second;
  auto p = co_await link.mirror.product(code);
  std::optional<cache::Product> product = p ? *p : std::nullopt;
  if (p) cache_map[code] = product;
  co_return product;
}

// The transaction JSON of one outbox entry (design.md "POST /central/v1/transactions").
json::object transaction_of(const cache::OutboxEntry& e, const std::optional<cache::Product>& product) {
  const std::string& code = e.code;
  std::string code_key = "gtin";
  std::string batch, expiry;
  if (product) {
    if (code != product->gtin && !product->ppn.empty() && (code == product->ppn || product->gtin.empty())) code_key = "ppn";
    if (e.batch_index < product->batches.size()) {
      batch = product->batches[e.batch_index].batch;
      expiry = product->batches[e.batch_index].expiry;
    }
  } else if (code.size() != 14) {
    code_key = "ppn";
  }
  if (!e.batch_name.empty()) {
    // By name, as the change was made: the index belongs to the generation of that moment.
    batch = e.batch_name;
    expiry = e.batch_expiry;
  }
  json::object tx{{"id", e.transaction_id},
                  {code_key, code},
                  {"serial", e.serial},
                  {"batch", batch},
                  {"expiry", expiry},
                  {"action", cache::to_string(e.action)},
                  {"undo", e.operation == cache::Operation::undo},
                  {"location", e.location},
                  {"actor", e.actor},
                  {"time", iso_time_ms(e.time_ms)}};
  return tx;
}

// After a rejection: the pack as the central system holds it now, and who got there first (the latest history
// entry that is not ours). answered = false when the look-up failed (network, 5xx): the entry then stays in the
// outbox and is sent again (the central system answers the same rejection again, by id).
struct RejectionLookUp {
  bool answered = false;
  json::object details;
  cache::CentralAnswer answer;
};

asio::awaitable<RejectionLookUp> look_up_rejection(LinkContext& link, const json::object& tx, std::string_view code) {
  RejectionLookUp out;
  out.answer.accepted = false;
  out.answer.code = std::string(code);
  std::string pack_code = tx.contains("gtin") ? str(tx, "gtin") : str(tx, "ppn");
  auto lease = link.lookup_pool->acquire();
  auto res = co_await lease->request(boost::beast::http::verb::get, pack_lookup_target(pack_code, str(tx, "serial")));
  if (!res || (res->result_int() != 200 && res->result_int() != 404)) co_return out;
  out.answered = true;
  if (res->result_int() == 404) {
    out.answer.central = cache::CentralAnswer::Pack{false, {}, {}};
    out.details["central_status"] = nullptr;
    co_return out;
  }
  auto read = read_rejection_answer(res->body(), str(tx, "id"));
  if (!read) co_return out;  // answered, but not readable: the local state is kept
  out.answer.central = std::move(read->pack);
  out.answer.seq = read->seq;
  out.answer.other_transaction = std::move(read->other_transaction);
  out.details = std::move(read->details);
  co_return out;
}

asio::awaitable<void> alert_rejection(LinkContext& link, const json::object& tx, std::string_view code, json::object details) {
  details["action"] = tx.at("action");
  details["undo"] = tx.at("undo");
  std::string code_key = tx.contains("gtin") ? "gtin" : "ppn";
  json::object alert{{"reason", "central_rejected"},
                     {"nmvs_code", code.empty() ? json::value() : json::value(code)},
                     {"verdict", "rejected"},
                     {"pack", pack_json_of(code_key, str(tx, code_key), str(tx, "serial"), str(tx, "batch"), str(tx, "expiry"))},
                     {"location", tx.at("location")},
                     {"actor", tx.at("actor")},
                     {"transaction_id", tx.at("id")},
                     {"details", std::move(details)}};
  co_await link.raise_alert(std::move(alert));
}

}  // namespace

asio::awaitable<void> drain_outbox(LinkContext& link, Strand strand) {
  auto http_ptr = link.role_connection(strand, link.central_origin, link.client_options(link.options.request_timeout));
  HttpConnection& http = *http_ptr;
  const int ranges = cache::kPartitions / link.options.partitions_per_lease;
  std::vector<cache::Lease> leases;  // one per range of options.partitions_per_lease partitions
  for (int r = 0; r < ranges; ++r)
    leases.emplace_back(link.redis, "outbox:" + std::to_string(r), link.options.instance_id, link.options.lease_ttl);
  auto lease_checked = std::chrono::steady_clock::time_point{};
  std::chrono::milliseconds backoff{0};
  bool one_by_one = false;
  std::size_t cursor = 0;  // index into the owned partitions where the next round starts
  while (!co_await stop_requested()) {
    if (std::chrono::steady_clock::now() - lease_checked > link.options.lease_ttl / 3) {
      for (auto& lease : leases) co_await lease.hold();
      lease_checked = std::chrono::steady_clock::now();
    }
    std::vector<int> owned;
    for (int r = 0; r < ranges; ++r)
      if (leases[r].held())
        for (int p = r * link.options.partitions_per_lease; p < (r + 1) * link.options.partitions_per_lease; ++p) owned.push_back(p);
    if (owned.empty()) {
      co_await pause(link.options.lease_ttl / 3);
      continue;
    }
    // Fairness and cost under a backlog: a round starts at the partition after the last one the previous
    // round took entries from (else the high partitions wait while the low ones keep filling the batch), and
    // reads the owned partitions in slices only until the batch is full (not the whole backlog each round).
    const std::size_t n = owned.size();
    const std::size_t start = cursor % n;
    std::size_t last_taken = n;  // n = none
    std::vector<cache::OutboxEntry> items;
    bool redis_failed = false;
    for (std::size_t done = 0; done < n && items.size() < link.options.drain_batch && !redis_failed;) {
      const std::size_t slice = std::min(kOutboxReadSlice, n - done);
      const std::size_t want = std::min(link.options.per_partition, link.options.drain_batch - items.size());
      std::vector<int> partitions;
      partitions.reserve(slice);
      for (std::size_t k = 0; k < slice; ++k) partitions.push_back(owned[(start + done + k) % n]);
      auto read = co_await link.outbox.read(partitions, want);
      if (!read) {
        redis_failed = true;
        break;
      }
      for (std::size_t i = 0; i < read->size() && items.size() < link.options.drain_batch; ++i) {
        // Whole prefix of a partition, in stream order: the central system sees its changes in order.
        for (auto& e : (*read)[i]) {
          if (items.size() >= link.options.drain_batch) break;
          items.push_back(std::move(e));
          last_taken = (start + done + i) % n;
        }
      }
      done += slice;
    }
    cursor = last_taken == n ? start : last_taken + 1;
    if (redis_failed) {
      backoff = link.next_backoff(backoff);
      co_await pause(backoff);
      continue;
    }
    if (items.empty()) {
      co_await pause(link.options.drain_idle);
      continue;
    }
    if (one_by_one) items.resize(1);
    std::unordered_map<std::string, std::optional<cache::Product>> products;
    json::array transactions;
    for (const auto& item : items) {
      auto product = co_await product_of(link, products, item.code);
      transactions.push_back(transaction_of(item, product));
    }
    std::string body = json::serialize(json::object{{"transactions", transactions}});
    link.update([&](LinkStatus& s) { s.sent += items.size(); });
    auto res = co_await http.request(boost::beast::http::verb::post, "/central/v1/transactions", std::move(body),
                                     header_list("Idempotency-Key", str(transactions[0].as_object(), "id")));
    if (!res || res->result_int() >= 500 || res->result_int() == 408 || res->result_int() == 429) {
      // Nothing leaves the outbox: the same transactions (same ids) go again after the backoff.
      std::string why = !res ? res.error().message : fmt::format("HTTP {}", res->result_int());
      link.set_error("write-back: " + why);
      log_event(spdlog::level::warn, "central_writeback_retry",
                {{"error", why}, {"transactions", items.size()}, {"backoff_ms", link.next_backoff(backoff).count()}});
      backoff = link.next_backoff(backoff);
      co_await pause(backoff);
      continue;
    }
    backoff = {};
    // id -> (result, code, seq of the change an accepted transaction made)
    std::unordered_map<std::string, WriteBackVerdict> by_id;
    if (res->result_int() == 200) {
      by_id = read_write_back_results(res->body());
      one_by_one = false;
    } else if (items.size() > 1) {
      // A 4xx for the whole batch: find the offending entry by sending one at a time.
      log_event(spdlog::level::warn, "central_writeback_batch_refused",
                {{"status", res->result_int()}, {"body", res->body().substr(0, 300)}});
      one_by_one = true;
      continue;
    } else {
      // This one entry is refused as malformed: it can never be accepted; it leaves with an alert.
      by_id[str(transactions[0].as_object(), "id")] = WriteBackVerdict{"rejected", "VPOINT_BAD_TRANSACTION", std::nullopt};
      one_by_one = false;
    }
    // Each answered entry is settled in the mirror (merge rule, docs/design.md "Truth model"): it leaves the
    // outbox in the same atomic call. A failed settle leaves the entry in place: it is sent again under the same
    // id, and the central system, idempotent by id, answers it again without applying it twice.
    std::vector<std::pair<cache::OutboxEntry, cache::CentralAnswer>> answered;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& tx = transactions[i].as_object();
      auto it = by_id.find(str(tx, "id"));
      if (it == by_id.end() || (it->second.result != "accepted" && it->second.result != "rejected")) continue;
      cache::CentralAnswer answer;
      if (it->second.result == "rejected") {
        auto looked = co_await look_up_rejection(link, tx, it->second.code);
        if (!looked.answered) {
          log_event(spdlog::level::warn, "central_rejection_lookup_failed",
                    {{"transaction", str(tx, "id")}, {"code", it->second.code}});
          continue;  // settled once central's state is known (next round)
        }
        co_await alert_rejection(link, tx, it->second.code, std::move(looked.details));
        answer = std::move(looked.answer);
      } else {
        answer.accepted = true;
        answer.seq = it->second.seq;
      }
      answered.emplace_back(items[i], std::move(answer));
    }
    std::uint64_t accepted = 0, rejected = 0;
    auto settled = co_await link.outbox.settle_many(link.mirror, answered);
    if (!settled) log_event(spdlog::level::warn, "outbox_settle_failed", {{"error", settled.error().message}});
    for (std::size_t i = 0; settled && i < settled->size(); ++i) {
      const auto& [entry, answer] = answered[i];
      const auto& one = (*settled)[i];
      if (!one) {
        log_event(spdlog::level::warn, "outbox_settle_failed", {{"transaction", entry.transaction_id}, {"error", one.error().message}});
        continue;
      }
      if (!one->settled) continue;  // answered before (another round or instance settled it)
      if (answer.accepted) {
        ++accepted;
        continue;
      }
      ++rejected;
      log_event(spdlog::level::warn, "central_rejected_settled",
                {{"transaction", entry.transaction_id},
                 {"code", answer.code},
                 {"other_transaction", answer.other_transaction},
                 {"central_status", answer.central ? (answer.central->exists ? answer.central->status : std::string("(unknown pack)")) : std::string()},
                 {"local_status", one->status ? std::string(cache::to_string(*one->status)) : std::string()}});
    }
    link.update([&](LinkStatus& s) {
      s.accepted += accepted;
      s.rejected += rejected;
    });
  }
  for (auto& lease : leases) co_await lease.release();  // a stopping instance hands its ranges over now
}

}  // namespace vpoint::service::central_detail
