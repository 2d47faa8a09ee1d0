#pragma once
// GET /openapi.json: the OpenAPI 3.1 description of every route (service/openapi/openapi.json, embedded at
// configure time like the page). tests/e2e checks it names exactly the registered routes; tests/api validates it
// and every answer the real stack gives against it.
#include <string_view>

#include "vpoint/service/api.hpp"

namespace vpoint::service {

// The document as served (the file's bytes).
std::string_view openapi_document();

// Registers GET /openapi.json (open, like GET /: it describes the API, it holds no data).
void add_openapi(Api& api);

}  // namespace vpoint::service
