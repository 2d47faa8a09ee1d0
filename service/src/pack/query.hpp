#pragma once
// Query strings of the pack routes' GETs (history, alerts) and of POST /v1/scan: decoded, checked against the
// parameters a route knows, and the `limit` of a paged list.
#include <cstddef>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "vpoint/scanner/result.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service::pack_detail {

using QueryParams = std::map<std::string, std::string>;

// The query string as decoded parameters (Boost.URL: RFC 3986 percent-escapes, '+' as a space), refusing a
// malformed escape and any parameter outside `allowed` with 400 bad_request naming it. A repeated parameter
// keeps its last value.
Result<QueryParams, Problem> parse_query(std::string_view query, std::initializer_list<std::string_view> allowed);

// `limit` of a paged list (pack history, alerts): 1-1000, `fallback` when absent.
Result<std::size_t, Problem> page_limit(const QueryParams& params, std::size_t fallback);

}  // namespace vpoint::service::pack_detail
