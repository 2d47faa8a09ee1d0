// One pack operation (pack_operation.hpp): plan, ONE mirror call, verdict, repairs, live look-up, alert, JSON.
#include "pack_operation.hpp"

#include <algorithm>
#include <ctime>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include "vpoint/scanner/json.hpp"
#include "vpoint/scanner/normalise.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service::pack_detail {

// ---------------------------------------------------------------------------------------------------------
// Metrics (issue 5: counts per route and verdict, alerts by reason, Redis round-trip latency).

PackMetrics make_metrics(Metrics& metrics) {
  auto& registry = metrics.registry();
  PackMetrics m{};
  auto* verdicts = &prometheus::BuildCounter()
                        .Name("vpoint_verdicts_total")
                        .Help("Pack answers by route, verdict and reason")
                        .Register(registry);
  m.verdicts = std::make_shared<LabelledChildren<prometheus::Counter>>(
      std::vector<std::string>{"route", "verdict", "reason"},
      [verdicts](const prometheus::Labels& labels) -> prometheus::Counter& { return verdicts->Add(labels); });
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
  ctx.m.verdicts->at({job.route, to_string(verdict), reason == Reason::none ? "none" : to_string(reason)}).Increment();
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

}  // namespace vpoint::service::pack_detail
