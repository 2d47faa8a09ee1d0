#include "vpoint/service/pack_api.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <future>
#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/array.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/params_view.hpp>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "decode_pool.hpp"
#include "pack_input.hpp"
#include "vpoint/scanner/gs1.hpp"
#include "vpoint/scanner/json.hpp"
#include "vpoint/scanner/normalise.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/service/audit_archive.hpp"
#include "vpoint/service/json_body.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/problem.hpp"
#include "vpoint/service/rules.hpp"

namespace vpoint::service {

namespace json = boost::json;
using asio::awaitable;
using cache::Action;
using cache::Operation;
using scanner::ErrorCode;
using scanner::PackId;
using scanner::ParseError;
using namespace pack_detail;

namespace {

// ---------------------------------------------------------------------------------------------------------
// Metrics (issue 5: counts per route and verdict, alerts by reason, Redis round-trip latency).

struct PackMetrics {
  prometheus::Family<prometheus::Counter>* verdicts;
  prometheus::Family<prometheus::Counter>* alerts;
  prometheus::Histogram* mirror_call;
  prometheus::Counter* audit_lost;
  prometheus::Counter* unreplicated;
  prometheus::Family<prometheus::Counter>* returns_decisions;
};

PackMetrics make_metrics(Metrics& metrics) {
  auto& registry = metrics.registry();
  PackMetrics m{};
  m.verdicts = &prometheus::BuildCounter()
                    .Name("vpoint_verdicts_total")
                    .Help("Pack answers by route, verdict and reason")
                    .Register(registry);
  m.alerts = &prometheus::BuildCounter()
                  .Name("vpoint_alerts_total")
                  .Help("Alerts raised, by reason")
                  .Register(registry);
  auto& rtt = prometheus::BuildHistogram()
                  .Name("vpoint_mirror_call_seconds")
                  .Help("Round trip of one mirror call (Redis FCALL or pipeline)")
                  .Register(registry);
  m.mirror_call = &rtt.Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                                       0.005, 0.01, 0.025, 0.1, 0.5, 2});
  m.audit_lost = &prometheus::BuildCounter()
                      .Name("vpoint_audit_lost_total")
                      .Help("Verifications answered while Redis was full, whose audit entry could not be stored "
                            "(each one is logged as audit_lost)")
                      .Register(registry)
                      .Add({});
  m.unreplicated = &prometheus::BuildCounter()
                        .Name("vpoint_changes_unreplicated_total")
                        .Help("Pack changes answered while fewer than [redis] min_replicas_ack replicas had them "
                              "(warning replication_unconfirmed)")
                        .Register(registry)
                        .Add({});
  m.returns_decisions = &prometheus::BuildCounter()
                             .Name("vpoint_returns_decisions_total")
                             .Help("POST /v1/returns/decision by decision (restock, quarantine, destroy) and result "
                                   "(recorded, or restock_refused)")
                             .Register(registry);
  return m;
}

struct Ctx {
  std::shared_ptr<PackServices> s;
  PackMetrics m;
};

template <class T>
awaitable<T> timed(Ctx& ctx, awaitable<T> call) {
  auto started = std::chrono::steady_clock::now();
  T result = co_await std::move(call);
  ctx.m.mirror_call->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  co_return result;
}

// ---------------------------------------------------------------------------------------------------------
// Problems

Response mirror_problem(const cache::MirrorError& error) {
  if (error.kind == cache::MirrorErrorKind::bad_request)
    return problem_response(ProblemCode::bad_request, error.message);
  if (error.kind == cache::MirrorErrorKind::full) {
    // Nothing was changed; the operator must make room (docs/durability.md "Redis full").
    log_event(spdlog::level::err, "mirror_full", {{"error", error.message}});
    Response res = problem_response(ProblemCode::mirror_full,
                                    "the pack mirror is full and accepts no changes; nothing was changed, retry later",
                                    {{"reason", "mirror_full"}});
    res.set(http::field::retry_after, "5");
    return res;
  }
  log_event(spdlog::level::warn, "mirror_unavailable", {{"error", error.message}});
  Response res = problem_response(ProblemCode::mirror_unavailable,
                                  "the pack mirror cannot be reached; retry shortly",
                                  {{"reason", "mirror_unavailable"}});
  res.set(http::field::retry_after, "1");
  return res;
}

Response scan_problem(const ParseError& error) {
  return problem_response(ProblemCode::invalid_scan, error.message,
                          {{"field", error.field}, {"error", scanner::error_object(error)}});
}

// ---------------------------------------------------------------------------------------------------------
// Permissions per action (issue 5 "Identity and roles", table in auth.cpp).

Permission permission_for(Operation op, Action action) {
  if (op == Operation::verify) return Permission::verify;
  if (op == Operation::undo) return action == Action::lock ? Permission::unlock : Permission::undo;
  switch (action) {
    case Action::supply: return Permission::supply;
    case Action::destroy: return Permission::destroy;
    case Action::export_: return Permission::export_pack;
    case Action::sample: return Permission::sample;
    case Action::free_sample: return Permission::free_sample;
    case Action::stolen: return Permission::stolen;
    case Action::lock: return Permission::lock;
  }
  return Permission::supply;
}

// ---------------------------------------------------------------------------------------------------------
// One pack: plan, ONE mirror call, verdict, repair, alert, JSON.

scanner::gs1::Date today_utc() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

json::value str_or_null(std::string_view s) { return s.empty() ? json::value(nullptr) : json::value(s); }

json::value product_json(const cache::Product* product) {
  if (product == nullptr) return nullptr;
  return json::object{{"code", product->code},       {"gtin", str_or_null(product->gtin)},
                      {"ppn", str_or_null(product->ppn)}, {"name", product->name},
                      {"market", product->market}};
}

