// GET /v1/packs/{code}/{serial}: the pack's status in the mirror and its audit history (archive files and the
// live stream), newest first, paged.
#include "pack_operation.hpp"

#include <algorithm>
#include <map>

#include "query.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/service/audit_archive.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service::pack_detail {

namespace {

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

}  // namespace

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

}  // namespace vpoint::service::pack_detail
