// Pack operations of the mirror against a real redis-server: every transition and every refusal.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "mirror_support.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Action;
using cache::Outcome;
using cache::PackStatus;

namespace {

constexpr auto kDay = std::chrono::hours(24);

std::string audit_len(MirrorFixture& f, const std::string& code, const std::string& serial) {
  return f.redis.cli({"XLEN", "au:{" + std::to_string(cache::Mirror::partition_of(code, serial)) + "}"});
}
std::string outbox_len(MirrorFixture& f, const std::string& code, const std::string& serial) {
  return f.redis.cli({"XLEN", "ob:{" + std::to_string(cache::Mirror::partition_of(code, serial)) + "}"});
}

}  // namespace

TEST_CASE("verify returns the stored status and batch and appends an audit entry", "[mirror][verify]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto r = f.verify(f.request(kGtinA, "S001"));
  CHECK(r.outcome == Outcome::ok);
  CHECK(r.previous == PackStatus::active);
  CHECK(r.status == PackStatus::active);
  REQUIRE(r.stored_batch);
  CHECK(r.stored_batch->batch == "L1");
  CHECK(r.stored_batch->expiry == "281231");
  CHECK(r.redis_time_ms > 1600000000000);
  CHECK(r.transaction_id.size() == 32);
  CHECK_FALSE(r.last_decommission);
  CHECK(audit_len(f, kGtinA, "S001") == "1");
  CHECK(outbox_len(f, kGtinA, "S001") == "0");

  auto recalled = f.verify(f.request(kGtinA, "RECALLED1"));
  REQUIRE(recalled.stored_batch);
  CHECK(recalled.stored_batch->batch == "L2");
  CHECK(recalled.stored_batch->state == cache::BatchState::recalled);
  CHECK(recalled.stored_batch->reason == "contamination");
  CHECK(recalled.stored_batch->changed_at_ms == 1700000000000);
}

TEST_CASE("a pack scanned with the PPN is the same pack as with the GTIN", "[mirror][verify]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto supplied = f.decommission(f.request(kPpnA, "S002"), Action::supply);
  CHECK(supplied.outcome == Outcome::ok);
  auto again = f.verify(f.request(kGtinA, "S002"));
  CHECK(again.status == PackStatus::supplied);
}

TEST_CASE("unknown serial and unknown product are reported and audited", "[mirror][verify]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto serial = f.verify(f.request(kGtinA, "NOPE"));
  CHECK(serial.outcome == Outcome::unknown_serial);
  CHECK_FALSE(serial.batch_index);
  CHECK(audit_len(f, kGtinA, "NOPE") == "1");
  auto product = f.decommission(f.request("09999999999999", "S001"), Action::supply);
  CHECK(product.outcome == Outcome::unknown_product);
  CHECK(audit_len(f, "09999999999999", "S001") == "1");
  CHECK(outbox_len(f, "09999999999999", "S001") == "0");
}

TEST_CASE("bad requests are refused before Redis", "[mirror][verify]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto empty = f.run(f.mirror.verify(f.request(kGtinA, "")));
  REQUIRE_FALSE(empty);
  CHECK(empty.error().kind == cache::MirrorErrorKind::bad_request);
  CHECK(empty.error().message.find("serial") != std::string::npos);
  auto long_serial = f.run(f.mirror.verify(f.request(kGtinA, std::string(21, 'X'))));
  REQUIRE_FALSE(long_serial);
  CHECK(long_serial.error().kind == cache::MirrorErrorKind::bad_request);
}

