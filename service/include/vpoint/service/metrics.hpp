#pragma once
// Prometheus metrics (prometheus-cpp core; served by our own server at GET /metrics, text format 0.0.4).
// The registry is shared: later parts add their gauges/counters to it (Redis round-trip latency, mirror
// size, outbox depth, alerts by reason, verdicts).
#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace vpoint::service {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// The children of one metric family by label values, found without a prometheus::Labels map once a
// combination has been seen: Family::Add builds a std::map of strings and hashes it under the family's mutex
// on every call, and a request made four such calls (issue 19 profile). The values join into a per-thread key;
// a child is created through `make` the first time. Children live as long as their family (never removed).
template <class Metric>
class LabelledChildren {
 public:
  using Make = std::function<Metric&(const prometheus::Labels&)>;
  LabelledChildren(std::vector<std::string> names, Make make) : names_(std::move(names)), make_(std::move(make)) {}

  // `values` in the order of the names given at construction.
  Metric& at(std::initializer_list<std::string_view> values) {
    thread_local std::string key;
    key.clear();
    for (std::string_view v : values) {
      key.append(v);
      key += '\x1f';  // unit separator: never part of a label value we set
    }
    {
      std::shared_lock lock(mutex_);
      if (auto it = children_.find(std::string_view(key)); it != children_.end()) return *it->second;
    }
    prometheus::Labels labels;
    std::size_t i = 0;
    for (std::string_view v : values) {
      if (i < names_.size()) labels.emplace(names_[i], std::string(v));
      ++i;
    }
    Metric& child = make_(labels);
    std::unique_lock lock(mutex_);
    children_.emplace(key, &child);
    return child;
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> names_;
  Make make_;
  std::shared_mutex mutex_;
  std::unordered_map<std::string, Metric*, Hash, std::equal_to<>> children_;
};

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
  std::unique_ptr<LabelledChildren<prometheus::Counter>> request_counts_;
  std::unique_ptr<LabelledChildren<prometheus::Histogram>> request_latencies_;
};

}  // namespace vpoint::service
