#pragma once
// A Redis pub/sub subscriber on its own connection. The transport (redis.hpp) has no pub/sub on purpose: a
// subscribed connection receives pushes at any time, which would break its in-order reply matching. This
// keeps one plain socket per subscriber, speaks RESP through hiredis' redisReader, and resubscribes after
// every reconnect. Messages published while it was disconnected are lost (pub/sub is fire-and-forget), so
// `on_subscribed` runs after every (re)subscription: users drop everything they cached.
//
// TLS as the command client (rediss:// or tls = true). Gap: in Cluster mode it subscribes on the first seed
// node (PUBLISH is broadcast to every node of a cluster).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

namespace vpoint::cache {

struct SubscriberOptions {
  // redis://[user:password@]host:port or rediss://, or empty to use cluster_nodes[0].
  std::string url = "redis://127.0.0.1:6379";
  std::vector<std::string> cluster_nodes = {};
  // AUTH; overrides the URL's credentials when non-empty.
  std::string username = {};
  std::string password = {};
  std::vector<std::string> channels = {};
  // TLS, with the meaning of ClientOptions' tls fields (redis.hpp).
  bool tls = false;
  std::string tls_ca_file = {};
  std::string tls_cert_file = {};
  std::string tls_key_file = {};
  std::string tls_server_name = {};
  std::chrono::milliseconds connect_timeout{1000};
  // Wait between reconnect attempts (doubles up to reconnect_backoff_max).
  std::chrono::milliseconds reconnect_backoff_min{50};
  std::chrono::milliseconds reconnect_backoff_max{2000};
};

class Subscriber {
 public:
  using MessageHandler = std::function<void(std::string_view channel, std::string_view message)>;
  using SubscribedHandler = std::function<void()>;
  using LostHandler = std::function<void()>;

  // `on_lost` runs when a confirmed subscription ends (connection lost or closed), before reconnecting.
  Subscriber(boost::asio::any_io_executor executor, SubscriberOptions options, MessageHandler on_message,
             SubscribedHandler on_subscribed = {}, LostHandler on_lost = {});
  ~Subscriber();  // stop()
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Starts the connect/subscribe/read loop on the executor. "" on success, else why the options are unusable.
  std::string start();
  // Closes the socket; the loop ends. Safe from any thread; idempotent.
  void stop();
  // Subscribed right now (all channels confirmed).
  bool subscribed() const;
  // How many times the subscription was (re)established.
  std::size_t subscriptions() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

class Mirror;

// The mirror's product cache kept current (the one product/batch cache, Mirror::cached_product): a Subscriber on
// kInvalidationChannel that drops the product each message names; on "*" (a generation switch elsewhere) and
// after every (re)subscription (messages may have been missed) it drops everything and re-reads the generation
// in effect (Mirror::start()). It tells the mirror whether it is up (Mirror::set_invalidations_up: bounded
// staleness while it is down). `mirror` must outlive the subscriber. Start it with start().
std::unique_ptr<Subscriber> watch_invalidations(boost::asio::any_io_executor executor, SubscriberOptions options,
                                                Mirror& mirror);

}  // namespace vpoint::cache
