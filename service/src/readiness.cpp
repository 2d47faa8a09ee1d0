#include "vpoint/service/readiness.hpp"

namespace vpoint::service {

std::string_view to_string(CheckState state) {
  switch (state) {
    case CheckState::ok:
      return "ok";
    case CheckState::failing:
      return "failing";
    case CheckState::unknown:
      return "unknown";
    case CheckState::not_configured:
      return "not_configured";
  }
  return "unknown";
}

void Readiness::set_check(std::string name, bool required, ReadinessCheck check) {
  std::lock_guard lock(mutex_);
  for (Entry& entry : checks_) {
    if (entry.name == name) {
      entry.required = required;
      entry.check = std::move(check);
      return;
    }
  }
  checks_.push_back(Entry{std::move(name), required, std::move(check)});
}

boost::asio::awaitable<Readiness::Report> Readiness::evaluate() const {
  std::vector<Entry> checks;
  {
    std::lock_guard lock(mutex_);
    checks = checks_;
  }
  Report report;
  report.ready = true;
  boost::json::object results;
  for (const Entry& entry : checks) {
    CheckResult result;
    try {
      result = co_await entry.check();
    } catch (const std::exception& e) {
      result = CheckResult{CheckState::failing, std::string("check failed: ") + e.what()};
    }
    if (entry.required && result.state != CheckState::ok) report.ready = false;
    boost::json::object item{{"status", to_string(result.state)}, {"required", entry.required}};
    if (!result.detail.empty()) item["detail"] = result.detail;
    results[entry.name] = std::move(item);
  }
  report.body["ready"] = report.ready;
  report.body["checks"] = std::move(results);
  co_return report;
}

std::shared_ptr<Readiness> Readiness::with_defaults(const Config& config) {
  auto readiness = std::make_shared<Readiness>();
  bool redis_configured = !config.redis.url.empty() || !config.redis.cluster.empty();
  auto placeholder = [redis_configured](std::string what) -> ReadinessCheck {
    return [redis_configured, what]() -> boost::asio::awaitable<CheckResult> {
      if (!redis_configured)
        co_return CheckResult{CheckState::not_configured, "[redis] url/cluster is not set"};
      co_return CheckResult{CheckState::unknown, what + " check not wired yet"};
    };
  };
  readiness->set_check("redis", true, placeholder("redis"));
  readiness->set_check("functions", true, placeholder("functions"));
  readiness->set_check("mirror", true, placeholder("mirror"));
  bool central_configured = !config.central.url.empty();
  readiness->set_check("central", false, [central_configured]() -> boost::asio::awaitable<CheckResult> {
    if (!central_configured) co_return CheckResult{CheckState::not_configured, "[central] url is not set"};
    co_return CheckResult{CheckState::unknown, "central link not wired yet"};
  });
  return readiness;
}

}  // namespace vpoint::service
