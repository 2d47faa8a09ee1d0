// Snapshot import into a new generation and the switch (cache/include/vpoint/cache/import.hpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <fmt/format.h>

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

namespace {

// Every key of the fixture's Redis with its content, sorted (hash fields and set members sorted; list order
// kept, since a batch list's order gives the batch indices): two imports that wrote the same data dump equal.
std::string dump_keys(const MirrorFixture& f) {
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  auto keys = lines(f.redis.cli({"KEYS", "*"}));
  std::sort(keys.begin(), keys.end());
  std::string dump;
  for (const auto& key : keys) {
    auto type = f.redis.cli({"TYPE", key});
    std::vector<std::string> content;
    if (type.rfind("hash", 0) == 0) {
      auto kv = lines(f.redis.cli({"HGETALL", key}));
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) content.push_back(kv[i] + "=" + kv[i + 1]);
      std::sort(content.begin(), content.end());
    } else if (type.rfind("set", 0) == 0) {
      content = lines(f.redis.cli({"SMEMBERS", key}));
      std::sort(content.begin(), content.end());
    } else if (type.rfind("list", 0) == 0) {
      content = lines(f.redis.cli({"LRANGE", key, "0", "-1"}));
    } else {
      content = lines(f.redis.cli({"GET", key}));
    }
    dump += key + " " + type + "\n";
    for (const auto& c : content) dump += "  " + c + "\n";
  }
  return dump;
}

// The error of importing `text` (which must fail).
std::string import_error(const std::string& text) {
  MirrorFixture f;
  std::istringstream in(text);
  auto r = f.run(cache::import_snapshot(f.mirror, in));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == cache::MirrorErrorKind::bad_data);
  return r.error().message;
}

// small_snapshot() with its pack line for `serial` replaced by `line`.
std::string with_pack_line(const std::string& serial, const std::string& line) {
  auto text = small_snapshot();
  auto at = text.find("\"serial\":\"" + serial + "\"");
  REQUIRE(at != std::string::npos);
  auto begin = text.rfind('\n', at) + 1;
  auto end = text.find('\n', at);
  text.replace(begin, end - begin, line);
  return text;
}

}  // namespace

TEST_CASE("pack lines with escapes, reordered fields, spaces or extra keys write the same keys as plain ones",
          "[mirror][import]") {
  auto plain = small_snapshot(40, 9);
  // The same packs written every other way the JSON allows; each form either takes the fast pack scan or
  // falls back to the full parse, and both must store byte-identical data.
  auto varied = plain;
  const std::vector<std::pair<std::string, std::string>> forms = {
      {R"({"type":"pack","gtin":"04150123456782","serial":"S001","batch":"L1","status":"active"})",
       R"({"type":"pack","gtin":"04150123456782","serial":"S\u0030\u00301","batch":"L1","status":"active"})"},
      {R"({"type":"pack","gtin":"04150123456782","serial":"S002","batch":"L1","status":"active"})",
       R"({"status":"active","batch":"L1","serial":"S002","gtin":"04150123456782","type":"pack"})"},
      {R"({"type":"pack","gtin":"04150123456782","serial":"S003","batch":"L1","status":"active"})",
       " { \"type\" : \"pack\" ,\t\"gtin\":\"04150123456782\", \"serial\" :\"S003\",\"batch\":\"L1\" , \"status\":\"active\" }\r"},
      {R"({"type":"pack","gtin":"04150123456782","serial":"S004","batch":"L1","status":"active"})",
       R"({"type":"pack","gtin":"04150123456782","serial":"S004","batch":"L1","status":"active","note":[1,{"a":null}]})"},
      {R"({"type":"pack","gtin":"04150123456782","serial":"S005","batch":"L1","status":"active"})",
       R"({"type":"pack","ppn":"110375286414","serial":"S005","batch":"L1"})"},
      {R"({"type":"pack","gtin":"04150123456782","serial":"S006","batch":"L1","status":"active"})",
       R"({"type":"pack","gtin":"99999999999999","ppn":"110375286414","serial":"S006","batch":"L1","status":"active"})"},
      {R"({"type":"pack","gtin":"04150123456782","serial":"S007","batch":"L1","status":"active"})",
       R"({"type":"pack","gtin":"04150123456782","serial":"S007","batch":"L\u0031","status":"act\u0069ve"})"},
  };
  for (const auto& [from, to] : forms) {
    auto at = varied.find(from);
    REQUIRE(at != std::string::npos);
    varied.replace(at, from.size(), to);
  }
  REQUIRE(varied != plain);
  MirrorFixture a, b;
  auto sa = a.load(plain);
  auto sb = b.load(varied);
  CHECK(sa.packs == 43);
  CHECK(sb.packs == 43);
  auto da = dump_keys(a);
  CHECK(da.find("000S001=") != std::string::npos);
  CHECK(da == dump_keys(b));
  CHECK(b.verify(b.request(kGtinA, "S001")).outcome == Outcome::ok);
  CHECK(b.verify(b.request(kGtinA, "S006")).stored_batch->batch == "L1");
}

