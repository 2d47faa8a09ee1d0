#include "vpoint/service/api.hpp"

#include <algorithm>
#include <chrono>

#include <boost/json/serialize.hpp>

#include "vpoint/cache/ids.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service {
namespace {

bool is_request_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
}

void set_header(Reply& reply, std::string_view name, std::string_view value) {
  std::visit(
      [&](auto& r) {
        if constexpr (std::is_same_v<std::decay_t<decltype(r)>, Response>)
          r.set(name, value);
        else
          r.header.set(name, value);
      },
      reply);
}

}  // namespace

std::string request_id_for(const Request& request) {
  auto it = request.find("X-Request-Id");
  if (it != request.end()) {
    std::string_view id = it->value();
    if (!id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), is_request_id_char))
      return std::string(id);
  }
  return cache::random_id();
}

Response json_response(const boost::json::value& body, http::status status) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = boost::json::serialize(body);
  res.prepare_payload();
  return res;
}

Api::Api(std::shared_ptr<Authenticator> auth, std::shared_ptr<Metrics> metrics)
    : auth_(std::move(auth)), metrics_(std::move(metrics)) {}

void Api::add(http::verb method, std::string pattern, Access access, ApiHandler handler) {
  routes_.push_back(std::string(http::to_string(method)) + " " + pattern);
  router_.add(method, std::move(pattern), Route{access, std::move(handler)});
}

Handler Api::handler() {
  return [this](Request& request, const Peer& peer) { return handle(request, peer); };
}

asio::awaitable<Reply> Api::handle(Request& request, const Peer& peer) {
  auto started = std::chrono::steady_clock::now();
  std::string request_id = request_id_for(request);
  std::string_view route = "unmatched";
  std::string caller_name;
  std::optional<Reply> reply;

  auto match = router_.find(request.method(), request.target());
  if (std::holds_alternative<Router<Route>::NotFound>(match)) {
    auto [path, query] = split_target(request.target());
    reply = problem_response(ProblemCode::not_found, "no route for " + std::string(request.method_string()) +
                                                         " " + std::string(path));
  } else if (auto* wrong = std::get_if<Router<Route>::MethodNotAllowed>(&match)) {
    Response res =
        problem_response(ProblemCode::method_not_allowed,
                         std::string(request.method_string()) + " is not allowed here; use " + wrong->allow,
                         {{"allow", wrong->allow}});
    res.set(http::field::allow, wrong->allow);
    reply = std::move(res);
  } else {
    auto& found = std::get<Router<Route>::Found>(match);
    route = found.pattern;
    const Route& target = *found.handler;
    std::optional<Caller> caller;
    if (target.access.kind != Access::Kind::open) {
      auto who = auth_->authenticate(request, peer);
      if (!who) {
        Response res = problem_response(who.error());
        res.set(http::field::www_authenticate, "Bearer");
        reply = std::move(res);
      } else {
        caller = std::move(*who);
        caller_name = caller->name;
        if (target.access.kind == Access::Kind::permission) {
          if (auto denied = Authenticator::authorize(*caller, target.access.permission))
            reply = problem_response(*denied);
        }
      }
    }
    if (!reply) {
      ApiContext context{
          request,   peer, found.params, split_target(request.target()).second, caller ? &*caller : nullptr,
          request_id};
      try {
        reply.emplace(co_await target.handler(context));
      } catch (const std::exception& e) {
        log_event(spdlog::level::err, "handler_failed",
                  {{"request_id", request_id}, {"route", route}, {"error", e.what()}});
        reply.emplace(problem_response(ProblemCode::internal, "internal error; the server log has details"));
      }
    }
  }

  // Echoed so a client can quote it and an operator can find the log line.
  set_header(*reply, "X-Request-Id", request_id);
  auto elapsed = std::chrono::steady_clock::now() - started;
  unsigned status = reply_status(*reply);
  metrics_->observe_request(request.method_string(), route, status, elapsed);
  log_event(spdlog::level::info, "request",
            {{"request_id", request_id},
             {"method", request.method_string()},
             {"route", route},
             {"status", status},
             {"latency_us", std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()},
             {"caller", caller_name.empty() ? boost::json::value(nullptr) : boost::json::value(caller_name)},
             {"remote", peer.remote.address().to_string()}});
  co_return std::move(*reply);
}

}  // namespace vpoint::service
