// cache::Lease over the vp_lease Function against a real redis-server: one holder at a time, renewal only by the
// holder, release only by the holder, a dead holder's lease free after its TTL.
#include <catch2/catch.hpp>

#include <thread>

#include "mirror_support.hpp"
#include "vpoint/cache/lease.hpp"

using namespace vpoint;
using namespace vpoint::test;
using namespace std::chrono_literals;

TEST_CASE("a lease has one holder, only the holder renews or releases it, and it frees itself after the TTL",
          "[lease]") {
  MirrorFixture f;  // loads the Functions library
  cache::Lease a(f.client, "outbox:0", "instance-a", 400ms);
  cache::Lease b(f.client, "outbox:0", "instance-b", 400ms);
  CHECK(a.key() == "vpoint:lease:outbox:0");

  CHECK(f.run(a.hold()));
  CHECK(a.held());
  CHECK_FALSE(f.run(b.hold()));
  CHECK_FALSE(b.held());
  CHECK_FALSE(f.run(b.release()));  // not the holder: changes nothing
  CHECK(f.redis.cli({"GET", "vpoint:lease:outbox:0"}).find("instance-a") != std::string::npos);

  // Renewals keep it past its first TTL.
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(150ms);
    REQUIRE(f.run(a.hold()));
  }
  CHECK_FALSE(f.run(b.hold()));

  // Released: the other instance takes it at once.
  CHECK(f.run(a.release()));
  CHECK_FALSE(a.held());
  CHECK(f.run(b.hold()));
  CHECK_FALSE(f.run(a.hold()));

  // A holder that stops renewing (died) loses it after the TTL.
  std::this_thread::sleep_for(600ms);
  CHECK(f.run(a.hold()));
  CHECK_FALSE(f.run(b.hold()));
  CHECK_FALSE(cache::default_lease_owner().empty());
  CHECK(cache::default_lease_owner() != cache::default_lease_owner());
}
