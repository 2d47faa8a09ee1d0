#pragma once
// The scan station page (GET /): one self-contained HTML document (inline CSS and vanilla JS, no external
// resources, no build step) that a pharmacist opens in a browser next to a keyboard-wedge scanner. It calls
// the pack routes of the same origin (POST /v1/verify, /v1/decommission, /v1/undo, /v1/scan) with the API key
// the user typed in (kept in sessionStorage only).
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

// Built once (hashes computed on first use); the same object for every request.
const ScanPage& scan_page();

// Registers GET / (open: the page holds no data; every call it makes carries the user's key).
void add_scan_page(Api& api);

}  // namespace vpoint::service
