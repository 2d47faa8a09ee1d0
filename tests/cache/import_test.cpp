// Snapshot import into a new generation and the switch (cache/include/vpoint/cache/import.hpp).
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>

#include "mirror_support.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Outcome;
using cache::PackStatus;

TEST_CASE("import loads products, batches, packs and the feed position", "[mirror][import]") {
  MirrorFixture f;
  std::vector<cache::ImportProgress> progress;
  cache::ImportOptions options;
  options.progress_every = 10;
  options.progress = [&](const cache::ImportProgress& p) { progress.push_back(p); };
  auto stats = f.load(small_snapshot(30, 77), options);
  CHECK(stats.products == 2);
  CHECK(stats.batches == 3);
  CHECK(stats.packs == 33);
  CHECK(stats.aggregations == 1);
  CHECK(stats.seq == 77);
  CHECK(stats.generation == 1);
  REQUIRE(progress.size() >= 4);
  CHECK(progress.back().packs == 33);
  auto position = f.run(f.mirror.feed_position());
  REQUIRE(position);
  CHECK(position->first == 1);
  CHECK(position->second == 77);
  CHECK(f.verify(f.request(kGtinA, "S029")).outcome == Outcome::ok);
  CHECK(f.verify(f.request(kGtinA, "SUPPLIED1")).status == PackStatus::supplied);
  CHECK(f.verify(f.request(kGtinB, "IBU1")).stored_batch->batch == "B7");
}

TEST_CASE("pack buckets stay listpack-encoded", "[mirror][import]") {
  auto options = MirrorFixture::test_mirror_options();
  options.buckets_per_partition = 1;
  MirrorFixture f(mirror_redis_options(), options);
  f.load(small_snapshot(3000));
  auto p = cache::Mirror::partition_of(kGtinA, "S000");
  CHECK(f.redis.cli({"OBJECT", "ENCODING", "pk:{" + std::to_string(p) + "}:1:0"}) == "listpack");
}

TEST_CASE("a malformed snapshot line is refused with its line number and nothing is switched", "[mirror][import]") {
  MirrorFixture f;
  auto text = small_snapshot();
  auto bad = text;
  bad.insert(text.find("{\"type\":\"pack\""), "{\"type\":\"pack\",\"gtin\":\"04150123456782\",\"serial\":\"X1\",\"batch\":\"NOPE\"}\n");
  std::istringstream in(bad);
  auto r = f.run(cache::import_snapshot(f.mirror, in));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == cache::MirrorErrorKind::bad_data);
  CHECK(r.error().message.find("line 6") != std::string::npos);
  CHECK(r.error().message.find("batch") != std::string::npos);
  CHECK(f.verify(f.request(kGtinA, "S001")).outcome == Outcome::unknown_product);

  std::istringstream junk("{\"type\":\"product\",\"gtin\":\n");
  auto j = f.run(cache::import_snapshot(f.mirror, junk));
  REQUIRE_FALSE(j);
  CHECK(j.error().message.find("line 1: not valid JSON") != std::string::npos);
}

TEST_CASE("a truncated snapshot is never switched to", "[mirror][import]") {
  MirrorFixture f;
  auto text = small_snapshot();
  text.erase(text.find("{\"type\":\"end\""));
  std::istringstream in(text);
  auto r = f.run(cache::import_snapshot(f.mirror, in));
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("truncated") != std::string::npos);
  CHECK(f.verify(f.request(kGtinA, "S001")).outcome == Outcome::unknown_product);
}

TEST_CASE("replacing a live mirror needs the operator's replace", "[mirror][import]") {
  MirrorFixture f;
  f.load(small_snapshot());
  std::istringstream in(small_snapshot());
  auto refused = f.run(cache::import_snapshot(f.mirror, in));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == cache::MirrorErrorKind::bad_request);
  CHECK(refused.error().message.find("replace") != std::string::npos);
}

TEST_CASE("import replacing a live mirror: reads go on and see one whole generation", "[mirror][import]") {
  MirrorFixture f;
  f.load(small_snapshot(50, 1));
  // The new snapshot has every S0xx pack supplied.
  auto next = small_snapshot(50, 2);
  for (std::size_t at = 0; (at = next.find("\"status\":\"active\"", at)) != std::string::npos;)
    next.replace(at, 17, "\"status\":\"supplied\"");

  bool importing = true;
  int reads = 0, bad = 0;
  auto reader = [&]() -> boost::asio::awaitable<void> {
    while (importing) {
      auto r = co_await f.mirror.verify(f.request(kGtinA, "S017"));
      ++reads;
      if (!r || r->outcome != Outcome::ok) ++bad;
    }
  };
  boost::asio::co_spawn(f.io, reader(), [](std::exception_ptr) {});
  cache::ImportOptions options;
  options.replace = true;
  options.drop_previous = true;
  options.commands_per_pipeline = 4;  // many round trips, so reads interleave
  auto stats = f.load(next, options);
  importing = false;
  f.io.restart();
  f.io.run_for(std::chrono::milliseconds(200));
  CHECK(stats.generation == 2);
  CHECK(reads > 0);
  CHECK(bad == 0);
  CHECK(f.verify(f.request(kGtinA, "S017")).status == PackStatus::supplied);
  CHECK(f.run(f.mirror.feed_position())->second == 2);
  // The old generation is gone.
  auto p = cache::Mirror::partition_of(kGtinA, "S017");
  CHECK(f.redis.cli({"EXISTS", "prod:1:{" + std::string(kGtinA) + "}"}) == "0");
  CHECK(f.redis.cli({"KEYS", "pk:{" + std::to_string(p) + "}:1:*"}).empty());
}
