#include "vpoint/service/remote_url.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

namespace vpoint::service {

std::string check_remote_url(std::string_view url, bool allow_insecure, std::string_view allow_setting) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || (parsed->scheme() != "http" && parsed->scheme() != "https"))
    return "must start with http:// or https://";
  if (parsed->scheme() == "https" || allow_insecure) return "";
  std::string host(parsed->encoded_host());
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (host == "localhost" || (!ec && address.is_loopback())) return "";
  return "http:// sends in clear text; only loopback addresses may use it (use https://, or set " +
         std::string(allow_setting) + " = true)";
}

}  // namespace vpoint::service
