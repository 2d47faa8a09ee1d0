#include "vpoint/service/openapi.hpp"

#include "vpoint_openapi.hpp"

namespace vpoint::service {

std::string_view openapi_document() { return openapi::kDocument; }

void add_openapi(Api& api) {
  api.add(http::verb::get, "/openapi.json", Access::open(), [](ApiContext&) -> asio::awaitable<Reply> {
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-cache");
    res.set("X-Content-Type-Options", "nosniff");
    res.body() = std::string(openapi_document());
    res.prepare_payload();
    co_return res;
  });
}

}  // namespace vpoint::service
