// The audit archive (issue 6 "Audit archive") against a real redis-server, a real vpoint-central-sim draining
// the outbox through the real central link, and real files in a temp dir.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "sync_support.hpp"
#include "vpoint/service/audit_archive.hpp"

using namespace vpoint;
using namespace vpoint::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr const char* kHere = "4012345000009";

struct Pack {
  std::string code, serial;
};

// Packs of the central system, with the product code the mirror keys them by (a PPN-coded pack of a product
// that also has a GTIN is keyed by the GTIN: that code is in its audit entries and picks its partition).
std::vector<Pack> central_packs(LinkHarness& h, Simulator& sim, int n) {
  auto v = sim.get_json("/admin/packs?limit=" + std::to_string(n));
  std::vector<Pack> out;
  for (const auto& p : v.at("packs").as_array()) {
    const auto& o = p.as_object();
    std::string code(o.contains("gtin") ? o.at("gtin").as_string() : o.at("ppn").as_string());
    auto product = h.run(h.mirror().product(code));
    if (!product || !*product) throw std::runtime_error("product " + code + " not in the mirror");
    out.push_back({(*product)->code, std::string(o.at("serial").as_string())});
  }
  return out;
}

// Starts the write-back only (the feed is not needed here).
void start_drain(LinkHarness& h, Simulator& sim) {
  auto options = test_link_options(sim.url(), {.drain = true});
  h.start_link(options);
}

std::string verify(LinkHarness& h, const Pack& p) {
  cache::PackRequest request{p.code, p.serial, {"pharmacy-1", kHere}};
  auto r = h.run(h.mirror().verify(request));
  if (!r) throw std::runtime_error("verify: " + r.error().message);
  REQUIRE(r->outcome == cache::Outcome::ok);
  // Entries of later operations must fall in a later millisecond than this one (the outbox cutoff compares
  // milliseconds).
  std::this_thread::sleep_for(3ms);
  return r->transaction_id;
}

service::AuditArchiveOptions archive_options(const fs::path& dir, const std::string& instance) {
  service::AuditArchiveOptions o;
  o.dir = dir;
  o.min_age = 0s;
  o.instance_id = instance;
  o.lease_ttl = 400ms;
  return o;
}

std::shared_ptr<service::AuditArchive> open_archive(LinkHarness& h, service::AuditArchiveOptions o) {
  auto a = service::AuditArchive::open(h.io().get_executor(), h.client(), std::move(o));
  if (!a) throw std::runtime_error(a.error());
  return *a;
}

service::ArchiveRound archive(LinkHarness& h, service::AuditArchive& a) {
  auto round = h.run(a.archive_once());
  if (!round) FAIL("archive round: " << round.error());
  return *round;
}

// Every line of every archive file, parsed (a line that does not parse is returned as nullopt).
std::vector<std::optional<service::AuditRecord>> archived_lines(const fs::path& dir) {
  std::vector<std::optional<service::AuditRecord>> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".ndjson") continue;  // the sidecar indexes (.ndjson.idx) are not the archive
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) out.push_back(service::parse_ndjson(line));
  }
  return out;
}

std::multiset<std::string> archived_transactions(const fs::path& dir) {
  std::multiset<std::string> out;
  for (const auto& rec : archived_lines(dir))
    if (rec) out.insert(rec->transaction_id);
  return out;
}

long long audit_stream_length(LinkHarness& h, const Pack& p) {
  std::string key = "au:{" + std::to_string(cache::Mirror::partition_of(p.code, p.serial)) + "}";
  auto r = h.run(h.client().command({"XLEN", key}));
  REQUIRE(r);
  return r->integer;
}

long long audit_total(LinkHarness& h) {
  std::vector<cache::Command> lens;
  for (int p = 0; p < cache::kPartitions; ++p) lens.push_back({"XLEN", "au:{" + std::to_string(p) + "}"});
  long long total = 0;
  for (auto& r : h.run(h.client().pipeline(std::move(lens)))) {
    REQUIRE(r);
    total += r->integer;
  }
  return total;
}