struct Answer {
  json::object body;
  Verdict verdict = Verdict::ok;
  Reason reason = Reason::none;
  PackId pack = {};  // the pack answered for (a repaired scan: the repaired pack)
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

cache::PackRequest make_request(const Job& job, const PackId& pack, std::string idem) {
  cache::PackRequest r;
  r.product_code = pack.product_code();
  r.serial = pack.serial;
  r.caller = cache::Caller{job.caller->name, job.caller->location};
  r.idempotency_key = std::move(idem);
  r.transaction_id = job.transaction_id;
  return r;
}

bool unknown_outcome(const cache::PackResult& r) {
  return r.outcome == cache::Outcome::unknown_product || r.outcome == cache::Outcome::unknown_serial;
}

bool is_scanning_fault_candidate(Reason reason) {
  return reason == Reason::unknown_serial || reason == Reason::unknown_batch || reason == Reason::batch_mismatch;
}

awaitable<cache::MirrorResult<Answer>> process_pack(Ctx& ctx, const Job& job, const PackId& pack,
                                                   std::vector<std::string> warnings, bool allow_repair);

// Caps lock on a keyboard wedge flips the case of every letter typed (domain.md "Alerts"): the whole scan
// flipped back and parsed again (IFA data identifiers and stand-ins come back too). Empty: not a pack then.
Result<Scanned, InputError> caps_lock_flipped(std::string_view scan_text) {
  if (scan_text.empty()) return Unexpected{InputError{}};
  return from_parse(scanner::parse(scanner::invert_case(scan_text)));
}

// The variants a caps-locked scan may stand for: the whole scan flipped, then serial and batch alone.
std::vector<PackId> caps_lock_variants(const PackId& pack, std::string_view scan_text) {
  std::vector<PackId> out;
  auto add = [&](PackId v) {
    if (v == pack || std::find(out.begin(), out.end(), v) != out.end()) return;
    out.push_back(std::move(v));
  };
  if (auto flipped = caps_lock_flipped(scan_text); flipped && !flipped->ambiguous) add(flipped->pack);
  PackId both = pack;
  both.serial = scanner::invert_case(pack.serial);
  both.batch = scanner::invert_case(pack.batch);
  add(both);
  PackId serial_only = pack;
  serial_only.serial = both.serial;
  add(serial_only);
  PackId batch_only = pack;
  batch_only.batch = both.batch;
  add(batch_only);
  return out;
}

// Scanning faults are not counterfeits (issue 5): a variant matches when the mirror knows its serial, its
// batch exists with the printed expiry and is the serial's stored batch. Looked at with Mirror::peek: no audit
// entry for packs the user never scanned (issue 12). Exactly one match -> answer for it.
awaitable<cache::MirrorResult<std::optional<Answer>>> try_variants(Ctx& ctx, const Job& job,
                                                                   const std::vector<PackId>& variants,
                                                                   std::string_view repair, const PackId* scanned,
                                                                   const std::vector<std::string>& warnings) {
  std::vector<const PackId*> matches;
  for (const PackId& v : variants) {
    auto product = co_await ctx.s->mirror.cached_product(v.product_code());
    if (!product) co_return Unexpected{product.error()};
    if (!*product) continue;
    BatchCheck bc = check_batch(**product, v, today_utc());
    if (bc.batch == nullptr || !bc.expiry_matches) continue;
    auto seen = co_await timed(ctx, ctx.s->mirror.peek(v.product_code(), v.serial));
    if (!seen) co_return Unexpected{seen.error()};
    if (!*seen || (*seen)->batch_index != bc.batch->index) continue;
    matches.push_back(&v);
  }
  if (matches.size() != 1) co_return std::optional<Answer>{};
  std::vector<std::string> w = warnings;
  w.push_back("scan_repaired");
  Job repaired = job;
  // A retry of the same request must replay the repaired operation, not collide with the first key's record.
  if (!repaired.idempotency_key.empty()) repaired.idempotency_key += ":repaired";
  auto answer = co_await process_pack(ctx, repaired, *matches.front(), std::move(w), false);
  if (!answer) co_return Unexpected{answer.error()};
  answer->body["repair"] = repair;
  answer->body["scanned"] = scanned ? json::value(scanner::to_json(*scanned)) : json::value(nullptr);
  co_return std::optional<Answer>{std::move(*answer)};
}

// What one pack answer says; answer_body lays it out.
struct AnswerFacts {
  Verdict verdict = Verdict::ok;
  std::string_view status;     // the pack's status, "unknown" when nobody could tell
  Reason reason = Reason::none;
  std::string_view nmvs_code;  // "" = null
  std::string_view source;     // "mirror" or "offline"
  json::value batch_state = nullptr;
  json::value expired = nullptr;
  bool repeat = false;
  // Only for decommission and undo:
  std::string_view previous_status;
  json::value transaction_id = nullptr;
  bool replay = false;
  // Raw values the central system sent that vpoint does not know (issue 14); "" = none, field left out.
  std::string_view central_status;
  std::string_view central_batch_state;
};

// The body of every pack answer (issue 5), one field order whether the mirror decided (finish) or the central
// system could not be asked (answer_offline). alert_id stays null until finish raises an alert.
json::object answer_body(const Ctx& ctx, const Job& job, const PackId& pack, const std::vector<std::string>& warnings,
                         const cache::Product* product, const AnswerFacts& facts) {
  json::object body;
  body["pack"] = scanner::to_json(pack);
  body["verdict"] = to_string(facts.verdict);
  body["status"] = facts.status;
  body["reason"] = str_or_null(to_string(facts.reason));
  body["nmvs_code"] = str_or_null(facts.nmvs_code);
  body["alert_id"] = nullptr;
  body["product"] = product_json(product);
  body["source"] = facts.source;
  json::array w;
  for (const auto& x : warnings) w.push_back(json::value(x));
  // The mirror answers from a feed that is behind the central system by more than [central] feed_stale_s.
  if (const auto& behind = ctx.s->central.feed_behind; behind && behind() > ctx.s->central.feed_stale)
    w.push_back(json::value("feed_stale"));
  body["warnings"] = std::move(w);
  body["batch_state"] = facts.batch_state;
  if (!facts.central_batch_state.empty()) body["central_batch_state"] = facts.central_batch_state;
  if (!facts.central_status.empty()) body["central_status"] = facts.central_status;
  body["expired"] = facts.expired;
  body["repeat"] = facts.repeat;
  if (job.intent.operation != Operation::verify) {
    body["operation"] = cache::to_string(job.intent.operation);
    body["action"] = cache::to_string(job.intent.action);
    body["previous_status"] = facts.previous_status;
    body["transaction_id"] = facts.transaction_id;
    body["replay"] = facts.replay;
  }
  return body;
}

// One count per answered pack: vpoint_verdicts_total{route, verdict, reason ("none" for no reason)}.
void count_verdict(Ctx& ctx, const Job& job, Verdict verdict, Reason reason) {
  ctx.m.verdicts
      ->Add({{"route", std::string(job.route)},
             {"verdict", std::string(to_string(verdict))},
             {"reason", reason == Reason::none ? std::string("none") : std::string(to_string(reason))}})
      .Increment();
}

Decision decide_for(Ctx& ctx, const Job& job, const cache::Product* product, const BatchCheck& bc, const Plan& pl,
                    const cache::PackResult& r) {
  if (product == nullptr) return decide_unknown_product();
  DecideInput in{job.intent, pl, bc, &r, cache::Caller{job.caller->name, job.caller->location},
                 ctx.s->options.repeat_window};
  return decide(in);
}

// The verdict from the mirror's answer, with its alert.
awaitable<cache::MirrorResult<Answer>> finish(Ctx& ctx, const Job& job, const PackId& pack,
                                              std::vector<std::string> warnings, const cache::Product* product,
                                              const BatchCheck& bc, const Plan& pl, const cache::PackResult& r,
                                              const Decision& d) {
  const bool unknown = unknown_outcome(r);
  json::object body = answer_body(
      ctx, job, pack, warnings, product,
      AnswerFacts{.verdict = d.verdict,
                  .status = unknown ? std::string_view("unknown") : cache::to_string(r.status),
                  .reason = d.reason,
                  .nmvs_code = d.nmvs_code,
                  .source = "mirror",
                  .batch_state = bc.batch ? json::value(cache::to_string(bc.batch->state)) : json::value(nullptr),
                  .expired = bc.batch ? json::value(bc.expired) : json::value(nullptr),
                  .repeat = d.repeat,
                  .previous_status = unknown ? std::string_view("unknown") : cache::to_string(r.previous),
                  // Only an attempted transaction has an id (a plan that only verified did not try one).
                  .transaction_id = pl.verify_only || product == nullptr ? json::value(nullptr)
                                                                         : json::value(r.transaction_id),
                  .replay = r.replay,
                  .central_status = r.central_status,
                  .central_batch_state = bc.batch && bc.batch->state == cache::BatchState::unknown
                                             ? std::string_view(bc.batch->state_text)
                                             : std::string_view()});
  const bool change = job.intent.operation != Operation::verify;
  if (d.reason == Reason::unknown_central_status)
    log_event(spdlog::level::warn, "unknown_central_status",
              {{"code", pack.product_code()}, {"serial", pack.serial}, {"status", r.central_status},
               {"batch_state", bc.batch ? bc.batch->state_text : std::string()}});

  if (d.verdict == Verdict::alert && !job.offline_replay) {
    NewAlert alert;
    alert.reason = to_string(d.reason);
    alert.nmvs_code = d.nmvs_code;
    alert.pack = scanner::to_json(pack);
    alert.location = job.caller->location;
    alert.actor = job.caller->name;
    alert.transaction_id = r.transaction_id;
    alert.details = json::object{{"route", job.route},
                                 {"operation", cache::to_string(job.intent.operation)},
                                 {"action", change ? json::value(cache::to_string(job.intent.action)) : nullptr},
                                 {"status", body["status"]}};
    auto id = co_await ctx.s->alerts.raise(alert_object(alert));
    if (!id) co_return Unexpected{id.error()};
    body["alert_id"] = *id;
    if (!r.replay) ctx.m.alerts->Add({{"reason", alert.reason}}).Increment();
  }
  count_verdict(ctx, job, d.verdict, d.reason);
  co_return Answer{std::move(body), d.verdict, d.reason, pack};
}

// The code the mirror files the pack under: the product's own code when the product is known (a pack scanned
// by PPN or by NTIN is one pack), else the code as scanned.
std::string mirror_code(const cache::Product* product, const PackId& pack) {
  return product ? product->code : pack.product_code();
}

// An unknown pack answered without asking the central system and without recording anything: status unknown,
// no transaction.
Answer not_looked_up(Ctx& ctx, const Job& job, const PackId& pack, const std::vector<std::string>& warnings,
                     const cache::Product* product, Verdict verdict, Reason reason, std::string_view source) {
  json::object body = answer_body(ctx, job, pack, warnings, product,
                                  AnswerFacts{.verdict = verdict,
                                              .status = "unknown",
                                              .reason = reason,
                                              .source = source,
                                              .previous_status = "unknown"});
  count_verdict(ctx, job, verdict, reason);
  return Answer{std::move(body), verdict, reason, pack};
}

// A pack the mirror does not know and the central system could not confirm (EU 2016/161 Art 29, issue 12):
// never ok. [central] offline = record: verdict unconfirmed, the scan recorded (pending placeholder + ordered
// replay, cache::OfflineQueue), so a second supply of the same pack is a repeat and an offline undo is checked
// against the offline decommission; refuse: refused, nothing kept. `why`: central_unavailable, or
// offline_pending (earlier offline scans of this pack still wait for the central system: this one queues
// behind them even though the central system answers again).
awaitable<cache::MirrorResult<Answer>> answer_offline(Ctx& ctx, const Job& job, const PackId& pack,
                                                      std::vector<std::string> warnings,
                                                      const cache::Product* product, std::string transaction_id,
                                                      Reason why) {
  const bool change = job.intent.operation != Operation::verify;
  if (ctx.s->central.offline == OfflineMode::refuse && why == Reason::central_unavailable)
    co_return not_looked_up(ctx, job, pack, warnings, product, Verdict::refused, why, "offline");
  cache::OfflineScan scan;
  scan.operation = job.intent.operation;
  scan.action = job.intent.action;
  scan.code = mirror_code(product, pack);
  scan.serial = pack.serial;
  scan.batch = pack.batch;
  scan.expiry = pack.expiry;
  scan.location = job.caller->location;
  scan.actor = job.caller->name;
  scan.transaction_id = std::move(transaction_id);
  std::string token;  // caller + Idempotency-Key: a retry of the same request is a replay, not a repeat
  if (!job.idempotency_key.empty()) token = job.caller->name + ":" + job.idempotency_key;
  auto recorded = co_await ctx.s->offline.record(std::move(scan), std::move(token));
  if (!recorded) co_return Unexpected{recorded.error()};
  const Decision d = decide_offline(*recorded, why);
  warnings.push_back("unconfirmed");
  json::object body = answer_body(ctx, job, pack, warnings, product,
                                  AnswerFacts{.verdict = d.verdict,
                                              .status = "unknown",
                                              .reason = d.reason,
                                              .nmvs_code = d.nmvs_code,
                                              .source = "offline",
                                              .repeat = d.repeat,
                                              .previous_status = "unknown",
                                              .transaction_id = change && d.verdict == Verdict::unconfirmed
                                                                    ? json::value(recorded->transaction_id)
                                                                    : json::value(nullptr),
                                              .replay = recorded->replay});
  // What is pending for this pack: the offline decommission a repeat or an undo was checked against.
  if (recorded->pending) {
    const auto& p = *recorded->pending;
    body["pending"] = json::object{{"action", cache::to_string(p.action)},
                                   {"location", p.location},
                                   {"actor", p.actor},
                                   {"time", iso_time_ms(p.time_ms)},
                                   {"transaction_id", p.transaction_id}};
  }
  count_verdict(ctx, job, d.verdict, d.reason);
  co_return Answer{std::move(body), d.verdict, d.reason, pack};
}

// A live look-up may have added the product or a batch to the mirror: the product cache must not answer
// from before it (the invalidation message it published may not have arrived yet).
void forget_product(Ctx& ctx, const std::string& code) {
  ctx.s->mirror.invalidate(code);
}

// After the mirror's first answer for a pack: a scanning fault repaired against the mirror, then (still
// unknown) the central system asked, then the verdict. Repair comes first and reads only (issue 12), so a
// caps-locked scan of a known pack is answered from the mirror whether or not the central system answers.
awaitable<cache::MirrorResult<Answer>> resolve(Ctx& ctx, const Job& job, const PackId& pack,
                                               std::vector<std::string> warnings, const cache::Product* product,
                                               const BatchCheck& bc, const Plan& pl, const cache::PackResult& r,
                                               bool allow_repair) {
  if (r.audit_lost) {
    // Redis is full: the verification was answered by a read-only look and its audit entry is not stored.
    // Never silent: the answer says so, the counter counts it, and the log keeps the entry.
    ctx.m.audit_lost->Increment();
    log_event(spdlog::level::err, "audit_lost",
              {{"transaction_id", r.transaction_id}, {"code", pack.product_code()}, {"serial", pack.serial},
               {"outcome", cache::to_string(r.outcome)}, {"status", cache::to_string(r.status)},
               {"location", job.caller->location}, {"actor", job.caller->name}, {"time_ms", r.redis_time_ms}});
    if (std::find(warnings.begin(), warnings.end(), "audit_unavailable") == warnings.end())
      warnings.push_back("audit_unavailable");
  }
  if (r.replicas_acked && *r.replicas_acked < ctx.s->mirror.options().min_replicas_ack) {
    // [redis] min_replicas_ack: the change is on the master but not yet on enough replicas; a failover now could
    // lose it (docs/durability.md "Replication"). Said in the answer, counted and logged.
    ctx.m.unreplicated->Increment();
    log_event(spdlog::level::warn, "replication_unconfirmed",
              {{"transaction_id", r.transaction_id}, {"code", pack.product_code()}, {"serial", pack.serial},
               {"replicas_acked", *r.replicas_acked}, {"required", ctx.s->mirror.options().min_replicas_ack}});
    warnings.push_back("replication_unconfirmed");
  }
  const Decision d = decide_for(ctx, job, product, bc, pl, r);
  const bool unknown = unknown_outcome(r);
  if (allow_repair && (unknown || is_scanning_fault_candidate(d.reason))) {
    auto repaired =
        co_await try_variants(ctx, job, caps_lock_variants(pack, job.scan_text), "caps_lock", &pack, warnings);
    if (!repaired) co_return Unexpected{repaired.error()};
    if (*repaired) co_return std::move(**repaired);
  }
  // Unknown here: ask the central system before calling it unknown (issue 6 "Read-through"). Only once per
  // request (allow_repair is false on the retry, on repair variants and on offline replays).
  if (allow_repair && unknown && ctx.s->central.look_up) {
    if (ctx.s->central.offline == OfflineMode::record) {
      auto pending = co_await ctx.s->offline.pending(mirror_code(product, pack), pack.serial);
      if (!pending) co_return Unexpected{pending.error()};
      if (*pending)
        co_return co_await answer_offline(ctx, job, pack, std::move(warnings), product, r.transaction_id,
                                          Reason::offline_pending);
    }
    if (job.read_through_budget && *job.read_through_budget == 0)
      co_return not_looked_up(ctx, job, pack, warnings, product, Verdict::unconfirmed, Reason::read_through_limit,
                              "mirror");
    if (job.deadline && std::chrono::steady_clock::now() >= *job.deadline)
      co_return not_looked_up(ctx, job, pack, warnings, product, Verdict::unconfirmed, Reason::deadline, "mirror");
    if (job.read_through_budget) --*job.read_through_budget;
    auto status = co_await ctx.s->central.look_up(pack.product_code(), pack.serial);
    if (status == CentralLookup::Status::found) {
      forget_product(ctx, pack.product_code());
      co_return co_await process_pack(ctx, job, pack, std::move(warnings), false);
    }
    if (status == CentralLookup::Status::unavailable)
      co_return co_await answer_offline(ctx, job, pack, std::move(warnings), product, r.transaction_id,
                                        Reason::central_unavailable);
  }
  co_return co_await finish(ctx, job, pack, std::move(warnings), product, bc, pl, r, d);
}

awaitable<cache::MirrorResult<Answer>> process_pack(Ctx& ctx, const Job& job, const PackId& pack,
                                                   std::vector<std::string> warnings, bool allow_repair) {
  auto product = co_await ctx.s->mirror.cached_product(pack.product_code());
  if (!product) co_return Unexpected{product.error()};
  cache::PackRequest req = make_request(job, pack, job.idempotency_key);
  BatchCheck bc;
  Plan pl;
  cache::MirrorResult<cache::PackResult> r;
  if (!*product) {
    // Unknown product: only a verify, so that the attempt is in the audit trail.
    r = co_await timed(ctx, ctx.s->mirror.verify(req));
  } else {
    bc = check_batch(**product, pack, today_utc());
    pl = plan(job.intent, bc);
    req.expected_batch_index = pl.expected_batch_index;
    if (job.intent.operation == Operation::verify || pl.verify_only)
      r = co_await timed(ctx, ctx.s->mirror.verify(req));
    else if (job.intent.operation == Operation::decommission)
      r = co_await timed(ctx, ctx.s->mirror.decommission(req, job.intent.action));
    else
      r = co_await timed(ctx, ctx.s->mirror.undo(req, job.intent.action));
  }
  if (!r) co_return Unexpected{r.error()};
  co_return co_await resolve(ctx, job, pack, std::move(warnings), product->get(), bc, pl, *r, allow_repair);
}

// An ambiguous scan (lost GS): the candidates are tried against the mirror; none or several -> 422.
awaitable<cache::MirrorResult<std::optional<Answer>>> process_ambiguous(Ctx& ctx, const Job& job,
                                                                       const Scanned& scanned) {
  co_return co_await try_variants(ctx, job, scanned.ambiguous->candidates, "lost_gs", nullptr, scanned.warnings);
}

// A scan that the scanner's rules refuse may be a caps-locked one (an IFA envelope's data identifiers typed
// lower case): the whole text flipped is tried against the mirror; a match is answered with the repair.
awaitable<cache::MirrorResult<std::optional<Answer>>> process_unparsed(Ctx& ctx, const Job& job) {
  auto flipped = caps_lock_flipped(job.scan_text);
  if (!flipped || flipped->ambiguous) co_return std::optional<Answer>{};
  std::vector<PackId> variants{flipped->pack};
  co_return co_await try_variants(ctx, job, variants, "caps_lock", nullptr, flipped->warnings);
}

// An offline scan replayed once its pack is in the mirror (offline_replay.hpp): the same rules as at the
// counter, as the original caller at the original location, under the original transaction id.
awaitable<cache::MirrorResult<OfflineReplay>> replay_offline(Ctx& ctx, cache::OfflineScan scan) {
  Caller caller;
  caller.name = scan.actor;
  caller.location = scan.location;
  Job job{Intent{scan.operation, scan.action}, &caller, "", "offline_replay"};
  job.transaction_id = scan.transaction_id;
  job.offline_replay = true;
  PackId pack;
  const bool gtin = scan.code.size() == 14;
  pack.scheme = gtin ? scanner::Scheme::gs1 : scanner::Scheme::ppn;
  (gtin ? pack.gtin : pack.ppn) = scan.code;
  pack.serial = scan.serial;
  pack.batch = scan.batch;
  pack.expiry = scan.expiry;
  forget_product(ctx, scan.code);  // the link has just looked the pack up (and cached it) or found it
  auto answer = co_await process_pack(ctx, job, pack, {}, false);
  if (!answer) co_return Unexpected{answer.error()};
  OfflineReplay out;
  out.verdict = std::string(to_string(answer->verdict));
  out.reason = std::string(to_string(answer->reason));
  if (const auto* code = answer->body.if_contains("nmvs_code"); code && code->is_string())
    out.nmvs_code = std::string(code->as_string());
  out.answer = std::move(answer->body);
  co_return out;
}

// ---------------------------------------------------------------------------------------------------------
// Query strings

using QueryParams = std::map<std::string, std::string>;

// The query string as decoded parameters (Boost.URL: RFC 3986 percent-escapes, '+' as a space), refusing a
// malformed escape and any parameter outside `allowed` with 400 bad_request naming it. A repeated parameter
// keeps its last value.
Result<QueryParams, Problem> parse_query(std::string_view query, std::initializer_list<std::string_view> allowed) {
  QueryParams out;
  if (query.empty()) return out;
  // Boost.URL 1.81 (Debian 12) parses up to the first NUL whatever the view's size says (a strlen on an empty
  // view's null data(), and the rest of the request line after the query): it gets a terminated copy.
  const std::string text(query);
  if (!boost::urls::parse_query(text))
    return Unexpected{Problem{ProblemCode::bad_request, "the query string is not valid percent-encoding",
                              {{"field", "query"}}}};
  boost::urls::encoding_opts options;
  options.space_as_plus = true;
  for (const auto param : boost::urls::params_view(text, options)) {  // checked above: does not throw
    if (param.key.empty() && !param.has_value) continue;  // "a=1&&b=2"
    if (std::find(allowed.begin(), allowed.end(), param.key) == allowed.end())
      return Unexpected{Problem{ProblemCode::bad_request, "query parameter '" + param.key + "' is not known",
                                {{"field", param.key}}}};
    out[param.key] = param.value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Handlers

Response input_problem(const InputError& e) {
  if (e.problem) return problem_response(*e.problem);
  return scan_problem(*e.parse);
}

// The answer for the pack of a {"scan"} / {"pack"} body, as POST /v1/verify, /v1/decommission and /v1/undo give
// it; a request that names no pack the mirror can find is the error response.
awaitable<Result<Answer, Response>> answer_one(Ctx& ctx, const Job& job, const json::object& obj) {
  auto scanned = read_pack_input(obj, "");
  if (!scanned) {
    if (scanned.error().parse) {
      auto found = co_await process_unparsed(ctx, job);
      if (!found) co_return Unexpected{mirror_problem(found.error())};
      if (*found) co_return std::move(**found);
    }
    co_return Unexpected{input_problem(scanned.error())};
  }
  cache::MirrorResult<Answer> answer;
  if (scanned->ambiguous) {
    auto found = co_await process_ambiguous(ctx, job, *scanned);
    if (!found) co_return Unexpected{mirror_problem(found.error())};
    if (!*found) co_return Unexpected{scan_problem(*scanned->ambiguous)};
    answer = std::move(**found);
  } else {
    answer = co_await process_pack(ctx, job, scanned->pack, scanned->warnings, true);
  }
  if (!answer) co_return Unexpected{mirror_problem(answer.error())};
  co_return std::move(*answer);
}

awaitable<Reply> single(Ctx& ctx, ApiContext& api, Operation op, std::string_view route) {
  const bool change = op != Operation::verify;
  auto body = read_single_body(api.request, change);
  if (!body) co_return problem_response(body.error());
  const json::object* obj = &body->object;
  std::optional<Action> action = body->action;
  if (change)
    if (auto denied = Authenticator::authorize(*api.caller, permission_for(op, *action)))
      co_return problem_response(*denied);
  auto idem = idempotency_key(api.request);
  if (!idem) co_return problem_response(idem.error());
  Job job{Intent{op, action.value_or(Action::supply)}, api.caller, *idem, route};
  job.scan_text = scan_text_of(*obj);
  auto answer = co_await answer_one(ctx, job, *obj);
  if (!answer) co_return std::move(answer.error());
  co_return json_response(answer->body);
}

json::object parse_error_item(const ParseError& e) {
  return json::object{{"verdict", "refused"}, {"reason", "parse_error"}, {"nmvs_code", nullptr},
                      {"error", scanner::error_object(e)}};
}

struct Summary {
  std::map<std::string, std::int64_t> by_verdict, by_reason;
  std::int64_t total = 0;
  void add(std::string_view verdict, std::string_view reason) {
    ++total;
    ++by_verdict[std::string(verdict)];
    ++by_reason[reason.empty() ? "none" : std::string(reason)];
  }
  json::object to_json() const {
    json::object v, r;
    for (const auto& [k, n] : by_verdict) v[k] = n;
    for (const auto& [k, n] : by_reason) r[k] = n;
    return json::object{{"total", total}, {"by_verdict", std::move(v)}, {"by_reason", std::move(r)}};
  }
};

// Many packs: products from the cache, every mirror call in ONE pipeline (Mirror::bulk), then the verdicts;
// the repair and alert paths run per item, only where needed.
awaitable<Result<json::array, Response>> run_bulk(Ctx& ctx, const Job& job,
                                                  std::vector<Result<Scanned, InputError>>& items,
                                                  const std::vector<std::string_view>& scan_texts,
                                                  Summary& summary) {
  // Unknown items are looked up at the central system like single scans, up to this many per request.
  std::size_t read_through_budget = ctx.s->central.bulk_read_through_max;
  const auto deadline = std::chrono::steady_clock::now() + ctx.s->options.bulk_deadline;
  struct Slot {
    std::shared_ptr<const cache::Product> product;
    BatchCheck bc;
    Plan pl;
    std::optional<std::size_t> call;  // index into the bulk call
  };
  std::vector<Slot> slots(items.size());
  std::vector<cache::BulkItem> calls;
  const auto today = today_utc();
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i] || items[i]->ambiguous) continue;
    const PackId& pack = items[i]->pack;
    auto product = co_await ctx.s->mirror.cached_product(pack.product_code());
    if (!product) co_return Unexpected{mirror_problem(product.error())};
    Slot& slot = slots[i];
    slot.product = *product;
    cache::BulkItem call;
    call.operation = Operation::verify;
    call.action = job.intent.action;
    call.request = make_request(job, pack, job.idempotency_key.empty() ? "" : job.idempotency_key + ":" +
                                                                                  std::to_string(i));
    if (slot.product) {
      slot.bc = check_batch(*slot.product, pack, today);
      slot.pl = plan(job.intent, slot.bc);
      call.request.expected_batch_index = slot.pl.expected_batch_index;
      if (!slot.pl.verify_only) call.operation = job.intent.operation;
    }
    slot.call = calls.size();
    calls.push_back(std::move(call));
  }
  auto results = co_await timed(ctx, ctx.s->mirror.bulk(std::move(calls)));
  json::array out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    json::object body;
    Job item_job = job;
    if (!job.idempotency_key.empty()) item_job.idempotency_key = job.idempotency_key + ":" + std::to_string(i);
    item_job.scan_text = i < scan_texts.size() ? scan_texts[i] : std::string_view();
    item_job.read_through_budget = &read_through_budget;
    item_job.deadline = deadline;
    std::optional<Answer> unparsed_repair;
    if (!items[i] && items[i].error().parse) {
      auto found = co_await process_unparsed(ctx, item_job);
      if (!found) co_return Unexpected{mirror_problem(found.error())};
      if (*found) unparsed_repair = std::move(**found);
    }
    if (unparsed_repair) {
      summary.add(to_string(unparsed_repair->verdict), to_string(unparsed_repair->reason));
      body = std::move(unparsed_repair->body);
    } else if (!items[i]) {
      if (items[i].error().problem) {
        body = json::object{{"verdict", "refused"}, {"reason", "parse_error"}, {"nmvs_code", nullptr},
                            {"error", problem_json(*items[i].error().problem)}};
      } else {
        body = parse_error_item(*items[i].error().parse);
      }
      summary.add("refused", "parse_error");
    } else {
      cache::MirrorResult<Answer> answer;
      if (items[i]->ambiguous) {
        auto found = co_await process_ambiguous(ctx, item_job, *items[i]);
        if (!found) co_return Unexpected{mirror_problem(found.error())};
        if (!*found) {
          body = parse_error_item(*items[i]->ambiguous);
          summary.add("refused", "parse_error");
          body["index"] = i;
          out.push_back(std::move(body));
          continue;
        }
        answer = std::move(**found);
      } else {
        const Slot& slot = slots[i];
        auto& r = results.at(*slot.call);
        if (!r) {
          if (r.error().kind != cache::MirrorErrorKind::bad_request)
            co_return Unexpected{mirror_problem(r.error())};
          body = json::object{{"verdict", "refused"}, {"reason", "parse_error"}, {"nmvs_code", nullptr},
                              {"error", json::object{{"message", r.error().message}}}};
          summary.add("refused", "parse_error");
          body["index"] = i;
          out.push_back(std::move(body));
          continue;
        }
        answer = co_await resolve(ctx, item_job, items[i]->pack, items[i]->warnings, slot.product.get(), slot.bc,
                                  slot.pl, *r, true);
      }
      if (!answer) co_return Unexpected{mirror_problem(answer.error())};
      summary.add(to_string(answer->verdict), to_string(answer->reason));
      body = std::move(answer->body);
    }
    body["index"] = i;
    out.push_back(std::move(body));
  }
  co_return out;
}

