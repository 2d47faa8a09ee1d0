#pragma once
// Method + path-pattern routing as data: "/v1/packs/{gtin}/{serial}" matches "/v1/packs/0401.../ABC" with
// params gtin, serial. Pure (no sockets): Api and the central simulator both use it. The caller turns
// NotFound / MethodNotAllowed into the 404 / 405 problems (problem.hpp), with `allow` for the Allow header.
#include <ostream>  // beast/http/verb.hpp needs it and does not include it
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/beast/http/verb.hpp>

namespace vpoint::service {

struct PathParams {
  std::vector<std::pair<std::string, std::string>> values;  // percent-decoded segment values
  // The value of {name}; "" when the pattern has no such parameter.
  std::string_view get(std::string_view name) const {
    for (const auto& [key, value] : values) {
      if (key == name) return value;
    }
    return {};
  }
};

// Splits a request target into its path and query ("/a/b?x=1" -> "/a/b", "x=1").
std::pair<std::string_view, std::string_view> split_target(std::string_view target);

// Percent-decodes one path segment (after splitting, so "%2F" is a '/' inside the value); false when an escape
// is malformed or decodes to NUL.
bool decode_segment(std::string_view segment, std::string& out);

template <class H>
class Router {
 public:
  struct Found {
    const H* handler;
    std::string_view pattern;  // the route pattern: the low-cardinality label for logs and metrics
    PathParams params;
  };
  struct NotFound {};
  struct MethodNotAllowed {
    std::string allow;  // "GET, POST"
  };
  using Match = std::variant<Found, NotFound, MethodNotAllowed>;

  // Add every route before the first find() (Found::pattern points into the table).
  // Patterns are literal segments and {name} segments; a pattern with both a literal and a parameter at
  // the same place prefers the literal (e.g. /v1/alerts/stats over /v1/alerts/{id}).
  void add(boost::beast::http::verb method, std::string pattern, H handler) {
    std::vector<std::string> segments;
    for (std::string_view seg : split(pattern)) segments.emplace_back(seg);
    routes_.push_back(Route{method, std::move(pattern), std::move(segments), std::move(handler)});
  }

  Match find(boost::beast::http::verb method, std::string_view target) const {
    auto [path, query] = split_target(target);
    (void)query;
    std::vector<std::string_view> segments = split(path);
    std::vector<std::string> decoded(segments.size());
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (!decode_segment(segments[i], decoded[i])) return NotFound{};
    }
    const Route* best = nullptr;
    int best_score = -1;
    std::string allow;
    for (const Route& route : routes_) {
      int score = match(route, decoded);
      if (score < 0) continue;
      if (route.method != method) {
        auto name = boost::beast::http::to_string(route.method);
        if (allow.find(name) == std::string::npos) {
          if (!allow.empty()) allow += ", ";
          allow.append(name.data(), name.size());
        }
        continue;
      }
      if (score > best_score) {
        best = &route;
        best_score = score;
      }
    }
    if (best == nullptr) {
      if (allow.empty()) return NotFound{};
      return MethodNotAllowed{std::move(allow)};
    }
    Found found{&best->handler, best->pattern, {}};
    for (std::size_t i = 0; i < best->segments.size(); ++i) {
      const std::string& seg = best->segments[i];
      if (is_param(seg))
        found.params.values.emplace_back(std::string(seg.substr(1, seg.size() - 2)), decoded[i]);
    }
    return found;
  }

 private:
  struct Route {
    boost::beast::http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    H handler;
  };
  static bool is_param(std::string_view seg) {
    return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
  }

  static std::vector<std::string_view> split(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t start = path.empty() || path.front() != '/' ? 0 : 1;
    while (start <= path.size()) {
      auto slash = path.find('/', start);
      if (slash == std::string_view::npos) slash = path.size();
      out.push_back(path.substr(start, slash - start));
      start = slash + 1;
    }
    return out;
  }

  // -1 = no match; otherwise the number of literal segments (more literals = more specific).
  static int match(const Route& route, const std::vector<std::string>& segments) {
    if (route.segments.size() != segments.size()) return -1;
    int literals = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      std::string_view want = route.segments[i];
      if (is_param(want)) {
        if (segments[i].empty()) return -1;
        continue;
      }
      if (want != segments[i]) return -1;
      ++literals;
    }
    return literals;
  }

  std::vector<Route> routes_;
};

}  // namespace vpoint::service
