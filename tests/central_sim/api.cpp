#include "api.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <mutex>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "vpoint/service/json_body.hpp"
#include "vpoint/service/problem.hpp"
#include "vpoint/service/router.hpp"

namespace vpoint::central_sim {
namespace json = boost::json;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using service::PathParams;
using service::Peer;
using service::Reply;
using service::Request;
using service::Response;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr int kMaxWaitSeconds = 30;         // long-poll cap
constexpr std::size_t kDefaultFeedLimit = 10000;
constexpr std::size_t kMaxFeedLimit = 100000;
constexpr std::size_t kSnapshotChunk = 1 << 20;  // bytes per chunk of the streamed snapshot
constexpr std::string_view kNdjson = "application/x-ndjson";

Response json_response(http::status status, const json::value& body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = json::serialize(body);
  res.prepare_payload();
  return res;
}

// Problems the service's ProblemCode table has no row for (410 feed gone, 503 storage / injected fault),
// in the same RFC 9457 wire form as service::problem_json.
Response sim_problem(http::status status, std::string_view code, std::string_view title, std::string detail) {
  Response res{status, 11};
  res.set(http::field::content_type, service::kProblemContentType);
  res.set(http::field::cache_control, "no-store");
  res.body() = json::serialize(json::object{{"type", "/problems/" + std::string(code)},
                                            {"title", title},
                                            {"status", static_cast<unsigned>(status)},
                                            {"detail", std::move(detail)}});
  res.prepare_payload();
  return res;
}

Response state_problem(const StateError& e) {
  switch (e.kind) {
    case StateError::Kind::bad_request:
      return service::problem_response(service::ProblemCode::bad_request, e.message,
                                       e.field.empty() ? json::object{} : json::object{{"field", e.field}});
    case StateError::Kind::not_found:
      return service::problem_response(service::ProblemCode::not_found, e.message);
    case StateError::Kind::storage:
      return sim_problem(http::status::service_unavailable, "storage_unavailable", "Storage Unavailable", e.message);
  }
  return service::problem_response(service::ProblemCode::internal, e.message);
}

struct Query {
  std::vector<std::pair<std::string, std::string>> values;
  std::optional<std::string> get(std::string_view name) const {
    for (const auto& [k, v] : values) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
};

Query parse_query(std::string_view target) {
  Query q;
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return q;
  for (auto param : url->params()) q.values.emplace_back(param.key, param.has_value ? param.value : std::string());
  return q;
}

// An unsigned query parameter: default when absent; a 400 problem naming the parameter when malformed.
Result<std::uint64_t, Response> query_number(const Query& q, std::string_view name, std::uint64_t fallback) {
  auto text = q.get(name);
  if (!text) return fallback;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || text->empty()) {
    return Unexpected{service::problem_response(service::ProblemCode::bad_request,
                                                "query parameter '" + std::string(name) + "' must be a non-negative integer",
                                                {{"field", name}})};
  }
  return value;
}

bool same_endpoint(const sockaddr_storage& ss, const asio::ip::tcp::endpoint& ep) {
  if (ss.ss_family == AF_INET && ep.address().is_v4()) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    return ntohs(in.sin_port) == ep.port() && ntohl(in.sin_addr.s_addr) == ep.address().to_v4().to_uint();
  }
  if (ss.ss_family == AF_INET6 && ep.address().is_v6()) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
    auto bytes = ep.address().to_v6().to_bytes();
    return ntohs(in6.sin6_port) == ep.port() && std::equal(bytes.begin(), bytes.end(), in6.sin6_addr.s6_addr);
  }
  return false;
}

std::uint16_t port_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return 0;
}

// Cuts the client's connection without a byte of answer (the "refuse" and "drop after apply" faults).
// The HTTP server core hands handlers no socket, so the socket is found by its two endpoints among this
// process's descriptors; shutdown() makes the server's own write fail and end the session. A linger of 0
// turns the final close into a reset, like a crashed peer.
bool cut_connection(const Peer& peer, std::uint16_t local_port) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool cut = false;
  while (dirent* entry = ::readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2) continue;
    sockaddr_storage remote{}, local{};
    socklen_t remote_len = sizeof remote, local_len = sizeof local;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_len) != 0) continue;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (port_of(local) != local_port || !same_endpoint(remote, peer.remote)) continue;
    linger hard{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    ::shutdown(fd, SHUT_RDWR);
    cut = true;
    break;
  }
  ::closedir(dir);
  return cut;
}

}  // namespace

