// PackRuntime (pack_api.hpp): the pack side of vpointd brought up - Redis client, mirror, Functions library
// check, routes and readiness - and kept connecting until Redis answers.
#include "pack_operation.hpp"

#include <algorithm>
#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include "decode_pool.hpp"
#include "vpoint/scanner/parse.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/problem.hpp"

namespace vpoint::service {

using namespace pack_detail;

// ---------------------------------------------------------------------------------------------------------

namespace {
template <class T>
std::optional<T> run_blocking(asio::io_context& io, awaitable<T> task, std::chrono::seconds limit) {
  auto future = asio::co_spawn(io, std::move(task), asio::use_future);
  if (future.wait_for(limit) != std::future_status::ready) return std::nullopt;
  return future.get();
}

// The Redis side ready for the pack routes: the Functions library loaded and the settings checked.
struct RedisCheck {
  bool unreachable = false;  // Redis could not be reached (yet): try again later
  std::string error;         // "" = ready
  std::vector<cache::SettingProblem> warnings;
};

bool waiting_may_fix(const cache::MirrorError& e) {
  if (e.kind != cache::MirrorErrorKind::unavailable) return false;
  return !e.redis || (e.redis->kind != cache::ErrorKind::auth && e.redis->kind != cache::ErrorKind::tls);
}

awaitable<RedisCheck> check_redis(cache::Mirror& mirror) {
  RedisCheck out;
  auto started = co_await mirror.start();
  if (!started) {
    out.unreachable = waiting_may_fix(started.error());
    out.error = "[redis] url: cannot start the mirror: " + started.error().message;
    co_return out;
  }
  auto settings = co_await mirror.check_settings();
  if (!settings) {
    out.unreachable = waiting_may_fix(settings.error());
    out.error = "[redis] url: cannot read the Redis settings: " + settings.error().message;
    co_return out;
  }
  for (const auto& problem : *settings) {
    if (problem.fatal) {
      out.error = "Redis setting " + problem.setting + " is '" + problem.actual + "', must be " + problem.required +
                  ": " + problem.message;
      co_return out;
    }
    out.warnings.push_back(problem);
  }
  co_return out;
}
}  // namespace

void PackRuntime::report_fatal(std::string error) {
  std::function<void(std::string)> handler;
  {
    std::lock_guard lock(fatal_mutex_);
    fatal_ = error;
    handler = on_fatal_;
  }
  log_event(spdlog::level::critical, "redis_setting_fatal", {{"error", error}});
  if (handler) handler(std::move(error));
}

void PackRuntime::on_fatal(std::function<void(std::string)> handler) {
  std::string already;
  {
    std::lock_guard lock(fatal_mutex_);
    on_fatal_ = handler;
    already = fatal_;
  }
  if (!already.empty() && handler) handler(std::move(already));
}

// Redis was unreachable at start: try again with backoff until it answers, then check it as start() would.
awaitable<void> PackRuntime::keep_connecting() {
  asio::steady_timer timer(io_);
  std::chrono::milliseconds backoff{250};
  while (!stopping_) {
    timer.expires_after(backoff);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) co_return;
    RedisCheck check = co_await check_redis(*mirror_);
    if (check.error.empty()) {
      for (const auto& w : check.warnings)
        log_event(spdlog::level::warn, "redis_setting",
                  {{"setting", w.setting}, {"actual", w.actual}, {"required", w.required}, {"message", w.message}});
      connected_ = true;
      log_event(spdlog::level::info, "redis_connected", {{"after", "waiting"}});
      co_return;
    }
    if (!check.unreachable) {
      report_fatal(check.error);
      co_return;
    }
    log_event(spdlog::level::debug, "redis_unavailable", {{"error", check.error}});
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
}

Result<std::unique_ptr<PackRuntime>, std::string> PackRuntime::start(const Config& config,
                                                                    std::shared_ptr<Metrics> metrics,
                                                                    cache::MirrorOptions mirror_options) {
  if (config.redis.url.empty() && config.redis.cluster.empty())
    return Unexpected{std::string("[redis] url: not set (or give [redis] cluster)")};
  std::unique_ptr<PackRuntime> rt(new PackRuntime());
  rt->work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(rt->io_.get_executor());
  rt->thread_ = std::thread([io = &rt->io_] { io->run(); });

  cache::ClientOptions co;
  if (!config.redis.url.empty()) co.url = config.redis.url;
  co.cluster_nodes = config.redis.cluster;
  co.password = config.redis.password;
  co.tls = config.redis.tls || co.url.rfind("rediss://", 0) == 0;
  co.tls_ca_file = config.redis.tls_ca_file;
  co.tls_cert_file = config.redis.tls_cert_file;
  co.tls_key_file = config.redis.tls_key_file;
  co.tls_server_name = config.redis.tls_server_name;
  rt->client_ = std::make_unique<cache::Client>(rt->io_.get_executor(), co);
  mirror_options.min_replicas_ack = static_cast<int>(config.redis.min_replicas_ack);
  mirror_options.max_staleness = std::chrono::milliseconds(config.mirror.max_staleness_ms);
  rt->mirror_ = std::make_unique<cache::Mirror>(*rt->client_, mirror_options);

  auto first = run_blocking(rt->io_, check_redis(*rt->mirror_), std::chrono::seconds(30));
  bool wait_for_redis = false;
  if (!first) {
    wait_for_redis = true;  // no answer within 30 s: keep trying rather than give up
  } else if (!first->error.empty()) {
    if (!first->unreachable) return Unexpected{first->error};
    wait_for_redis = true;
    log_event(spdlog::level::warn, "redis_unavailable_at_start",
              {{"error", first->error},
               {"effect", "vpointd starts unready and connects when Redis answers; the settings are checked then"}});
  } else {
    rt->warnings_ = std::move(first->warnings);
    rt->connected_ = true;
  }

  rt->offline_ = std::make_unique<cache::OfflineQueue>(*rt->mirror_);
  rt->alerts_ = std::make_unique<cache::AlertLog>(*rt->client_);
  rt->services_ = std::shared_ptr<PackServices>(new PackServices{*rt->client_, *rt->mirror_, *rt->offline_,
                                                                 *rt->alerts_, std::move(metrics),
                                                                 {}});
  rt->services_->options.repeat_window = std::chrono::seconds(config.rules.repeat_window_s);
  rt->services_->central.offline = config.central.offline;
  rt->services_->central.bulk_read_through_max = config.central.bulk_read_through_max;
  rt->services_->options.bulk_deadline = std::chrono::seconds(config.http.bulk_deadline_s);
  rt->services_->central.feed_stale = std::chrono::seconds(config.central.feed_stale_s);
  rt->services_->options.decode.max_pixels = static_cast<std::size_t>(config.scan.max_pixels);
  rt->services_->decoder = std::make_shared<DecodePool>(
      config.scan.workers, config.scan.queue, rt->services_->metrics ? &rt->services_->metrics->registry() : nullptr);

  cache::SubscriberOptions so;
  so.url = config.redis.url;
  so.cluster_nodes = config.redis.cluster;
  so.password = config.redis.password;
  so.tls = co.tls;
  so.tls_ca_file = co.tls_ca_file;
  so.tls_cert_file = co.tls_cert_file;
  so.tls_key_file = co.tls_key_file;
  so.tls_server_name = co.tls_server_name;
  if (wait_for_redis) asio::co_spawn(rt->io_, rt->keep_connecting(), asio::detached);
  rt->subscriber_ = cache::watch_invalidations(rt->io_.get_executor(), so, *rt->mirror_);
  if (auto error = rt->subscriber_->start(); !error.empty()) {
    // Bounded staleness stands in: a cached product (recall state) is read again after max_staleness_ms.
    rt->mirror_->set_invalidations_up(false);
    log_event(spdlog::level::warn, "invalidation_subscriber_disabled",
              {{"error", error},
               {"effect", fmt::format("cached products and batch states are read again from Redis after {} ms",
                                      config.mirror.max_staleness_ms)}});
  }
  return rt;
}

PackRuntime::~PackRuntime() {
  stopping_ = true;
  if (subscriber_) subscriber_->stop();
  if (client_) client_->close();
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace vpoint::service
