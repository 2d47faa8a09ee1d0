#pragma once
// vpointd's request pipeline around the routes: request id, routing (404/405), authentication (401),
// authorization (403), the handler, then one JSON log line and the request metrics. Route handlers are thin
// adapters over pure functions; they never see a socket.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vpoint/service/auth.hpp"
#include "vpoint/service/http_types.hpp"
#include "vpoint/service/metrics.hpp"
#include "vpoint/service/router.hpp"

namespace vpoint::service {

struct ApiContext {
  Request& request;
  const Peer& peer;
  const PathParams& params;
  std::string_view query;  // raw query string after '?', "" when none
  const Caller* caller;    // null on open routes
  std::string_view request_id;
};

using ApiHandler = std::function<asio::awaitable<Reply>(ApiContext&)>;

// Who may call a route.
struct Access {
  enum class Kind { open, caller, permission };
  Kind kind = Kind::caller;
  Permission permission = Permission::verify;

  static Access open() { return {Kind::open, Permission::verify}; }  // probes and metrics
  // Any authenticated caller; the handler decides with Authenticator::authorize (e.g. by the body's action).
  static Access caller() { return {Kind::caller, Permission::verify}; }
  static Access require(Permission p) { return {Kind::permission, p}; }
};

class Api {
 public:
  Api(std::shared_ptr<Authenticator> auth, std::shared_ptr<Metrics> metrics);

  // Register every route before the server starts.
  void add(http::verb method, std::string pattern, Access access, ApiHandler handler);

  asio::awaitable<Reply> handle(Request& request, const Peer& peer);
  // The HttpServer handler bound to this Api (which must outlive the server).
  Handler handler();
  // Every registered route as "METHOD /pattern", in registration order (the role x route test checks that
  // each one has a row).
  const std::vector<std::string>& routes() const { return routes_; }

 private:
  struct Route {
    Access access;
    ApiHandler handler;
  };
  std::shared_ptr<Authenticator> auth_;
  std::shared_ptr<Metrics> metrics_;
  Router<Route> router_;
  std::vector<std::string> routes_;
};

// X-Request-Id from the client when it is a sane token (1-128 of [A-Za-z0-9._:-]), else a fresh random id.
std::string request_id_for(const Request& request);

// A 200 (or given status) JSON response.
Response json_response(const boost::json::value& body, http::status status = http::status::ok);

}  // namespace vpoint::service
