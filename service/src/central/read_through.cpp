// Read-through and offline replay (link_internal.hpp). read_through(): the central system's live look-up of a
// pack the mirror does not know, cached into the mirror when found. replay_offline: scans recorded while the
// central system was unreachable (EU 2016/161 Art 29, cache::OfflineQueue) are replayed in scan order once it
// answers, through the pack routes under their original transaction ids; an answer that is not ok becomes an
// alert naming that transaction. One replayer at a time across instances (lease "reverify").
#include <boost/beast/http/verb.hpp>
#include <fmt/format.h>

#include "link_internal.hpp"
#include "vpoint/cache/lease.hpp"
#include "vpoint/cache/offline.hpp"
#include "vpoint/service/logging.hpp"

namespace vpoint::service::central_detail {

namespace asio = boost::asio;
namespace json = boost::json;
using cache::MirrorErrorKind;

asio::awaitable<ReadThrough> read_through(LinkContext& link, std::string code, std::string serial) {
  ReadThrough out;
  auto lease = link.lookup_pool->acquire();
  auto res = co_await lease->request(boost::beast::http::verb::get, pack_lookup_target(code, serial), {}, {},
                                     link.options.lookup_timeout);
  if (!res) {
    out.detail = res.error().message;
    co_return out;
  }
  if (res->result_int() == 404) {
    out.status = ReadThroughStatus::not_found;
    co_return out;
  }
  if (res->result_int() != 200) {
    out.detail = fmt::format("HTTP {}", res->result_int());
    co_return out;
  }
  auto read = read_pack_answer(res->body(), code, serial);
  if (!read) {
    out.detail = "the central system's answer is not a JSON object";
    co_return out;
  }
  CentralPack pack = std::move(*read);
  out.status = ReadThroughStatus::found;
  auto cached = co_await cache_pack(link.mirror, pack);
  out.cached = cached && *cached;
  if (!cached) out.detail = "caching into the mirror failed: " + cached.error().message;
  out.pack = std::move(pack);
  co_return out;
}

namespace {

// A failed replay: an alert naming the original transaction (one per (reason, transaction)).
asio::awaitable<void> alert_offline(LinkContext& link, const cache::OfflineScan& scan, std::string reason, std::string nmvs_code,
                                    json::object details) {
  std::string code_key = scan.code.size() == 14 ? "gtin" : "ppn";
  details["operation"] = cache::to_string(scan.operation);
  details["action"] = scan.operation == cache::Operation::verify ? json::value(nullptr)
                                                                 : json::value(cache::to_string(scan.action));
  details["scanned_offline_at"] = iso_time_ms(scan.time_ms);
  json::object alert{{"reason", std::move(reason)},
                     {"nmvs_code", nmvs_code.empty() ? json::value() : json::value(nmvs_code)},
                     {"verdict", "unconfirmed_failed"},
                     {"pack", pack_json_of(code_key, scan.code, scan.serial, scan.batch, scan.expiry)},
                     {"location", scan.location},
                     {"actor", scan.actor},
                     {"transaction_id", scan.transaction_id},
                     {"details", std::move(details)}};
  co_await link.raise_alert(std::move(alert));
}

// One recorded scan: true = settled (answered for good), false = not now (central or mirror unreachable).
asio::awaitable<bool> replay_one(LinkContext& link, const cache::OfflineScan& scan) {
  // The mirror may know the pack by now (feed, an earlier replay); otherwise ask the central system.
  auto known = co_await link.mirror.peek(scan.code, scan.serial);
  if (!known) co_return false;
  if (!*known) {
    auto looked = co_await read_through(link, scan.code, scan.serial);
    if (looked.status == ReadThroughStatus::unavailable) co_return false;
    if (looked.status == ReadThroughStatus::not_found) {
      json::object details = json_pair("central", "unknown pack");
      co_await alert_offline(link, scan, "offline_pack_unknown", "NMVS_NC_PC_02", std::move(details));
      co_return true;
    }
    if (!looked.cached) co_return false;
  }
  if (!link.replayer) co_return false;
  auto replayed = co_await link.replayer(scan);
  if (!replayed && replayed.error().kind == MirrorErrorKind::bad_request) {
    // The mirror refuses the scan itself (it cannot become valid by waiting): say so, do not block the queue.
    co_await alert_offline(link, scan, "offline_replay_failed", "", json_pair("error", replayed.error().message));
    co_return true;
  }
  if (!replayed) co_return false;  // Redis unreachable: try again next round
  if (replayed->verdict != "ok") {
    json::object details{{"replayed_verdict", replayed->verdict},
                         {"replayed_reason", replayed->reason.empty() ? json::value() : json::value(replayed->reason)},
                         {"status", replayed->answer.contains("status") ? replayed->answer.at("status")
                                                                         : json::value()}};
    std::string reason = "offline_";
    reason += replayed->reason.empty() ? replayed->verdict : replayed->reason;
    co_await alert_offline(link, scan, std::move(reason), replayed->nmvs_code, std::move(details));
  }
  co_return true;
}

// The offline scans in scan order; stops at the first one that cannot be settled yet (order matters: an
// offline undo must follow its offline decommission).
}  // namespace

asio::awaitable<void> replay_offline(LinkContext& link, Strand) {
  cache::OfflineQueue queue(link.mirror);
  cache::Lease lease(link.redis, "reverify", link.options.instance_id, link.options.lease_ttl);
  while (!co_await stop_requested()) {
    co_await pause(link.options.reverify_interval);
    if (co_await stop_requested()) break;
    if (!co_await lease.hold()) continue;
    auto scans = co_await queue.head(100);
    if (!scans) continue;
    for (const auto& scan : *scans) {
      if (co_await stop_requested()) break;
      if (!co_await replay_one(link, scan)) break;
      auto settled = co_await queue.settle(scan);
      if (!settled) break;
      log_event(spdlog::level::info, "offline_scan_replayed",
                {{"transaction_id", scan.transaction_id}, {"serial", scan.serial}});
    }
  }
  co_await lease.release();
}

}  // namespace vpoint::service::central_detail