std::vector<service::AuditRecord> history(LinkHarness& h, service::AuditArchive& a, const Pack& p) {
  auto records = h.run(a.pack_history({p.code}, p.serial));
  if (!records) FAIL("pack_history: " << records.error());
  return *records;
}

}  // namespace

TEST_CASE("acknowledged audit entries older than the minimum age go to daily files and leave the stream",
          "[sync][audit]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  import_through_link(h, sim);
  auto packs = central_packs(h, sim, 10);
  REQUIRE(packs.size() == 10);
  start_drain(h, sim);

  std::set<std::string> txs;
  for (int i = 0; i < 5; ++i) txs.insert(h.supply(packs[i].code, packs[i].serial).transaction_id);
  for (int i = 5; i < 10; ++i) txs.insert(verify(h, packs[i]));
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 20s));  // the central system accepted all 5

  TempDir dir;
  auto options = archive_options(dir / "audit", "instance-a");
  options.min_age = 2s;
  auto a = open_archive(h, options);
  REQUIRE(fs::is_directory(dir / "audit"));

  // Younger than [audit] min_age_s: stays in Redis.
  auto early = archive(h, *a);
  CHECK(early.lease_held);
  CHECK(early.archived == 0);
  CHECK(audit_total(h) == 10);

  std::this_thread::sleep_for(2100ms);
  auto round = archive(h, *a);
  CHECK(round.archived == 10);
  CHECK(round.trimmed == 10);
  CHECK(audit_total(h) == 0);

  // One line per entry, named by the entry's UTC day, with readable names.
  auto lines = archived_lines(dir / "audit");
  REQUIRE(lines.size() == 10);
  std::set<std::string> seen;
  for (const auto& rec : lines) {
    REQUIRE(rec);
    seen.insert(rec->transaction_id);
    CHECK(fs::exists(dir / "audit" / service::archive_file_name(rec->time_ms)));
    CHECK(rec->location == kHere);
    CHECK(rec->actor == "pharmacy-1");
    CHECK(rec->outcome == "ok");
    CHECK(rec->partition == cache::Mirror::partition_of(rec->code, rec->serial));
    if (rec->operation == "decommission") {
      CHECK(rec->action == "supply");
      CHECK(rec->previous_status == "active");
      CHECK(rec->status == "supplied");
    } else {
      CHECK(rec->operation == "verify");
      CHECK(rec->action.empty());
      CHECK(rec->status == "active");
    }
  }
  CHECK(seen == txs);
  // The watermark names the last archived id of each partition.
  std::map<std::string, std::string> last_id;
  for (const auto& rec : lines)
    if (service::stream_id_less(last_id[std::to_string(rec->partition)], rec->id))
      last_id[std::to_string(rec->partition)] = rec->id;
  auto marks = h.run(h.client().command({"HGETALL", std::string(cache::kAuditWatermarkKey)}));
  REQUIRE(marks);
  std::map<std::string, std::string> watermark;
  for (std::size_t i = 0; i + 1 < marks->elements.size(); i += 2)
    watermark[marks->elements[i].str] = marks->elements[i + 1].str;
  CHECK(watermark == last_id);

  // A second round finds nothing new and writes nothing.
  auto again = archive(h, *a);
  CHECK(again.archived == 0);
  CHECK(archived_lines(dir / "audit").size() == 10);
}

