// Truths the mirror keeps on its own (issue 12): a late undo is "too late", not "another location"; an unknown
// pack is never stored as an idempotent answer; offline scans wait in order behind a pending placeholder.
#include <catch2/catch.hpp>

#include "mirror_support.hpp"
#include "vpoint/cache/offline.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Action;
using cache::Operation;
using cache::Outcome;
using cache::PackStatus;

namespace {

constexpr auto kDay = std::chrono::hours(24);

// Deletes every key matching `pattern` (what TTL expiry does to them).
void expire_now(MirrorFixture& f, const std::string& pattern) {
  auto keys = f.run(f.client.command({"KEYS", pattern}));
  REQUIRE(keys);
  REQUIRE(!keys->elements.empty());
  for (const auto& k : keys->elements) REQUIRE(f.run(f.client.command({"DEL", k.str})));
}

cache::OfflineScan scan_of(Operation op, std::string serial, std::string location = kHere) {
  cache::OfflineScan s;
  s.operation = op;
  s.action = Action::supply;
  s.code = kGtinA;
  s.serial = std::move(serial);
  s.batch = "L1";
  s.expiry = "281231";
  s.location = std::move(location);
  s.actor = "pharmacy-1";
  return s;
}

}  // namespace

TEST_CASE("undo after the undo record expired is too late at the same premises and foreign elsewhere",
          "[mirror][undo][truth]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S005");
  REQUIRE(f.decommission(req, Action::supply).outcome == Outcome::ok);
  // The marker outlives the record (TTL undo window + 1 day) by far.
  auto record_ttl = f.run(f.client.command({"PTTL", "dx:{" + std::to_string(cache::Mirror::partition_of(kGtinA, "S005")) + "}:" + kGtinA + ":S005"}));
  auto marker_ttl = f.run(f.client.command({"PTTL", "dxm:{" + std::to_string(cache::Mirror::partition_of(kGtinA, "S005")) + "}:" + kGtinA + ":S005"}));
  REQUIRE(record_ttl);
  REQUIRE(marker_ttl);
  CHECK(record_ttl->integer > 0);
  CHECK(marker_ttl->integer > record_ttl->integer + 80LL * 24 * 3600 * 1000);
  expire_now(f, "dx:*S005");
  f.mirror.set_test_clock_offset(std::chrono::duration_cast<std::chrono::milliseconds>(12 * kDay));
  CHECK(f.undo(req, Action::supply).outcome == Outcome::undo_window_passed);  // NMVS_NC_PCK_20, not _21
  CHECK(f.undo(f.request(kGtinA, "S005", kThere), Action::supply).outcome == Outcome::undo_other_location);
  f.mirror.set_test_clock_offset({});
  CHECK(f.verify(req).status == PackStatus::supplied);
  // Without a local decommission at all (status from the central system) it is still no record.
  CHECK(f.undo(f.request(kGtinA, "SUPPLIED1"), Action::supply).outcome == Outcome::undo_no_record);
  // A successful undo removes the marker with the record: a later decommission starts afresh.
  auto fresh = f.request(kGtinA, "S006");
  REQUIRE(f.decommission(fresh, Action::supply).outcome == Outcome::ok);
  REQUIRE(f.undo(fresh, Action::supply).outcome == Outcome::ok);
  auto gone = f.run(f.client.command({"KEYS", "dxm:*S006"}));
  REQUIRE(gone);
  CHECK(gone->elements.empty());
}

TEST_CASE("an unknown serial is not kept as the idempotent answer of its key", "[mirror][idempotency][truth]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "NOTYETKNOWN1");
  req.idempotency_key = "retry-1";
  auto first = f.decommission(req, Action::supply);
  CHECK(first.outcome == Outcome::unknown_serial);
  auto again = f.decommission(req, Action::supply);
  CHECK(again.outcome == Outcome::unknown_serial);
  CHECK_FALSE(again.replay);  // asked again, not replayed: a read-through may know it by now
  // A known pack's answer is kept and replayed as before.
  auto known = f.request(kGtinA, "S007");
  known.idempotency_key = "retry-2";
  REQUIRE(f.decommission(known, Action::supply).outcome == Outcome::ok);
  CHECK(f.decommission(known, Action::supply).replay);
}

