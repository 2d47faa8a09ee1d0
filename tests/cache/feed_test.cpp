// Change feed apply and read-through caching (cache/include/vpoint/cache/feed.hpp).
#include <catch2/catch.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "mirror_support.hpp"
#include "vpoint/cache/feed.hpp"
#include "vpoint/cache/subscriber.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Outcome;
using cache::PackStatus;

namespace {

// small_snapshot() ends at seq 42.
constexpr std::int64_t kSnapshotSeq = 42;

cache::FeedApplyResult apply_lines(MirrorFixture& f, const std::vector<std::string>& lines) {
  auto r = f.run(cache::apply_changes(f.mirror, lines));
  if (!r) throw std::runtime_error("apply_changes: " + r.error().message);
  return std::move(*r);
}

boost::asio::awaitable<bool> pause(std::chrono::milliseconds ms) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, ms);
  co_await timer.async_wait(boost::asio::use_awaitable);
  co_return true;
}

}  // namespace

TEST_CASE("feed lines are applied in seq order and move the feed position", "[feed]") {
  MirrorFixture f;
  f.load(small_snapshot());
  // Out of order on purpose: the pack needs the batch, the batch needs the new product.
  std::vector<std::string> lines = {
      R"({"type":"pack","gtin":"09506000134352","serial":"NEW1","batch":"C1","status":"active","seq":45,"op":"upsert"})",
      R"({"type":"batch","gtin":"09506000134352","batch":"C1","expiry":"300101","state":"active","seq":44,"op":"upsert"})",
      R"({"type":"product","gtin":"09506000134352","name":"Paracetamol","market":"DE","seq":43,"op":"upsert"})",
      R"({"type":"batch","gtin":"04150123456782","batch":"L3","expiry":"300630","seq":46,"op":"upsert"})",
      R"({"type":"pack","ppn":"110375286414","serial":"LATE1","batch":"L3","status":"active","seq":47,"op":"upsert"})",
  };
  auto r = apply_lines(f, lines);
  CHECK(r.position_before == kSnapshotSeq);
  CHECK(r.position == 47);
  CHECK(r.applied == 5);
  CHECK(r.unresolved == 0);
  CHECK(r.gaps.empty());
  auto position = f.run(f.mirror.feed_position());
  REQUIRE(position);
  CHECK(position->second == 47);

  auto fresh = f.verify(f.request("09506000134352", "NEW1"));
  CHECK(fresh.outcome == Outcome::ok);
  REQUIRE(fresh.stored_batch);
  CHECK(fresh.stored_batch->batch == "C1");
  // The new product got its own index: the snapshot's packs are untouched.
  CHECK(f.verify(f.request(kGtinA, "S005")).stored_batch->batch == "L1");
  CHECK(f.verify(f.request(kGtinB, "IBU1")).outcome == Outcome::ok);
  auto product = f.run(f.mirror.product("09506000134352"));
  REQUIRE(product);
  REQUIRE(*product);
  CHECK((*product)->name == "Paracetamol");
  CHECK((*product)->index == 2);
  // A new batch of a known product gets the next index, and a pack named by the PPN finds it.
  auto late = f.verify(f.request(kGtinA, "LATE1"));
  CHECK(late.outcome == Outcome::ok);
  REQUIRE(late.batch_index);
  CHECK(*late.batch_index == 2);
  CHECK(late.stored_batch->expiry == "300630");
}

TEST_CASE("feed lines at or below the stored position are skipped as replays", "[feed]") {
  MirrorFixture f;
  f.load(small_snapshot());
  std::vector<std::string> lines = {
      R"({"type":"pack","gtin":"04150123456782","serial":"S001","batch":"L1","status":"supplied","seq":43,"op":"upsert"})",
      R"({"type":"pack","gtin":"04150123456782","serial":"S002","batch":"L1","status":"destroyed","seq":44,"op":"upsert"})",
  };
  auto first = apply_lines(f, lines);
  CHECK(first.applied == 2);
  auto again = apply_lines(f, lines);
  CHECK(again.applied == 0);
  CHECK(again.skipped == 2);
  CHECK(again.position == 44);
  // An old line that would change a pack is not applied again (the pack keeps its newer state).
  auto old = apply_lines(f, {R"({"type":"pack","gtin":"04150123456782","serial":"S001","batch":"L1","status":"active","seq":40,"op":"upsert"})"});
  CHECK(old.skipped == 1);
  CHECK(f.verify(f.request(kGtinA, "S001")).status == PackStatus::supplied);
  CHECK(f.verify(f.request(kGtinA, "S002")).status == PackStatus::destroyed);
}