TEST_CASE("every decommission action turns an active pack inactive once", "[mirror][decommission]") {
  MirrorFixture f;
  f.load(small_snapshot());
  const std::vector<std::pair<Action, PackStatus>> cases = {
      {Action::supply, PackStatus::supplied},     {Action::destroy, PackStatus::destroyed},
      {Action::export_, PackStatus::exported},    {Action::sample, PackStatus::sample},
      {Action::free_sample, PackStatus::free_sample}, {Action::stolen, PackStatus::stolen},
      {Action::lock, PackStatus::locked}};
  int i = 0;
  for (auto [action, status] : cases) {
    std::string serial = "S00" + std::to_string(i++);
    INFO("action " << cache::to_string(action));
    auto r = f.decommission(f.request(kGtinA, serial), action);
    CHECK(r.outcome == Outcome::ok);
    CHECK(r.previous == PackStatus::active);
    CHECK(r.status == status);
    CHECK_FALSE(r.last_decommission);
    CHECK(f.verify(f.request(kGtinA, serial)).status == status);
    CHECK(outbox_len(f, kGtinA, serial) != "0");

    // A second decommission by someone else is refused and tells who did the first.
    auto again = f.decommission(f.request(kGtinA, serial, kThere, "other"), Action::supply);
    CHECK(again.outcome == Outcome::already_inactive);
    CHECK(again.previous == status);
    CHECK(again.status == status);
    REQUIRE(again.last_decommission);
    CHECK(again.last_decommission->action == action);
    CHECK(again.last_decommission->location == kHere);
    CHECK(again.last_decommission->actor == "pharmacist");
    CHECK(again.last_decommission->transaction_id == r.transaction_id);
    CHECK(again.last_decommission->time_ms == r.redis_time_ms);
  }
}

TEST_CASE("the outbox entry carries what the central system needs", "[mirror][decommission]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S003");
  req.transaction_id = "tx-0001";
  auto r = f.decommission(req, Action::export_);
  REQUIRE(r.outcome == Outcome::ok);
  CHECK(r.transaction_id == "tx-0001");
  auto entry = f.redis.cli({"XRANGE", "ob:{" + std::to_string(r.partition) + "}", "-", "+"});
  CHECK(entry.find("tx-0001") != std::string::npos);
  CHECK(entry.find("S003") != std::string::npos);
  CHECK(entry.find(kHere) != std::string::npos);
  CHECK(entry.find(kGtinA) != std::string::npos);
}

TEST_CASE("a pack supplied by the central system cannot be decommissioned again", "[mirror][decommission]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto r = f.decommission(f.request(kGtinA, "SUPPLIED1"), Action::destroy);
  CHECK(r.outcome == Outcome::already_inactive);
  CHECK(r.previous == PackStatus::supplied);
  CHECK_FALSE(r.last_decommission);
}

TEST_CASE("undo within the window at the same location reactivates the pack", "[mirror][undo]") {
  MirrorFixture f;
  f.load(small_snapshot());
  for (auto action : {Action::supply, Action::export_, Action::sample, Action::free_sample}) {
    INFO("action " << cache::to_string(action));
    auto req = f.request(kGtinA, "S010");
    REQUIRE(f.decommission(req, action).outcome == Outcome::ok);
    f.mirror.set_test_clock_offset(std::chrono::duration_cast<std::chrono::milliseconds>(10 * kDay) -
                                   std::chrono::minutes(1));
    auto r = f.undo(req, action);
    f.mirror.set_test_clock_offset({});
    CHECK(r.outcome == Outcome::ok);
    CHECK(r.previous == cache::status_after(action));
    CHECK(r.status == PackStatus::active);
    REQUIRE(r.last_decommission);
    CHECK(r.last_decommission->action == action);
    CHECK(f.verify(req).status == PackStatus::active);
  }
}

TEST_CASE("undo is refused after 10 days", "[mirror][undo]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S011");
  REQUIRE(f.decommission(req, Action::supply).outcome == Outcome::ok);
  f.mirror.set_test_clock_offset(std::chrono::duration_cast<std::chrono::milliseconds>(10 * kDay) +
                                 std::chrono::seconds(1));
  auto r = f.undo(req, Action::supply);
  CHECK(r.outcome == Outcome::undo_window_passed);
  CHECK(r.status == PackStatus::supplied);
  f.mirror.set_test_clock_offset({});
  CHECK(f.verify(req).status == PackStatus::supplied);
}

TEST_CASE("the undo window is configurable", "[mirror][undo]") {
  auto options = MirrorFixture::test_mirror_options();
  options.undo_window = std::chrono::hours(1);
  MirrorFixture f(mirror_redis_options(), options);
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S012");
  REQUIRE(f.decommission(req, Action::supply).outcome == Outcome::ok);
  f.mirror.set_test_clock_offset(std::chrono::minutes(61));
  CHECK(f.undo(req, Action::supply).outcome == Outcome::undo_window_passed);
  f.mirror.set_test_clock_offset(std::chrono::minutes(59));
  CHECK(f.undo(req, Action::supply).outcome == Outcome::ok);
}

