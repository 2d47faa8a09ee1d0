#include "vpoint/service/router.hpp"

#include <boost/url/grammar/string_token.hpp>
#include <boost/url/pct_string_view.hpp>

namespace vpoint::service {

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

bool decode_segment(std::string_view segment, std::string& out) {
  // Decoded after the path was split, so an encoded '/' stays inside its segment (a GS1 serial may hold '/',
  // issue 12). A malformed escape is no route; NUL has no business in a path.
  out.clear();
  auto escaped = boost::urls::make_pct_string_view(segment);
  if (!escaped) return false;
  escaped->decode({}, boost::urls::string_token::assign_to(out));
  return out.find('\0') == std::string::npos;
}

}  // namespace vpoint::service
