// Statuses and states the central system sends that this build does not know, the value format of a
// generation and the pending bit (issue 14): stored as such, never skipped, never read as active.
#include <catch2/catch.hpp>

#include <sstream>

#include "mirror_support.hpp"
#include "vpoint/cache/feed.hpp"
#include "vpoint/cache/outbox.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Outcome;
using cache::PackStatus;

namespace {

// small_snapshot() plus packs with a known late status, an unknown one and a non-string one, and a batch in
// a state this build does not know.
std::string odd_snapshot() {
  auto text = small_snapshot();
  std::string extra =
      R"({"type":"batch","gtin":"05012345678900","batch":"Q1","expiry":"290101","state":"quarantined"})" "\n"
      R"({"type":"pack","gtin":"04150123456782","serial":"OUT1","batch":"L1","status":"checked_out"})" "\n"
      R"({"type":"pack","gtin":"04150123456782","serial":"ODD1","batch":"L1","status":"in_transit"})" "\n"
      R"({"type":"pack","gtin":"04150123456782","serial":"ODD2","batch":"L1","status":7})" "\n"
      R"({"type":"pack","gtin":"05012345678900","serial":"QPACK","batch":"Q1","status":"active"})" "\n";
  text.insert(text.find(R"({"type":"end")"), extra);
  return text;
}

std::int64_t stored_value(MirrorFixture& f, const char* code, const char* serial) {
  auto peeked = f.run(f.mirror.peek(code, serial));
  REQUIRE(peeked);
  REQUIRE(*peeked);
  auto p = cache::Mirror::partition_of(code, serial);
  // The bucket is not known here: look through the partition's buckets of generation 1.
  for (int b = 0; b < 16; ++b) {
    auto v = f.redis.cli({"HGET", "pk:{" + std::to_string(p) + "}:1:" + std::to_string(b), "000" + std::string(serial)});
    if (!v.empty()) return std::stoll(v);
  }
  FAIL("pack value not found");
  return -1;
}

}  // namespace

TEST_CASE("a snapshot with unknown statuses and states is imported whole, and they are never read as active",
          "[mirror][truth]") {
  MirrorFixture f;
  auto stats = f.load(odd_snapshot());
  std::printf("injected: 2 unknown pack statuses, 1 unknown batch state; counted: %llu, %llu\n",
              static_cast<unsigned long long>(stats.unknown_statuses),
              static_cast<unsigned long long>(stats.unknown_batch_states));
  CHECK(stats.unknown_statuses == 2);
  CHECK(stats.unknown_batch_states == 1);
  CHECK(stats.packs == 27);

  CHECK(f.verify(f.request(kGtinA, "OUT1")).status == PackStatus::checked_out);
  auto odd = f.verify(f.request(kGtinA, "ODD1"));
  CHECK(odd.status == PackStatus::unknown);
  CHECK(odd.central_status == "in_transit");
  auto number = f.verify(f.request(kGtinA, "ODD2"));
  CHECK(number.status == PackStatus::unknown);
  CHECK(number.central_status == "7");

  // No change is made to such a pack: no decommission, no undo, nothing for the outbox.
  auto d = f.decommission(f.request(kGtinA, "ODD1"), cache::Action::supply);
  CHECK(d.outcome == Outcome::already_inactive);
  CHECK(d.status == PackStatus::unknown);
  CHECK(d.central_status == "in_transit");
  CHECK(f.undo(f.request(kGtinA, "ODD1"), cache::Action::supply).outcome != Outcome::ok);
  CHECK(f.decommission(f.request(kGtinA, "OUT1"), cache::Action::destroy).outcome == Outcome::already_inactive);
  cache::Outbox outbox(f.client);
  auto depth = f.run(outbox.depth());
  REQUIRE(depth);
  CHECK(depth->total == 0);

  auto peeked = f.run(f.mirror.peek(kGtinA, "ODD1"));
  REQUIRE(peeked);
  REQUIRE(*peeked);
  CHECK((*peeked)->status == PackStatus::unknown);
  CHECK((*peeked)->central_status == "in_transit");

  auto product = f.run(f.mirror.product(kGtinB));
  REQUIRE(product);
  REQUIRE(*product);
  const auto* q = (*product)->find_batch("Q1");
  REQUIRE(q != nullptr);
  CHECK(q->state == cache::BatchState::unknown);
  CHECK(q->state_text == "quarantined");
  CHECK((*product)->find_batch("B7")->state == cache::BatchState::active);
}