TEST_CASE("a jump in seq is reported as a gap and the newer lines are still applied", "[feed]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto r = apply_lines(f, {
      R"({"type":"pack","gtin":"04150123456782","serial":"S003","batch":"L1","status":"exported","seq":50,"op":"upsert"})",
      R"({"type":"pack","gtin":"04150123456782","serial":"S004","batch":"L1","status":"stolen","seq":51,"op":"upsert"})",
      R"({"type":"pack","gtin":"04150123456782","serial":"S005","batch":"L1","status":"locked","seq":53,"op":"upsert"})",
  });
  REQUIRE(r.gaps.size() == 2);
  CHECK(r.gaps[0].expected == kSnapshotSeq + 1);
  CHECK(r.gaps[0].got == 50);
  CHECK(r.gaps[1].expected == 52);
  CHECK(r.gaps[1].got == 53);
  CHECK(r.position == 53);
  CHECK(f.verify(f.request(kGtinA, "S003")).status == PackStatus::exported);
  CHECK(f.verify(f.request(kGtinA, "S005")).status == PackStatus::locked);
}

TEST_CASE("a batch recall from the feed is visible through Mirror::product and published", "[feed]") {
  MirrorFixture f;
  f.load(small_snapshot());
  std::vector<std::string> messages;
  cache::SubscriberOptions so;
  so.url = f.redis.url();
  so.channels = {std::string(cache::kInvalidationChannel)};
  cache::Subscriber sub(f.io.get_executor(), so,
                        [&](std::string_view, std::string_view message) { messages.emplace_back(message); });
  REQUIRE(sub.start().empty());
  for (int i = 0; i < 250 && !sub.subscribed(); ++i) f.run(pause(std::chrono::milliseconds(20)));
  REQUIRE(sub.subscribed());

  // Warm the mirror's own product cache: the recall must drop it.
  auto before = f.run(f.mirror.product(kPpnA));
  REQUIRE(before);
  REQUIRE(*before);
  CHECK((*before)->batches.at(0).state == cache::BatchState::active);
  auto pack_before = f.verify(f.request(kGtinA, "S007"));
  CHECK(pack_before.stored_batch->state == cache::BatchState::active);

  auto r = apply_lines(f, {R"({"type":"batch","gtin":"04150123456782","batch":"L1","expiry":"281231","state":"recalled","reason":"sterility","changed_at":1800000000000,"seq":43,"op":"upsert"})"});
  CHECK(r.applied == 1);
  REQUIRE(r.changed_products == std::vector<std::string>{kGtinA});

  auto after = f.run(f.mirror.product(kPpnA));
  REQUIRE(after);
  REQUIRE(*after);
  REQUIRE((*after)->batches.size() == 2);  // updated in place, not appended
  CHECK((*after)->batches[0].state == cache::BatchState::recalled);
  CHECK((*after)->batches[0].reason == "sterility");
  CHECK((*after)->batches[0].changed_at_ms == 1800000000000);
  CHECK(f.verify(f.request(kGtinA, "S007")).stored_batch->state == cache::BatchState::recalled);

  for (int i = 0; i < 250 && messages.empty(); ++i) f.run(pause(std::chrono::milliseconds(20)));
  REQUIRE(messages.size() == 1);
  CHECK(messages[0] == kGtinA);

  // A reinstatement clears the reason.
  apply_lines(f, {R"({"type":"batch","gtin":"04150123456782","batch":"L1","state":"active","seq":44,"op":"upsert"})"});
  auto reinstated = f.run(f.mirror.batch(kGtinA, "L1"));
  REQUIRE(reinstated);
  REQUIRE(*reinstated);
  CHECK((*reinstated)->state == cache::BatchState::active);
  CHECK((*reinstated)->reason.empty());
  CHECK((*reinstated)->expiry == "281231");
  sub.stop();
}

TEST_CASE("a pack status upsert overrides the local status and is seen by verify", "[feed]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(f.verify(f.request(kGtinA, "S008")).status == PackStatus::active);
  apply_lines(f, {R"({"type":"pack","gtin":"04150123456782","serial":"S008","batch":"L1","status":"supplied","seq":43,"op":"upsert"})"});
  auto v = f.verify(f.request(kGtinA, "S008"));
  CHECK(v.outcome == Outcome::ok);
  CHECK(v.status == PackStatus::supplied);
  // A pack no transaction of this site is pending for: central's word stands, also "active" after a status.
  apply_lines(f, {R"({"type":"pack","gtin":"04150123456782","serial":"S009","batch":"L1","status":"destroyed","seq":44,"op":"upsert"})"});
  CHECK(f.verify(f.request(kGtinA, "S009")).status == PackStatus::destroyed);
  apply_lines(f, {R"({"type":"pack","gtin":"04150123456782","serial":"S009","batch":"L1","status":"active","seq":45,"op":"upsert"})"});
  CHECK(f.verify(f.request(kGtinA, "S009")).status == PackStatus::active);
  // Applying the same upsert twice (e.g. after a crash before the position moved) is harmless.
  f.redis.cli({"SET", "mirror:seq:1", "44"});
  auto again = apply_lines(f, {R"({"type":"pack","gtin":"04150123456782","serial":"S009","batch":"L1","status":"active","seq":45,"op":"upsert"})"});
  CHECK(again.applied == 1);
  CHECK(f.verify(f.request(kGtinA, "S009")).status == PackStatus::active);
  // (A pack with a transaction of this site still pending keeps its local state: tests/cache/merge_test.cpp.)
}

