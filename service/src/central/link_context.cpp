// What the central link's roles share (link_internal.hpp): status, connections, backoff, pauses, alerts.
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/url.hpp>

#include "link_internal.hpp"
#include "vpoint/cache/lease.hpp"
#include "vpoint/cache/link_record.hpp"
#include "vpoint/service/logging.hpp"

namespace vpoint::service::central_detail {

namespace asio = boost::asio;
namespace json = boost::json;

LinkContext::LinkContext(asio::any_io_executor ex, cache::Client& c, cache::Mirror& m, CentralLinkOptions o,
                         std::shared_ptr<Readiness> r)
    : executor(std::move(ex)), redis(c), mirror(m), options(std::move(o)), readiness(std::move(r)), alerts(c), outbox(c) {
  if (options.instance_id.empty()) options.instance_id = cache::default_lease_owner();
  if (auto origin = parse_origin(options.url)) central_origin = *origin;
  lookup_pool = std::make_unique<HttpConnectionPool>(executor, central_origin, client_options(options.lookup_timeout));
}

HttpClientOptions LinkContext::client_options(std::chrono::milliseconds timeout) const {
  HttpClientOptions o;
  o.request_timeout = timeout;
  o.connect_timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::milliseconds(2000));
  o.ca_file = options.ca_file;
  o.client_cert = options.client_cert;
  o.client_key = options.client_key;
  o.bearer_token = options.token;
  return o;
}

void LinkContext::set_error(std::string message) {
  update([&](LinkStatus& s) { s.last_error = std::move(message); });
}

LinkStatus LinkContext::status_copy() {
  std::lock_guard lock(mutex);
  return link_status;
}

std::chrono::milliseconds LinkContext::next_backoff(std::chrono::milliseconds current) const {
  if (current.count() == 0) return options.backoff_min;
  return std::min(current * 2, options.backoff_max);
}

std::shared_ptr<HttpConnection> LinkContext::role_connection(const Strand& strand, const Origin& origin,
                                                             HttpClientOptions client) {
  auto c = std::make_shared<HttpConnection>(strand, origin, std::move(client));
  std::lock_guard lock(mutex);
  live_connections.emplace_back(strand, c);
  return c;
}

asio::awaitable<void> LinkContext::publish_status() {
  LinkStatus s = status_copy();
  cache::LinkRecord record;
  record.state = to_string(s.state);
  record.generation = s.generation;
  record.feed_seq = s.feed_seq;
  record.central_seq = s.central_seq;
  record.last_sync_ms = s.last_sync_ms;
  record.instance = options.instance_id;
  record.updated_ms = unix_ms_now();
  record.last_error = s.last_error;
  co_await cache::LinkRecordStore(redis).write(record);
}

asio::awaitable<cache::MirrorResult<std::string>> LinkContext::raise_alert(json::object alert) {
  std::string reason = str(alert, "reason"), tx = str(alert, "transaction_id");
  auto id = co_await alerts.raise(std::move(alert));
  if (id) log_event(spdlog::level::warn, "alert_raised", {{"id", *id}, {"reason", reason}, {"transaction_id", tx}});
  co_return id;
}

asio::awaitable<bool> stop_requested() {
  asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  // Checked first: a signal that fired while the role was busy elsewhere cancels no timer.
  if (co_await stop_requested()) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

std::string pack_lookup_target(std::string_view code, std::string_view serial) {
  // Each value one percent-encoded segment: serials may hold '%', '?', '/', '&' (GS1 charset 82).
  boost::urls::url target;
  target.set_path("/central/v1/packs");
  target.segments().push_back(code);
  target.segments().push_back(serial);
  return std::string(target.encoded_path());
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json::object json_pair(std::string_view key, std::string_view value) {
  json::object o;
  o[key] = value;
  return o;
}

std::vector<std::pair<std::string, std::string>> header_list(std::string name, std::string value) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back(std::move(name), std::move(value));
  return out;
}

json::object pack_json_of(const std::string& code_key, const std::string& code, const std::string& serial,
                          const std::string& batch, const std::string& expiry) {
  json::object pack{{code_key, code}, {"serial", serial}};
  if (!batch.empty()) pack["batch"] = batch;
  if (!expiry.empty()) pack["expiry"] = expiry;
  return pack;
}

}  // namespace vpoint::service::central_detail
