// The merge rule of pack state (issue 14, docs/design.md "Truth model") at the cache level, against a real
// redis-server: feed lines (vp_feed), central answers (vp_settle) and a new generation (vp_overlay) meet this
// site's pending transactions. The end-to-end cases with the simulator and vpointd are in tests/sync/truth_test.cpp.
#include <catch2/catch.hpp>

#include <iostream>

#include "mirror_support.hpp"
#include "vpoint/cache/audit_log.hpp"
#include "vpoint/cache/feed.hpp"
#include "vpoint/cache/outbox.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Action;
using cache::Outcome;
using cache::PackStatus;

namespace {

cache::FeedApplyResult feed(MirrorFixture& f, const std::string& serial, const std::string& status, std::int64_t seq) {
  std::string line = R"({"type":"pack","gtin":"04150123456782","serial":")" + serial +
                     R"(","batch":"L1","status":")" + status + R"(","seq":)" + std::to_string(seq) + R"(,"op":"upsert"})";
  auto r = f.run(cache::apply_changes(f.mirror, {line}));
  if (!r) throw std::runtime_error("apply_changes: " + r.error().message);
  std::cout << "  fed seq " << seq << " " << serial << "=" << status << ": applied " << r->applied << ", held "
            << r->held << ", stale " << r->stale << "\n";
  return std::move(*r);
}

cache::PackPeek peek(MirrorFixture& f, const std::string& serial) {
  auto p = f.run(f.mirror.peek(kGtinA, serial));
  REQUIRE(p);
  REQUIRE(*p);
  return **p;
}

// The outbox entries of one pack, oldest first.
std::vector<cache::OutboxEntry> entries_of(MirrorFixture& f, const std::string& serial) {
  cache::Outbox outbox(f.client);
  auto read = f.run(outbox.read({cache::Mirror::partition_of(kGtinA, serial)}, 100));
  REQUIRE(read);
  std::vector<cache::OutboxEntry> out;
  for (auto& e : read->front())
    if (e.serial == serial) out.push_back(e);
  return out;
}

cache::Settlement settle(MirrorFixture& f, const cache::OutboxEntry& e, const cache::CentralAnswer& answer) {
  cache::Outbox outbox(f.client);
  auto s = f.run(outbox.settle(f.mirror, e, answer));
  if (!s) throw std::runtime_error("settle: " + s.error().message);
  return *s;
}

cache::CentralAnswer accepted(std::int64_t seq) {
  cache::CentralAnswer a;
  a.accepted = true;
  a.seq = seq;
  return a;
}

}  // namespace

TEST_CASE("a feed line for a pack with a pending supply is held: a second supply elsewhere is not ok", "[truth][merge]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(f.decommission(f.request(kGtinA, "S001"), Action::supply).outcome == Outcome::ok);
  CHECK(peek(f, "S001").pending);
  // Central has not seen our supply yet and sends "active" (say, a change of another field).
  auto r = feed(f, "S001", "active", 43);
  CHECK(r.held == 1);
  CHECK(r.position == 43);  // the position moves on: the line is kept, not lost
  CHECK(peek(f, "S001").status == PackStatus::supplied);
  auto elsewhere = f.decommission(f.request(kGtinA, "S001", kThere), Action::supply);
  CHECK(elsewhere.outcome == Outcome::already_inactive);
  // Central accepts our supply as its change 44: the held line (43) is older and is dropped.
  auto entries = entries_of(f, "S001");
  REQUIRE(entries.size() == 1);
  auto s = settle(f, entries[0], accepted(44));
  CHECK(s.settled);
  CHECK(s.pending_left == 0);
  CHECK(s.status == PackStatus::supplied);
  CHECK_FALSE(peek(f, "S001").pending);
  CHECK(peek(f, "S001").status == PackStatus::supplied);
  // The feed then brings our own change (44): applied, same state.
  CHECK(feed(f, "S001", "supplied", 44).held == 0);
  CHECK(peek(f, "S001").status == PackStatus::supplied);
  // Settling the same entry again changes nothing.
  CHECK_FALSE(settle(f, entries[0], accepted(44)).settled);
}

