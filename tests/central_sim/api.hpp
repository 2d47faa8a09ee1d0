#pragma once
// The central simulator's HTTP surface: the central protocol (design.md "Central repository link") under
// /central/v1/, the admin endpoints under /admin/, and the fault injection that applies to /central/v1/
// only. One Handler for service::HttpServer; all state lives in Central (state.hpp).
#include <atomic>
#include <cstdint>
#include <memory>

#include "state.hpp"
#include "vpoint/service/http_types.hpp"

namespace vpoint::central_sim {

class SimApi {
 public:
  SimApi(Central& central, std::uint64_t rng_seed);
  ~SimApi();
  SimApi(const SimApi&) = delete;
  SimApi& operator=(const SimApi&) = delete;

  service::Handler handler();
  // The server's bound port: the connection-dropping faults find the client's socket by it.
  void set_local_port(std::uint16_t port);
  // Lets pending long polls return (graceful shutdown).
  void shutdown();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpoint::central_sim
