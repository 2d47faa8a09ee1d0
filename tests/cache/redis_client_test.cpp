// Transport against a real standalone redis-server: replies, pipelining, deadlines, faults, AUTH, TLS.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include "redis_server.hpp"
#include "redis_test_util.hpp"
#include "vpoint/cache/redis.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using vpoint::cache::Client;
using vpoint::cache::ClientOptions;
using vpoint::cache::Command;
using vpoint::cache::ErrorKind;
using vpoint::cache::Reply;
using vpoint::cache::ReplyResult;
using vpoint::cache::RespCommand;
using vpoint::test::IoThreads;
using vpoint::test::numbered;
using vpoint::test::show;
using vpoint::test::RedisServer;

namespace {

ClientOptions options_for(const RedisServer& redis) {
  ClientOptions o;
  o.url = redis.url();
  return o;
}

long long info_field(const RedisServer& redis, const std::string& section, const std::string& field) {
  const auto info = redis.cli({"INFO", section});
  const auto at = info.find(field + ":");
  REQUIRE(at != std::string::npos);
  return std::stoll(info.substr(at + field.size() + 1));
}

}  // namespace

TEST_CASE("commands round-trip every reply type through a real redis-server", "[redis]") {
  RedisServer redis;
  IoThreads io;
  Client client(io.executor(), options_for(redis));
  CHECK_FALSE(client.cluster_mode());

  const std::string binary("a\0b\r\nc", 6);
  auto set = io.run(client.command({"SET", "vp:bin", binary}));
  REQUIRE(set);
  CHECK(set->type == Reply::Type::status);
  CHECK(set->str == "OK");

  auto get = io.run(client.command({"GET", "vp:bin"}));
  REQUIRE(get);
  CHECK(get->type == Reply::Type::string);
  CHECK(get->str == binary);

  auto missing = io.run(client.command({"GET", "vp:missing"}));
  REQUIRE(missing);
  CHECK(missing->is_nil());

  auto incr = io.run(client.command({"INCRBY", "vp:n", "41"}));
  REQUIRE(incr);
  CHECK(incr->type == Reply::Type::integer);
  CHECK(incr->integer == 41);

  io.run(client.command({"RPUSH", "vp:list", "x", "y"}));
  auto range = io.run(client.command({"LRANGE", "vp:list", "0", "-1"}));
  REQUIRE(range);
  REQUIRE(range->type == Reply::Type::array);
  REQUIRE(range->elements.size() == 2);
  CHECK(range->elements[1].str == "y");

  // A Redis error reply is a reply, not a transport failure.
  auto wrong = io.run(client.command({"INCR", "vp:list"}));
  REQUIRE(wrong);
  CHECK(wrong->is_error());
  CHECK_THAT(wrong->str, Catch::Contains("WRONGTYPE"));
}

TEST_CASE("nested arrays, nils, integers and errors inside arrays arrive as one Reply tree", "[redis]") {
  RedisServer redis;
  IoThreads io;
  Client client(io.executor(), options_for(redis));
  // Lua: a table stops at its first nil, so false stands for a nil (Redis converts false to a nil bulk).
  auto nested = io.run(client.command(
      {"EVAL", "return {1, {'a', {2, false}, {}}, redis.error_reply('E inner'), 'tail', false}", "0"}));
  INFO(show(nested));
  REQUIRE(nested);
  REQUIRE(nested->type == Reply::Type::array);
  REQUIRE(nested->elements.size() == 5);
  CHECK(nested->elements[0].integer == 1);
  const Reply& inner = nested->elements[1];
  REQUIRE(inner.type == Reply::Type::array);
  REQUIRE(inner.elements.size() == 3);
  CHECK(inner.elements[0].str == "a");
  REQUIRE(inner.elements[1].elements.size() == 2);
  CHECK(inner.elements[1].elements[0].integer == 2);
  CHECK(inner.elements[1].elements[1].is_nil());
  CHECK(inner.elements[2].type == Reply::Type::array);
  CHECK(inner.elements[2].elements.empty());
  CHECK(nested->elements[2].is_error());
  CHECK(nested->elements[2].str == "E inner");
  CHECK(nested->elements[3].str == "tail");
  CHECK(nested->elements[4].is_nil());
  // A nil array (BLPOP timing out) is a nil, not an empty array.
  auto timed_out = io.run(client.command({"BLPOP", "vp:empty", "0.01"}));
  REQUIRE(timed_out);
  CHECK(timed_out->is_nil());
}

