// Client: standalone and Cluster behind one interface. Node pools, slot routing, MOVED/ASK, pipelines.
//
// Concurrency: each Connection serialises its own state on its strand (see redis_connection.hpp). The Impl's
// shared routing state (node pools, slot table) is guarded by one std::mutex that is held only for map
// look-ups and updates, never across a co_await.
#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/url/parse.hpp>

#include "redis_connection.hpp"
#include "redis_tls.hpp"
#include "vpoint/cache/redis.hpp"

namespace vpoint::cache {

namespace asio = boost::asio;
using detail::Clock;
using detail::Connection;
using detail::Endpoint;

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::io: return "io";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::closed: return "closed";
    case ErrorKind::protocol: return "protocol";
    case ErrorKind::auth: return "auth";
    case ErrorKind::unavailable: return "unavailable";
    case ErrorKind::tls: return "tls";
    case ErrorKind::cluster: return "cluster";
  }
  return "unknown";
}

namespace {

constexpr std::size_t kSlots = 16384;

// The connections to one server. Callers are spread over them; each is pipelined.
struct Node {
  Endpoint endpoint;
  std::vector<std::shared_ptr<Connection>> connections;  // on the Client's own executor
  std::vector<std::shared_ptr<Connection>> lane_connections;  // one per lane (Client::add_lanes), same order
  std::atomic<std::size_t> next{0};

  // A caller on a lane's thread gets that lane's connection (no thread hand-off); anyone else the least
  // loaded connection of the shared pool, ties broken round-robin.
  std::shared_ptr<Connection> pick(int lane) {
    if (lane >= 0 && static_cast<std::size_t>(lane) < lane_connections.size()) return lane_connections[lane];
    const std::size_t start = next.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<Connection> best;
    for (std::size_t i = 0; i < connections.size(); ++i) {
      const auto& c = connections[(start + i) % connections.size()];
      if (!best || c->load() < best->load()) best = c;
    }
    return best;
  }
};

Endpoint parse_host_port(std::string_view text, std::string_view setting) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    throw std::invalid_argument(std::string(setting) + ": '" + std::string(text) + "' is not host:port");
  }
  Endpoint ep;
  ep.host = std::string(text.substr(0, colon));
  if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']') ep.host = ep.host.substr(1, ep.host.size() - 2);
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(std::string(text.substr(colon + 1)), &used);
    if (used != text.size() - colon - 1) port = 0;
  } catch (const std::exception&) {
    port = 0;
  }
  if (port == 0 || port > 65535) {
    throw std::invalid_argument(std::string(setting) + ": '" + std::string(text) + "' has no valid port (1-65535)");
  }
  ep.port = static_cast<std::uint16_t>(port);
  return ep;
}

// MOVED <slot> <host:port>, ASK <slot> <host:port>, TRYAGAIN, CLUSTERDOWN (Redis Cluster spec, redirections).
struct Redirect {
  enum class Kind { none, moved, ask, retry } kind = Kind::none;
  std::uint16_t slot = 0;
  std::string address;
};

Redirect parse_redirect(const Reply& reply) {
  Redirect r;
  if (!reply.is_error()) return r;
  const std::string_view s = reply.str;
  if (s.starts_with("TRYAGAIN") || s.starts_with("CLUSTERDOWN")) {
    r.kind = Redirect::Kind::retry;
    return r;
  }
  const bool moved = s.starts_with("MOVED ");
  if (!moved && !s.starts_with("ASK ")) return r;
  const auto first = s.find(' ');
  const auto second = s.find(' ', first + 1);
  if (second == std::string_view::npos) return r;
  try {
    r.slot = static_cast<std::uint16_t>(std::stoul(std::string(s.substr(first + 1, second - first - 1))));
  } catch (const std::exception&) {
    return r;
  }
  r.address = std::string(s.substr(second + 1));
  r.kind = moved ? Redirect::Kind::moved : Redirect::Kind::ask;
  return r;
}