TEST_CASE("a pack delete from the feed makes the serial unknown", "[feed]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(f.verify(f.request(kGtinA, "S010")).outcome == Outcome::ok);
  // A delete names only the code (here the PPN) and the serial.
  auto r = apply_lines(f, {R"({"type":"pack","ppn":"110375286414","serial":"S010","seq":43,"op":"delete"})"});
  CHECK(r.applied == 1);
  CHECK(f.verify(f.request(kGtinA, "S010")).outcome == Outcome::unknown_serial);
  CHECK(f.verify(f.request(kGtinA, "S011")).outcome == Outcome::ok);
}

TEST_CASE("feed lines the mirror cannot place are counted and skipped, malformed ones refuse the call", "[feed]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto r = apply_lines(f, {
      R"({"type":"pack","gtin":"09999999999999","serial":"X1","batch":"B","status":"active","seq":43,"op":"upsert"})",
      R"({"type":"pack","gtin":"04150123456782","serial":"X2","batch":"NOPE","status":"active","seq":44,"op":"upsert"})",
      R"({"type":"pack","gtin":"04150123456782","serial":"S012","batch":"L1","status":"supplied","seq":45,"op":"upsert"})",
  });
  CHECK(r.unresolved == 2);
  CHECK(r.applied == 1);
  CHECK(r.position == 45);
  REQUIRE(r.notes.size() == 2);
  CHECK(r.notes[1].find("batch") != std::string::npos);

  auto bad = f.run(cache::apply_changes(f.mirror, {
      R"({"type":"pack","gtin":"04150123456782","serial":"S013","batch":"L1","status":"supplied","seq":46,"op":"upsert"})",
      R"({"type":"pack","gtin":"04150123456782","serial":"S014","batch":"L1","status":"supplied","op":"upsert"})"}));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == cache::MirrorErrorKind::bad_data);
  CHECK(bad.error().message.find("line 2") != std::string::npos);
  CHECK(bad.error().message.find("seq") != std::string::npos);
  CHECK(f.verify(f.request(kGtinA, "S013")).status == PackStatus::active);  // nothing written
  CHECK(f.run(f.mirror.feed_position())->second == 45);
}

TEST_CASE("a pack found live in the central system is cached into the mirror", "[feed]") {
  MirrorFixture f;
  f.load(small_snapshot());
  cache::LivePack known{"gtin", kGtinB, "IBU9", "B7", "290101", "active"};
  REQUIRE(f.run(cache::cache_pack(f.mirror, known)));
  CHECK(f.verify(f.request(kGtinB, "IBU9")).outcome == Outcome::ok);
  // Product and batch unknown to the mirror: created from what the look-up gave.
  cache::LivePack unknown{"ppn", "119999999999", "Z1", "Q9", "301231", "supplied"};
  REQUIRE(f.run(cache::cache_pack(f.mirror, unknown)));
  auto v = f.verify(f.request("119999999999", "Z1"));
  CHECK(v.outcome == Outcome::ok);
  CHECK(v.status == PackStatus::supplied);
  CHECK(v.stored_batch->expiry == "301231");
  CHECK(f.run(f.mirror.feed_position())->second == kSnapshotSeq);  // the position is the feed's alone
  // A status this build does not know is stored as such, never refused or read as active (issue 14).
  cache::LivePack odd{"gtin", kGtinB, "IBU8", "B7", "290101", "gone"};
  REQUIRE(f.run(cache::cache_pack(f.mirror, odd)));
  auto seen = f.verify(f.request(kGtinB, "IBU8"));
  CHECK(seen.status == PackStatus::unknown);
  CHECK(seen.central_status == "gone");
  cache::LivePack bad{"gtin", kGtinB, "", "B7", "290101", "active"};
  auto refused = f.run(cache::cache_pack(f.mirror, bad));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("serial") != std::string::npos);
}