awaitable<Reply> bulk(Ctx& ctx, ApiContext& api) {
  auto body = read_bulk_body(api.request);
  if (!body) co_return problem_response(body.error());
  const Operation op = body->operation;
  const std::optional<Action> action = body->action;
  // Bulk: the bulk permission (or bulk_verify for verification only) AND the operation's own permission.
  const Caller& caller = *api.caller;
  if (op == Operation::verify) {
    if (!role_allows(caller.role, Permission::bulk) && !role_allows(caller.role, Permission::bulk_verify))
      co_return problem_response(*Authenticator::authorize(caller, Permission::bulk_verify));
  } else {
    if (auto denied = Authenticator::authorize(caller, Permission::bulk)) co_return problem_response(*denied);
  }
  if (auto denied = Authenticator::authorize(caller, permission_for(op, action.value_or(Action::supply))))
    co_return problem_response(*denied);
  auto idem = idempotency_key(api.request);
  if (!idem) co_return problem_response(idem.error());

  std::vector<Result<Scanned, InputError>> items;
  std::vector<std::string_view> scan_texts;  // views into the request body's JSON (alive for the handler)
  json::object response;
  if (const json::array* listed = body->items()) {
    auto read = read_bulk_items(*listed, ctx.s->options.max_bulk_items);
    if (!read) co_return problem_response(read.error());
    items = std::move(read->items);
    scan_texts = std::move(read->scan_texts);
  } else {
    const std::string& sscc = body->sscc;
    if (auto error = scanner::gs1::validate(*scanner::gs1::ai_spec("00"), sscc, 0)) co_return scan_problem(*error);
    auto children = co_await ctx.s->mirror.aggregation(sscc);
    if (!children) co_return mirror_problem(children.error());
    if (!*children)
      co_return problem_response(ProblemCode::not_found, "sscc: no aggregation known for " + sscc,
                                 {{"field", "sscc"}});
    // The aggregation names product and serial only: the packs' batch and expiry come from the mirror
    // (one pipelined verify), so the batch rules apply as for scanned packs.
    std::vector<cache::BulkItem> lookups;
    Job lookup_job{Intent{}, &caller, "", "/v1/bulk"};
    for (const auto& [code, serial] : **children) {
      PackId p;
      (code.size() == 14 ? p.gtin : p.ppn) = code;
      p.serial = serial;
      lookups.push_back(cache::BulkItem{Operation::verify, Action::supply, make_request(lookup_job, p, "")});
    }
    auto found = co_await timed(ctx, ctx.s->mirror.bulk(std::move(lookups)));
    std::size_t i = 0;
    for (const auto& [code, serial] : **children) {
      auto& r = found.at(i++);
      if (!r && r.error().kind != cache::MirrorErrorKind::bad_request) co_return mirror_problem(r.error());
      Scanned s;
      (code.size() == 14 ? s.pack.gtin : s.pack.ppn) = code;
      s.pack.scheme = code.size() == 14 ? scanner::Scheme::gs1 : scanner::Scheme::ppn;
      s.pack.serial = serial;
      if (r && r->stored_batch) {
        s.pack.batch = r->stored_batch->batch;
        s.pack.expiry = r->stored_batch->expiry;
      }
      items.push_back(std::move(s));
    }
    response["sscc"] = sscc;
  }
  Summary summary;
  Job job{Intent{op, action.value_or(Action::supply)}, &caller, *idem, "/v1/bulk"};
  auto results = co_await run_bulk(ctx, job, items, scan_texts, summary);
  if (!results) co_return std::move(results.error());
  response["operation"] = cache::to_string(op);
  response["action"] = action ? json::value(cache::to_string(*action)) : json::value(nullptr);
  response["results"] = std::move(*results);
  response["summary"] = summary.to_json();
  co_return json_response(response);
}

