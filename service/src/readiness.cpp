#include "vpoint/service/readiness.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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
  // The checks run at once: with Redis down, each Redis check waits for its own deadline, and one after the
  // other they made /readyz take seconds (longer than a container health check's timeout).
  using Done = void(boost::system::error_code, std::size_t, CheckResult);
  const auto executor = co_await boost::asio::this_coro::executor;
  auto done = std::make_shared<boost::asio::experimental::concurrent_channel<Done>>(executor, checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    boost::asio::co_spawn(executor, checks[i].check(), [done, i](std::exception_ptr error, CheckResult result) {
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          result = CheckResult{CheckState::failing, std::string("check failed: ") + e.what()};
        } catch (...) {
          result = CheckResult{CheckState::failing, "check failed"};
        }
      }
      done->try_send(boost::system::error_code{}, i, std::move(result));  // capacity: one per check
    });
  }
  std::vector<CheckResult> results(checks.size());
  for (std::size_t received = 0; received < checks.size(); ++received) {
    auto [ec, i, result] = co_await done->async_receive(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) break;
    results[i] = std::move(result);
  }

  Report report;
  report.ready = true;
  boost::json::object body;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const Entry& entry = checks[i];
    const CheckResult& result = results[i];
    if (entry.required && result.state != CheckState::ok) report.ready = false;
    boost::json::object item{{"status", to_string(result.state)}, {"required", entry.required}};
    if (!result.detail.empty()) item["detail"] = result.detail;
    body[entry.name] = std::move(item);
  }
  report.body["ready"] = report.ready;
  report.body["checks"] = std::move(body);
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
