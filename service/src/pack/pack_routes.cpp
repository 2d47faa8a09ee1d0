// The pack routes over HTTP: POST /v1/verify, /v1/decommission, /v1/undo, /v1/bulk, /v1/scan, GET and ack of
// /v1/alerts, POST /v1/returns/decision; the request read by pack_input, the pack by pack_operation. Also the
// readiness checks of the mirror.
#include "pack_operation.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include "decode_pool.hpp"
#include "query.hpp"
#include "vpoint/scanner/json.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service {

using namespace pack_detail;

namespace {

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

}  // namespace vpoint::service