awaitable<Reply> scan_image(Ctx& ctx, ApiContext& api) {
  std::string content_type(api.request[http::field::content_type]);
  std::string media = content_type.substr(0, content_type.find(';'));
  std::transform(media.begin(), media.end(), media.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!media.empty() && media.back() == ' ') media.pop_back();
  if (media != "image/png" && media != "image/jpeg")
    co_return problem_response(ProblemCode::unsupported_media_type,
                               "Content-Type must be image/png or image/jpeg", {{"field", "Content-Type"}});
  auto parsed = parse_query(api.query, {"operation", "action"});
  if (!parsed) co_return problem_response(parsed.error());
  auto& params = *parsed;
  Operation op = Operation::verify;
  if (auto it = params.find("operation"); it != params.end()) {
    if (it->second == "decommission") op = Operation::decommission;
    else if (it->second != "verify")
      co_return problem_response(ProblemCode::bad_request, "operation: must be verify or decommission",
                                 {{"field", "operation"}});
  }
  std::optional<Action> action;
  if (auto it = params.find("action"); it != params.end()) {
    action = cache::parse_action(it->second);
    if (!action)
      co_return problem_response(ProblemCode::bad_request,
                                 "action: must be one of supply, destroy, export, sample, free_sample, stolen, lock",
                                 {{"field", "action"}});
  }
  if (op == Operation::decommission && !action)
    co_return problem_response(ProblemCode::bad_request, "action: required with operation=decommission",
                               {{"field", "action"}});
  if (auto denied = Authenticator::authorize(*api.caller, permission_for(op, action.value_or(Action::supply))))
    co_return problem_response(*denied);
  auto idem = idempotency_key(api.request);
  if (!idem) co_return problem_response(idem.error());

  if (!ctx.s->decoder)
    co_return problem_response(ProblemCode::internal, "image decoding is not set up in this server");
  // On the decode pool ([scan] workers), never on this HTTP thread; a full pool answers at once.
  auto decoded = co_await ctx.s->decoder->decode(api.request.body(), ctx.s->options.decode);
  if (!decoded) {
    Response res = problem_response(ProblemCode::busy,
                                    "every image decoder is busy; retry shortly (text scans are not affected)",
                                    {{"field", "image"}});
    res.set(http::field::retry_after, "1");
    co_return res;
  }
  auto& symbols = *decoded;
  if (!symbols && symbols.error().code == scanner::DecodeErrorCode::image_too_large)
    co_return problem_response(ProblemCode::image_too_large, symbols.error().message,
                               {{"field", "image"},
                                {"max_pixels", ctx.s->options.decode.max_pixels},
                                {"error", json::object{{"code", scanner::to_string(symbols.error().code)},
                                                       {"message", symbols.error().message}}}});
  if (!symbols) {
    co_return problem_response(ProblemCode::invalid_scan, symbols.error().message,
                               {{"field", "image"},
                                {"error", json::object{{"code", scanner::to_string(symbols.error().code)},
                                                       {"message", symbols.error().message}}}});
  }
  if (symbols->empty())
    co_return problem_response(ProblemCode::invalid_scan, "no barcode found in the image",
                               {{"field", "image"},
                                {"error", json::object{{"code", "no_symbol"},
                                                       {"message", "no barcode found in the image"}}}});
  Summary summary;
  json::array results;
  for (std::size_t i = 0; i < symbols->size(); ++i) {
    const scanner::Symbol& sym = (*symbols)[i];
    json::object symbol{{"format", sym.format}, {"aim", sym.aim}};
    Job job{Intent{op, action.value_or(Action::supply)}, api.caller,
            idem->empty() ? "" : *idem + ":" + std::to_string(i), "/v1/scan"};
    auto scanned = from_parse(scanner::parse(sym.text));
    json::object item;
    if (!scanned) {
      item = parse_error_item(*scanned.error().parse);
      summary.add("refused", "parse_error");
    } else {
      cache::MirrorResult<Answer> answer;
      if (scanned->ambiguous) {
        auto found = co_await process_ambiguous(ctx, job, *scanned);
        if (!found) co_return mirror_problem(found.error());
        if (*found) answer = std::move(**found);
        else answer = Answer{parse_error_item(*scanned->ambiguous), Verdict::refused, Reason::parse_error};
      } else {
        answer = co_await process_pack(ctx, job, scanned->pack, scanned->warnings, true);
      }
      if (!answer) co_return mirror_problem(answer.error());
      summary.add(to_string(answer->verdict), to_string(answer->reason));
      item = std::move(answer->body);
    }
    item["symbol"] = std::move(symbol);
    results.push_back(std::move(item));
  }
  co_return json_response(json::object{{"operation", cache::to_string(op)},
                                       {"action", action ? json::value(cache::to_string(*action)) : nullptr},
                                       {"results", std::move(results)},
                                       {"summary", summary.to_json()}});
}