TEST_CASE("feed lines with unknown statuses and states are applied as unknown, not skipped", "[feed][truth]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto r = f.run(cache::apply_changes(f.mirror, {
      R"({"type":"pack","gtin":"04150123456782","serial":"S003","batch":"L1","status":"in_transit","seq":43,"op":"upsert"})",
      R"({"type":"batch","gtin":"05012345678900","batch":"B7","state":"on_hold","seq":44,"op":"upsert"})",
      R"({"type":"pack","gtin":"04150123456782","serial":"S004","batch":"L1","status":"checked_out","seq":45,"op":"upsert"})",
      R"({"type":"pack","gtin":"04150123456782","serial":"S005","batch":"L1","status":null,"seq":46,"op":"upsert"})",
  }));
  REQUIRE(r);
  std::printf("injected: 2 unknown pack statuses, 1 unknown batch state; counted: %llu, %llu; unresolved %llu\n",
              static_cast<unsigned long long>(r->unknown_statuses), static_cast<unsigned long long>(r->unknown_batch_states),
              static_cast<unsigned long long>(r->unresolved));
  CHECK(r->applied == 4);
  CHECK(r->unresolved == 0);
  CHECK(r->unknown_statuses == 2);
  CHECK(r->unknown_batch_states == 1);
  CHECK(r->unknown_notes.size() == 3);
  CHECK(r->position == 46);
  auto s3 = f.verify(f.request(kGtinA, "S003"));
  CHECK(s3.status == PackStatus::unknown);
  CHECK(s3.central_status == "in_transit");
  CHECK(f.verify(f.request(kGtinA, "S004")).status == PackStatus::checked_out);
  auto s5 = f.verify(f.request(kGtinA, "S005"));
  CHECK(s5.status == PackStatus::unknown);
  CHECK(s5.central_status == "null");
  auto b7 = f.run(f.mirror.batch(kGtinB, "B7"));
  REQUIRE(b7);
  REQUIRE(*b7);
  CHECK((*b7)->state == cache::BatchState::unknown);
  CHECK((*b7)->state_text == "on_hold");
  // A known status later replaces the unknown one (the raw text is not consulted any more).
  REQUIRE(f.run(cache::apply_changes(f.mirror, {
      R"({"type":"pack","gtin":"04150123456782","serial":"S003","batch":"L1","status":"active","seq":47,"op":"upsert"})"})));
  auto back = f.verify(f.request(kGtinA, "S003"));
  CHECK(back.status == PackStatus::active);
  CHECK(back.central_status.empty());
}

TEST_CASE("a local change marks the pack pending in its stored value", "[mirror][truth]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(stored_value(f, kGtinA, "S002") == 0);  // batch L1 = index 0, not pending, active
  CHECK(f.decommission(f.request(kGtinA, "S002"), cache::Action::supply).outcome == Outcome::ok);
  CHECK(stored_value(f, kGtinA, "S002") == 16 + 1);  // pending, supplied
  auto v = f.verify(f.request(kGtinA, "S002"));
  CHECK(v.status == PackStatus::supplied);
  CHECK(*v.batch_index == 0);
  CHECK(f.verify(f.request(kGtinA, "RECALLED1")).batch_index == 1u);  // batch L2: value 32
  CHECK(stored_value(f, kGtinA, "RECALLED1") == 32);
}

TEST_CASE("a generation written in an older value format is not read until a new one is imported",
          "[mirror][truth]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(f.redis.cli({"GET", "mirror:format:1"}) == std::to_string(cache::kMirrorFormat));
  // As vpoint before format 2 left it: no format key (values batch*8 + status).
  f.redis.cli({"DEL", "mirror:format:1"});
  auto started = f.run(f.mirror.start());
  REQUIRE(started);
  CHECK(started->outdated);
  CHECK(f.mirror.outdated());
  auto v = f.run(f.mirror.verify(f.request(kGtinA, "S001")));
  REQUIRE_FALSE(v);
  CHECK(v.error().kind == cache::MirrorErrorKind::outdated);
  auto peeked = f.run(f.mirror.peek(kGtinA, "S001"));
  REQUIRE_FALSE(peeked);
  auto fed = f.run(cache::apply_changes(f.mirror, {
      R"({"type":"pack","gtin":"04150123456782","serial":"S003","batch":"L1","status":"active","seq":43,"op":"upsert"})"}));
  REQUIRE_FALSE(fed);
  CHECK(fed.error().kind == cache::MirrorErrorKind::outdated);

  cache::ImportOptions again;
  again.replace = true;
  again.drop_previous = true;
  auto stats = f.load(small_snapshot(), again);
  CHECK(stats.generation == 2);
  CHECK_FALSE(f.mirror.outdated());
  CHECK(f.verify(f.request(kGtinA, "S001")).status == PackStatus::active);
}

TEST_CASE("dropping a generation removes its raw status texts", "[mirror][import]") {
  MirrorFixture f;
  f.load(odd_snapshot());
  auto p = cache::Mirror::partition_of(kGtinA, "ODD1");
  const std::string raw_key = "us:{" + std::to_string(p) + "}:1";
  CHECK(f.redis.cli({"HGET", raw_key, "000ODD1"}) == "in_transit");
  cache::ImportOptions again;
  again.replace = true;
  again.drop_previous = true;
  f.load(small_snapshot(), again);
  CHECK(f.redis.cli({"EXISTS", raw_key}) == "0");
  CHECK(f.redis.cli({"EXISTS", "mirror:format:1"}) == "0");
}
