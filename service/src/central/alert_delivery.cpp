// Alert delivery (link_internal.hpp): every alert of the alert log to POST /central/v1/alerts and to each
// [[webhooks]] url (signed, Vpoint-Signature), in order, retried with backoff until a 2xx; a 4xx other than
// 408/429 marks that alert "failed" for that target. The delivery status of each target is kept with the alert
// (cache::AlertLog). One sender per target at a time across instances (cache::AlertLog::delivery_lease_name).
#include <boost/beast/http/verb.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "link_internal.hpp"
#include "vpoint/cache/lease.hpp"
#include "vpoint/service/logging.hpp"

namespace vpoint::service::central_detail {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// One alert to one target, retried with backoff until a 2xx. A 4xx other than 408/429 is final for this
// alert ("failed", issue 12): a receiver that refuses one alert must not hold up the later ones, and
// `vpoint alerts redeliver ID` sends it again. False only when the link stops before an answer.
asio::awaitable<bool> deliver_one(LinkContext& link, HttpConnection& http, const AlertTarget& target,
                                  const cache::StoredAlert& entry) {
  json::object alert = entry.alert;  // with "id": its id in the alert log, as GET /v1/alerts shows it
  const std::string& alert_id = entry.id;
  alert.erase("delivery");
  std::string body = json::serialize(alert);
  std::chrono::milliseconds backoff{0};
  int attempts = 0;
  while (!co_await stop_requested()) {
    ++attempts;
    auto headers = header_list("Idempotency-Key", alert_id);
    if (!target.secret.empty())
      headers.emplace_back("Vpoint-Signature", webhook_signature(target.secret, unix_ms_now() / 1000, body));
    std::string path = target.name == "central" ? "/central/v1/alerts" : "";
    if (path.empty() && target.origin.base_path.empty()) path = "/";
    auto res = co_await http.request(boost::beast::http::verb::post, path, body, std::move(headers));
    const unsigned code = res ? res->result_int() : 0;
    const bool delivered = code / 100 == 2;
    const bool refused = code / 100 == 4 && code != 408 && code != 429;
    std::string error;
    if (!delivered) error = res ? fmt::format("HTTP {}", code) : res.error().message;
    json::object status{{"status", delivered ? "delivered" : refused ? "failed" : "retrying"},
                        {"attempts", attempts},
                        {"at", iso_time_ms(unix_ms_now())}};
    if (!delivered) status["last_error"] = error;
    co_await link.alerts.record_delivery(alert_id, target.name, status);
    if (delivered) {
      link.update([](LinkStatus& s) { ++s.alerts_delivered; });
      co_return true;
    }
    if (refused) {
      log_event(spdlog::level::err, "alert_delivery_failed",
                {{"alert", alert_id}, {"target", target.name}, {"error", error},
                 {"effect", "not retried; vpoint alerts redeliver " + alert_id + " sends it again"}});
      co_return true;
    }
    log_event(spdlog::level::warn, "alert_delivery_retry",
              {{"alert", alert_id}, {"target", target.name}, {"attempt", attempts}, {"error", error}});
    backoff = link.next_backoff(backoff);
    co_await pause(backoff);
  }
  co_return false;
}

// Alerts an operator asked to send again (AlertLog::redeliver) before new ones; true when one was taken.
asio::awaitable<bool> redeliver_requested(LinkContext& link, HttpConnection& http, const AlertTarget& target) {
  auto again = co_await link.alerts.take_redelivery(target.name);
  if (!again || !*again) co_return false;
  if (!co_await deliver_one(link, http, target, **again))
    co_await link.alerts.return_redelivery(target.name, (*again)->id);  // stopping: keep the request
  co_return true;
}

}  // namespace

asio::awaitable<void> deliver_alerts(LinkContext& link, Strand strand, AlertTarget target) {
  auto http_ptr = link.role_connection(strand, target.origin, target.client);
  HttpConnection& http = *http_ptr;
  if (!target.former_name.empty()) {
    if (auto adopted = co_await link.alerts.adopt_cursor(target.former_name, target.name); adopted && *adopted)
      log_event(spdlog::level::info, "webhook_cursor_adopted", {{"from", target.former_name}, {"to", target.name}});
  }
  cache::Lease lease(link.redis, cache::AlertLog::delivery_lease_name(target.name), link.options.instance_id, link.options.lease_ttl);
  auto lease_checked = std::chrono::steady_clock::time_point{};
  while (!co_await stop_requested()) {
    if (std::chrono::steady_clock::now() - lease_checked > link.options.lease_ttl / 3) {
      co_await lease.hold();
      lease_checked = std::chrono::steady_clock::now();
    }
    if (!lease.held()) {
      co_await pause(link.options.lease_ttl / 3);
      continue;
    }
    if (co_await redeliver_requested(link, http, target)) continue;
    auto entries = co_await link.alerts.next_for(target.name, 50);
    if (!entries) {
      co_await pause(link.options.backoff_max);
      continue;
    }
    if (entries->empty()) {
      co_await pause(std::chrono::milliseconds(200));
      continue;
    }
    for (const auto& entry : *entries) {
      if (co_await stop_requested()) break;
      if (!co_await deliver_one(link, http, target, entry)) break;
      co_await link.alerts.advance(target.name, entry.id);
    }
  }
  co_await lease.release();
}

}  // namespace vpoint::service::central_detail