TEST_CASE("RespCommand writes the RESP bytes of its arguments and refuses a wrong argument count", "[redis]") {
  RespCommand c(4);
  c.arg("SET").arg(std::string_view("k\r\n", 3)).arg(-42LL).arg(std::string_view());
  CHECK(c.payload() == "*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$3\r\n-42\r\n$0\r\n\r\n");
  RespCommand short_one(3);
  short_one.arg("GET").arg("k");
  CHECK_THROWS_WITH(short_one.payload(), Catch::Contains("2 arguments given, 3 declared"));

  // Sent through the Client, pipelined with a command of the vector form, each reply at its place.
  RedisServer redis;
  IoThreads io;
  Client client(io.executor(), options_for(redis));
  std::vector<RespCommand> commands;
  RespCommand set(3);
  set.arg("SET").arg("vp:resp").arg(7LL);
  commands.push_back(std::move(set));
  RespCommand get(2);
  get.arg("GET").arg("vp:resp");
  commands.push_back(std::move(get));
  auto replies = io.run(client.pipeline(std::move(commands), std::vector<std::string>{"vp:resp", "vp:resp"}));
  REQUIRE(replies.size() == 2);
  REQUIRE(replies[0]);
  CHECK(replies[0]->str == "OK");
  REQUIRE(replies[1]);
  CHECK(replies[1]->str == "7");
}

TEST_CASE("1000 concurrent callers on one connection each get their own reply", "[redis][pipeline]") {
  RedisServer redis;
  IoThreads io(2);
  auto options = options_for(redis);
  options.connections_per_node = 1;
  Client client(io.executor(), options);
  const auto connections_before = info_field(redis, "stats", "total_connections_received");

  constexpr int kCallers = 1000;
  std::vector<std::future<ReplyResult>> futures;
  futures.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    futures.push_back(io.spawn(client.command({"ECHO", numbered("caller-", i)})));
  }
  int matched = 0;
  for (int i = 0; i < kCallers; ++i) {
    REQUIRE(futures[i].wait_for(20s) == std::future_status::ready);
    auto r = futures[i].get();
    REQUIRE(r);
    if (r->str == numbered("caller-", i)) ++matched;
  }
  CHECK(matched == kCallers);
  // All of them shared the one connection (plus redis-cli's INFO connection), none opened its own.
  CHECK(info_field(redis, "stats", "total_connections_received") - connections_before <= 2);
}

TEST_CASE("pipeline returns each reply at its command's position", "[redis][pipeline]") {
  RedisServer redis;
  IoThreads io;
  Client client(io.executor(), options_for(redis));
  std::vector<Command> batch;
  for (int i = 0; i < 300; ++i) {
    switch (i % 3) {
      case 0: batch.push_back({"SET", numbered("vp:p", i), numbered("v", i)}); break;
      case 1: batch.push_back({"GET", numbered("vp:p", i - 1)}); break;
      case 2: batch.push_back({"HSET", numbered("vp:p", i - 2), "f", "x"}); break;  // WRONGTYPE
    }
  }
  auto results = io.run(client.pipeline(batch));
  REQUIRE(results.size() == batch.size());
  for (int i = 0; i < 300; ++i) {
    INFO("command " << i << ": " << show(results[i]));
    REQUIRE(results[i]);
    switch (i % 3) {
      case 0: CHECK(results[i]->str == "OK"); break;
      case 1: CHECK(results[i]->str == std::string("v").append(std::to_string(i - 1))); break;
      case 2: CHECK(results[i]->is_error()); break;
    }
  }
}