TEST_CASE("a held feed line newer than central's answer is applied once the answer comes", "[truth][merge]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(f.decommission(f.request(kGtinA, "S002"), Action::supply).outcome == Outcome::ok);
  // Central accepted our supply as 43, then someone there reported the pack stolen (44); the feed brings 44
  // before our answer arrives.
  CHECK(feed(f, "S002", "stolen", 44).held == 1);
  CHECK(peek(f, "S002").status == PackStatus::supplied);
  auto s = settle(f, entries_of(f, "S002").at(0), accepted(43));
  CHECK(s.status == PackStatus::stolen);
  CHECK_FALSE(peek(f, "S002").pending);
  // An undo of our supply is now refused: central's later word stands.
  CHECK(f.undo(f.request(kGtinA, "S002"), Action::supply).outcome == Outcome::undo_not_allowed);
}

TEST_CASE("a feed line older than our answered change is stale once the answer is in", "[truth][merge]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(f.decommission(f.request(kGtinA, "S003"), Action::supply).outcome == Outcome::ok);
  // The feed lags: our supply was accepted as 50; lines 43..49 are still on their way.
  settle(f, entries_of(f, "S003").at(0), accepted(50));
  auto r = feed(f, "S003", "active", 45);
  CHECK(r.stale == 1);
  CHECK(peek(f, "S003").status == PackStatus::supplied);  // never greener than our confirmed supply
  // A later line is central's word again.
  CHECK(feed(f, "S003", "active", 51).stale == 0);
  CHECK(peek(f, "S003").status == PackStatus::active);
}

TEST_CASE("two pending transactions of one pack: pending until both are answered", "[truth][merge]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S004");
  CHECK(f.decommission(req, Action::supply).outcome == Outcome::ok);
  CHECK(f.undo(req, Action::supply).outcome == Outcome::ok);
  CHECK(feed(f, "S004", "destroyed", 60).held == 1);
  auto entries = entries_of(f, "S004");
  REQUIRE(entries.size() == 2);
  auto first = settle(f, entries[0], accepted(46));
  CHECK(first.pending_left == 1);
  CHECK(peek(f, "S004").pending);
  CHECK(peek(f, "S004").status == PackStatus::active);
  auto second = settle(f, entries[1], accepted(47));
  CHECK(second.pending_left == 0);
  CHECK(second.status == PackStatus::destroyed);  // line 60 came after both of ours
}

TEST_CASE("a rejection makes the local state central's, the undo is refused, the history names both transactions",
          "[truth][merge]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S005");
  auto supplied = f.decommission(req, Action::supply);
  REQUIRE(supplied.outcome == Outcome::ok);
  cache::CentralAnswer rejected;
  rejected.accepted = false;
  rejected.code = "NMVS_NC_PCK_22";
  rejected.other_transaction = "TX-ELSEWHERE";
  rejected.central = cache::CentralAnswer::Pack{true, "stolen", "L1"};
  rejected.seq = 70;
  auto s = settle(f, entries_of(f, "S005").at(0), rejected);
  CHECK(s.settled);
  CHECK(s.status == PackStatus::stolen);
  CHECK_FALSE(peek(f, "S005").pending);
  std::cout << "  rejected " << supplied.transaction_id << " (central: stolen by TX-ELSEWHERE): local status "
            << cache::to_string(peek(f, "S005").status) << "\n";
  auto undo = f.undo(req, Action::supply);
  CHECK(undo.outcome != Outcome::ok);
  CHECK(undo.status == PackStatus::stolen);
  // Our decommission record is gone with it: the pack shows no last decommission of ours.
  CHECK_FALSE(f.verify(req).last_decommission);
  cache::AuditLog audit(f.client);
  auto latest = f.run(audit.latest(cache::Mirror::partition_of(kGtinA, "S005"), 10));
  REQUIRE(latest);
  bool found = false;
  for (const auto& rec : *latest) {
    if (rec.operation != "central_rejected") continue;
    found = true;
    CHECK(rec.transaction_id == supplied.transaction_id);
    CHECK(rec.related_transaction == "TX-ELSEWHERE");
    CHECK(rec.central_code == "NMVS_NC_PCK_22");
    CHECK(rec.previous_status == "supplied");
    CHECK(rec.status == "stolen");
    CHECK(rec.outcome == "rejected");
  }
  CHECK(found);
  // A feed line older than the look-up the rejection was settled with changes nothing.
  CHECK(feed(f, "S005", "active", 65).stale == 1);
}

