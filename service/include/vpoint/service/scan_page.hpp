#pragma once
// The scan station page (GET /): one self-contained HTML document (inline CSS and vanilla JS, no external
// resources, no build step), written as files in service/web/ and embedded at configure time. It serves the
// counter, the goods-receipt dock, the returns desk and alerts, offering the modes GET /v1/me names for the API
// key the user typed in (kept in sessionStorage only), and calls the routes of the same origin.
#include <string>
#include <string_view>

#include "vpoint/service/api.hpp"

namespace vpoint::service {

// The page as served, and the Content-Security-Policy that goes with it: script and style are allowed only by
// the SHA-256 hash of the page's own inline blocks; fetches only to the same origin; nothing else.
struct ScanPage {
  std::string html;
  std::string content_security_policy;
};

// The same object for every request (page and hashes are computed at configure time).
const ScanPage& scan_page();

// Registers GET / (open: the page holds no data; every call it makes carries the user's key).
void add_scan_page(Api& api);

}  // namespace vpoint::service