TEST_CASE("undo from another location is refused", "[mirror][undo]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S013");
  REQUIRE(f.decommission(req, Action::supply).outcome == Outcome::ok);
  auto r = f.undo(f.request(kGtinA, "S013", kThere), Action::supply);
  CHECK(r.outcome == Outcome::undo_other_location);
  CHECK(r.status == PackStatus::supplied);
  REQUIRE(r.last_decommission);
  CHECK(r.last_decommission->location == kHere);
}

TEST_CASE("destroyed and stolen packs can never be undone", "[mirror][undo]") {
  MirrorFixture f;
  f.load(small_snapshot());
  for (auto action : {Action::destroy, Action::stolen}) {
    auto req = f.request(kGtinA, action == Action::destroy ? "S014" : "S015");
    REQUIRE(f.decommission(req, action).outcome == Outcome::ok);
    auto r = f.undo(req, action);
    CHECK(r.outcome == Outcome::undo_not_allowed);
    CHECK(r.status == cache::status_after(action));
  }
  // Undoing a "destroy" that never happened is just as impossible.
  CHECK(f.undo(f.request(kGtinA, "S016"), Action::destroy).outcome == Outcome::undo_not_allowed);
}

TEST_CASE("undo must name the pack's current status", "[mirror][undo]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S017");
  CHECK(f.undo(req, Action::supply).outcome == Outcome::undo_status_mismatch);  // still active
  REQUIRE(f.decommission(req, Action::supply).outcome == Outcome::ok);
  auto r = f.undo(req, Action::export_);
  CHECK(r.outcome == Outcome::undo_status_mismatch);
  CHECK(r.status == PackStatus::supplied);
}

TEST_CASE("undo of a status set by the central system has no local record", "[mirror][undo]") {
  MirrorFixture f;
  f.load(small_snapshot());
  CHECK(f.undo(f.request(kGtinA, "SUPPLIED1"), Action::supply).outcome == Outcome::undo_no_record);
}

TEST_CASE("unlock needs the locking location but no time window", "[mirror][lock]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S018");
  REQUIRE(f.decommission(req, Action::lock).outcome == Outcome::ok);
  CHECK(f.decommission(req, Action::supply).outcome == Outcome::already_inactive);
  CHECK(f.undo(f.request(kGtinA, "S018", kThere), Action::lock).outcome == Outcome::undo_other_location);
  f.mirror.set_test_clock_offset(std::chrono::duration_cast<std::chrono::milliseconds>(30 * kDay));
  auto r = f.undo(req, Action::lock);
  CHECK(r.outcome == Outcome::ok);
  CHECK(r.previous == PackStatus::locked);
  CHECK(r.status == PackStatus::active);
  CHECK(f.decommission(req, Action::supply).outcome == Outcome::ok);
}

TEST_CASE("a retried request with the same idempotency key returns the first result", "[mirror][idempotency]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto req = f.request(kGtinA, "S019");
  req.idempotency_key = "order-77";
  auto first = f.decommission(req, Action::supply);
  REQUIRE(first.outcome == Outcome::ok);
  CHECK_FALSE(first.replay);
  auto retry = f.decommission(req, Action::supply);
  CHECK(retry.outcome == Outcome::ok);  // not "already inactive": the retry is the same request
  CHECK(retry.replay);
  CHECK(retry.transaction_id == first.transaction_id);
  CHECK(retry.previous == PackStatus::active);
  CHECK(retry.status == PackStatus::supplied);
  CHECK(outbox_len(f, kGtinA, "S019") == "1");

  // The same key from another caller is another request.
  auto other = f.request(kGtinA, "S019", kHere, "someone-else");
  other.idempotency_key = "order-77";
  CHECK(f.decommission(other, Action::supply).outcome == Outcome::already_inactive);

  // The same key for a different request is a conflict and changes nothing.
  auto reuse = req;
  reuse.serial = "S019";
  auto conflict = f.undo(reuse, Action::supply);
  CHECK(conflict.outcome == Outcome::idempotency_conflict);
  CHECK(conflict.transaction_id == first.transaction_id);
  CHECK(f.verify(f.request(kGtinA, "S019")).status == PackStatus::supplied);
}