TEST_CASE("bad values in pack lines are refused with the same message however the line is written",
          "[mirror][import]") {
  // Line 6 is the first pack line (after 2 products and 3 batches).
  const std::string plain_status = R"({"type":"pack","gtin":"04150123456782","serial":"S000","batch":"L1","status":"gone"})";
  const std::string escaped_status = R"({"type":"pack","gtin":"04150123456782","serial":"S000","batch":"L1","status":"g\u006fne"})";
  // A status this build does not know is no bad line (issue 14): stored as unknown with its raw text, the same
  // bytes whichever parse path read the line.
  MirrorFixture pa, pb;
  CHECK(pa.load(with_pack_line("S000", plain_status)).unknown_statuses == 1);
  CHECK(pb.load(with_pack_line("S000", escaped_status)).unknown_statuses == 1);
  CHECK(dump_keys(pa) == dump_keys(pb));
  auto seen = pa.verify(pa.request(kGtinA, "S000"));
  CHECK(seen.status == PackStatus::unknown);
  CHECK(seen.central_status == "gone");

  CHECK(import_error(with_pack_line("S000", R"({"type":"pack","gtin":"04150123456782","serial":"S0000000000000000000X","batch":"L1"})")) ==
        "snapshot line 6: pack: \"serial\" must be 1-20 characters");
  CHECK(import_error(with_pack_line("S000", R"({"batch":"L1","serial":"","gtin":"04150123456782","type":"pack"})")) ==
        "snapshot line 6: pack: \"serial\" must be 1-20 characters");
  // A number where a string belongs counts as missing, as in the full parse.
  CHECK(import_error(with_pack_line("S000", R"({"type":"pack","gtin":"04150123456782","serial":17,"batch":"L1"})")) ==
        "snapshot line 6: pack: \"serial\" must be 1-20 characters");
  CHECK(import_error(with_pack_line("S000", R"({"type":"pack","gtin":"04150123456789","serial":"S000","batch":"L1"})")) ==
        "snapshot line 6: pack: \"gtin\"/\"ppn\" names no product given earlier");
  CHECK(import_error(with_pack_line("S000", R"({"type":"pack","gtin":"05012345678900","serial":"S000","batch":"L1"})")) ==
        "snapshot line 6: pack: \"batch\" names no batch of this product given earlier");
  CHECK(import_error(with_pack_line("S000", R"({"type":"pack","gtin":"04150123456782","serial":"S000","batch":"L1"} x)"))
            .rfind("snapshot line 6: not valid JSON", 0) == 0);
  CHECK(import_error(with_pack_line("S000", R"({"type":"pack","gtin":"04150123456782","serial":"S000","batch":"L1",)"))
            .rfind("snapshot line 6: not valid JSON", 0) == 0);
  CHECK(import_error(with_pack_line("S000", R"({"type":"pak","gtin":"04150123456782","serial":"S000","batch":"L1"})")) ==
        "snapshot line 6: \"type\" must be product, batch, pack, aggregation or end");
}

TEST_CASE("packs, batches and products interleaved over many small pipelines keep their batch indices",
          "[mirror][import]") {
  // Pipelines of packs overlap; a batch list's RPUSHes must still land in snapshot order, since the pack
  // value stores the batch's index (mirror_keys.hpp pack_value).
  std::ostringstream s;
  s << R"({"type":"product","gtin":"04150123456782","name":"A","market":"DE"})" << "\n";
  s << R"({"type":"product","gtin":"05012345678900","name":"B","market":"DE"})" << "\n";
  for (int batch = 0; batch < 12; ++batch) {
    for (const char* gtin : {kGtinA, kGtinB}) {
      s << R"({"type":"batch","gtin":")" << gtin << R"(","batch":"N)" << batch << R"(","expiry":"301231","state":"active"})" << "\n";
      for (int i = 0; i < 25; ++i)
        s << R"({"type":"pack","gtin":")" << gtin << R"(","serial":"P)" << batch << "X" << i << R"(","batch":"N)" << batch
          << R"(","status":")" << (i % 5 == 0 ? "supplied" : "active") << R"("})" << "\n";
    }
  }
  s << R"({"type":"end","seq":5})" << "\n";
  MirrorFixture f;
  cache::ImportOptions options;
  options.commands_per_pipeline = 3;
  options.fields_per_hset = 2;
  auto stats = f.load(s.str(), options);
  CHECK(stats.batches == 24);
  CHECK(stats.packs == 600);
  for (int batch = 0; batch < 12; ++batch) {
    for (const char* gtin : {kGtinA, kGtinB}) {
      for (int i : {0, 7, 24}) {
        const std::string serial = fmt::format("P{}X{}", batch, i);
        auto r = f.verify(f.request(gtin, serial));
        INFO(gtin << " " << serial);
        REQUIRE(r.stored_batch);
        CHECK(r.stored_batch->batch == fmt::format("N{}", batch));
        CHECK(r.status == (i % 5 == 0 ? PackStatus::supplied : PackStatus::active));
      }
    }
  }
}