// The codes a pack's audit entries may carry: the product's key, the code asked for, its GTIN and PPN.
// (A plain function: GCC 12 miscompiles braced lists inside coroutines.)
std::vector<std::string> history_codes(const cache::Product& p, const std::string& asked) {
  std::vector<std::string> codes{p.code};
  for (const std::string* c : {&asked, &p.gtin, &p.ppn})
    if (!c->empty() && std::find(codes.begin(), codes.end(), *c) == codes.end()) codes.push_back(*c);
  return codes;
}

// GET /v1/packs/…?limit=&cursor=: the history page size (default 100, 1-1000) and where the previous page
// ended ("<id>~<partition>" of its last, oldest entry: this page starts strictly before it).
// `limit` of a paged list (pack history, alerts): 1-1000, `fallback` when absent.
Result<std::size_t, Problem> page_limit(const std::map<std::string, std::string>& params, std::size_t fallback) {
  auto it = params.find("limit");
  if (it == params.end()) return fallback;
  char* end = nullptr;
  long n = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || n < 1 || n > 1000)
    return Unexpected{Problem{ProblemCode::bad_request, "limit: 1-1000", {{"field", "limit"}}}};
  return static_cast<std::size_t>(n);
}

struct HistoryPage {
  std::size_t limit = 100;
  std::optional<std::pair<std::string, int>> before;
};

