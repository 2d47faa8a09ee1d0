// The central link (central_link.hpp): the roles' lifecycle and the public API. The roles and what they share
// live in the files link_internal.hpp lists.
#include "vpoint/service/central_link.hpp"

#include <cctype>
#include <condition_variable>
#include <fstream>
#include <mutex>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "link_internal.hpp"
#include "vpoint/service/logging.hpp"
#include "vpoint/service/remote_url.hpp"

namespace vpoint::service {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace central_detail;

std::string_view to_string(LinkState state) {
  switch (state) {
    case LinkState::starting: return "starting";
    case LinkState::loading: return "loading";
    case LinkState::following: return "following";
    case LinkState::offline: return "offline";
    case LinkState::stopped: return "stopped";
  }
  return "starting";
}

std::string validate(const CentralLinkOptions& o) {
  auto central = parse_origin(o.url);
  if (!central) return "[central] url: " + central.error();
  if (auto e = check_remote_url(o.url, o.allow_insecure, "allow_insecure"); !e.empty()) return "[central] url: " + e;
  if (o.client_cert.empty() != o.client_key.empty()) return "[central] client_cert: needs client_key, and the reverse";
  for (std::size_t i = 0; i < o.webhooks.size(); ++i) {
    const WebhookConfig& hook = o.webhooks[i];
    auto origin = parse_origin(hook.url);
    if (!origin) return fmt::format("[[webhooks]] #{} url: {}", i + 1, origin.error());
    if (auto e = check_remote_url(hook.url, hook.allow_insecure, "allow_insecure"); !e.empty())
      return fmt::format("[[webhooks]] #{} url: {}", i + 1, e);
    if (hook.secret.size() < 32) return fmt::format("[[webhooks]] #{} secret: must be at least 32 bytes", i + 1);
    if (hook.name.empty()) return fmt::format("[[webhooks]] #{} name: required", i + 1);
  }
  if (o.partitions_per_lease <= 0 || cache::kPartitions % o.partitions_per_lease != 0)
    return fmt::format("partitions_per_lease must divide {}", cache::kPartitions);
  if (o.drain_batch == 0 || o.drain_batch > 10000) return "drain_batch must be 1..10000 (the central system's limit)";
  return {};
}

CentralLinkOptions central_link_options(const Config& config) {
  CentralLinkOptions o;
  o.url = config.central.url;
  o.offline = config.central.offline;
  o.webhooks = config.webhooks;
  o.location = config.location.gln;
  o.recall_lookback = std::chrono::hours(24) * config.central.recall_lookback_days;
  o.audit_dir = config.audit.dir;
  o.allow_insecure = config.central.allow_insecure;
  o.ca_file = config.central.ca_file;
  o.client_cert = config.central.client_cert;
  o.client_key = config.central.client_key;
  if (!config.central.token_file.empty()) {
    std::ifstream in(config.central.token_file);
    std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) token.erase(0, 1);
    o.token = std::move(token);
  }
  return o;
}

struct CentralLink::Impl : std::enable_shared_from_this<CentralLink::Impl> {
  LinkContext link;
  std::atomic<bool> started{false};
  std::atomic<std::int64_t> started_ms{0};  // Unix ms of start()

  // One role: its strand and the signal that stops it. Both `stop` and `done` are touched on the strand only:
  // the signal is emitted only while the role runs (its handler belongs to the running coroutine).
  struct Role {
    explicit Role(Strand s) : strand(std::move(s)) {}
    Strand strand;
    asio::cancellation_signal stop;
    bool done = false;
  };
  std::mutex roles_mutex;  // guards roles, roles_running
  std::condition_variable roles_done;
  std::vector<std::shared_ptr<Role>> roles;
  int roles_running = 0;

  Impl(asio::any_io_executor ex, cache::Client& c, cache::Mirror& m, CentralLinkOptions o, std::shared_ptr<Readiness> r)
      : link(std::move(ex), c, m, std::move(o), std::move(r)) {}

  void spawn(std::string name, std::function<asio::awaitable<void>(LinkContext&, Strand)> body) {
    auto role = std::make_shared<Role>(asio::make_strand(link.executor));
    {
      std::lock_guard lock(roles_mutex);
      roles.push_back(role);
      ++roles_running;
    }
    auto self = shared_from_this();
    asio::co_spawn(
        role->strand,
        [self, role, body = std::move(body), name]() -> asio::awaitable<void> {
          // A stopped role still finishes its step and releases its leases: stop cancels waits, not Redis calls.
          co_await asio::this_coro::throw_if_cancelled(false);
          try {
            co_await body(self->link, role->strand);
          } catch (const std::exception& e) {
            log_event(spdlog::level::err, "central_link_role_failed", {{"role", name}, {"error", e.what()}});
          }
          role->done = true;
          std::lock_guard lock(self->roles_mutex);
          --self->roles_running;
          self->roles_done.notify_all();
        },
        asio::bind_cancellation_slot(role->stop.slot(), asio::detached));
  }

  // Emits each role's stop signal on its strand and closes the roles' connections (ends long polls now).
  void request_stop() {
    {
      std::lock_guard lock(roles_mutex);
      for (auto& role : roles)
        asio::post(role->strand, [role] {
          if (!role->done) role->stop.emit(asio::cancellation_type::terminal);
        });
    }
    std::lock_guard lock(link.mutex);
    for (auto& [strand, connection] : link.live_connections) asio::post(strand, [c = connection] { c->close(); });
  }

  bool all_stopped() {
    std::lock_guard lock(roles_mutex);
    return roles_running == 0;
  }