TEST_CASE(
    "a state change still waiting in the outbox is neither archived nor trimmed until the central system "
    "answered",
    "[sync][audit]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  import_through_link(h, sim);
  auto packs = central_packs(h, sim, 2);
  REQUIRE(packs.size() == 2);
  start_drain(h, sim);
  sim.kill();  // the central system is away: the supply below stays in the outbox

  std::string before_a = verify(h, packs[0]);
  std::string before_b = verify(h, packs[1]);
  std::string supply = h.supply(packs[0].code, packs[0].serial).transaction_id;
  std::this_thread::sleep_for(3ms);
  std::string after_a = verify(h, packs[0]);
  REQUIRE(h.outbox_total() == 1);

  TempDir dir;
  auto a = open_archive(h, archive_options(dir / "audit", "instance-a"));
  archive(h, *a);
  // Only what precedes the pending supply in its partition (and the other pack, unless it shares the
  // partition and came later, which it did not: it came before the supply).
  CHECK(archived_transactions(dir / "audit") == std::multiset<std::string>{before_a, before_b});
  CHECK(audit_stream_length(h, packs[0]) == 2);  // the supply and the verification after it

  sim.start();
  REQUIRE(eventually([&] { return h.outbox_total() == 0; }, 20s));
  auto round = archive(h, *a);
  CHECK(round.archived == 2);
  CHECK(archived_transactions(dir / "audit") ==
        std::multiset<std::string>{before_a, before_b, supply, after_a});
  CHECK(audit_stream_length(h, packs[0]) == 0);
  // The pack's archived history is in stream order.
  auto records = history(h, *a, packs[0]);
  REQUIRE(records.size() == 3);
  CHECK(records[0].transaction_id == before_a);
  CHECK(records[1].transaction_id == supply);
  CHECK(records[2].transaction_id == after_a);
  CHECK(records[1].status == "supplied");
}

TEST_CASE("crashes between fsync, watermark and trim lose nothing, and readers see every entry once",
          "[sync][audit]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  import_through_link(h, sim);
  auto packs = central_packs(h, sim, 13);
  REQUIRE(packs.size() == 13);
  TempDir dir;
  const fs::path audit = dir / "audit";
  std::vector<std::string> txs;

  // 1. The process dies after the fsync, before the watermark: the lines are on disk, Redis still has all.
  for (int i = 0; i < 6; ++i) txs.push_back(verify(h, packs[i]));
  {
    auto options = archive_options(audit, "instance-1");
    options.crash_point = service::AuditArchiveOptions::CrashPoint::after_fsync;
    options.partitions_per_step = cache::kPartitions;  // one step: the "crash" comes after all 6 are on disk
    auto a = open_archive(h, options);
    CHECK(archive(h, *a).archived == 6);
  }
  CHECK(audit_total(h) == 6);
  auto marks = h.run(h.client().command({"HLEN", std::string(cache::kAuditWatermarkKey)}));
  REQUIRE(marks);
  CHECK(marks->integer == 0);

  // The restarted instance has a new id: the dead one's lease must expire first (one archiver at a time).
  auto b = open_archive(h, archive_options(audit, "instance-2"));
  CHECK_FALSE(archive(h, *b).lease_held);
  std::this_thread::sleep_for(500ms);
  auto round = archive(h, *b);
  CHECK(round.lease_held);
  CHECK(round.archived == 6);  // written again: duplicates on disk, never a loss
  CHECK(audit_total(h) == 0);
  CHECK(archived_lines(audit).size() == 12);
  for (int i = 0; i < 6; ++i) {
    auto records = history(h, *b, packs[i]);
    REQUIRE(records.size() == 1);  // readers de-duplicate by (partition, id)
    CHECK(records[0].transaction_id == txs[i]);
  }
  b.reset();

  // 2. The process dies after the watermark, before the trim: the restart trims and writes nothing again.
  std::this_thread::sleep_for(500ms);
  for (int i = 6; i < 10; ++i) txs.push_back(verify(h, packs[i]));
  {
    auto options = archive_options(audit, "instance-3");
    options.crash_point = service::AuditArchiveOptions::CrashPoint::after_watermark;
    options.partitions_per_step = cache::kPartitions;
    auto c = open_archive(h, options);
    CHECK(archive(h, *c).archived == 4);
  }
  CHECK(audit_total(h) == 4);
  std::this_thread::sleep_for(500ms);
  auto d = open_archive(h, archive_options(audit, "instance-4"));
  round = archive(h, *d);
  CHECK(round.archived == 0);
  CHECK(round.trimmed == 4);
  CHECK(audit_total(h) == 0);
  d.reset();

  // 3. A clean restart continues from the watermarks: no duplicates, no gaps.
  std::this_thread::sleep_for(500ms);
  for (int i = 10; i < 13; ++i) txs.push_back(verify(h, packs[i]));
  auto e = open_archive(h, archive_options(audit, "instance-5"));
  CHECK(archive(h, *e).archived == 3);
  auto on_disk = archived_transactions(audit);
  CHECK(on_disk.size() == 6 * 2 + 4 + 3);
  for (std::size_t i = 0; i < txs.size(); ++i) {
    INFO("transaction " << i);
    CHECK(on_disk.count(txs[i]) == (i < 6 ? 2u : 1u));
  }
}