Result<HistoryPage, Problem> history_page(std::string_view query) {
  auto parsed = parse_query(query, {"limit", "cursor"});
  if (!parsed) return Unexpected{parsed.error()};
  auto& params = *parsed;
  HistoryPage page;
  auto limit = page_limit(params, page.limit);
  if (!limit) return Unexpected{limit.error()};
  page.limit = *limit;
  if (auto it = params.find("cursor"); it != params.end()) {
    const std::string& c = it->second;
    auto tilde = c.find('~');
    char* end = nullptr;
    long partition = tilde == std::string::npos ? -1 : std::strtol(c.c_str() + tilde + 1, &end, 10);
    bool id_ok = tilde != std::string::npos && tilde > 0 &&
                 std::all_of(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(tilde),
                             [](char ch) { return (ch >= '0' && ch <= '9') || ch == '-'; });
    if (!id_ok || partition < 0 || partition >= cache::kPartitions || end == nullptr || *end != '\0')
      return Unexpected{Problem{ProblemCode::bad_request, "cursor: the next_cursor of the previous page",
                                {{"field", "cursor"}}}};
    page.before = std::make_pair(c.substr(0, tilde), static_cast<int>(partition));
  }
  return page;
}

awaitable<Reply> pack_status(Ctx& ctx, ApiContext& api) {
  if (!role_allows(api.caller->role, Permission::verify) && !role_allows(api.caller->role, Permission::status))
    co_return problem_response(*Authenticator::authorize(*api.caller, Permission::verify));
  auto page = history_page(api.query);
  if (!page) co_return problem_response(page.error());
  std::string code(api.params.get("code"));
  std::string serial(api.params.get("serial"));
  if (serial.empty() || serial.size() > 20 || has_control(serial))
    co_return problem_response(ProblemCode::bad_request, "serial: 1-20 characters", {{"field", "serial"}});
  // The code as given first: a 12-digit PPN can pass the GS1 mod-10 check too, and must not become a GTIN.
  auto product = co_await ctx.s->mirror.cached_product(code);
  if (!product) co_return mirror_problem(product.error());
  if (!*product) {
    if (auto g = scanner::gs1::gtin14(code); g && *g != code) {
      code = *g;
      product = co_await ctx.s->mirror.cached_product(code);
      if (!product) co_return mirror_problem(product.error());
    }
  }
  if (!*product) co_return problem_response(ProblemCode::not_found, "no product " + code + " in the mirror");
  // The current status is read with a peek: a look-up by the back office is not a scan, so it writes no
  // audit entry (a verify would, and would change the history it is about to show).
  auto r = co_await timed(ctx, ctx.s->mirror.peek(code, serial));
  if (!r) co_return mirror_problem(r.error());
  if (!*r) co_return problem_response(ProblemCode::not_found, "no pack " + code + " / " + serial + " in the mirror");
  const cache::PackPeek& seen = **r;
  const int partition = cache::Mirror::partition_of(seen.product_code, serial);
  const cache::Product& p = **product;
  // History = the live audit stream of the pack's partition (cache/lua/vpoint.lua writes au:{P}), newest
  // entries first up to audit_scan_limit, plus the archive files (audit_archive.hpp), merged by stream id and
  // de-duplicated by (partition, id). The stream is read FIRST: an entry the archiver trims after this read was
  // fsync'd into a file before the trim, so the file scan that follows finds it (never missing, maybe twice).
  std::vector<std::string> codes = history_codes(p, code);
  auto entries = co_await cache::AuditLog(ctx.s->client).latest(partition, ctx.s->options.audit_scan_limit);
  if (!entries) co_return mirror_problem(entries.error());
  std::map<std::pair<std::string, int>, AuditRecord> merged;  // (id, partition): ids order within a partition
  for (auto& rec : *entries) {
    if (rec.serial != serial || std::find(codes.begin(), codes.end(), rec.code) == codes.end()) continue;
    std::pair<std::string, int> key{rec.id, rec.partition};
    merged.emplace(std::move(key), std::move(rec));
  }
  bool history_complete = true;
  if (ctx.s->archive) {
    auto archived = co_await ctx.s->archive->pack_history(codes, serial);
    if (!archived) {
      // The pack's status is still right; its older history is not readable now. Say so, do not fail.
      log_event(spdlog::level::warn, "audit_archive_unreadable", {{"error", archived.error()}});
      history_complete = false;
    } else {
      for (auto& rec : *archived) {
        std::pair<std::string, int> key{rec.id, rec.partition};
        merged.emplace(std::move(key), std::move(rec));  // a live copy of the same entry wins; same content
      }
    }
  }
  std::vector<const AuditRecord*> ordered;
  ordered.reserve(merged.size());
  for (const auto& [key, rec] : merged) ordered.push_back(&rec);
  // Newest first (issue 15: a pack verified 20 000 times must not answer with all of them), one page.
  auto older = [](const std::string& id_a, int part_a, const std::string& id_b, int part_b) {
    if (id_a != id_b) return stream_id_less(id_a, id_b);
    return part_a < part_b;
  };
  std::stable_sort(ordered.begin(), ordered.end(), [&](const AuditRecord* a, const AuditRecord* b) {
    return older(b->id, b->partition, a->id, a->partition);
  });
  if (page->before) {
    const auto& [before_id, before_partition] = *page->before;
    ordered.erase(std::remove_if(ordered.begin(), ordered.end(),
                                 [&](const AuditRecord* rec) {
                                   return !older(rec->id, rec->partition, before_id, before_partition);
                                 }),
                  ordered.end());
  }
  json::value next_cursor = nullptr;
  if (ordered.size() > page->limit) {
    ordered.resize(page->limit);
    next_cursor = ordered.back()->id + "~" + std::to_string(ordered.back()->partition);
  }
  json::array history;
  for (const AuditRecord* rec : ordered) {
    json::object entry{
        {"id", rec->id},
        {"time", iso_time_ms(rec->time_ms)},
        {"operation", rec->operation},
        {"action", rec->action.empty() ? json::value(nullptr) : json::value(rec->action)},
        {"result", rec->outcome},
        {"previous_status", str_or_null(rec->previous_status)},
        {"status", str_or_null(rec->status)},
        {"location", rec->location},
        {"actor", rec->actor},
        {"transaction_id", rec->transaction_id},
        {"archived", rec->archived}};
    if (!rec->note.empty()) entry["note"] = rec->note;  // a returns decision's note
    if (rec->operation == "central_rejected") {
      // Our transaction_id was rejected by the central system; this one got there first.
      entry["conflicting_transaction"] = str_or_null(rec->related_transaction);
      entry["central_code"] = str_or_null(rec->central_code);
    }
    history.push_back(std::move(entry));
  }
  json::value batch = nullptr;
  if (seen.batch_index < p.batches.size()) {
    const cache::Batch& stored = p.batches[seen.batch_index];
    auto today = today_utc();
    batch = json::object{{"batch", stored.batch},
                         {"expiry", stored.expiry},
                         {"state", cache::to_string(stored.state)},
                         {"expired", is_expired(stored.expiry, today)}};
  }
  co_return json_response(json::object{{"pack", json::object{{"code", p.code},
                                                             {"gtin", str_or_null(p.gtin)},
                                                             {"ppn", str_or_null(p.ppn)},
                                                             {"serial", serial}}},
                                       {"status", cache::to_string(seen.status)},
                                       {"batch", std::move(batch)},
                                       {"product", product_json(&p)},
                                       {"source", "mirror"},
                                       {"history", std::move(history)},
                                       {"next_cursor", std::move(next_cursor)},
                                       {"history_complete", history_complete}});
}

// Entries of the alert stream one GET /v1/alerts looks at, matching or not; then the page ends with `next`
// where the scan stopped.
constexpr std::size_t kAlertScanLimit = 20000;

// Admin (Permission::alerts) sees every location's alerts; every other role those of its own location.
bool sees_every_location(const Caller& caller) { return role_allows(caller.role, Permission::alerts); }

bool is_stream_id_text(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '-'; });
}

// GET /v1/alerts?since=&reason=&limit=&location=&acked=&order=&cursor= as a cache::AlertQuery for this caller.
Result<cache::AlertQuery, Problem> alert_query(std::string_view query, const Caller& caller) {
  auto parsed = parse_query(query, {"since", "reason", "limit", "location", "acked", "order", "cursor"});
  if (!parsed) return Unexpected{parsed.error()};
  auto& params = *parsed;
  cache::AlertQuery q;
  q.max_examined = kAlertScanLimit;
  q.since = params["since"];
  q.reason = params["reason"];
  if (!q.since.empty() && !is_stream_id_text(q.since))
    return Unexpected{Problem{ProblemCode::bad_request, "since: an alert id or Unix milliseconds", {{"field", "since"}}}};
  auto limit = page_limit(params, q.limit);
  if (!limit) return Unexpected{limit.error()};
  q.limit = *limit;
  if (auto it = params.find("location"); it != params.end()) {
    if (!is_valid_gln(it->second))
      return Unexpected{Problem{ProblemCode::bad_request, "location: a GLN (13 digits with its check digit)",
                                {{"field", "location"}}}};
    if (!sees_every_location(caller) && it->second != caller.location)
      return Unexpected{Problem{ProblemCode::forbidden,
                                "location: role '" + std::string(to_string(caller.role)) +
                                    "' may read the alerts of its own location " + caller.location + " only",
                                {{"field", "location"}, {"role", to_string(caller.role)}}}};
    q.location = it->second;
  }
  if (!sees_every_location(caller)) q.location = caller.location;
  if (auto it = params.find("acked"); it != params.end()) {
    if (it->second != "true" && it->second != "false")
      return Unexpected{Problem{ProblemCode::bad_request, "acked: true or false", {{"field", "acked"}}}};
    q.acked = it->second == "true";
  }
  if (auto it = params.find("order"); it != params.end()) {
    if (it->second != "asc" && it->second != "desc")
      return Unexpected{Problem{ProblemCode::bad_request, "order: asc or desc", {{"field", "order"}}}};
    q.descending = it->second == "desc";
  }
  if (auto it = params.find("cursor"); it != params.end()) {
    if (!is_stream_id_text(it->second))
      return Unexpected{Problem{ProblemCode::bad_request, "cursor: the \"next\" of the previous page",
                                {{"field", "cursor"}}}};
    q.cursor = it->second;
  }
  return q;
}