TEST_CASE("a command past its deadline fails with timeout and later replies still match", "[redis][deadline]") {
  RedisServer redis;
  IoThreads io;
  auto options = options_for(redis);
  options.connections_per_node = 1;
  options.command_timeout = 300ms;
  Client client(io.executor(), options);
  REQUIRE(io.run(client.command({"SET", "vp:after", "later"})));

  const auto start = std::chrono::steady_clock::now();
  auto blocked = io.run(client.command({"BLPOP", "vp:empty", "1"}));  // Redis answers after 1 s
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().kind == ErrorKind::timeout);
  CHECK(elapsed < 900ms);

  // The late BLPOP reply is discarded; the next reply on the same connection belongs to the next command.
  std::this_thread::sleep_for(800ms);
  auto after = io.run(client.command({"GET", "vp:after"}));
  INFO(show(after));
  REQUIRE(after);
  CHECK(after->str == "later");
}

TEST_CASE("redis down: the caller gets unavailable within the deadline, never a hang", "[redis][fault]") {
  IoThreads io;
  ClientOptions options;
  options.url = numbered("redis://127.0.0.1:", vpoint::test::free_port());  // nobody listens
  options.command_timeout = 500ms;
  Client client(io.executor(), options);
  const auto start = std::chrono::steady_clock::now();
  auto r = io.run(client.command({"PING"}));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::unavailable);
  CHECK_THAT(r.error().message, Catch::Contains("refused"));
  CHECK(elapsed <= 900ms);  // the 500 ms deadline plus scheduling slack on a busy machine
}

TEST_CASE("redis killed mid-operation: in-flight commands fail clearly, a restart recovers", "[redis][fault]") {
  RedisServer redis;
  IoThreads io;
  auto options = options_for(redis);
  options.command_timeout = 1500ms;
  options.reconnect_backoff_max = 200ms;
  Client client(io.executor(), options);
  REQUIRE(io.run(client.command({"SET", "vp:k", "v"})));

  // Blocked commands are certainly in flight when the server dies.
  std::vector<std::future<ReplyResult>> in_flight;
  for (int i = 0; i < 20; ++i) in_flight.push_back(io.spawn(client.command({"BLPOP", "vp:never", "5"})));
  std::this_thread::sleep_for(200ms);
  const auto killed_at = std::chrono::steady_clock::now();
  redis.kill();
  for (auto& f : in_flight) {
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    auto r = f.get();
    REQUIRE_FALSE(r);
    INFO(show(r));
    CHECK((r.error().kind == ErrorKind::closed || r.error().kind == ErrorKind::io));
    CHECK_THAT(r.error().message, Catch::Contains("not retried"));
  }
  CHECK(std::chrono::steady_clock::now() - killed_at < 1s);  // failed on the drop, not at the deadline

  auto down = io.run(client.command({"GET", "vp:k"}));
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::unavailable);

  redis.start();  // same port, no persistence: data is gone but the service is back
  auto back = io.run(client.command({"SET", "vp:k", "again"}));
  INFO(show(back));
  REQUIRE(back);
  CHECK(back->str == "OK");
  auto value = io.run(client.command({"GET", "vp:k"}));
  REQUIRE(value);
  CHECK(value->str == "again");
}