TEST_CASE("a torn last line left by a crash is skipped by readers and new lines start on a line of their own",
          "[sync][audit]") {
  Simulator sim(4, 2000);
  LinkHarness h;
  import_through_link(h, sim);
  auto packs = central_packs(h, sim, 1);
  REQUIRE(packs.size() == 1);
  std::string tx = verify(h, packs[0]);
  TempDir dir;
  const fs::path audit = dir / "audit";
  fs::create_directories(audit);
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  const fs::path today = audit / service::archive_file_name(now_ms);
  write_file(today, std::string(R"({"id":"1-1","partition":3,"time":"2026-01-01T00:00:00.000Z","code":")") +
                        packs[0].code + R"(","serial":")" + packs[0].serial + R"(","op":"ver)");
  auto a = open_archive(h, archive_options(audit, "instance-a"));
  CHECK(archive(h, *a).archived == 1);
  auto records = history(h, *a, packs[0]);
  REQUIRE(records.size() == 1);
  CHECK(records[0].transaction_id == tx);
  CHECK(records[0].archived);
  auto lines = archived_lines(audit);
  REQUIRE(lines.size() == 2);
  CHECK_FALSE(lines[0]);  // the torn line stays unreadable
  REQUIRE(lines[1]);
  CHECK(lines[1]->transaction_id == tx);
}

TEST_CASE("retention deletes archive files older than retention_days and nothing else", "[sync][audit]") {
  LinkHarness h;
  TempDir dir;
  const fs::path audit = dir / "audit";
  auto options = archive_options(audit, "instance-a");
  options.retention_days = 1830;
  auto a = open_archive(h, options);
  auto day_ms = [](int days_ago) {
    auto now = std::chrono::system_clock::now() - std::chrono::hours(24) * days_ago;
    return std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  };
  const std::string too_old = service::archive_file_name(day_ms(1831));
  const std::string kept_oldest = service::archive_file_name(day_ms(1829));
  const std::string today = service::archive_file_name(day_ms(0));
  for (const std::string& name : {std::string("audit-2000-01-01.ndjson"), too_old, kept_oldest, today,
                                  std::string("notes.txt"), std::string("audit-2000-13-01.ndjson")})
    write_file(audit / name, "{}\n");
  write_file(audit / (too_old + ".idx"), "# 3\n");      // a sidecar index goes with its file
  write_file(audit / (kept_oldest + ".idx"), "# 3\n");

  auto deleted = h.run(a->apply_retention());
  REQUIRE(deleted);
  std::sort(deleted->begin(), deleted->end());
  CHECK(*deleted == std::vector<std::string>{"audit-2000-01-01.ndjson", too_old});
  CHECK_FALSE(fs::exists(audit / too_old));
  CHECK_FALSE(fs::exists(audit / (too_old + ".idx")));
  CHECK(fs::exists(audit / kept_oldest));
  CHECK(fs::exists(audit / (kept_oldest + ".idx")));
  CHECK(fs::exists(audit / today));
  CHECK(fs::exists(audit / "notes.txt"));                // not an archive file
  CHECK(fs::exists(audit / "audit-2000-13-01.ndjson"));  // no such day: not ours either
}

TEST_CASE("an archive directory that cannot be created is refused with the setting named", "[sync][audit]") {
  LinkHarness h;
  TempDir dir;
  write_file(dir / "file", "x");
  auto a = service::AuditArchive::open(h.io().get_executor(), h.client(),
                                       archive_options(dir / "file" / "audit", "instance-a"));
  REQUIRE_FALSE(a);
  CHECK_THAT(a.error(), Catch::StartsWith("[audit] dir:"));
}