TEST_CASE("64 callers racing to supply one pack: exactly one wins", "[mirror][concurrency]") {
  MirrorFixture f;
  f.load(small_snapshot());
  // A second client stands for a second vpointd instance.
  cache::Client second(f.io.get_executor(), MirrorFixture::client_options(f.redis));
  cache::Mirror second_mirror(second, MirrorFixture::test_mirror_options());
  REQUIRE(f.run(second_mirror.start()));

  std::vector<Outcome> outcomes;
  int finished = 0;
  for (int i = 0; i < 64; ++i) {
    cache::Mirror& m = i % 2 ? second_mirror : f.mirror;
    auto req = f.request(kGtinA, "S005", i % 3 ? kHere : kThere, "caller" + std::to_string(i));
    boost::asio::co_spawn(f.io, as_optional(m.decommission(req, Action::supply)),
                          [&](std::exception_ptr e, std::optional<cache::MirrorResult<cache::PackResult>> r) {
                            ++finished;
                            if (!e && r && *r) outcomes.push_back((*r)->outcome);
                          });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  f.io.restart();
  while (finished < 64 && std::chrono::steady_clock::now() < deadline) f.io.run_one_for(std::chrono::milliseconds(50));
  REQUIRE(outcomes.size() == 64);
  CHECK(std::count(outcomes.begin(), outcomes.end(), Outcome::ok) == 1);
  CHECK(std::count(outcomes.begin(), outcomes.end(), Outcome::already_inactive) == 63);
  CHECK(outbox_len(f, kGtinA, "S005") == "1");
  CHECK(audit_len(f, kGtinA, "S005") == "64");
}

TEST_CASE("bulk returns one result per pack in request order", "[mirror][bulk]") {
  MirrorFixture f;
  f.load(small_snapshot());
  std::vector<cache::BulkItem> items;
  items.push_back({cache::Operation::decommission, Action::supply, f.request(kGtinA, "S000")});
  items.push_back({cache::Operation::verify, Action::supply, f.request(kGtinB, "IBU1")});
  items.push_back({cache::Operation::decommission, Action::supply, f.request(kGtinA, "S000")});
  items.push_back({cache::Operation::verify, Action::supply, f.request(kGtinA, "")});
  items.push_back({cache::Operation::verify, Action::supply, f.request(kGtinA, "UNKNOWN")});
  items.push_back({cache::Operation::undo, Action::supply, f.request(kGtinA, "S000")});
  auto results = f.run(f.mirror.bulk(items));
  REQUIRE(results.size() == 6);
  REQUIRE(results[0]);
  CHECK(results[0]->outcome == Outcome::ok);
  REQUIRE(results[1]);
  CHECK(results[1]->outcome == Outcome::ok);
  REQUIRE(results[1]->stored_batch);
  CHECK(results[1]->stored_batch->batch == "B7");
  REQUIRE(results[2]);
  CHECK(results[2]->outcome == Outcome::already_inactive);
  REQUIRE_FALSE(results[3]);
  CHECK(results[3].error().kind == cache::MirrorErrorKind::bad_request);
  REQUIRE(results[4]);
  CHECK(results[4]->outcome == Outcome::unknown_serial);
  REQUIRE(results[5]);
  CHECK(results[5]->outcome == Outcome::ok);
  CHECK(results[5]->status == PackStatus::active);
}

TEST_CASE("min_replicas_ack reports how many replicas acknowledged", "[mirror][durability]") {
  auto options = MirrorFixture::test_mirror_options();
  options.min_replicas_ack = 1;
  options.replicas_ack_timeout = std::chrono::milliseconds(50);
  MirrorFixture f(mirror_redis_options(), options);
  f.load(small_snapshot());
  auto r = f.decommission(f.request(kGtinA, "S004"), Action::supply);
  CHECK(r.outcome == Outcome::ok);
  REQUIRE(r.replicas_acked);
  CHECK(*r.replicas_acked == 0);  // no replica runs in this test: the service must not claim durability
  CHECK_FALSE(f.verify(f.request(kGtinA, "S004")).replicas_acked);
}

TEST_CASE("products and batches are looked up by either code", "[mirror][product]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto by_ppn = f.run(f.mirror.product(kPpnA));
  REQUIRE(by_ppn);
  REQUIRE(*by_ppn);
  CHECK((*by_ppn)->code == kGtinA);
  CHECK((*by_ppn)->gtin == kGtinA);
  CHECK((*by_ppn)->ppn == kPpnA);
  CHECK((*by_ppn)->name == "Aspirin 100");
  CHECK((*by_ppn)->market == "DE");
  REQUIRE((*by_ppn)->batches.size() == 2);
  CHECK((*by_ppn)->batches[1].batch == "L2");
  CHECK((*by_ppn)->batches[1].expiry == "270600");
  auto batch = f.run(f.mirror.batch(kGtinA, "L1"));
  REQUIRE(batch);
  REQUIRE(*batch);
  CHECK((*batch)->state == cache::BatchState::active);
  auto none = f.run(f.mirror.product("09999999999999"));
  REQUIRE(none);
  CHECK_FALSE(*none);
  auto agg = f.run(f.mirror.aggregation("340123450000000017"));
  REQUIRE(agg);
  REQUIRE(*agg);
  REQUIRE((*agg)->size() == 2);
  CHECK((**agg)[1].second == "S001");
}

TEST_CASE("the settings check names each setting the mirror depends on", "[mirror][settings]") {
  RedisServerOptions evicting;
  evicting.extra_args = {"--maxmemory-policy", "allkeys-lru"};
  MirrorFixture f(evicting);
  auto problems = f.run(f.mirror.check_settings());
  REQUIRE(problems);
  auto find = [&](std::string_view setting) -> const cache::SettingProblem* {
    for (const auto& p : *problems)
      if (p.setting == setting) return &p;
    return nullptr;
  };
  REQUIRE(find("maxmemory-policy"));
  CHECK(find("maxmemory-policy")->fatal);
  CHECK(find("maxmemory-policy")->actual == "allkeys-lru");
  REQUIRE(find("hash-max-listpack-entries"));
  CHECK(std::stoi(find("hash-max-listpack-entries")->actual) < 1024);  // Redis default (128; Debian 512)
  REQUIRE(find("appendonly"));
  CHECK_FALSE(find("appendonly")->fatal);

  MirrorFixture good(mirror_redis_options(true));
  auto none = good.run(good.mirror.check_settings());
  REQUIRE(none);
  CHECK(none->empty());
}

TEST_CASE("a Redis outage is reported as mirror unavailable, then the mirror recovers", "[mirror][fault]") {
  MirrorFixture f(mirror_redis_options(true));
  f.load(small_snapshot());
  REQUIRE(f.decommission(f.request(kGtinA, "S006"), Action::supply).outcome == Outcome::ok);
  f.redis.kill();
  auto down = f.run(f.mirror.verify(f.request(kGtinA, "S006")));
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == cache::MirrorErrorKind::unavailable);
  CHECK(down.error().message.rfind("mirror unavailable", 0) == 0);
  f.redis.start();
  // AOF kept the data and the library; the decommission survived the crash.
  cache::MirrorResult<cache::PackResult> back = down;
  for (int i = 0; i < 50 && !back; ++i) back = f.run(f.mirror.verify(f.request(kGtinA, "S006")));
  REQUIRE(back);
  CHECK(back->status == PackStatus::supplied);
}