std::optional<std::string> routing_key_of(const Command& args, std::string_view routing_key) {
  if (!routing_key.empty()) return std::string(routing_key);
  if (args.size() > 1) return args[1];
  return std::nullopt;
}

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Impl> {
  using Replies = vpoint::Result<std::vector<Reply>, RedisError>;

  asio::any_io_executor executor;
  ClientOptions options;
  std::shared_ptr<detail::ConnectionSettings> settings;
  bool cluster = false;
  std::vector<Endpoint> seeds;  // standalone: the one server

  std::mutex mutex;  // guards nodes, slots, closed — held for look-ups only, never across co_await
  std::map<std::string, std::shared_ptr<Node>> nodes;
  std::vector<std::shared_ptr<Node>> slots;  // Cluster: owner of each slot, null = unknown
  std::atomic<bool> closed{false};
  // Standalone: the one server's pool, made at construction and never replaced (read without the mutex).
  std::shared_ptr<Node> standalone;
  std::atomic<bool> refreshing{false};
  // io_contexts run by one thread each whose callers get their own connection per node (add_lanes). Set
  // before those threads issue commands, then only read.
  std::vector<asio::io_context*> lanes;

  // The lane of the calling thread, or -1: a thread runs at most one io_context.
  int current_lane() const {
    for (std::size_t i = 0; i < lanes.size(); ++i) {
      if (lanes[i]->get_executor().running_in_this_thread()) return static_cast<int>(i);
    }
    return -1;
  }

  void add_lanes(std::vector<asio::io_context*> contexts) {
    std::lock_guard lock(mutex);
    lanes.insert(lanes.end(), contexts.begin(), contexts.end());
    for (auto& [name, node] : nodes) add_lane_connections(*node);
  }

  void add_lane_connections(Node& node) {
    for (std::size_t i = node.lane_connections.size(); i < lanes.size(); ++i) {
      node.lane_connections.push_back(std::make_shared<Connection>(lanes[i]->get_executor(), node.endpoint, settings));
    }
  }

  Impl(asio::any_io_executor ex, ClientOptions opts) : executor(std::move(ex)), options(std::move(opts)) {
    settings = std::make_shared<detail::ConnectionSettings>();
    cluster = !options.cluster_nodes.empty();
    bool tls = options.tls;
    if (cluster) {
      for (const auto& n : options.cluster_nodes) seeds.push_back(parse_host_port(n, "redis cluster_nodes"));
      slots.resize(kSlots);
    } else {
      auto parsed = boost::urls::parse_uri(options.url);
      if (!parsed) throw std::invalid_argument("redis url '" + options.url + "': " + parsed.error().message());
      const auto& u = *parsed;
      if (u.scheme() == "rediss") {
        tls = true;
      } else if (u.scheme() != "redis") {
        throw std::invalid_argument("redis url '" + options.url + "': scheme must be redis:// or rediss://");
      }
      Endpoint ep;
      ep.host = u.host_address();
      if (ep.host.empty()) throw std::invalid_argument("redis url '" + options.url + "': no host");
      ep.port = u.has_port() ? u.port_number() : 6379;
      if (ep.port == 0) throw std::invalid_argument("redis url '" + options.url + "': port must be 1-65535");
      if (u.has_userinfo()) {
        settings->username = u.user();
        settings->password = u.password();
      }
      std::string path = u.path();
      if (!path.empty() && path != "/") {
        try {
          std::size_t used = 0;
          settings->db = std::stoi(path.substr(1), &used);
          if (used != path.size() - 1 || settings->db < 0) throw std::invalid_argument("db");
        } catch (const std::exception&) {
          throw std::invalid_argument("redis url '" + options.url + "': path must be /<db number>");
        }
      }
      seeds.push_back(std::move(ep));
    }
    if (!options.username.empty()) settings->username = options.username;
    if (!options.password.empty()) settings->password = options.password;
    if (!settings->username.empty() && settings->password.empty()) {
      throw std::invalid_argument("redis username '" + settings->username + "' given without a password");
    }
    if (options.connections_per_node == 0) throw std::invalid_argument("redis connections_per_node must be >= 1");
    if (options.connect_timeout.count() <= 0) throw std::invalid_argument("redis connect_timeout must be > 0");
    if (options.command_timeout.count() <= 0) throw std::invalid_argument("redis command_timeout must be > 0");
    if (options.reconnect_backoff_min.count() <= 0 || options.reconnect_backoff_max < options.reconnect_backoff_min) {
      throw std::invalid_argument("redis reconnect_backoff_min must be > 0 and <= reconnect_backoff_max");
    }
    if (options.max_redirects < 0) throw std::invalid_argument("redis max_redirects must be >= 0");
    settings->connect_timeout = options.connect_timeout;
    settings->backoff_min = options.reconnect_backoff_min;
    settings->backoff_max = options.reconnect_backoff_max;
    settings->tls_verify_peer = options.tls_verify_peer;
    settings->tls_server_name = options.tls_server_name;
    if (tls) settings->tls = make_tls_context();
    if (!cluster) standalone = node_for(seeds.front());
  }

  // Standalone, one command: straight to the caller's connection, without routing or a channel (the hot
  // path: one FCALL per pack operation).
  asio::awaitable<vpoint::Result<Reply, RedisError>> exec_standalone(std::string payload) {
    if (closed) co_return vpoint::Unexpected{closed_error()};
    auto conn = standalone->pick(current_lane());
    auto outcome = co_await conn->async_execute(std::move(payload), 1, Clock::now() + options.command_timeout,
                                                asio::use_awaitable);
    if (outcome.error) co_return vpoint::Unexpected{std::move(*outcome.error)};
    if (outcome.replies.size() != 1)
      co_return vpoint::Unexpected{RedisError{ErrorKind::protocol, "expected one reply"}};
    co_return std::move(outcome.replies.front());
  }

  std::shared_ptr<asio::ssl::context> make_tls_context() const {
    auto ctx = detail::redis_tls_context(options.tls_ca_file, options.tls_cert_file, options.tls_key_file);
    if (!ctx) throw std::invalid_argument("redis " + ctx.error());
    return std::move(*ctx);
  }

  // Pool of `ep`, created on first use. nullptr once closed.
  std::shared_ptr<Node> node_for(const Endpoint& ep) {
    std::lock_guard lock(mutex);
    if (closed) return nullptr;
    auto& node = nodes[ep.str()];
    if (!node) {
      node = std::make_shared<Node>();
      node->endpoint = ep;
      for (std::size_t i = 0; i < options.connections_per_node; ++i) {
        node->connections.push_back(std::make_shared<Connection>(executor, ep, settings));
      }
      add_lane_connections(*node);
    }
    return node;
  }

  static Replies to_replies(detail::Outcome outcome) {
    if (outcome.error) return vpoint::Unexpected{std::move(*outcome.error)};
    return std::move(outcome.replies);
  }

  static RedisError closed_error() { return {ErrorKind::closed, "redis client closed"}; }

  asio::awaitable<Replies> exec(Node& node, std::string payload, std::size_t expected, Clock::time_point deadline) {
    auto conn = node.pick(current_lane());
    co_return to_replies(co_await conn->async_execute(std::move(payload), expected, deadline, asio::use_awaitable));
  }

  struct Batch {
    std::shared_ptr<Connection> connection;
    std::string payload;
    std::size_t expected = 1;
  };

  // Runs every batch at once (different nodes work in parallel) and returns their outcomes in order. One batch
  // (standalone, the common case) is awaited directly; several report through a channel, since their
  // completions may arrive on any thread of the caller's executor.
  static asio::awaitable<std::vector<detail::Outcome>> execute_all(std::vector<Batch> batches,
                                                                   Clock::time_point deadline) {
    std::vector<detail::Outcome> out(batches.size());
    if (batches.size() == 1) {
      auto& b = batches.front();
      out[0] = co_await b.connection->async_execute(std::move(b.payload), b.expected, deadline, asio::use_awaitable);
      co_return out;
    }
    using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code, std::size_t, detail::Outcome)>;
    auto channel = std::make_shared<Channel>(co_await asio::this_coro::executor, batches.size());
    for (std::size_t k = 0; k < batches.size(); ++k) {
      auto& b = batches[k];
      b.connection->async_execute(std::move(b.payload), b.expected, deadline,
                                  [channel, k](detail::Outcome outcome) {
                                    // Capacity == number of batches: never full, never blocks.
                                    channel->try_send(boost::system::error_code{}, k, std::move(outcome));
                                  });
    }
    for (std::size_t n = 0; n < batches.size(); ++n) {
      auto [k, outcome] = co_await channel->async_receive(asio::use_awaitable);
      out[k] = std::move(outcome);
    }
    co_return out;
  }

  std::shared_ptr<Node> known_owner(std::optional<std::uint16_t> slot) {
    std::lock_guard lock(mutex);
    if (slot) return slots[*slot];
    for (const auto& n : slots) {
      if (n) return n;  // key-less command: any master
    }
    return nullptr;
  }

  // Learns the slot map from CLUSTER SLOTS of any reachable node (known masters first, then the seeds).
  asio::awaitable<std::optional<RedisError>> refresh_slots(Clock::time_point deadline) {
    auto self = shared_from_this();
    std::vector<Endpoint> candidates;
    {
      std::lock_guard lock(mutex);
      for (const auto& n : slots) {
        if (n && std::none_of(candidates.begin(), candidates.end(),
                              [&](const Endpoint& e) { return e.str() == n->endpoint.str(); })) {
          candidates.push_back(n->endpoint);
        }
      }
    }
    for (const auto& s : seeds) {
      if (std::none_of(candidates.begin(), candidates.end(), [&](const Endpoint& e) { return e.str() == s.str(); })) {
        candidates.push_back(s);
      }
    }
    RedisError last{ErrorKind::cluster, "no cluster node to ask for the slot map"};
    for (const auto& ep : candidates) {
      if (Clock::now() >= deadline) break;
      auto node = node_for(ep);
      if (!node) co_return closed_error();
      // A dead node must not eat the whole deadline: each probe gets at most one connect timeout.
      auto probe_deadline = std::min(deadline, Clock::now() + options.connect_timeout);
      // (GCC 12: a braced list of string literals inside a co_await expression trips "array used as
      // initializer", so the payload is built first.)
      std::string payload = detail::encode_command(Command{"CLUSTER", "SLOTS"});
      auto res = co_await exec(*node, std::move(payload), 1, probe_deadline);
      if (!res) {
        last = {ErrorKind::cluster, "CLUSTER SLOTS via " + ep.str() + ": " + res.error().message};
        continue;
      }
      const Reply& reply = res->front();
      if (reply.type != Reply::Type::array) {
        last = {ErrorKind::cluster, "CLUSTER SLOTS via " + ep.str() + " answered: " + reply.str};
        continue;
      }
      std::vector<std::pair<std::pair<long long, long long>, Endpoint>> ranges;
      bool ok = true;
      for (const auto& entry : reply.elements) {
        if (entry.type != Reply::Type::array || entry.elements.size() < 3 ||
            entry.elements[2].type != Reply::Type::array || entry.elements[2].elements.size() < 2) {
          ok = false;
          break;
        }
        const auto& master = entry.elements[2].elements;
        Endpoint owner;
        // An empty or "?" host means "the node you asked" (Redis 7 cluster-preferred-endpoint-type docs).
        owner.host = master[0].str.empty() || master[0].str == "?" ? ep.host : master[0].str;
        owner.port = static_cast<std::uint16_t>(master[1].integer);
        const long long start = entry.elements[0].integer;
        const long long end = entry.elements[1].integer;
        if (start < 0 || end >= static_cast<long long>(kSlots) || start > end) {
          ok = false;
          break;
        }
        ranges.push_back({{start, end}, owner});
      }
      if (!ok || ranges.empty()) {
        last = {ErrorKind::cluster, "CLUSTER SLOTS via " + ep.str() + ": unusable slot map"};
        continue;
      }
      std::vector<std::shared_ptr<Node>> table(kSlots);
      for (const auto& entry : ranges) {
        auto node_ptr = node_for(entry.second);
        if (!node_ptr) co_return closed_error();
        for (long long s = entry.first.first; s <= entry.first.second; ++s) {
          table[static_cast<std::size_t>(s)] = node_ptr;
        }
      }
      std::lock_guard lock(mutex);
      slots = std::move(table);
      co_return std::nullopt;
    }
    co_return last;
  }

  // After MOVED or a lost node: one background refresh at a time.
  void refresh_in_background() {
    if (refreshing.exchange(true)) return;
    asio::co_spawn(
        executor,
        [self = shared_from_this()]() -> asio::awaitable<void> {
          co_await self->refresh_slots(Clock::now() + self->options.command_timeout);
          self->refreshing = false;
        },
        asio::detached);
  }

  asio::awaitable<vpoint::Result<std::shared_ptr<Node>, RedisError>> route(std::optional<std::uint16_t> slot,
                                                                           Clock::time_point deadline) {
    if (!cluster) {
      auto node = node_for(seeds.front());
      if (!node) co_return vpoint::Unexpected{closed_error()};
      co_return node;
    }
    if (auto node = known_owner(slot)) co_return node;
    if (auto err = co_await refresh_slots(deadline)) co_return vpoint::Unexpected{*err};
    if (auto node = known_owner(slot)) co_return node;
    co_return vpoint::Unexpected{RedisError{
        ErrorKind::cluster, slot ? "no cluster node serves slot " + std::to_string(*slot) : "no cluster master known"}};
  }

  asio::awaitable<ReplyResult> run_command(const Command& args, std::optional<std::string> key,
                                           Clock::time_point deadline) {
    if (args.empty()) co_return vpoint::Unexpected{RedisError{ErrorKind::protocol, "empty redis command"}};
    co_return co_await run_payload(detail::encode_command(args), std::move(key), deadline);
  }

  // One command in RESP, routed by `key` in Cluster mode, following MOVED/ASK.
  asio::awaitable<ReplyResult> run_payload(std::string command, std::optional<std::string> key,
                                           Clock::time_point deadline) {
    auto self = shared_from_this();
    std::optional<std::uint16_t> slot;
    if (key) slot = key_slot(*key);
    std::shared_ptr<Node> ask_node;
    std::string last_redirect;
    for (int hop = 0; hop <= options.max_redirects; ++hop) {
      std::shared_ptr<Node> node;
      const bool asking = ask_node != nullptr;
      if (asking) {
        node = std::move(ask_node);
        ask_node = nullptr;
      } else {
        auto routed = co_await route(slot, deadline);
        if (!routed) co_return vpoint::Unexpected{routed.error()};
        node = *routed;
      }
      std::string payload;
      // ASK: the target serves the slot only for the next command after ASKING (Cluster spec).
      if (asking) detail::encode_command({"ASKING"}, payload);
      // Standalone sends it once (no redirections): the command moves; a Cluster may need it again.
      if (!cluster && !asking) {
        payload = std::move(command);
      } else {
        payload += command;
      }
      auto res = co_await exec(*node, std::move(payload), asking ? 2 : 1, deadline);
      if (!res) {
        if (cluster) {
          const auto kind = res.error().kind;
          if (kind == ErrorKind::unavailable && Clock::now() < deadline) {
            // Never written, so safe to re-route: a failover may have moved the slot to a replica.
            auto before = node;
            if (!co_await refresh_slots(deadline) && known_owner(slot) != before) continue;
          } else if (kind == ErrorKind::closed || kind == ErrorKind::io) {
            refresh_in_background();
          }
        }
        co_return vpoint::Unexpected{res.error()};
      }
      Reply reply = std::move(res->back());
      if (!cluster || !reply.is_error()) co_return reply;
      auto redirect = parse_redirect(reply);
      switch (redirect.kind) {
        case Redirect::Kind::none:
          co_return reply;
        case Redirect::Kind::moved: {
          auto target = node_for(parse_host_port(redirect.address, "MOVED target"));
          if (!target) co_return vpoint::Unexpected{closed_error()};
          {
            std::lock_guard lock(mutex);
            slots[redirect.slot] = target;
          }
          refresh_in_background();
          break;
        }
        case Redirect::Kind::ask:
          ask_node = node_for(parse_host_port(redirect.address, "ASK target"));
          if (!ask_node) co_return vpoint::Unexpected{closed_error()};
          break;
        case Redirect::Kind::retry: {
          // TRYAGAIN (multi-key command during a migration) / CLUSTERDOWN: wait a little, re-learn, retry.
          asio::steady_timer pause(co_await asio::this_coro::executor);
          pause.expires_at(std::min(deadline, Clock::now() + std::chrono::milliseconds(25)));
          co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
          refresh_in_background();
          break;
        }
      }
      last_redirect = reply.str;
      if (Clock::now() >= deadline) break;
    }
    co_return vpoint::Unexpected{RedisError{ErrorKind::cluster,
                                            "gave up after redirections (last: " + last_redirect + ")"}};
  }

  asio::awaitable<std::vector<ReplyResult>> run_pipeline(std::vector<Command> commands,
                                                         std::vector<std::string> routing_keys) {
    std::vector<std::string> payloads(commands.size());
    std::vector<std::optional<std::string>> keys(commands.size());
    std::vector<std::optional<ReplyResult>> results(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
      keys[i] = routing_key_of(commands[i], i < routing_keys.size() ? routing_keys[i] : std::string_view{});
      if (commands[i].empty()) {
        results[i] = vpoint::Unexpected{RedisError{ErrorKind::protocol, "empty redis command"}};
        continue;
      }
      payloads[i] = detail::encode_command(commands[i]);
    }
    co_return co_await run_payloads(std::move(payloads), std::move(keys), std::move(results));
  }

  asio::awaitable<std::vector<ReplyResult>> run_resp_pipeline(std::vector<RespCommand> commands,
                                                              std::vector<std::string> routing_keys) {
    std::vector<std::string> payloads;
    payloads.reserve(commands.size());
    for (auto& c : commands) payloads.push_back(std::move(c).take());
    std::vector<std::optional<std::string>> keys(commands.size());
    for (std::size_t i = 0; i < commands.size() && i < routing_keys.size(); ++i) {
      if (!routing_keys[i].empty()) keys[i] = std::move(routing_keys[i]);
    }
    co_return co_await run_payloads(std::move(payloads), std::move(keys),
                                    std::vector<std::optional<ReplyResult>>(commands.size()));
  }

  // Commands in RESP, each routed by its key (Cluster), pipelined per node; an entry of `results` already
  // set (a command refused before sending) is kept.
  asio::awaitable<std::vector<ReplyResult>> run_payloads(std::vector<std::string> payloads,
                                                         std::vector<std::optional<std::string>> keys,
                                                         std::vector<std::optional<ReplyResult>> results) {
    auto self = shared_from_this();
    const auto deadline = Clock::now() + options.command_timeout;
    struct Group {
      std::shared_ptr<Node> node;
      std::vector<std::size_t> indexes;
      std::string payload;
    };
    std::vector<Group> groups;
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      if (results[i]) continue;
      auto routed = co_await route(keys[i] ? std::optional(key_slot(*keys[i])) : std::nullopt, deadline);
      if (!routed) {
        results[i] = vpoint::Unexpected{routed.error()};
        continue;
      }
      auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.node == *routed; });
      if (it == groups.end()) {
        groups.push_back(Group{*routed, {}, {}});
        it = std::prev(groups.end());
      }
      it->indexes.push_back(i);
      // A Cluster may have to send a command again alone (redirection): it keeps its own copy.
      if (it->payload.empty() && !cluster) {
        it->payload = std::move(payloads[i]);
      } else {
        it->payload += payloads[i];
      }
    }
    // Every node's batch is sent before any is waited for, so the nodes work in parallel.
    std::vector<Batch> batches;
    batches.reserve(groups.size());
    const int lane = current_lane();
    for (auto& g : groups) batches.push_back(Batch{g.node->pick(lane), std::move(g.payload), g.indexes.size()});
    auto outcomes = co_await execute_all(std::move(batches), deadline);
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
      auto& g = groups[gi];
      auto res = to_replies(std::move(outcomes[gi]));
      if (!res) {
        if (cluster && (res.error().kind == ErrorKind::closed || res.error().kind == ErrorKind::io)) {
          refresh_in_background();
        }
        for (auto i : g.indexes) results[i] = vpoint::Unexpected{res.error()};
        continue;
      }
      for (std::size_t k = 0; k < g.indexes.size(); ++k) {
        const auto i = g.indexes[k];
        Reply& reply = (*res)[k];
        if (cluster && parse_redirect(reply).kind != Redirect::Kind::none) {
          // The slot moved under us: that command did not run; redo it alone, following redirections.
          results[i] = co_await run_payload(payloads[i], keys[i], deadline);
        } else {
          results[i] = std::move(reply);
        }
      }
    }
    std::vector<ReplyResult> out;
    out.reserve(results.size());
    for (auto& r : results) out.push_back(std::move(*r));
    co_return out;
  }

  asio::awaitable<std::vector<ReplyResult>> run_on_all_masters(Command args) {
    auto self = shared_from_this();
    const auto deadline = Clock::now() + options.command_timeout;
    std::vector<std::shared_ptr<Node>> masters;
    if (!cluster) {
      if (auto node = node_for(seeds.front())) masters.push_back(node);
    } else {
      if (!known_owner(std::nullopt)) {
        if (auto err = co_await refresh_slots(deadline)) co_return std::vector<ReplyResult>{vpoint::Unexpected{*err}};
      }
      std::lock_guard lock(mutex);
      for (const auto& n : slots) {
        if (n && std::find(masters.begin(), masters.end(), n) == masters.end()) masters.push_back(n);
      }
    }
    if (masters.empty()) co_return std::vector<ReplyResult>{vpoint::Unexpected{closed_error()}};
    const auto payload = detail::encode_command(args);
    std::vector<Batch> batches;
    const int lane = current_lane();
    for (const auto& m : masters) batches.push_back(Batch{m->pick(lane), payload, 1});
    auto outcomes = co_await execute_all(std::move(batches), deadline);
    std::vector<ReplyResult> out;
    for (auto& outcome : outcomes) {
      auto res = to_replies(std::move(outcome));
      if (res) {
        out.push_back(std::move(res->front()));
      } else {
        out.push_back(vpoint::Unexpected{res.error()});
      }
    }
    co_return out;
  }

  void close() {
    std::map<std::string, std::shared_ptr<Node>> all;
    {
      std::lock_guard lock(mutex);
      closed = true;
      all = nodes;
    }
    for (auto& [name, node] : all) {
      for (auto& c : node->connections) c->close();
      for (auto& c : node->lane_connections) c->close();
    }
  }
};

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

