// cache::AuditLog, cache::LinkRecordStore, the mirror's stored feed position and its one product cache, against
// real redis-servers (standalone and a 3-master Cluster).
#include <catch2/catch.hpp>

#include <chrono>
#include <set>

#include "mirror_support.hpp"
#include "vpoint/cache/audit_log.hpp"
#include "vpoint/cache/link_record.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Action;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("the audit log reads a pack's operations typed, by partition and by range, and trims what was archived",
          "[audit]") {
  MirrorFixture f;
  f.load(small_snapshot());
  cache::AuditLog audit(f.client);
  auto req = f.request(kGtinA, "S005");
  auto verified = f.verify(req);
  auto supplied = f.decommission(req, Action::supply);
  auto refused = f.decommission(req, Action::supply);  // already inactive: refused, still in the audit
  auto undone = f.undo(req, Action::supply);
  const int p = cache::Mirror::partition_of(kGtinA, "S005");

  auto latest = f.run(audit.latest(p, 10));
  REQUIRE(latest);
  REQUIRE(latest->size() == 4);  // newest first (a snapshot import writes no audit entries)
  const auto& u = (*latest)[0];
  CHECK(u.transaction_id == undone.transaction_id);
  CHECK(u.operation == "undo");
  CHECK(u.action == "supply");
  CHECK(u.outcome == "ok");
  CHECK(u.previous_status == "supplied");
  CHECK(u.status == "active");
  CHECK(u.partition == p);
  CHECK(u.code == kGtinA);
  CHECK(u.serial == "S005");
  CHECK(u.location == kHere);
  const auto& r = (*latest)[1];
  CHECK(r.transaction_id == refused.transaction_id);
  CHECK(r.outcome == "already_inactive");
  CHECK((*latest)[2].transaction_id == supplied.transaction_id);
  const auto& v = (*latest)[3];
  CHECK(v.transaction_id == verified.transaction_id);
  CHECK(v.operation == "verify");
  CHECK(v.action.empty());
  CHECK(v.time_ms == verified.redis_time_ms);
  for (std::size_t i = 1; i < latest->size(); ++i) CHECK(cache::stream_id_less((*latest)[i].id, (*latest)[i - 1].id));

  // Ranges: after an id (exclusive), and before a millisecond (exclusive); `raw` counts stream entries.
  std::vector<std::size_t> raw;
  auto after = f.run(audit.read({cache::AuditRange{p, (*latest)[3].id, 0, 0}}, 2, &raw));
  REQUIRE(after);
  REQUIRE(after->front().size() == 2);
  CHECK(raw.front() == 2);
  CHECK(after->front()[0].transaction_id == supplied.transaction_id);
  CHECK(after->front()[1].transaction_id == refused.transaction_id);
  auto before = f.run(audit.read({cache::AuditRange{p, "", 0, *cache::stream_id_ms((*latest)[3].id)}}, 10));
  REQUIRE(before);
  CHECK(before->front().empty());  // nothing before the first entry's millisecond
  auto since = f.run(audit.read({cache::AuditRange{p, "", wall_ms() + 60'000, 0}}, 10));
  REQUIRE(since);
  CHECK(since->front().empty());  // from a millisecond in the future: nothing yet

  // Watermarks and trim: everything up to and including the mark goes, the rest stays.
  auto none = f.run(audit.watermarks({p, p + 1 == cache::kPartitions ? 0 : p + 1}));
  REQUIRE(none);
  CHECK(none->at(0).empty());
  std::map<int, std::string> mark{{p, (*latest)[2].id}};
  REQUIRE(f.run(audit.set_watermarks(mark)));
  CHECK(f.run(audit.watermarks({p})).value().front() == (*latest)[2].id);
  CHECK(f.run(audit.trim_through(mark)).value() == 2);
  auto rest = f.run(audit.latest(p, 10));
  REQUIRE(rest);
  REQUIRE(rest->size() == 2);
  CHECK((*rest)[1].transaction_id == refused.transaction_id);
  CHECK(f.run(audit.trim_through(mark)).value() == 0);  // trimming again removes nothing more

  auto now = f.run(audit.now_ms());
  REQUIRE(now);
  CHECK(std::llabs(*now - wall_ms()) < 5000);
}

TEST_CASE("stream ids order numerically and have a successor", "[audit]") {
  CHECK(cache::stream_id_less("9-5", "10-0"));
  CHECK(cache::stream_id_less("10-2", "10-10"));
  CHECK_FALSE(cache::stream_id_less("10-10", "10-2"));
  CHECK(cache::stream_id_less("junk", "1-0"));
  CHECK(cache::stream_id_ms("1700000000123-4") == 1700000000123);
  CHECK_FALSE(cache::stream_id_ms("1700000000123"));
  CHECK(cache::stream_id_successor("5-9") == "5-10");
}

TEST_CASE("the link record is written and read back typed, and vpoint status reads the stored feed position",
          "[audit][status]") {
  MirrorFixture f;
  cache::LinkRecordStore store(f.client);
  CHECK_FALSE(f.run(store.read()).value().has_value());  // no link has written yet
  f.load(small_snapshot(20, 77));
  cache::LinkRecord w;
  w.state = "following";
  w.generation = 3;
  w.feed_seq = 77;
  w.central_seq = 80;
  w.last_sync_ms = 1700000000000;
  w.instance = "site-a:1";
  w.updated_ms = 1700000000500;
  w.last_error = "change feed: HTTP 503";
  REQUIRE(f.run(store.write(w)));
  auto r = f.run(store.read());
  REQUIRE(r);
  REQUIRE(r->has_value());
  CHECK((*r)->state == "following");
  CHECK((*r)->generation == 3);
  CHECK((*r)->feed_seq == 77);
  CHECK((*r)->central_seq == 80);
  CHECK((*r)->last_sync_ms == 1700000000000);
  CHECK((*r)->instance == "site-a:1");
  CHECK((*r)->updated_ms == 1700000000500);
  CHECK((*r)->last_error == "change feed: HTTP 503");

  // A mirror that never ran start() still reads the generation in effect from Redis.
  cache::Mirror fresh(f.client);
  auto position = f.run(fresh.stored_feed_position());
  REQUIRE(position);
  CHECK(position->first >= 1);
  CHECK(position->second == 77);
}

TEST_CASE("one product cache: filled on first use, read without Redis, dropped by any of the product's codes", "[mirror][product]") {
  MirrorFixture f;
  f.load(small_snapshot());
  f.mirror.invalidate();
  CHECK(f.mirror.cached_products() == 0);
  auto by_gtin = f.run(f.mirror.cached_product(kGtinA));
  REQUIRE(by_gtin);
  REQUIRE(*by_gtin);
  CHECK((*by_gtin)->ppn == kPpnA);
  auto by_ppn = f.run(f.mirror.cached_product(kPpnA));
  REQUIRE(by_ppn);
  REQUIRE(*by_ppn);
  CHECK(f.mirror.cached_products() == 2);  // one entry per code asked
  // The hot path reads the cache: the product as the cache holds it, even after Redis changed underneath.
  f.redis.cli({"HSET", "prod:" + std::to_string(f.run(f.mirror.feed_position()).value().first) + ":{" + kGtinA + "}",
               "name", "Renamed"});
  CHECK(f.run(f.mirror.cached_product(kGtinA)).value()->name == "Aspirin 100");
  // A feed change publishes the product's code; dropping by the PPN drops the GTIN's entry too.
  f.mirror.invalidate(kPpnA);
  CHECK(f.mirror.cached_products() == 0);
  CHECK(f.run(f.mirror.cached_product(kGtinA)).value()->name == "Renamed");
  CHECK(f.run(f.mirror.cached_product("00000000000000")).value() == nullptr);  // unknown: not cached
  CHECK(f.mirror.cached_products() == 1);

  // A generation switch ("*" on the channel) drops everything.
  f.mirror.invalidate("*");
  CHECK(f.mirror.cached_products() == 0);
}

TEST_CASE("audit log and link record on a Redis Cluster", "[audit][cluster]") {
  ClusterMirror cm;
  auto& [cluster, io, client, mirror] = cm;
  REQUIRE(run_on(io, mirror.start()));
  std::istringstream in(small_snapshot(200));
  REQUIRE(run_on(io, cache::import_snapshot(mirror, in)));
  std::map<int, std::string> tx;  // partition -> transaction
  std::set<std::size_t> owners;
  for (int i = 0; i < 200; i += 9) {
    char serial[8];
    std::snprintf(serial, sizeof serial, "S%03d", i);
    cache::PackRequest r;
    r.product_code = kGtinA;
    r.serial = serial;
    r.caller = {"pharmacist", kHere};
    auto done = run_on(io, mirror.decommission(r, Action::supply));
    REQUIRE(done);
    tx[done->partition] = done->transaction_id;
    owners.insert(cluster.owner_of_slot(cache::key_slot("{" + std::to_string(done->partition) + "}")));
  }
  CHECK(owners.size() == 3);
  cache::AuditLog audit(client);
  std::vector<cache::AuditRange> ranges;
  for (const auto& [p, id] : tx) ranges.push_back(cache::AuditRange{p, "", 0, 0});
  auto read = run_on(io, audit.read(ranges, 10));
  REQUIRE(read);
  std::map<int, std::string> last;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    REQUIRE_FALSE((*read)[i].empty());
    CHECK((*read)[i].back().transaction_id == tx[ranges[i].partition]);
    last[ranges[i].partition] = (*read)[i].back().id;
  }
  REQUIRE(run_on(io, audit.set_watermarks(last)));
  CHECK(run_on(io, audit.trim_through(last)).value() >= tx.size());
  for (const auto& [p, id] : tx) CHECK(run_on(io, audit.latest(p, 10)).value().empty());

  cache::LinkRecord w;
  w.state = "offline";
  w.feed_seq = 5;
  cache::LinkRecordStore store(client);
  REQUIRE(run_on(io, store.write(w)));
  CHECK(run_on(io, store.read()).value().value().state == "offline");
  client.close();
}