struct FaultState {
  int latency_ms = 0;            // added before answering /central/v1/*
  double error_rate = 0;         // 0..1: share of /central/v1/* requests answered 503 without effect
  bool refuse = false;           // cut every /central/v1/* connection without an answer
  std::int64_t refuse_until_ms = 0;  // > 0: refuse until then (then clears itself)
  std::uint64_t drop_after_apply = 0;  // next N transaction requests: apply, then cut without an answer
  double drop_rate = 0;          // 0..1: share of transaction requests applied and then cut
  bool transactions_hold = false;  // POST /transactions waits (nothing applied) until the hold is cleared, then
                                  // is applied and answered late (a central system slow to answer)
  bool feed_hold = false;        // the change feed lags: /changes answers "nothing new" (after the wait)
                                 // while look-ups and transactions see every change (read-through tests)
  // counters
  std::uint64_t errors_injected = 0, refused = 0, dropped = 0, transactions_held = 0;
};

struct SimApi::Impl {
  using RouteFn = std::function<asio::awaitable<Reply>(Impl&, Request&, const Peer&, const PathParams&)>;
  Central& central;
  service::Router<RouteFn> router;
  std::mutex fault_mutex;
  FaultState faults;
  std::mt19937_64 rng;
  std::atomic<std::uint16_t> local_port{0};
  std::atomic<bool> stopping{false};

  Impl(Central& c, std::uint64_t seed) : central(c), rng(seed) { add_routes(); }

  bool refusing() {
    std::lock_guard lock(fault_mutex);
    if (faults.refuse_until_ms > 0 && now_ms() >= faults.refuse_until_ms) {
      faults.refuse = false;
      faults.refuse_until_ms = 0;
    }
    if (faults.refuse) ++faults.refused;
    return faults.refuse;
  }

  json::object faults_json() {
    std::lock_guard lock(fault_mutex);
    std::int64_t remaining = faults.refuse_until_ms > 0 ? std::max<std::int64_t>(0, faults.refuse_until_ms - now_ms()) : 0;
    return {{"latency_ms", faults.latency_ms},         {"error_rate", faults.error_rate},
            {"refuse", faults.refuse},                 {"refuse_remaining_ms", remaining},
            {"drop_after_apply", faults.drop_after_apply}, {"drop_rate", faults.drop_rate},
            {"feed_hold", faults.feed_hold},           {"transactions_hold", faults.transactions_hold},
            {"errors_injected", faults.errors_injected}, {"refused", faults.refused},
            {"dropped", faults.dropped},               {"transactions_held", faults.transactions_held}};
  }