Client::~Client() { impl_->close(); }

asio::awaitable<ReplyResult> Client::command(Command args, std::string_view routing_key) {
  auto impl = impl_;
  if (!impl->cluster && !args.empty()) co_return co_await impl->exec_standalone(detail::encode_command(args));
  const auto deadline = Clock::now() + impl->options.command_timeout;
  auto key = routing_key_of(args, routing_key);
  if (!impl->cluster) key.reset();
  co_return co_await impl->run_command(args, std::move(key), deadline);
}

asio::awaitable<std::vector<ReplyResult>> Client::pipeline(std::vector<Command> commands,
                                                           std::vector<std::string> routing_keys) {
  auto impl = impl_;
  co_return co_await impl->run_pipeline(std::move(commands), std::move(routing_keys));
}

asio::awaitable<std::vector<ReplyResult>> Client::pipeline(std::vector<RespCommand> commands,
                                                           std::vector<std::string> routing_keys) {
  auto impl = impl_;
  if (!impl->cluster && commands.size() == 1) {
    std::vector<ReplyResult> out;
    out.push_back(co_await impl->exec_standalone(std::move(commands.front()).take()));
    co_return out;
  }
  co_return co_await impl->run_resp_pipeline(std::move(commands), std::move(routing_keys));
}

asio::awaitable<std::vector<ReplyResult>> Client::on_all_masters(Command args) {
  auto impl = impl_;
  co_return co_await impl->run_on_all_masters(std::move(args));
}

bool Client::cluster_mode() const { return impl_->cluster; }

void Client::add_lanes(std::vector<asio::io_context*> contexts) { impl_->add_lanes(std::move(contexts)); }

void Client::close() { impl_->close(); }

}  // namespace vpoint::cache