awaitable<Reply> list_alerts(Ctx& ctx, ApiContext& api) {
  auto q = alert_query(api.query, *api.caller);
  if (!q) co_return problem_response(q.error());
  auto page = co_await ctx.s->alerts.page(*q);
  if (!page) co_return mirror_problem(page.error());
  json::array arr;
  for (auto& a : page->alerts) arr.push_back(std::move(a));
  // "next": where the following page starts (cursor=, or since= in ascending order), null when nothing is left.
  json::value next = nullptr;
  if (!page->next.empty()) next = page->next;
  co_return json_response(json::object{
      {"alerts", std::move(arr)}, {"next", std::move(next)}, {"scan_limited", page->scan_limited}});
}

awaitable<Reply> ack_alert(Ctx& ctx, ApiContext& api) {
  std::string id(api.params.get("id"));
  // Another location's alert is "not found" for a non-admin: its existence is not revealed.
  std::string_view only_location;
  if (!sees_every_location(*api.caller)) only_location = api.caller->location;
  auto acked = co_await ctx.s->alerts.ack(id, api.caller->name, only_location);
  if (!acked) co_return mirror_problem(acked.error());
  if (!*acked) co_return problem_response(ProblemCode::not_found, "no alert " + id);
  co_return json_response(**acked);
}

// ---------------------------------------------------------------------------------------------------------
// POST /v1/returns/decision (issue 17): a returned pack verified, then restocked (only when it verifies ok),
// quarantined or destroyed (the decommission of POST /v1/decommission), and the decision in its audit trail.

constexpr std::string_view kReturnsRoute = "/v1/returns/decision";

std::string_view answer_text(const json::object& body, std::string_view field) {
  const json::value* v = body.if_contains(field);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// One plain sentence for the desk.
std::string decision_advice(ReturnsDecision decision, const Answer& verified, const Answer* destroyed) {
  const std::string why = verified.reason == Reason::none ? std::string(to_string(verified.verdict))
                                                          : std::string(to_string(verified.reason));
  switch (decision) {
    case ReturnsDecision::restock:
      return "The pack verified ok (active, in date, not recalled): it may go back to saleable stock.";
    case ReturnsDecision::quarantine:
      if (verified.verdict == Verdict::ok)
        return "Recorded as quarantined: keep the pack apart from saleable stock until it is decided.";
      return "Recorded as quarantined: keep the pack apart from saleable stock, it did not verify ok (" + why + ").";
    case ReturnsDecision::destroy:
      if (destroyed && destroyed->verdict == Verdict::ok)
        return "Recorded as destroyed and decommissioned as destroyed: the pack must not be sold.";
      if (destroyed && destroyed->verdict == Verdict::unconfirmed)
        return "Recorded as destroyed; the status change waits for the central system to confirm it.";
      return "Recorded as destroyed, but the status change was refused (" +
             (destroyed ? std::string(answer_text(destroyed->body, "reason")) : why) +
             "): the pack's status was not changed.";
  }
  return {};
}

awaitable<Reply> returns_decision(Ctx& ctx, ApiContext& api) {
  auto body = read_decision_body(api.request);
  if (!body) co_return problem_response(body.error());
  const ReturnsDecision decision = body->decision;
  const std::string decision_name(to_string(decision));
  if (decision == ReturnsDecision::destroy)
    if (auto denied = Authenticator::authorize(*api.caller, Permission::destroy)) co_return problem_response(*denied);
  auto idem = idempotency_key(api.request);
  if (!idem) co_return problem_response(idem.error());
  // The key is scoped to the decision: a retry replays the verification, the destroy and the audit entry; the
  // same key with another decision is another request.
  const std::string key_base = idem->empty() ? std::string() : *idem + ":" + decision_name;
  auto sub_key = [&](std::string_view step) { return key_base.empty() ? key_base : key_base + ":" + std::string(step); };

  Job verify_job{Intent{Operation::verify, Action::supply}, api.caller, sub_key("verify"), kReturnsRoute};
  verify_job.scan_text = scan_text_of(body->object);
  auto verified = co_await answer_one(ctx, verify_job, body->object);
  if (!verified) co_return std::move(verified.error());
  const bool restock_allowed = verified->verdict == Verdict::ok;
  if (decision == ReturnsDecision::restock && !restock_allowed) {
    ctx.m.returns_decisions->Add({{"decision", decision_name}, {"result", "restock_refused"}}).Increment();
    co_return problem_response(
        ProblemCode::restock_refused,
        "decision: the pack did not verify ok (verdict " + std::string(to_string(verified->verdict)) +
            "): it must not go back to stock; quarantine or destroy it",
        {{"field", "decision"}, {"verification", verified->body}, {"restock_allowed", false}});
  }

  std::optional<Answer> destroyed;
  if (decision == ReturnsDecision::destroy) {
    Job destroy_job{Intent{Operation::decommission, Action::destroy}, api.caller, sub_key("destroy"), kReturnsRoute};
    auto answer = co_await process_pack(ctx, destroy_job, verified->pack, {}, true);
    if (!answer) co_return mirror_problem(answer.error());
    destroyed = std::move(*answer);
  }

  auto product = co_await ctx.s->mirror.cached_product(verified->pack.product_code());
  if (!product) co_return mirror_problem(product.error());
  cache::DecisionEntry entry;
  entry.product_code = mirror_code(product->get(), verified->pack);
  entry.serial = verified->pack.serial;
  entry.decision = decision_name;
  entry.note = body->note;
  entry.previous_status = answer_text(verified->body, "status");
  entry.status = destroyed ? answer_text(destroyed->body, "status") : entry.previous_status;
  if (destroyed) entry.transaction_id = answer_text(destroyed->body, "transaction_id");
  entry.caller = cache::Caller{api.caller->name, api.caller->location};
  entry.idempotency_key = sub_key("decision");
  auto recorded = co_await ctx.s->mirror.record_decision(entry);
  if (!recorded) co_return mirror_problem(recorded.error());
  ctx.m.returns_decisions->Add({{"decision", decision_name}, {"result", "recorded"}}).Increment();

  json::object out;
  out["decision"] = decision_name;
  out["recorded"] = true;
  out["replay"] = recorded->replay;
  out["audit_id"] = recorded->audit_id;
  out["note"] = str_or_null(body->note);
  out["restock_allowed"] = restock_allowed;
  out["advice"] = decision_advice(decision, *verified, destroyed ? &*destroyed : nullptr);
  out["verification"] = std::move(verified->body);
  out["decommission"] = destroyed ? json::value(std::move(destroyed->body)) : json::value(nullptr);
  co_return json_response(out);
}

}  // namespace

OfflineReplayer register_pack_routes(Api& api, std::shared_ptr<PackServices> services) {
  auto ctx = std::make_shared<Ctx>(Ctx{services, make_metrics(*services->metrics)});
  api.add(http::verb::post, "/v1/verify", Access::require(Permission::verify),
          [ctx](ApiContext& a) { return single(*ctx, a, Operation::verify, "/v1/verify"); });
  api.add(http::verb::post, "/v1/decommission", Access::caller(),
          [ctx](ApiContext& a) { return single(*ctx, a, Operation::decommission, "/v1/decommission"); });
  api.add(http::verb::post, "/v1/undo", Access::caller(),
          [ctx](ApiContext& a) { return single(*ctx, a, Operation::undo, "/v1/undo"); });
  api.add(http::verb::post, "/v1/bulk", Access::caller(), [ctx](ApiContext& a) { return bulk(*ctx, a); });
  api.add(http::verb::post, "/v1/scan", Access::caller(), [ctx](ApiContext& a) { return scan_image(*ctx, a); });
  api.add(http::verb::get, "/v1/packs/{code}/{serial}", Access::caller(),
          [ctx](ApiContext& a) { return pack_status(*ctx, a); });
  // Every role reads and acknowledges the alerts of its own location; admin (Permission::alerts) every one's.
  api.add(http::verb::get, "/v1/alerts", Access::caller(), [ctx](ApiContext& a) { return list_alerts(*ctx, a); });
  api.add(http::verb::post, "/v1/alerts/{id}/ack", Access::caller(),
          [ctx](ApiContext& a) { return ack_alert(*ctx, a); });
  api.add(http::verb::post, std::string(kReturnsRoute), Access::require(Permission::returns),
          [ctx](ApiContext& a) { return returns_decision(*ctx, a); });
  return [ctx](cache::OfflineScan scan) { return replay_offline(*ctx, std::move(scan)); };
}