  asio::awaitable<Reply> handle(Request& req, const Peer& peer) {
    auto [path, query] = service::split_target(req.target());
    bool central_path = path.starts_with("/central/v1/");
    if (central_path) {
      if (refusing()) {
        cut_connection(peer, local_port);
        co_return sim_problem(http::status::service_unavailable, "refused", "Refused", "connection refused (fault)");
      }
      int latency = 0;
      bool fail = false;
      {
        std::lock_guard lock(fault_mutex);
        latency = faults.latency_ms;
        if (faults.error_rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < faults.error_rate) {
          fail = true;
          ++faults.errors_injected;
        }
      }
      if (latency > 0) {
        asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(latency));
        co_await timer.async_wait(kTuple);
      }
      if (fail) {
        Response res = sim_problem(http::status::service_unavailable, "central_unavailable", "Service Unavailable",
                                   "the central system is temporarily unavailable (injected fault); retry later");
        res.set(http::field::retry_after, "1");
        co_return res;
      }
    }
    auto match = router.find(req.method(), req.target());
    if (std::holds_alternative<service::Router<RouteFn>::NotFound>(match))
      co_return service::problem_response(service::ProblemCode::not_found, "no route for " + std::string(path));
    if (auto* m = std::get_if<service::Router<RouteFn>::MethodNotAllowed>(&match)) {
      Response res = service::problem_response(service::ProblemCode::method_not_allowed,
                                               std::string(req.method_string()) + " is not allowed here; use " + m->allow);
      res.set(http::field::allow, m->allow);
      co_return res;
    }
    auto& found = std::get<service::Router<RouteFn>::Found>(match);
    co_return co_await (*found.handler)(*this, req, peer, found.params);
  }

  void add_routes() {
    using http::verb;
    router.add(verb::get, "/healthz", [](Impl&, Request&, const Peer&, const PathParams&) -> asio::awaitable<Reply> {
      co_return json_response(http::status::ok, json::object{{"status", "ok"}});
    });
    router.add(verb::get, "/central/v1/snapshot", &Impl::snapshot);
    router.add(verb::get, "/central/v1/changes", &Impl::changes);
    router.add(verb::get, "/central/v1/packs/{code}/{serial}", &Impl::pack);
    router.add(verb::post, "/central/v1/transactions", &Impl::transactions);
    router.add(verb::post, "/central/v1/alerts", &Impl::alert);
    router.add(verb::get, "/admin/status", [](Impl& self, Request&, const Peer&, const PathParams&) -> asio::awaitable<Reply> {
      json::object status = self.central.status_json();
      status["faults"] = self.faults_json();
      co_return json_response(http::status::ok, status);
    });
    router.add(verb::post, "/admin/upload", &Impl::upload);
    router.add(verb::post, "/admin/batches/{code}/{batch}/{action}", &Impl::batch_state);
    router.add(verb::post, "/admin/packs/{code}/{serial}/status", &Impl::pack_status);
    router.add(verb::delete_, "/admin/packs/{code}/{serial}", &Impl::pack_delete);
    router.add(verb::get, "/admin/packs", &Impl::usable_packs);
    router.add(verb::get, "/admin/transactions", &Impl::list_transactions);
    router.add(verb::get, "/admin/alerts", &Impl::list_alerts);
    router.add(verb::get, "/admin/faults", [](Impl& self, Request&, const Peer&, const PathParams&) -> asio::awaitable<Reply> {
      co_return json_response(http::status::ok, self.faults_json());
    });
    router.add(verb::put, "/admin/faults", &Impl::set_faults);
    router.add(verb::post, "/admin/faults", &Impl::set_faults);
    router.add(verb::delete_, "/admin/faults", [](Impl& self, Request&, const Peer&, const PathParams&) -> asio::awaitable<Reply> {
      {
        std::lock_guard lock(self.fault_mutex);
        FaultState cleared;
        cleared.errors_injected = self.faults.errors_injected;
        cleared.refused = self.faults.refused;
        cleared.dropped = self.faults.dropped;
        cleared.transactions_held = self.faults.transactions_held;
        self.faults = cleared;
      }
      co_return json_response(http::status::ok, self.faults_json());
    });
  }

  // GET /central/v1/snapshot: NDJSON products, batches, packs, aggregations, end line; streamed in big chunks.
  asio::awaitable<Reply> snapshot(Request&, const Peer&, const PathParams&) {
    service::StreamResponse stream;
    stream.header.result(http::status::ok);
    stream.header.set(http::field::content_type, kNdjson);
    stream.header.set(http::field::cache_control, "no-store");
    Central* c = &central;
    stream.produce = [c](service::BodyWriter& writer) -> asio::awaitable<void> {
      auto cursor = c->snapshot_begin();
      std::string buffer;
      buffer.reserve(kSnapshotChunk + 4096);
      while (!cursor.done()) {
        buffer.clear();
        c->snapshot_next(cursor, buffer, kSnapshotChunk);
        if (!co_await writer.write(buffer)) co_return;
      }
    };
    co_return stream;
  }

  bool transactions_held(bool count) {
    std::lock_guard lock(fault_mutex);
    if (faults.transactions_hold && count) ++faults.transactions_held;
    return faults.transactions_hold;
  }

  // A held POST /transactions: nothing is applied until the hold is cleared (or 10 minutes pass, or the
  // simulator stops); then it is applied and answered as usual. A client that gave up meanwhile sends the same
  // ids again and gets the first results (idempotent by id).
  asio::awaitable<void> wait_while_transactions_held() {
    if (!transactions_held(true)) co_return;
    auto executor = co_await asio::this_coro::executor;
    auto until = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (std::chrono::steady_clock::now() < until && !stopping && transactions_held(false)) {
      asio::steady_timer step(executor, std::chrono::milliseconds(50));
      co_await step.async_wait(kTuple);
    }
  }

  bool feed_held() {
    std::lock_guard lock(fault_mutex);
    return faults.feed_hold;
  }

  // A held feed: the wait passes (in short steps, so that shutdown and a cleared hold end it early) and the
  // answer is an empty page, as if nothing had changed. Central-Seq still names the real head.
  asio::awaitable<Reply> held_changes(std::uint64_t seconds) {
    auto executor = co_await asio::this_coro::executor;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < until && !stopping && feed_held()) {
      asio::steady_timer step(executor, std::chrono::milliseconds(100));
      co_await step.async_wait(kTuple);
    }
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, kNdjson);
    res.set(http::field::cache_control, "no-store");
    res.set("Central-Seq", std::to_string(central.seq()));
    res.prepare_payload();
    co_return res;
  }

  // GET /central/v1/changes?since=N&wait=S[&limit=L]: long poll.
  asio::awaitable<Reply> changes(Request& req, const Peer&, const PathParams&) {
    Query q = parse_query(req.target());
    auto since = query_number(q, "since", 0);
    if (!since) co_return since.error();
    auto wait = query_number(q, "wait", 0);
    if (!wait) co_return wait.error();
    auto limit = query_number(q, "limit", kDefaultFeedLimit);
    if (!limit) co_return limit.error();
    if (*limit == 0 || *limit > kMaxFeedLimit)
      co_return service::problem_response(service::ProblemCode::bad_request,
                                          fmt::format("query parameter 'limit' must be 1..{}", kMaxFeedLimit),
                                          {{"field", "limit"}});
    std::uint64_t seconds = std::min<std::uint64_t>(*wait, kMaxWaitSeconds);
    if (feed_held()) co_return co_await held_changes(seconds);
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor, std::chrono::seconds(seconds));
    std::weak_ptr<asio::steady_timer> weak = timer;
    std::function<void()> wake;
    if (seconds > 0 && !stopping) {
      wake = [weak, executor] {
        asio::post(executor, [weak] {
          if (auto t = weak.lock()) t->cancel();
        });
      };
    }
    std::uint64_t wait_id = 0;
    auto page = central.changes_or_wait(*since, *limit, wake, wait_id);
    if (page && page->lines == 0 && wait_id != 0) {
      co_await timer->async_wait(kTuple);
      central.cancel_wait(wait_id);
      // Held while this poll waited: the change that woke it stays unannounced.
      if (feed_held()) co_return co_await held_changes(0);
      page = central.changes(*since, *limit);
    }
    if (!page) {
      co_return sim_problem(http::status::gone, "feed_position_gone", "Gone",
                            fmt::format("since={} is outside the change feed (head {}); take a new snapshot", *since,
                                        central.seq()));
    }
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, kNdjson);
    res.set(http::field::cache_control, "no-store");
    res.set("Central-Seq", std::to_string(page->head));
    res.body() = std::move(page->body);
    res.prepare_payload();
    co_return res;
  }

  asio::awaitable<Reply> pack(Request&, const Peer&, const PathParams& params) {
    auto found = central.pack_json(params.get("code"), params.get("serial"));
    if (!found) co_return state_problem(found.error());
    co_return json_response(http::status::ok, *found);
  }

  asio::awaitable<Reply> transactions(Request& req, const Peer& peer, const PathParams&) {
    auto body = service::parse_json_object(req);
    if (!body) co_return service::problem_response(body.error());
    if (auto problem = service::check_fields(*body, {{"transactions", service::JsonKind::array, true}}))
      co_return service::problem_response(*problem);
    co_await wait_while_transactions_held();
    auto results = central.apply_transactions(body->at("transactions").as_array());
    if (!results) co_return state_problem(results.error());
    bool drop = false;
    {
      std::lock_guard lock(fault_mutex);
      if (faults.drop_after_apply > 0) {
        --faults.drop_after_apply;
        drop = true;
      } else if (faults.drop_rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < faults.drop_rate) {
        drop = true;
      }
      if (drop) ++faults.dropped;
    }
    if (drop) cut_connection(peer, local_port);  // applied and journaled; the answer is lost on the way
    json::array list;
    for (const auto& r : *results) {
      json::object o{{"id", r.id}, {"result", r.result}};
      if (r.code) o["code"] = *r.code;
      else o["code"] = nullptr;
      if (r.seq) o["seq"] = *r.seq;
      list.push_back(std::move(o));
    }
    co_return json_response(http::status::ok, json::object{{"results", std::move(list)}});
  }

  asio::awaitable<Reply> alert(Request& req, const Peer&, const PathParams&) {
    auto body = service::parse_json_object(req);
    if (!body) co_return service::problem_response(body.error());
    if (auto it = body->find("id"); it != body->end() && !it->value().is_string())
      co_return service::problem_response(service::ProblemCode::bad_request, "field 'id' must be a string", {{"field", "id"}});
    auto stored = central.store_alert(std::move(*body));
    if (!stored) co_return state_problem(stored.error());
    co_return json_response(http::status::accepted, *stored);
  }

  asio::awaitable<Reply> upload(Request& req, const Peer&, const PathParams&) {
    auto counts = central.upload(req.body());
    if (!counts) co_return state_problem(counts.error());
    co_return json_response(http::status::ok, json::object{{"products", counts->products},
                                                           {"batches", counts->batches},
                                                           {"packs", counts->packs},
                                                           {"aggregations", counts->aggregations},
                                                           {"seq", counts->seq}});
  }

  // An optional JSON body: empty is {}.
  static Result<json::object, Response> optional_body(const Request& req) {
    if (req.body().find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
    auto body = service::parse_json_object(req);
    if (!body) return Unexpected{service::problem_response(body.error())};
    return std::move(*body);
  }

  asio::awaitable<Reply> batch_state(Request& req, const Peer&, const PathParams& params) {
    std::string_view action = params.get("action");
    std::string_view state = action == "recall" ? "recalled" : action == "withdraw" ? "withdrawn" : action == "reinstate" ? "active" : "";
    if (state.empty())
      co_return service::problem_response(service::ProblemCode::not_found,
                                          "batch action must be recall, withdraw or reinstate, not '" + std::string(action) + "'");
    auto body = optional_body(req);
    if (!body) co_return body.error();
    if (auto problem = service::check_fields(*body, {{"reason", service::JsonKind::string}}))
      co_return service::problem_response(*problem);
    std::string reason = body->contains("reason") ? std::string(body->at("reason").as_string()) : std::string(action == "recall" ? "recalled by the manufacturer" : action == "withdraw" ? "withdrawn from the market" : "");
    auto done = central.set_batch_state(params.get("code"), params.get("batch"), state, reason);
    if (!done) co_return state_problem(done.error());
    co_return json_response(http::status::ok, *done);
  }

  asio::awaitable<Reply> pack_status(Request& req, const Peer&, const PathParams& params) {
    auto body = service::parse_json_object(req);
    if (!body) co_return service::problem_response(body.error());
    if (auto problem = service::check_fields(*body, {{"status", service::JsonKind::string, true},
                                                     {"location", service::JsonKind::string},
                                                     {"actor", service::JsonKind::string},
                                                     {"any_status", service::JsonKind::boolean},
                                                     {"transaction", service::JsonKind::string}}))
      co_return service::problem_response(*problem);
    auto text = [&](std::string_view key, std::string_view fallback) {
      return body->contains(key) ? std::string(body->at(key).as_string()) : std::string(fallback);
    };
    auto done = central.set_pack_status(params.get("code"), params.get("serial"), text("status", ""),
                                        text("location", "4099999000007"), text("actor", "another pharmacy"),
                                        body->contains("any_status") && body->at("any_status").as_bool(),
                                        text("transaction", ""));
    if (!done) co_return state_problem(done.error());
    co_return json_response(http::status::ok, *done);
  }

  asio::awaitable<Reply> pack_delete(Request&, const Peer&, const PathParams& params) {
    auto done = central.delete_pack(params.get("code"), params.get("serial"));
    if (!done) co_return state_problem(done.error());
    co_return json_response(http::status::ok, *done);
  }

  asio::awaitable<Reply> usable_packs(Request& req, const Peer&, const PathParams&) {
    Query q = parse_query(req.target());
    auto limit = query_number(q, "limit", 10);
    if (!limit) co_return limit.error();
    json::array list;
    for (auto& o : central.usable_packs(std::min<std::uint64_t>(*limit, 10000), q.get("scan").has_value()))
      list.push_back(std::move(o));
    co_return json_response(http::status::ok, json::object{{"packs", std::move(list)}});
  }

  asio::awaitable<Reply> list_transactions(Request& req, const Peer&, const PathParams&) {
    Query q = parse_query(req.target());
    auto limit = query_number(q, "limit", 1000);
    if (!limit) co_return limit.error();
    co_return json_response(http::status::ok, central.transactions_json(*limit, q.get("id").value_or("")));
  }

  asio::awaitable<Reply> list_alerts(Request& req, const Peer&, const PathParams&) {
    Query q = parse_query(req.target());
    auto limit = query_number(q, "limit", 1000);
    if (!limit) co_return limit.error();
    co_return json_response(http::status::ok, central.alerts_json(*limit));
  }

  // PUT/POST /admin/faults: members present change, absent stay.
  asio::awaitable<Reply> set_faults(Request& req, const Peer&, const PathParams&) {
    auto body = service::parse_json_object(req);
    if (!body) co_return service::problem_response(body.error());
    using service::JsonKind;
    if (auto problem = service::check_fields(*body, {{"latency_ms", JsonKind::integer},
                                                     {"error_rate", JsonKind::number},
                                                     {"refuse", JsonKind::boolean},
                                                     {"refuse_seconds", JsonKind::number},
                                                     {"drop_after_apply", JsonKind::integer},
                                                     {"drop_rate", JsonKind::number},
                                                     {"feed_hold", JsonKind::boolean},
                                                     {"transactions_hold", JsonKind::boolean}}))
      co_return service::problem_response(*problem);
    auto number = [&](std::string_view key) { return body->at(key).to_number<double>(); };
    auto range = [&](std::string_view key, double lo, double hi) -> std::optional<Response> {
      if (!body->contains(key)) return std::nullopt;
      double v = number(key);
      if (v < lo || v > hi)
        return service::problem_response(service::ProblemCode::bad_request,
                                         fmt::format("field '{}' must be between {} and {}", key, lo, hi), {{"field", key}});
      return std::nullopt;
    };
    for (auto [key, lo, hi] : {std::tuple{"latency_ms", 0.0, 600000.0}, std::tuple{"error_rate", 0.0, 1.0},
                               std::tuple{"refuse_seconds", 0.0, 86400.0}, std::tuple{"drop_after_apply", 0.0, 1e9},
                               std::tuple{"drop_rate", 0.0, 1.0}}) {
      if (auto problem = range(key, lo, hi)) co_return std::move(*problem);
    }
    {
      std::lock_guard lock(fault_mutex);
      if (body->contains("latency_ms")) faults.latency_ms = static_cast<int>(number("latency_ms"));
      if (body->contains("error_rate")) faults.error_rate = number("error_rate");
      if (body->contains("drop_after_apply")) faults.drop_after_apply = static_cast<std::uint64_t>(number("drop_after_apply"));
      if (body->contains("drop_rate")) faults.drop_rate = number("drop_rate");
      if (body->contains("feed_hold")) faults.feed_hold = body->at("feed_hold").as_bool();
      if (body->contains("transactions_hold")) faults.transactions_hold = body->at("transactions_hold").as_bool();
      if (body->contains("refuse")) {
        faults.refuse = body->at("refuse").as_bool();
        faults.refuse_until_ms = 0;
      }
      if (body->contains("refuse_seconds")) {
        double seconds = number("refuse_seconds");
        faults.refuse = seconds > 0;
        faults.refuse_until_ms = seconds > 0 ? now_ms() + static_cast<std::int64_t>(seconds * 1000) : 0;
      }
    }
    co_return json_response(http::status::ok, faults_json());
  }
};

SimApi::SimApi(Central& central, std::uint64_t rng_seed) : impl_(std::make_unique<Impl>(central, rng_seed)) {}
SimApi::~SimApi() = default;

service::Handler SimApi::handler() {
  Impl* impl = impl_.get();
  return [impl](Request& req, const Peer& peer) { return impl->handle(req, peer); };
}

void SimApi::set_local_port(std::uint16_t port) { impl_->local_port = port; }

void SimApi::shutdown() {
  impl_->stopping = true;
  impl_->central.wake_all();
}

}  // namespace vpoint::central_sim
