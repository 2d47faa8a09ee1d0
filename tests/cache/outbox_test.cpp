// cache::Outbox against a real redis-server: the pack Function's state changes, read typed and in order,
// removed only when acknowledged.
#include <catch2/catch.hpp>

#include "mirror_support.hpp"
#include "vpoint/cache/outbox.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Action;
using cache::Operation;

TEST_CASE("the outbox gives each partition's changes in order and keeps them until acknowledged", "[outbox]") {
  MirrorFixture f;
  f.load(small_snapshot());
  cache::Outbox outbox(f.client);
  auto req = f.request(kGtinA, "S003");
  auto supplied = f.decommission(req, Action::supply);
  auto undone = f.undo(req, Action::supply);
  f.verify(f.request(kGtinA, "S004"));  // a verification changes nothing: no outbox entry
  const int p = cache::Mirror::partition_of(kGtinA, "S003");

  auto depth = f.run(outbox.depth());
  REQUIRE(depth);
  CHECK(depth->total == 2);
  CHECK(depth->partitions.at(p) == 2);

  auto read = f.run(outbox.read({p}, 10));
  REQUIRE(read);
  REQUIRE(read->size() == 1);
  const auto& entries = read->front();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].partition == p);
  CHECK(entries[0].transaction_id == supplied.transaction_id);
  CHECK(entries[0].operation == Operation::decommission);
  CHECK(entries[0].action == Action::supply);
  CHECK(entries[0].code == kGtinA);
  CHECK(entries[0].serial == "S003");
  CHECK(entries[0].location == kHere);
  CHECK(entries[0].time_ms == supplied.redis_time_ms);
  CHECK(entries[1].transaction_id == undone.transaction_id);
  CHECK(entries[1].operation == Operation::undo);
  CHECK(entries[0].id < entries[1].id);

  // Only what the central system answered leaves; the rest stays, in order.
  CHECK(f.run(outbox.acknowledge({entries[0]})).value() == 1);
  auto rest = f.run(outbox.read({p}, 10));
  REQUIRE(rest);
  REQUIRE(rest->front().size() == 1);
  CHECK(rest->front()[0].transaction_id == undone.transaction_id);
  CHECK(f.run(outbox.acknowledge({entries[0]})).value() == 0);  // acknowledging twice removes nothing more
  CHECK(f.run(outbox.depth()).value().total == 1);
}
