#include "vpoint/cache/subscriber.hpp"

#include <algorithm>
#include <atomic>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>
#include <hiredis/hiredis.h>

#include "redis_tls.hpp"
#include "vpoint/cache/mirror.hpp"

namespace vpoint::cache {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

// append(), not operator+ chains: GCC 12 reports a false -Wrestrict on the temporaries.
std::string resp(const std::vector<std::string>& args) {
  std::string out;
  out.append("*").append(std::to_string(args.size())).append("\r\n");
  for (const auto& a : args) out.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  return out;
}

struct Target {
  std::string host;
  std::string port;
  std::string username;
  std::string password;
};

// "" on success, else what is wrong with the url / seed.
std::string parse_target(const SubscriberOptions& o, Target& t) {
  if (!o.cluster_nodes.empty()) {
    const std::string& seed = o.cluster_nodes.front();
    auto colon = seed.rfind(':');
    if (colon == std::string::npos) return "cluster node '" + seed + "': expected host:port";
    t.host = seed.substr(0, colon);
    t.port = seed.substr(colon + 1);
    if (t.host.size() > 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  } else {
    auto uri = boost::urls::parse_uri(o.url);
    if (!uri) return "url '" + o.url + "': not a URI";
    if (uri->scheme() != "redis" && uri->scheme() != "rediss") return "url: must start with redis:// or rediss://";
    t.host = uri->host_address();
    if (t.host.size() > 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
    t.port = uri->has_port() ? std::string(uri->port()) : "6379";
    if (uri->has_userinfo()) {
      t.username = uri->user();
      t.password = uri->password();
    }
  }
  if (!o.username.empty()) t.username = o.username;
  if (!o.password.empty()) t.password = o.password;
  if (t.host.empty()) return "url: no host";
  return "";
}

}  // namespace

struct Subscriber::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, SubscriberOptions o, MessageHandler m, SubscribedHandler s, LostHandler l)
      : strand(asio::make_strand(ex)),
        options(std::move(o)),
        on_message(std::move(m)),
        on_subscribed(std::move(s)),
        on_lost(std::move(l)),
        socket(strand),
        timer(strand) {}

  asio::strand<asio::any_io_executor> strand;
  SubscriberOptions options;
  MessageHandler on_message;
  SubscribedHandler on_subscribed;
  LostHandler on_lost;
  Target target;
  tcp::socket socket;          // touched on the strand only
  asio::steady_timer timer;    // backoff and connect deadline
  std::atomic<bool> stopped{false};
  std::atomic<bool> is_subscribed{false};
  std::atomic<std::size_t> count{0};
  std::shared_ptr<asio::ssl::context> tls;  // set: every connection speaks TLS

  // One connection's life: connect, AUTH, SUBSCRIBE, read pushes until the socket fails or stop().
  awaitable<void> session() {
    boost::system::error_code ec;
    tcp::resolver resolver(strand);
    auto endpoints = co_await resolver.async_resolve(target.host, target.port,
                                                     asio::redirect_error(use_awaitable, ec));
    if (ec || stopped) co_return;
    socket = tcp::socket(strand);
    // Connect deadline: the timer closes the socket, which fails the pending connect.
    timer.expires_after(options.connect_timeout);
    auto self = shared_from_this();
    timer.async_wait([self](boost::system::error_code e) {
      if (!e) self->socket.close();
    });
    co_await asio::async_connect(socket, endpoints, asio::redirect_error(use_awaitable, ec));
    if (ec || stopped) {
      timer.cancel();
      co_return;
    }
    if (!tls) {
      timer.cancel();
      co_await talk(socket);
      co_return;
    }
    asio::ssl::stream<tcp::socket&> secure(socket, *tls);
    detail::prepare_tls_handshake(secure, options.tls_server_name.empty() ? target.host : options.tls_server_name,
                                  true);
    co_await secure.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
    timer.cancel();
    if (ec || stopped) co_return;
    co_await talk(secure);
  }

