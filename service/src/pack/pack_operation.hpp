#pragma once
// One pack operation of the pack routes, without HTTP: a Job (what the caller asked, as whom) and a pack
// become an Answer (verdict, reason, the API's per-pack JSON) through ONE mirror call, the caps-lock and lost-GS
// repairs, the live look-up of the central system and the alert. pack_operation.cpp holds it; the routes
// (pack_routes.cpp), the pack history (pack_history.cpp) and the runtime (pack_runtime.cpp) use it.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "pack_input.hpp"
#include "vpoint/cache/mirror.hpp"
#include "vpoint/scanner/gs1.hpp"
#include "vpoint/service/api.hpp"
#include "vpoint/service/metrics.hpp"
#include "vpoint/service/pack_api.hpp"
#include "vpoint/service/rules.hpp"

namespace vpoint::service::pack_detail {

namespace json = boost::json;
using asio::awaitable;
using cache::Action;
using cache::Operation;
using scanner::ErrorCode;
using scanner::PackId;
using scanner::ParseError;

// Metrics (issue 5: counts per route and verdict, alerts by reason, Redis round-trip latency).
struct PackMetrics {
  std::shared_ptr<LabelledChildren<prometheus::Counter>> verdicts;  // route, verdict, reason
  prometheus::Family<prometheus::Counter>* alerts;
  prometheus::Histogram* mirror_call;
  prometheus::Counter* audit_lost;
  prometheus::Counter* unreplicated;
  prometheus::Family<prometheus::Counter>* returns_decisions;
};

PackMetrics make_metrics(Metrics& metrics);

// What every handler shares: the services and the metrics.
struct Ctx {
  std::shared_ptr<PackServices> s;
  PackMetrics m;
};

// The mirror call `call`, its round trip observed in vpoint_mirror_call_seconds.
template <class T>
boost::asio::awaitable<T> timed(Ctx& ctx, boost::asio::awaitable<T> call) {
  auto started = std::chrono::steady_clock::now();
  T result = co_await std::move(call);
  ctx.m.mirror_call->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  co_return result;
}

// Problems of the mirror (503 mirror_unavailable, 507 mirror_full, 400) and of the scanner (422 invalid_scan).
Response mirror_problem(const cache::MirrorError& error);
Response scan_problem(const scanner::ParseError& error);

// The permission an operation and action need (issue 5 "Identity and roles", table in auth.cpp).
Permission permission_for(cache::Operation op, cache::Action action);

scanner::gs1::Date today_utc();
boost::json::value str_or_null(std::string_view s);
boost::json::value product_json(const cache::Product* product);

struct Answer {
  boost::json::object body;
  Verdict verdict = Verdict::ok;
  Reason reason = Reason::none;
  scanner::PackId pack = {};  // the pack answered for (a repaired scan: the repaired pack)
};

struct Job {
  Intent intent;
  const Caller* caller = nullptr;
  std::string idempotency_key;
  std::string_view route;
  // The scanner text as typed ("" for a pack object): the caps-lock repair parses it flipped as a whole.
  std::string_view scan_text = {};
  // Replay of an offline scan (offline_replay.hpp): its original transaction id, and no alert of its own
  // (the central link raises one naming the original transaction).
  std::string transaction_id = {};
  bool offline_replay = false;
  // Live look-ups this request may still make (bulk: [central] bulk_read_through_max); null = no limit.
  std::size_t* read_through_budget = nullptr;
  // Bulk: after this, no more live look-ups ([http] bulk_deadline_s).
  std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt;
};

cache::PackRequest make_request(const Job& job, const scanner::PackId& pack, std::string idem);
// The mirror's key of a pack's product: the product's code when it is known, else the code scanned.
std::string mirror_code(const cache::Product* product, const scanner::PackId& pack);

// The verdict of a pack from what the mirror answered (`r`, with its product, batch check and plan): repairs,
// the live look-up, the alert.
boost::asio::awaitable<cache::MirrorResult<Answer>> resolve(Ctx& ctx, const Job& job, const scanner::PackId& pack,
                                                            std::vector<std::string> warnings,
                                                            const cache::Product* product, const BatchCheck& bc,
                                                            const Plan& pl, const cache::PackResult& r,
                                                            bool allow_repair);
// One pack through its ONE mirror call.
boost::asio::awaitable<cache::MirrorResult<Answer>> process_pack(Ctx& ctx, const Job& job, const scanner::PackId& pack,
                                                                 std::vector<std::string> warnings, bool allow_repair);
// A scan whose GS separators were lost (several splits possible): the candidates tried against the mirror.
boost::asio::awaitable<cache::MirrorResult<std::optional<Answer>>> process_ambiguous(Ctx& ctx, const Job& job,
                                                                                     const Scanned& scanned);
// A scan the scanner refused: its caps-lock flipped form tried. Empty: not a pack then.
boost::asio::awaitable<cache::MirrorResult<std::optional<Answer>>> process_unparsed(Ctx& ctx, const Job& job);
// An offline scan replayed through the mirror once the central system is back (offline_replay.hpp).
boost::asio::awaitable<cache::MirrorResult<OfflineReplay>> replay_offline(Ctx& ctx, cache::OfflineScan scan);

// GET /v1/packs/{code}/{serial} (pack_history.cpp): the pack's status and its audit history, paged.
boost::asio::awaitable<Reply> pack_status(Ctx& ctx, ApiContext& api);

}  // namespace vpoint::service::pack_detail
