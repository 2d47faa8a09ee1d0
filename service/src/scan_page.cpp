#include "vpoint/service/scan_page.hpp"

#include "vpoint_web.hpp"

namespace vpoint::service {

const ScanPage& scan_page() {
  // service/web/ embedded at configure time (service/web/embed.cmake): the page with its style sheet and
  // scripts inline, and the CSP naming exactly those inline blocks by their SHA-256.
  static const ScanPage page{web::kPageHtml, web::kPageCsp};
  return page;
}

void add_scan_page(Api& api) {
  api.add(http::verb::get, "/", Access::open(), [](ApiContext&) -> asio::awaitable<Reply> {
    const ScanPage& page = scan_page();
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.set("Content-Security-Policy", page.content_security_policy);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    res.set(http::field::cache_control, "no-cache");
    res.body() = page.html;
    co_return res;
  });
}

}  // namespace vpoint::service