TEST_CASE("offline scans keep a pending placeholder and wait in scan order", "[mirror][offline][truth]") {
  MirrorFixture f;
  f.load(small_snapshot());
  cache::OfflineQueue queue(f.mirror);

  auto supply = f.run(queue.record(scan_of(Operation::decommission, "FAKE0001"), "counter-1:k1"));
  REQUIRE(supply);
  CHECK(supply->outcome == Outcome::ok);
  CHECK(supply->status == PackStatus::supplied);
  CHECK_FALSE(supply->pending);
  // The same request again (same idempotency key) is a replay; another supply of the same pack a repeat.
  auto retry = f.run(queue.record(scan_of(Operation::decommission, "FAKE0001"), "counter-1:k1"));
  REQUIRE(retry);
  CHECK(retry->replay);
  CHECK(retry->transaction_id == supply->transaction_id);
  auto second = f.run(queue.record(scan_of(Operation::decommission, "FAKE0001"), "counter-1:k2"));
  REQUIRE(second);
  CHECK(second->outcome == Outcome::already_inactive);
  REQUIRE(second->pending);
  CHECK(second->pending->transaction_id == supply->transaction_id);
  CHECK(second->pending->location == kHere);
  CHECK(f.run(queue.pending(kGtinA, "FAKE0001")).value());
  CHECK_FALSE(f.run(queue.pending(kGtinA, "FAKE0002")).value());

  // An offline undo is checked against the offline decommission: wrong premises, wrong action, nothing pending.
  CHECK(f.run(queue.record(scan_of(Operation::undo, "FAKE0001", kThere)))->outcome == Outcome::undo_other_location);
  auto destroy_undo = scan_of(Operation::undo, "FAKE0001");
  destroy_undo.action = Action::destroy;
  CHECK(f.run(queue.record(destroy_undo))->outcome == Outcome::undo_not_allowed);
  CHECK(f.run(queue.record(scan_of(Operation::undo, "FAKE0002")))->outcome == Outcome::undo_status_mismatch);
  auto undo = f.run(queue.record(scan_of(Operation::undo, "FAKE0001")));
  REQUIRE(undo);
  CHECK(undo->outcome == Outcome::ok);
  CHECK(undo->status == PackStatus::active);
  // A verify of another unknown pack queues once, however often it is scanned.
  REQUIRE(f.run(queue.record(scan_of(Operation::verify, "FAKE0003"))));
  REQUIRE(f.run(queue.record(scan_of(Operation::verify, "FAKE0003"))));

  auto scans = f.run(queue.head(10));
  REQUIRE(scans);
  REQUIRE(scans->size() == 3);  // refusals and repeats queue nothing
  CHECK((*scans)[0].operation == Operation::decommission);
  CHECK((*scans)[0].transaction_id == supply->transaction_id);
  CHECK((*scans)[0].batch == "L1");
  CHECK((*scans)[1].operation == Operation::undo);
  CHECK((*scans)[1].transaction_id == undo->transaction_id);
  CHECK((*scans)[2].operation == Operation::verify);
  CHECK(f.run(queue.depth()).value() == 3);

  // Settling the decommission keeps the placeholder (its undo still waits); settling the undo removes it.
  CHECK_FALSE(f.run(queue.settle((*scans)[0])).value());
  CHECK(f.run(queue.pending(kGtinA, "FAKE0001")).value());
  CHECK(f.run(queue.settle((*scans)[1])).value());
  CHECK_FALSE(f.run(queue.pending(kGtinA, "FAKE0001")).value());
  CHECK(f.run(queue.depth()).value() == 1);
}