TEST_CASE("a Redis that lost the Functions library gets it loaded again", "[mirror][fault]") {
  MirrorFixture f;
  f.load(small_snapshot());
  f.redis.cli({"FUNCTION", "FLUSH"});
  auto r = f.verify(f.request(kGtinA, "S007"));
  CHECK(r.outcome == Outcome::ok);
  CHECK(r.status == PackStatus::active);
}

TEST_CASE("decommission with an expected batch changes nothing when the serial belongs to another batch",
          "[mirror][decommission][batch]") {
  MirrorFixture f;
  f.load(small_snapshot());
  // S003 is stored with batch L1 (index 0); the scan claimed batch L2 (index 1).
  auto request = f.request(kGtinA, "S003");
  request.expected_batch_index = 1;
  auto refused = f.decommission(request, Action::supply);
  CHECK(refused.outcome == Outcome::batch_mismatch);
  CHECK(refused.status == PackStatus::active);
  REQUIRE(refused.batch_index);
  CHECK(*refused.batch_index == 0);
  CHECK(outbox_len(f, kGtinA, "S003") == "0");
  CHECK(cache::to_string(refused.outcome) == "batch_mismatch");

  request.expected_batch_index = 0;
  auto supplied = f.decommission(request, Action::supply);
  CHECK(supplied.outcome == Outcome::ok);
  CHECK(supplied.status == PackStatus::supplied);

  // Undo is guarded the same way.
  request.expected_batch_index = 1;
  auto undo = f.undo(request, Action::supply);
  CHECK(undo.outcome == Outcome::batch_mismatch);
  CHECK(undo.status == PackStatus::supplied);
}