TEST_CASE("a rejection of a pack central does not know removes it, an unknown central status is stored as such",
          "[truth][merge]") {
  MirrorFixture f;
  f.load(small_snapshot());
  f.decommission(f.request(kGtinA, "S006"), Action::supply);
  cache::CentralAnswer gone;
  gone.central = cache::CentralAnswer::Pack{false, "", ""};
  CHECK_FALSE(settle(f, entries_of(f, "S006").at(0), gone).status);
  CHECK(f.verify(f.request(kGtinA, "S006")).outcome == Outcome::unknown_serial);

  f.decommission(f.request(kGtinA, "S007"), Action::supply);
  cache::CentralAnswer odd;
  odd.central = cache::CentralAnswer::Pack{true, "in_quarantine", "L1"};
  CHECK(settle(f, entries_of(f, "S007").at(0), odd).status == PackStatus::unknown);
  CHECK(peek(f, "S007").central_status == "in_quarantine");
  // A rejection whose central state is not known keeps the local state (not greener: ours is inactive).
  f.decommission(f.request(kGtinA, "S008"), Action::destroy);
  CHECK(settle(f, entries_of(f, "S008").at(0), cache::CentralAnswer{}).status == PackStatus::destroyed);
}

TEST_CASE("a new generation gets this site's pending changes laid on top, by batch name", "[truth][merge]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(f.decommission(f.request(kGtinA, "S009"), Action::supply).outcome == Outcome::ok);
  CHECK(f.decommission(f.request(kGtinA, "S010"), Action::destroy).outcome == Outcome::ok);
  settle(f, entries_of(f, "S010").at(0), accepted(43));  // answered: not pending any more
  // The new snapshot lists batch L2 before L1 (other indexes) and still shows both packs active (taken before
  // central saw our changes).
  std::string text = small_snapshot(20, 80);
  auto l1 = text.find(R"({"type":"batch","gtin":"04150123456782","batch":"L1")");
  auto l1_end = text.find('\n', l1) + 1;
  std::string l1_line = text.substr(l1, l1_end - l1);
  text.erase(l1, l1_end - l1);
  auto l2_end = text.find('\n', text.find(R"("batch":"L2")")) + 1;
  text.insert(l2_end, l1_line);
  cache::ImportOptions replace;
  replace.replace = true;
  auto stats = f.load(text, replace);
  std::cout << "  new generation " << stats.generation << ": pending entries laid " << stats.pending_laid
            << ", unplaced " << stats.pending_unplaced << "\n";
  CHECK(stats.pending_laid == 1);
  CHECK(stats.pending_unplaced == 0);
  auto p = peek(f, "S009");
  CHECK(p.status == PackStatus::supplied);
  CHECK(p.pending);
  CHECK(p.batch == "L1");
  CHECK(f.decommission(f.request(kGtinA, "S009", kThere), Action::supply).outcome == Outcome::already_inactive);
  // The answered one is central's business now (the feed brings it after the snapshot's position).
  CHECK(peek(f, "S010").status == PackStatus::active);
  // The answer for S009 settles it in the new generation.
  auto s = settle(f, entries_of(f, "S009").at(0), accepted(81));
  CHECK(s.status == PackStatus::supplied);
  CHECK_FALSE(peek(f, "S009").pending);
}
