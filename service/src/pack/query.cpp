#include "query.hpp"

#include <algorithm>
#include <cstdlib>

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

namespace vpoint::service::pack_detail {

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

Result<std::size_t, Problem> page_limit(const QueryParams& params, std::size_t fallback) {
  auto it = params.find("limit");
  if (it == params.end()) return fallback;
  char* end = nullptr;
  long n = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || n < 1 || n > 1000)
    return Unexpected{Problem{ProblemCode::bad_request, "limit: 1-1000", {{"field", "limit"}}}};
  return static_cast<std::size_t>(n);
}

}  // namespace vpoint::service::pack_detail