  // ---------------------------------------------------------------- readiness
  void install_checks() {
    if (!link.readiness) return;
    std::weak_ptr<Impl> weak = shared_from_this();
    link.readiness->set_check("mirror", true, [weak]() -> asio::awaitable<CheckResult> {
      auto self = weak.lock();
      if (!self) co_return CheckResult{CheckState::unknown, "central link stopped"};
      if (self->link.importing) {
        auto s = self->link.status_copy();
        co_return CheckResult{CheckState::failing, fmt::format("loading: {} packs imported", s.import_packs)};
      }
      auto s = self->link.status_copy();
      if (s.generation == 0) co_return CheckResult{CheckState::failing, "loading: the mirror is empty"};
      co_return CheckResult{CheckState::ok, fmt::format("generation {}, feed position {}", s.generation, s.feed_seq)};
    });
    link.readiness->set_check("central", false, [weak]() -> asio::awaitable<CheckResult> {
      auto self = weak.lock();
      if (!self) co_return CheckResult{CheckState::unknown, "central link stopped"};
      auto s = self->link.status_copy();
      if (s.state == LinkState::following) co_return CheckResult{CheckState::ok, fmt::format("following at {}", s.feed_seq)};
      if (s.state == LinkState::loading) co_return CheckResult{CheckState::unknown, "loading snapshot"};
      co_return CheckResult{CheckState::failing, fmt::format("{}: {}", to_string(s.state), s.last_error)};
    });
  }

};

CentralLink::CentralLink(asio::any_io_executor executor, cache::Client& client, cache::Mirror& mirror,
                         CentralLinkOptions options, std::shared_ptr<Readiness> readiness)
    : impl_(std::make_shared<Impl>(std::move(executor), client, mirror, std::move(options), std::move(readiness))) {}

CentralLink::~CentralLink() { stop(std::chrono::milliseconds(10000)); }

void CentralLink::start() {
  if (impl_->started.exchange(true)) return;
  impl_->started_ms = unix_ms_now();
  impl_->install_checks();
  const CentralLinkOptions& o = impl_->link.options;
  if (o.follow_feed) impl_->spawn("follow_feed", follow_feed);
  if (o.drain_outbox) impl_->spawn("drain_outbox", drain_outbox);
  if (o.deliver_alerts) {
    AlertTarget central{"central", impl_->link.central_origin, {}, impl_->link.client_options(o.request_timeout)};
    impl_->spawn("deliver_alerts_central", [central](LinkContext& link, Strand s) { return deliver_alerts(link, s, central); });
    for (const auto& hook : o.webhooks) {
      auto origin = parse_origin(hook.url);
      if (!origin) continue;
      HttpClientOptions client;
      client.request_timeout = o.request_timeout;
      client.ca_file = hook.ca_file;
      // Keyed by name since issue 15 (the URL, with any token in it, no longer shows in GET /v1/alerts); the
      // sender takes over the cursor it had under "webhook:<url>", so an upgrade sends nothing twice.
      AlertTarget target{"webhook:" + hook.name, *origin, hook.secret, client, "webhook:" + hook.url};
      impl_->spawn("deliver_alerts_webhook", [target](LinkContext& link, Strand s) { return deliver_alerts(link, s, target); });
    }
  }
  if (o.reverify) impl_->spawn("replay_offline", replay_offline);
}

void CentralLink::stop(std::chrono::milliseconds timeout) {
  if (!impl_->started) return;
  impl_->request_stop();
  {
    std::unique_lock lock(impl_->roles_mutex);
    impl_->roles_done.wait_for(lock, timeout, [&] { return impl_->roles_running == 0; });
  }
  std::lock_guard lock(impl_->link.mutex);
  impl_->link.live_connections.clear();
  impl_->link.link_status.state = LinkState::stopped;
}

asio::awaitable<void> CentralLink::stop_async() {
  impl_->request_stop();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 200 && !impl_->all_stopped(); ++i) {
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<ReadThrough> CentralLink::read_through(std::string code, std::string serial) {
  return central_detail::read_through(impl_->link, std::move(code), std::move(serial));
}
OfflineMode CentralLink::offline_mode() const { return impl_->link.options.offline; }

void CentralLink::set_offline_replayer(OfflineReplayer replayer) { impl_->link.replayer = std::move(replayer); }
asio::awaitable<cache::MirrorResult<std::string>> CentralLink::raise_alert(json::object alert) {
  return impl_->link.raise_alert(std::move(alert));
}
LinkStatus CentralLink::status() const { return impl_->link.status_copy(); }
bool CentralLink::loading() const { return impl_->link.importing; }

std::chrono::milliseconds CentralLink::feed_behind() const {
  if (!impl_->link.options.follow_feed || !impl_->started) return std::chrono::milliseconds(0);
  const LinkStatus s = impl_->link.status_copy();
  const std::int64_t now = unix_ms_now();
  std::int64_t behind = s.behind_since_ms > 0 ? now - s.behind_since_ms : 0;
  // A long poll that is running on time means "nothing new": the central system answers at once on a change.
  const auto poll_limit = std::chrono::duration_cast<std::chrono::milliseconds>(impl_->link.options.feed_wait).count() + 5000;
  const bool polling = s.poll_started_ms > 0 && now - s.poll_started_ms <= poll_limit;
  if (!polling || s.state != LinkState::following) {
    const std::int64_t since = s.last_sync_ms > 0 ? s.last_sync_ms : impl_->started_ms.load();
    behind = std::max(behind, since > 0 ? now - since : 0);
  }
  return std::chrono::milliseconds(std::max<std::int64_t>(0, behind));
}

}  // namespace vpoint::service
