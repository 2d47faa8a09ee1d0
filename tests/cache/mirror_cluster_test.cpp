// The mirror on a 3-master Redis Cluster: every pack operation is one single-slot FCALL.
#include <catch2/catch.hpp>

#include <set>

#include <boost/asio/co_spawn.hpp>

#include "mirror_support.hpp"

using namespace vpoint;
using namespace vpoint::test;
using cache::Action;
using cache::Outcome;
using cache::PackStatus;

TEST_CASE("the mirror works on a Redis Cluster: import, operations, one winner per pack", "[mirror][cluster]") {
  ClusterMirror cm;
  auto& [cluster, io, client, mirror] = cm;
  auto started = run_on(io, mirror.start());
  REQUIRE(started);
  // The library is on every master.
  for (std::size_t i = 0; i < cluster.size(); ++i)
    CHECK(cluster.node(i).cli({"FUNCTION", "LIST", "LIBRARYNAME", "vpoint"}).find("vp_pack") != std::string::npos);

  std::istringstream in(small_snapshot(200));
  auto stats = run_on(io, cache::import_snapshot(mirror, in));
  REQUIRE(stats);
  CHECK(stats->packs == 203);

  auto request = [](std::string serial, std::string location = kHere) {
    cache::PackRequest r;
    r.product_code = kGtinA;
    r.serial = std::move(serial);
    r.caller = {"pharmacist", std::move(location)};
    return r;
  };
  // Packs spread over all three masters.
  std::set<std::size_t> owners;
  for (int i = 0; i < 200; i += 7) {
    char serial[8];
    std::snprintf(serial, sizeof serial, "S%03d", i);
    auto r = run_on(io, mirror.decommission(request(serial), Action::supply));
    REQUIRE(r);
    CHECK(r->outcome == Outcome::ok);
    owners.insert(cluster.owner_of_slot(cache::key_slot("{" + std::to_string(r->partition) + "}")));
    auto undo = run_on(io, mirror.undo(request(serial), Action::supply));
    REQUIRE(undo);
    CHECK(undo->outcome == Outcome::ok);
  }
  CHECK(owners.size() == 3);

  std::vector<Outcome> outcomes;
  int finished = 0;
  for (int i = 0; i < 64; ++i) {
    boost::asio::co_spawn(io, as_optional(mirror.decommission(request("S150"), Action::destroy)),
                          [&](std::exception_ptr e, std::optional<cache::MirrorResult<cache::PackResult>> r) {
                            ++finished;
                            if (!e && r && *r) outcomes.push_back((*r)->outcome);
                          });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  io.restart();
  while (finished < 64 && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
  REQUIRE(outcomes.size() == 64);
  CHECK(std::count(outcomes.begin(), outcomes.end(), Outcome::ok) == 1);
  CHECK(std::count(outcomes.begin(), outcomes.end(), Outcome::already_inactive) == 63);

  auto product = run_on(io, mirror.product(kPpnA));
  REQUIRE(product);
  REQUIRE(*product);
  CHECK((*product)->batches.size() == 2);
}