  template <class Stream>
  awaitable<void> talk(Stream& socket) {
    boost::system::error_code ec;

    std::string hello;
    if (!target.password.empty()) {
      hello += target.username.empty() ? resp({"AUTH", target.password})
                                       : resp({"AUTH", target.username, target.password});
    }
    std::vector<std::string> sub{"SUBSCRIBE"};
    sub.insert(sub.end(), options.channels.begin(), options.channels.end());
    hello += resp(sub);
    co_await asio::async_write(socket, asio::buffer(hello), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;

    std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(), redisReaderFree);
    std::size_t confirmed = 0;
    std::vector<char> buffer(16 * 1024);
    while (!stopped) {
      std::size_t n = co_await socket.async_read_some(asio::buffer(buffer), asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      if (redisReaderFeed(reader.get(), buffer.data(), n) != REDIS_OK) co_return;
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) co_return;
        if (raw == nullptr) break;
        std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw), freeReplyObject);
        if (reply->type == REDIS_REPLY_ERROR) co_return;  // AUTH refused, ...: reconnect after backoff
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) continue;  // +OK of AUTH
        std::string_view kind(reply->element[0]->str, reply->element[0]->len);
        if (kind == "subscribe") {
          if (++confirmed == options.channels.size()) {
            is_subscribed = true;
            ++count;
            // Whatever was published while we were away is lost: callers drop all they cached.
            if (on_subscribed) on_subscribed();
          }
        } else if (kind == "message" && reply->element[1]->type == REDIS_REPLY_STRING &&
                   reply->element[2]->type == REDIS_REPLY_STRING) {
          if (on_message)
            on_message(std::string_view(reply->element[1]->str, reply->element[1]->len),
                       std::string_view(reply->element[2]->str, reply->element[2]->len));
        }
      }
    }
  }

  awaitable<void> run() {
    auto backoff = options.reconnect_backoff_min;
    while (!stopped) {
      std::size_t before = count;
      co_await session();
      if (is_subscribed.exchange(false) && on_lost) on_lost();
      boost::system::error_code ignored;
      socket.close(ignored);
      if (stopped) break;
      if (count != before) backoff = options.reconnect_backoff_min;  // it worked for a while
      timer.expires_after(backoff);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      backoff = std::min(backoff * 2, options.reconnect_backoff_max);
    }
  }
};

Subscriber::Subscriber(asio::any_io_executor executor, SubscriberOptions options, MessageHandler on_message,
                       SubscribedHandler on_subscribed, LostHandler on_lost)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options), std::move(on_message),
                                   std::move(on_subscribed), std::move(on_lost))) {}

Subscriber::~Subscriber() { stop(); }

std::string Subscriber::start() {
  if (impl_->options.channels.empty()) return "no channels to subscribe to";
  if (auto error = parse_target(impl_->options, impl_->target); !error.empty()) return error;
  const auto& o = impl_->options;
  if (o.tls || o.url.rfind("rediss://", 0) == 0) {
    auto ctx = detail::redis_tls_context(o.tls_ca_file, o.tls_cert_file, o.tls_key_file);
    if (!ctx) return ctx.error();
    impl_->tls = std::move(*ctx);
  }
  auto impl = impl_;
  asio::co_spawn(impl->strand, [impl]() -> awaitable<void> { co_await impl->run(); }, asio::detached);
  return "";
}

void Subscriber::stop() {
  if (impl_->stopped.exchange(true)) return;
  auto impl = impl_;
  asio::post(impl->strand, [impl] {
    boost::system::error_code ignored;
    impl->socket.close(ignored);
    impl->timer.cancel();
  });
}

bool Subscriber::subscribed() const { return impl_->is_subscribed; }
std::size_t Subscriber::subscriptions() const { return impl_->count; }

std::unique_ptr<Subscriber> watch_invalidations(boost::asio::any_io_executor executor, SubscriberOptions options,
                                                Mirror& mirror) {
  options.channels = {std::string(kInvalidationChannel)};
  auto restart = [executor, &mirror] {
    mirror.invalidate();
    boost::asio::co_spawn(executor, mirror.start(), boost::asio::detached);
  };
  mirror.set_invalidations_up(false);  // until the first subscription is confirmed
  return std::make_unique<Subscriber>(
      executor, std::move(options),
      [&mirror, restart](std::string_view, std::string_view message) {
        if (message == "*") restart();
        else mirror.invalidate(message);
      },
      [&mirror, restart] {
        restart();
        mirror.set_invalidations_up(true);
      },
      [&mirror] { mirror.set_invalidations_up(false); });
}

}  // namespace vpoint::cache