TEST_CASE("AUTH with the right password works, a wrong or missing one is an auth error", "[redis][auth]") {
  RedisServer redis({.password = "s3cret"});
  IoThreads io;
  {
    auto options = options_for(redis);
    options.password = "s3cret";
    Client client(io.executor(), options);
    auto r = io.run(client.command({"PING"}));
    INFO(show(r));
    REQUIRE(r);
    CHECK(r->str == "PONG");
  }
  {
    auto options = options_for(redis);
    options.password = "wrong";
    Client client(io.executor(), options);
    auto r = io.run(client.command({"PING"}));
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::auth);
    CHECK_THAT(r.error().message, Catch::Contains("WRONGPASS"));
  }
  {
    Client client(io.executor(), options_for(redis));
    auto r = io.run(client.command({"PING"}));
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::auth);
    CHECK_THAT(r.error().message, Catch::Contains("NOAUTH"));
  }
}

TEST_CASE("username and password and the db number come from the URL", "[redis][auth]") {
  RedisServer redis;
  redis.cli({"ACL", "SETUSER", "vpoint", "on", ">pa55", "~*", "&*", "+@all"});
  IoThreads io;
  ClientOptions options;
  options.url = "redis://vpoint:pa55@" + redis.host_port() + "/3";
  Client client(io.executor(), options);
  auto who = io.run(client.command({"ACL", "WHOAMI"}));
  INFO(show(who));
  REQUIRE(who);
  CHECK(who->str == "vpoint");
  REQUIRE(io.run(client.command({"SET", "vp:db", "three"})));
  CHECK(redis.cli({"-n", "3", "GET", "vp:db"}) == "three");
  CHECK(redis.cli({"-n", "0", "EXISTS", "vp:db"}) == "0");
}

TEST_CASE("TLS: a server signed by the configured CA is accepted, with and without client certs",
          "[redis][tls]") {
  RedisServer redis({.tls = true, .tls_auth_clients = true});
  IoThreads io;
  const auto& files = redis.tls_files();
  {
    auto options = options_for(redis);
    options.tls_ca_file = files.ca_cert;
    options.tls_cert_file = files.client_cert;
    options.tls_key_file = files.client_key;
    Client client(io.executor(), options);
    REQUIRE(io.run(client.command({"SET", "vp:tls", "yes"})));
    auto r = io.run(client.command({"GET", "vp:tls"}));
    INFO(show(r));
    REQUIRE(r);
    CHECK(r->str == "yes");
  }
  {
    // The server demands a client certificate (tls-auth-clients yes): without one, a clear TLS/closed error.
    auto options = options_for(redis);
    options.tls_ca_file = files.ca_cert;
    options.command_timeout = 1000ms;
    Client client(io.executor(), options);
    auto r = io.run(client.command({"PING"}));
    INFO(show(r));
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::tls);
  }
}

TEST_CASE("TLS: a server certificate from another CA is refused with a tls error", "[redis][tls]") {
  RedisServer redis({.tls = true});
  IoThreads io;
  auto options = options_for(redis);
  options.tls_ca_file = redis.tls_files().other_ca_cert;
  Client client(io.executor(), options);
  const auto start = std::chrono::steady_clock::now();
  auto r = io.run(client.command({"PING"}));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::tls);
  CHECK_THAT(r.error().message, Catch::Contains("certificate verify failed"));
  CHECK(std::chrono::steady_clock::now() - start < 1s);  // a config error fails fast, not at the deadline

  // Trusting the right CA over the same URL works.
  options.tls_ca_file = redis.tls_files().ca_cert;
  Client good(io.executor(), options);
  auto ok = io.run(good.command({"PING"}));
  INFO(show(ok));
  REQUIRE(ok);
  CHECK(ok->str == "PONG");
}

