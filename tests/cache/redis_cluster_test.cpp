// Transport against a real 3-master Redis Cluster: slots, routing, pipelines across nodes, MOVED and ASK.
#include <catch2/catch.hpp>

#include <set>

#include "redis_server.hpp"
#include "redis_test_util.hpp"
#include "vpoint/cache/redis.hpp"

using namespace std::chrono_literals;
using vpoint::cache::Client;
using vpoint::cache::ClientOptions;
using vpoint::cache::Command;
using vpoint::cache::key_slot;
using vpoint::cache::ReplyResult;
using vpoint::test::IoThreads;
using vpoint::test::numbered;
using vpoint::test::show;
using vpoint::test::RedisCluster;

namespace {

long long command_calls(vpoint::test::RedisServer& node, const std::string& command) {
  const auto stats = node.cli({"INFO", "commandstats"});
  const auto at = stats.find("cmdstat_" + command + ":calls=");
  if (at == std::string::npos) return 0;
  return std::stoll(stats.substr(at + command.size() + 15));
}

}  // namespace

TEST_CASE("key_slot is CRC16 mod 16384 honouring hash tags", "[redis][cluster]") {
  CHECK(key_slot("123456789") == (0x31C3 & 16383));  // CRC16/XMODEM check value (Cluster spec)
  CHECK(key_slot("foo") == 12182);                    // CLUSTER KEYSLOT foo
  CHECK(key_slot("{user1000}.following") == key_slot("user1000"));
  CHECK(key_slot("foo{}{bar}") == key_slot("foo{}{bar}"));  // empty tag: whole key
  CHECK(key_slot("foo{}{bar}") != key_slot("bar"));
  CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
  CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));
}

TEST_CASE("cluster: keys are routed to their slot owner across 3 masters", "[redis][cluster]") {
  RedisCluster cluster;
  IoThreads io;
  ClientOptions options;
  options.cluster_nodes = {cluster.seeds().front()};  // one seed is enough: the rest is learned
  Client client(io.executor(), options);
  REQUIRE(client.cluster_mode());

  // Our slot function agrees with the server's for plain keys, hash tags and the odd cases.
  for (const std::string key : {"foo", "pk:{17}:04150123456782:3", "{user1000}.following", "foo{}{bar}",
                                "foo{{bar}}zap", "foo{bar}{zap}", "", "{}", "a{b"}) {
    INFO("key '" << key << "'");
    CHECK(std::to_string(key_slot(key)) == cluster.node(0).cli({"CLUSTER", "KEYSLOT", key}));
  }

  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) {
    auto r = io.run(client.command({"SET", numbered("vp:key:", i), std::to_string(i)}));
    INFO(show(r));
    REQUIRE(r);
    REQUIRE(r->str == "OK");
  }
  // Every master holds some of the keys and each key is on the node owning its slot.
  long long total = 0;
  for (std::size_t n = 0; n < cluster.size(); ++n) {
    const auto keys = std::stoll(cluster.node(n).cli({"DBSIZE"}));
    CHECK(keys > 0);
    total += keys;
  }
  CHECK(total == kKeys);
  const std::string probe = "vp:key:7";
  CHECK(cluster.node(cluster.owner_of_slot(key_slot(probe))).cli({"GET", probe}) == "7");

  // A pipeline spanning all masters comes back in request order.
  std::vector<Command> batch;
  for (int i = 0; i < kKeys; ++i) batch.push_back({"GET", numbered("vp:key:", i)});
  batch.push_back({"INCR", "vp:key:1", "extra-arg"});  // an error reply stays at its position
  auto results = io.run(client.pipeline(batch));
  REQUIRE(results.size() == batch.size());
  for (int i = 0; i < kKeys; ++i) {
    INFO("command " << i << ": " << show(results[i]));
    REQUIRE(results[i]);
    CHECK(results[i]->str == std::to_string(i));
  }
  REQUIRE(results.back());
  CHECK(results.back()->is_error());

  // Explicit routing keys (e.g. for FCALL, whose args[1] is the function name).
  auto routed = io.run(client.command({"EVAL", "return redis.call('GET', KEYS[1])", "1", "vp:key:42"}, "vp:key:42"));
  INFO(show(routed));
  REQUIRE(routed);
  CHECK(routed->str == "42");

  auto everywhere = io.run(client.on_all_masters({"DBSIZE"}));
  REQUIRE(everywhere.size() == 3);
  long long sum = 0;
  for (const auto& r : everywhere) {
    REQUIRE(r);
    sum += r->integer;
  }
  CHECK(sum == kKeys);
}

TEST_CASE("cluster: ASK during a slot migration and MOVED after it are followed transparently",
          "[redis][cluster][migration]") {
  RedisCluster cluster;
  IoThreads io;
  ClientOptions options;
  options.cluster_nodes = cluster.seeds();
  Client client(io.executor(), options);

  const std::uint16_t slot = key_slot("{mig}");
  const std::size_t src = cluster.owner_of_slot(slot);
  const std::size_t dst = (src + 1) % cluster.size();
  auto& source = cluster.node(src);
  auto& target = cluster.node(dst);
  const auto source_id = cluster.node_id(src);
  const auto target_id = cluster.node_id(dst);
  REQUIRE(io.run(client.command({"SET", "{mig}a", "1"})));
  REQUIRE(io.run(client.command({"SET", "{mig}b", "2"})));
  CHECK(source.cli({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}) == "2");

  // Cluster spec "Live reconfiguration": IMPORTING on the target, MIGRATING on the source.
  target.cli({"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", source_id});
  source.cli({"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", target_id});

  // A new key in a migrating slot: the source answers ASK, the client sends ASKING + SET to the target.
  auto created = io.run(client.command({"SET", "{mig}new", "3"}));
  INFO(show(created));
  REQUIRE(created);
  CHECK(created->str == "OK");
  CHECK(target.cli({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}) == "1");
  auto read_new = io.run(client.command({"GET", "{mig}new"}));
  REQUIRE(read_new);
  CHECK(read_new->str == "3");

  // Keys moved to the target while the slot is still migrating: ASK again.
  source.cli({"MIGRATE", "127.0.0.1", std::to_string(target.port()), "", "0", "5000", "KEYS", "{mig}a", "{mig}b"});
  auto moved_key = io.run(client.command({"GET", "{mig}a"}));
  INFO(show(moved_key));
  REQUIRE(moved_key);
  CHECK(moved_key->str == "1");

  // Finish: the slot belongs to the target everywhere; the source now answers MOVED.
  for (std::size_t n = 0; n < cluster.size(); ++n) {
    cluster.node(n).cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target_id});
  }
  auto after = io.run(client.command({"GET", "{mig}b"}));
  INFO(show(after));
  REQUIRE(after);
  CHECK(after->str == "2");

  // The MOVED updated the map: the next read goes straight to the target, the source sees no GET.
  const auto source_gets = command_calls(source, "get");
  auto direct = io.run(client.command({"GET", "{mig}a"}));
  REQUIRE(direct);
  CHECK(direct->str == "1");
  CHECK(command_calls(source, "get") == source_gets);

  // A pipeline touching the moved slot and other slots still answers in order.
  auto results = io.run(client.pipeline({{"GET", "{mig}a"}, {"SET", "elsewhere", "x"}, {"GET", "{mig}new"}}));
  REQUIRE(results.size() == 3);
  REQUIRE(results[0]);
  CHECK(results[0]->str == "1");
  REQUIRE(results[1]);
  CHECK(results[1]->str == "OK");
  REQUIRE(results[2]);
  CHECK(results[2]->str == "3");
}