void add_pack_readiness(Readiness& readiness, std::shared_ptr<PackServices> services) {
  readiness.set_check("redis", true, [services]() -> awaitable<CheckResult> {
    auto pong = co_await services->mirror.ping();
    if (!pong) co_return CheckResult{CheckState::failing, pong.error().message};
    co_return CheckResult{CheckState::ok, *pong};
  });
  readiness.set_check("functions", true, [services]() -> awaitable<CheckResult> {
    auto v = co_await services->mirror.library_version();
    if (!v) co_return CheckResult{CheckState::failing, v.error().message};
    const int version = *v;
    if (version != cache::kLibraryVersion)
      co_return CheckResult{CheckState::failing, "library version " + std::to_string(version) + " loaded, need " +
                                                     std::to_string(cache::kLibraryVersion)};
    co_return CheckResult{CheckState::ok, "vpoint library version " + std::to_string(version)};
  });
  // Not required: while the product cache's invalidation subscription is down, cached products are trusted for
  // [mirror] max_staleness_ms only (slower, not less true); reported so that an operator sees it.
  readiness.set_check("invalidations", false, [services]() -> awaitable<CheckResult> {
    auto down = services->mirror.invalidations_down_for();
    if (!down) co_return CheckResult{CheckState::ok, "subscribed to product/batch changes"};
    co_return CheckResult{CheckState::failing,
                          fmt::format("product/batch change subscription lost for {} ms: cached recall states are "
                                      "read again from Redis after {} ms",
                                      down->count(), services->mirror.options().max_staleness.count())};
  });
  readiness.set_check("mirror", true, [services]() -> awaitable<CheckResult> {
    auto pos = co_await services->mirror.feed_position();
    if (!pos) co_return CheckResult{CheckState::failing, pos.error().message};
    if (pos->first <= 0) co_return CheckResult{CheckState::failing, "no snapshot imported yet"};
    if (services->mirror.outdated())
      co_return CheckResult{CheckState::failing, "generation " + std::to_string(pos->first) +
                                                     " has an older value format; waiting for a new snapshot"};
    co_return CheckResult{CheckState::ok, "generation " + std::to_string(pos->first) + ", feed position " +
                                              std::to_string(pos->second)};
  });
}

// ---------------------------------------------------------------------------------------------------------

namespace {
template <class T>
std::optional<T> run_blocking(asio::io_context& io, awaitable<T> task, std::chrono::seconds limit) {
  auto future = asio::co_spawn(io, std::move(task), asio::use_future);
  if (future.wait_for(limit) != std::future_status::ready) return std::nullopt;
  return future.get();
}

// The Redis side ready for the pack routes: the Functions library loaded and the settings checked.
struct RedisCheck {
  bool unreachable = false;  // Redis could not be reached (yet): try again later
  std::string error;         // "" = ready
  std::vector<cache::SettingProblem> warnings;
};

bool waiting_may_fix(const cache::MirrorError& e) {
  if (e.kind != cache::MirrorErrorKind::unavailable) return false;
  return !e.redis || (e.redis->kind != cache::ErrorKind::auth && e.redis->kind != cache::ErrorKind::tls);
}

awaitable<RedisCheck> check_redis(cache::Mirror& mirror) {
  RedisCheck out;
  auto started = co_await mirror.start();
  if (!started) {
    out.unreachable = waiting_may_fix(started.error());
    out.error = "[redis] url: cannot start the mirror: " + started.error().message;
    co_return out;
  }
  auto settings = co_await mirror.check_settings();
  if (!settings) {
    out.unreachable = waiting_may_fix(settings.error());
    out.error = "[redis] url: cannot read the Redis settings: " + settings.error().message;
    co_return out;
  }
  for (const auto& problem : *settings) {
    if (problem.fatal) {
      out.error = "Redis setting " + problem.setting + " is '" + problem.actual + "', must be " + problem.required +
                  ": " + problem.message;
      co_return out;
    }
    out.warnings.push_back(problem);
  }
  co_return out;
}
}  // namespace

void PackRuntime::report_fatal(std::string error) {
  std::function<void(std::string)> handler;
  {
    std::lock_guard lock(fatal_mutex_);
    fatal_ = error;
    handler = on_fatal_;
  }
  log_event(spdlog::level::critical, "redis_setting_fatal", {{"error", error}});
  if (handler) handler(std::move(error));
}

void PackRuntime::on_fatal(std::function<void(std::string)> handler) {
  std::string already;
  {
    std::lock_guard lock(fatal_mutex_);
    on_fatal_ = handler;
    already = fatal_;
  }
  if (!already.empty() && handler) handler(std::move(already));
}

// Redis was unreachable at start: try again with backoff until it answers, then check it as start() would.
awaitable<void> PackRuntime::keep_connecting() {
  asio::steady_timer timer(io_);
  std::chrono::milliseconds backoff{250};
  while (!stopping_) {
    timer.expires_after(backoff);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) co_return;
    RedisCheck check = co_await check_redis(*mirror_);
    if (check.error.empty()) {
      for (const auto& w : check.warnings)
        log_event(spdlog::level::warn, "redis_setting",
                  {{"setting", w.setting}, {"actual", w.actual}, {"required", w.required}, {"message", w.message}});
      connected_ = true;
      log_event(spdlog::level::info, "redis_connected", {{"after", "waiting"}});
      co_return;
    }
    if (!check.unreachable) {
      report_fatal(check.error);
      co_return;
    }
    log_event(spdlog::level::debug, "redis_unavailable", {{"error", check.error}});
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
}

Result<std::unique_ptr<PackRuntime>, std::string> PackRuntime::start(const Config& config,
                                                                    std::shared_ptr<Metrics> metrics,
                                                                    cache::MirrorOptions mirror_options) {
  if (config.redis.url.empty() && config.redis.cluster.empty())
    return Unexpected{std::string("[redis] url: not set (or give [redis] cluster)")};
  std::unique_ptr<PackRuntime> rt(new PackRuntime());
  rt->work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(rt->io_.get_executor());
  rt->thread_ = std::thread([io = &rt->io_] { io->run(); });

  cache::ClientOptions co;
  if (!config.redis.url.empty()) co.url = config.redis.url;
  co.cluster_nodes = config.redis.cluster;
  co.password = config.redis.password;
  co.tls = config.redis.tls || co.url.rfind("rediss://", 0) == 0;
  co.tls_ca_file = config.redis.tls_ca_file;
  co.tls_cert_file = config.redis.tls_cert_file;
  co.tls_key_file = config.redis.tls_key_file;
  co.tls_server_name = config.redis.tls_server_name;
  rt->client_ = std::make_unique<cache::Client>(rt->io_.get_executor(), co);
  mirror_options.min_replicas_ack = static_cast<int>(config.redis.min_replicas_ack);
  mirror_options.max_staleness = std::chrono::milliseconds(config.mirror.max_staleness_ms);
  rt->mirror_ = std::make_unique<cache::Mirror>(*rt->client_, mirror_options);

  auto first = run_blocking(rt->io_, check_redis(*rt->mirror_), std::chrono::seconds(30));
  bool wait_for_redis = false;
  if (!first) {
    wait_for_redis = true;  // no answer within 30 s: keep trying rather than give up
  } else if (!first->error.empty()) {
    if (!first->unreachable) return Unexpected{first->error};
    wait_for_redis = true;
    log_event(spdlog::level::warn, "redis_unavailable_at_start",
              {{"error", first->error},
               {"effect", "vpointd starts unready and connects when Redis answers; the settings are checked then"}});
  } else {
    rt->warnings_ = std::move(first->warnings);
    rt->connected_ = true;
  }

  rt->offline_ = std::make_unique<cache::OfflineQueue>(*rt->mirror_);
  rt->alerts_ = std::make_unique<cache::AlertLog>(*rt->client_);
  rt->services_ = std::shared_ptr<PackServices>(new PackServices{*rt->client_, *rt->mirror_, *rt->offline_,
                                                                 *rt->alerts_, std::move(metrics),
                                                                 {}});
  rt->services_->options.repeat_window = std::chrono::seconds(config.rules.repeat_window_s);
  rt->services_->central.offline = config.central.offline;
  rt->services_->central.bulk_read_through_max = config.central.bulk_read_through_max;
  rt->services_->options.bulk_deadline = std::chrono::seconds(config.http.bulk_deadline_s);
  rt->services_->central.feed_stale = std::chrono::seconds(config.central.feed_stale_s);
  rt->services_->options.decode.max_pixels = static_cast<std::size_t>(config.scan.max_pixels);
  rt->services_->decoder = std::make_shared<DecodePool>(
      config.scan.workers, config.scan.queue, rt->services_->metrics ? &rt->services_->metrics->registry() : nullptr);

  cache::SubscriberOptions so;
  so.url = config.redis.url;
  so.cluster_nodes = config.redis.cluster;
  so.password = config.redis.password;
  so.tls = co.tls;
  so.tls_ca_file = co.tls_ca_file;
  so.tls_cert_file = co.tls_cert_file;
  so.tls_key_file = co.tls_key_file;
  so.tls_server_name = co.tls_server_name;
  if (wait_for_redis) asio::co_spawn(rt->io_, rt->keep_connecting(), asio::detached);
  rt->subscriber_ = cache::watch_invalidations(rt->io_.get_executor(), so, *rt->mirror_);
  if (auto error = rt->subscriber_->start(); !error.empty()) {
    // Bounded staleness stands in: a cached product (recall state) is read again after max_staleness_ms.
    rt->mirror_->set_invalidations_up(false);
    log_event(spdlog::level::warn, "invalidation_subscriber_disabled",
              {{"error", error},
               {"effect", fmt::format("cached products and batch states are read again from Redis after {} ms",
                                      config.mirror.max_staleness_ms)}});
  }
  return rt;
}

PackRuntime::~PackRuntime() {
  stopping_ = true;
  if (subscriber_) subscriber_->stop();
  if (client_) client_->close();
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace vpoint::service