TEST_CASE("a lane's caller gets its own connection and its reply on its own thread", "[redis][lanes]") {
  RedisServer redis;
  // The Client's own executor is never run: a command that needed its thread would time out.
  asio::io_context idle;
  IoThreads lane_a(1), lane_b(1);  // declared first: the lanes' io_contexts must outlive the Client
  ClientOptions options = options_for(redis);
  options.command_timeout = 2s;
  Client client(idle.get_executor(), options);
  // Lanes are added when the Client already has its node (vpointd checks Redis first, then adds them).
  std::vector<asio::io_context*> lanes{&lane_a.context(), &lane_b.context()};
  client.add_lanes(lanes);

  struct Seen {
    long long id = 0;
    std::thread::id before, after;
  };
  auto client_id = [&client]() -> asio::awaitable<Seen> {
    Seen seen;
    seen.before = std::this_thread::get_id();
    Command command{"CLIENT", "ID"};  // (GCC 12: no braced list inside a co_await expression)
    auto reply = co_await client.command(std::move(command));
    seen.after = std::this_thread::get_id();
    if (reply && reply->type == Reply::Type::integer) seen.id = reply->integer;
    co_return seen;
  };
  auto a1 = lane_a.run(client_id());
  auto a2 = lane_a.run(client_id());
  auto b1 = lane_b.run(client_id());
  REQUIRE(a1.id > 0);
  REQUIRE(b1.id > 0);
  CHECK(a1.after == a1.before);  // completed on the calling thread
  CHECK(b1.after == b1.before);
  CHECK(a2.id == a1.id);  // the same lane: the same connection
  CHECK(b1.id != a1.id);  // another lane: its own connection

  // 200 concurrent callers of one lane share its one connection (pipelined), each with its own reply.
  auto many = [&client]() -> asio::awaitable<std::vector<std::string>> {
    std::vector<std::future<ReplyResult>> futures;
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < 200; ++i)
      futures.push_back(asio::co_spawn(ex, client.command({"ECHO", "lane-" + std::to_string(i)}), asio::use_future));
    std::vector<std::string> out;
    // The futures complete on this very thread: wait for them from the io_context, not by blocking it.
    asio::steady_timer pause(ex);
    for (auto& f : futures) {
      while (f.wait_for(0s) != std::future_status::ready) {
        pause.expires_after(1ms);
        co_await pause.async_wait(asio::use_awaitable);
      }
      auto r = f.get();
      out.push_back(r ? r->str : "error: " + r.error().message);
    }
    co_return out;
  };
  auto echoed = lane_b.run(many());
  REQUIRE(echoed.size() == 200);
  for (int i = 0; i < 200; ++i) CHECK(echoed[static_cast<std::size_t>(i)] == "lane-" + std::to_string(i));
  // Redis saw the two lane connections (plus this check's own redis-cli), none from the idle pool.
  CHECK(info_field(redis, "clients", "connected_clients") == 3);
}

TEST_CASE("closing the client fails pending and later commands with closed", "[redis]") {
  RedisServer redis;
  IoThreads io;
  Client client(io.executor(), options_for(redis));
  auto pending = io.spawn(client.command({"BLPOP", "vp:never", "5"}));
  std::this_thread::sleep_for(100ms);
  client.close();
  REQUIRE(pending.wait_for(2s) == std::future_status::ready);
  auto r = pending.get();
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::closed);
  auto later = io.run(client.command({"PING"}));
  REQUIRE_FALSE(later);
  CHECK(later.error().kind == ErrorKind::closed);
}

TEST_CASE("bad client options are refused with a message naming the setting", "[redis]") {
  IoThreads io(1);
  ClientOptions bad_url;
  bad_url.url = "http://127.0.0.1:6379";
  CHECK_THROWS_WITH(Client(io.executor(), bad_url), Catch::Contains("redis url"));
  ClientOptions bad_pool;
  bad_pool.connections_per_node = 0;
  CHECK_THROWS_WITH(Client(io.executor(), bad_pool), Catch::Contains("connections_per_node"));
  ClientOptions bad_ca;
  bad_ca.url = "rediss://127.0.0.1:6379";
  bad_ca.tls_ca_file = "/nonexistent/ca.pem";
  CHECK_THROWS_WITH(Client(io.executor(), bad_ca), Catch::Contains("tls_ca_file"));
}
