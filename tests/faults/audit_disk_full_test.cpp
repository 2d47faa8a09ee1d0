// Fault: the disk under [audit] dir is full (issue 16). vpointd runs in a private mount namespace (unshare -m,
// as root) with a 1 MiB tmpfs on its audit dir, which the test fills with a file. The archiver's rounds then
// fail: it says so (log audit_archive_failed at error level, /readyz check audit_archive failing, gauge
// vpoint_audit_archive_failing 1), writes no watermark and trims nothing, so every entry stays in Redis, and
// scans are answered as before. Once the file is removed it resumes by itself, and every acknowledged
// operation is in the pack's history exactly once, archived.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <map>

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "fault_support.hpp"
#include "vpointd_calls.hpp"
#include "vpointd_process.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// A command inside vpointd's mount namespace (sees the tmpfs). Its exit status.
int in_namespace(const Vpointd& vpointd, const std::string& script) {
  auto out = run_process({"/usr/bin/nsenter", "-t", std::to_string(vpointd.pid()), "-m", "/bin/sh", "-c", script,
                          vpointd.audit_dir().string()},
                         30s);
  return out.exit_code;
}

std::string archive_check(Vpointd& vpointd) {
  auto ready = vpointd.get_json("/readyz");
  const auto* check = ready.at("checks").as_object().if_contains("audit_archive");
  return check ? std::string(check->at("status").as_string()) : "";
}

}  // namespace

TEST_CASE("disk full under the audit dir: the archiver stops and says so, trims nothing, scans go on, and it "
          "resumes by itself with every entry archived once",
          "[faults][audit]") {
  if (run_process({"/usr/bin/unshare", "-m", "/bin/true"}, 10s).exit_code != 0) {
    WARN("skipped: unshare -m needs root (CAP_SYS_ADMIN); no FAULT audit_disk_full line");
    return;
  }
  Simulator sim(10, 400);
  RedisServer redis;
  auto packs = scan_packs(sim, 40);
  REQUIRE(packs.size() == 40);
  VpointdOptions options;
  options.redis_url = redis.url();
  options.central_url = sim.url();
  options.audit_extra = "min_age_s = 0\ninterval_s = 1\n";
  // $0 is the audit dir: mounted as a 1 MiB tmpfs in vpointd's own mount namespace, then vpointd is exec'd.
  options.wrapper = {"/usr/bin/unshare", "-m", "/bin/sh", "-c",
                     "mkdir -p \"$0\" && mount -t tmpfs -o size=1m vpoint-audit \"$0\" && exec \"$@\"",
                     "{audit_dir}"};
  Vpointd vpointd(options);

  // Full: a file takes every free byte of the tmpfs (dd stops at ENOSPC).
  REQUIRE(in_namespace(vpointd, "dd if=/dev/zero of=\"$0/filler\" bs=4096 2>/dev/null; "
                                "test \"$(df --output=avail \"$0\" | tail -n 1 | tr -d ' ')\" -eq 0") == 0);

  // Scans go on: each pack verified, every other one supplied; each answer is one audit entry (a supply's by its
  // transaction id; a verification answer names none, so verifications are counted per pack).
  std::size_t sent = 0;
  std::map<std::string, std::vector<std::string>> acknowledged;  // pack serial -> supply transaction ids
  std::map<std::string, int> verified;                            // pack serial -> verifications
  for (std::size_t i = 0; i < packs.size(); ++i) {
    std::vector<std::pair<std::string, json::object>> calls{{"/v1/verify", json::object{{"scan", packs[i].scan}}}};
    if (i % 2 == 0) calls.emplace_back("/v1/decommission", json::object{{"scan", packs[i].scan}, {"action", "supply"}});
    for (const auto& [route, body] : calls) {
      auto r = vpointd.request(http::verb::post, route, json::serialize(body));
      ++sent;
      INFO(route << " " << r.body());
      REQUIRE(r.result_int() == 200);
      REQUIRE(body_json(r).at("verdict") == "ok");
      if (route == "/v1/verify") ++verified[packs[i].serial];
      else acknowledged[packs[i].serial].emplace_back(body_json(r).at("transaction_id").as_string());
    }
  }
  const std::size_t operations = sent;

  // The archiver says so, and keeps every entry in Redis.
  REQUIRE(eventually([&] { return archive_check(vpointd) == "failing"; }, 30s));
  CHECK(vpointd.output().find("\"audit_archive_failed\"") != std::string::npos);
  CHECK(vpointd.output().find("No space left on device") != std::string::npos);
  CHECK(vpointd.request(http::verb::get, "/metrics", "", "").body().find("vpoint_audit_archive_failing 1") !=
        std::string::npos);
  auto live = vpointd.get_json("/v1/packs/" + packs[0].code + "/" + packs[0].serial, Vpointd::kPharmacyKey);
  for (const auto& entry : live.at("history").as_array()) CHECK(entry.at("archived") == false);
  CHECK(live.at("history").as_array().size() == 2);

  // Room again: it resumes by itself.
  REQUIRE(in_namespace(vpointd, "rm -f \"$0/filler\"") == 0);
  REQUIRE(eventually([&] { return archive_check(vpointd) == "ok"; }, 30s));
  CHECK(vpointd.request(http::verb::get, "/metrics", "", "").body().find("vpoint_audit_archive_failing 0") !=
        std::string::npos);

  // Every acknowledged operation: in its pack's history exactly once, and archived (trimmed from Redis).
  std::size_t found = 0, lost = 0, doubled = 0, archived = 0;
  REQUIRE(eventually([&] {
    found = lost = doubled = archived = 0;
    for (const auto& pack : packs) {
      auto page = vpointd.get_json("/v1/packs/" + pack.code + "/" + pack.serial, Vpointd::kPharmacyKey);
      std::map<std::string, int> copies;
      int verifications = 0;
      for (const auto& entry : page.at("history").as_array()) {
        if (entry.at("operation") == "verify") ++verifications;
        else ++copies[std::string(entry.at("transaction_id").as_string())];
        if (entry.at("archived") == true) ++archived;
      }
      auto tally = [&](int n, int expected) {
        found += static_cast<std::size_t>(std::min(n, expected));
        lost += static_cast<std::size_t>(std::max(expected - n, 0));
        doubled += static_cast<std::size_t>(std::max(n - expected, 0));
      };
      tally(verifications, verified[pack.serial]);
      for (const auto& tx : acknowledged[pack.serial]) tally(copies[tx], 1);
    }
    return archived == operations;
  }, 30s));
  std::printf("FAULT audit_disk_full injected=1 sent=%zu acknowledged=%zu found=%zu lost=%zu doubled=%zu\n", sent,
              operations, found, lost, doubled);
  CHECK(lost == 0);
  CHECK(doubled == 0);
}