TEST_CASE("peek shows a pack's batch and status and writes nothing", "[mirror][peek]") {
  MirrorFixture f;
  f.load(small_snapshot());
  f.decommission(f.request(kGtinA, "S003"), Action::supply);
  const std::string audit_before = audit_len(f, kGtinA, "S003");
  const std::string outbox_before = outbox_len(f, kGtinA, "S003");

  auto supplied = f.run(f.mirror.peek(kGtinA, "S003"));
  REQUIRE(supplied);
  REQUIRE(*supplied);
  CHECK((*supplied)->product_code == kGtinA);
  CHECK((*supplied)->batch == "L1");
  CHECK((*supplied)->expiry == "281231");
  CHECK((*supplied)->batch_index == 0);
  CHECK((*supplied)->status == PackStatus::supplied);
  // A look is not a scan: no audit entry, no outbox entry.
  CHECK(audit_len(f, kGtinA, "S003") == audit_before);
  CHECK(outbox_len(f, kGtinA, "S003") == outbox_before);

  // Either code of the product finds the pack; the recalled batch is reported by name.
  auto recalled = f.run(f.mirror.peek(kPpnA, "RECALLED1"));
  REQUIRE(recalled);
  REQUIRE(*recalled);
  CHECK((*recalled)->product_code == kGtinA);
  CHECK((*recalled)->batch == "L2");
  CHECK((*recalled)->status == PackStatus::active);
  CHECK(audit_len(f, kGtinA, "RECALLED1") == "0");
}

TEST_CASE("peek of an unknown serial or product is empty, a bad serial an error", "[mirror][peek]") {
  MirrorFixture f;
  f.load(small_snapshot());
  auto unknown_serial = f.run(f.mirror.peek(kGtinA, "NOPE"));
  REQUIRE(unknown_serial);
  CHECK_FALSE(*unknown_serial);
  auto unknown_product = f.run(f.mirror.peek("09999999999994", "S001"));
  REQUIRE(unknown_product);
  CHECK_FALSE(*unknown_product);
  auto bad = f.run(f.mirror.peek(kGtinA, "123456789012345678901"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == cache::MirrorErrorKind::bad_request);
  CHECK(bad.error().message.find("serial") != std::string::npos);
  CHECK(audit_len(f, kGtinA, "NOPE") == "0");
}

TEST_CASE("peek_many answers in request order", "[mirror][peek]") {
  MirrorFixture f;
  f.load(small_snapshot());
  f.decommission(f.request(kGtinB, "IBU1"), Action::destroy);
  auto results = f.run(f.mirror.peek_many({{kGtinA, "S000"}, {kGtinB, "IBU1"}, {kGtinA, "NOPE"}, {kGtinA, "SUPPLIED1"}}));
  REQUIRE(results.size() == 4);
  REQUIRE(results[0]);
  REQUIRE(*results[0]);
  CHECK((*results[0])->status == PackStatus::active);
  CHECK((*results[0])->batch == "L1");
  REQUIRE(results[1]);
  REQUIRE(*results[1]);
  CHECK((*results[1])->status == PackStatus::destroyed);
  CHECK((*results[1])->batch == "B7");
  REQUIRE(results[2]);
  CHECK_FALSE(*results[2]);
  REQUIRE(results[3]);
  REQUIRE(*results[3]);
  CHECK((*results[3])->status == PackStatus::supplied);
}
