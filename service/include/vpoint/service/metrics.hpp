#pragma once
// Prometheus metrics (prometheus-cpp core; served by our own server at GET /metrics, text format 0.0.4).
// The registry is shared: later parts add their gauges/counters to it (Redis round-trip latency, mirror
// size, outbox depth, alerts by reason, verdicts).
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace vpoint::service {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

class Metrics {
 public:
  Metrics();

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  // One finished request: vpoint_http_requests_total and vpoint_http_request_duration_seconds, labelled by
  // method, route pattern (never the raw path: bounded cardinality) and status.
  void observe_request(std::string_view method, std::string_view route, unsigned status,
                       std::chrono::nanoseconds latency);

  // The whole registry in Prometheus text exposition format.
  std::string serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
};

}  // namespace vpoint::service
