#pragma once
// GET /readyz: pluggable checks, each reporting ok / failing / unknown / not_configured. Ready when every
// *required* check is ok (issue 5: Redis reachable, functions loaded, mirror loaded); an unreachable central
// system is not required - that is offline mode, shown in the body.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "vpoint/service/config.hpp"

namespace vpoint::service {

enum class CheckState { ok, failing, unknown, not_configured };
std::string_view to_string(CheckState state);

struct CheckResult {
  CheckState state = CheckState::unknown;
  std::string detail;  // why, for operators ("connection refused", "42 packs", ...)
};

// A check must bound its own time (it runs inside a /readyz request).
using ReadinessCheck = std::function<boost::asio::awaitable<CheckResult>()>;

class Readiness {
 public:
  // Adds the check, or replaces the one of the same name (keeping its position).
  void set_check(std::string name, bool required, ReadinessCheck check);

  struct Report {
    bool ready = false;
    boost::json::object body;  // {"ready":…, "checks":{"<name>":{"status":…,"required":…,"detail":…}}}
  };
  boost::asio::awaitable<Report> evaluate() const;

  // The four checks of issue 5 as placeholders: redis/functions/mirror required and "unknown" (or
  // not_configured without [redis]), central optional; the mirror parts replace them when they exist.
  static std::shared_ptr<Readiness> with_defaults(const Config& config);

 private:
  struct Entry {
    std::string name;
    bool required;
    ReadinessCheck check;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> checks_;
};

}  // namespace vpoint::service
