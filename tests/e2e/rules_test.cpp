// The verdict rules as pure functions (issue 5 "Verdicts"), table-driven.
#include <catch2/catch.hpp>

#include "vpoint/service/rules.hpp"

using namespace vpoint;
using service::Reason;
using service::Verdict;
using cache::Action;
using cache::Operation;
using cache::Outcome;
using cache::PackStatus;

namespace {

cache::Product product() {
  cache::Product p;
  p.code = "04150123456782";
  p.batches = {{"L1", "281231", cache::BatchState::active, "", 0, 0},
               {"L2", "270600", cache::BatchState::recalled, "x", 0, 1},
               {"L3", "240100", cache::BatchState::active, "", 0, 2}};  // expired by 2025
  return p;
}

const scanner::gs1::Date kToday{2025, 6, 1};

struct Row {
  const char* name;
  Operation op;
  Action action;
  const char* batch;
  const char* expiry;
  Outcome outcome;
  PackStatus previous;
  int stored_batch;
  Verdict verdict;
  Reason reason;
  bool verify_only;
  bool repeat = false;
  const char* last_location = nullptr;  // last decommission (supply) at this location, 5 s ago
};

}  // namespace

TEST_CASE("verdicts follow issue 5 for every operation, pack state and batch state", "[rules]") {
  const Row rows[] = {
      {"verify active good batch", Operation::verify, Action::supply, "L1", "281231", Outcome::ok, PackStatus::active, 0,
       Verdict::ok, Reason::none, false},
      {"verify inactive", Operation::verify, Action::supply, "L1", "281231", Outcome::ok, PackStatus::supplied, 0,
       Verdict::refused, Reason::already_inactive, false},
      {"verify locked", Operation::verify, Action::supply, "L1", "281231", Outcome::ok, PackStatus::locked, 0,
       Verdict::refused, Reason::locked, false},
      {"verify recalled", Operation::verify, Action::supply, "L2", "270600", Outcome::ok, PackStatus::active, 1,
       Verdict::refused, Reason::recalled, false},
      {"verify expired", Operation::verify, Action::supply, "L3", "240100", Outcome::ok, PackStatus::active, 2,
       Verdict::refused, Reason::expired, false},
      {"unknown product", Operation::verify, Action::supply, "L1", "281231", Outcome::unknown_product,
       PackStatus::active, -1, Verdict::refused, Reason::unknown_product, false},
      {"unknown serial", Operation::decommission, Action::supply, "L1", "281231", Outcome::unknown_serial,
       PackStatus::active, -1, Verdict::alert, Reason::unknown_serial, false},
      {"unknown batch", Operation::decommission, Action::supply, "L9", "281231", Outcome::ok, PackStatus::active, 0,
       Verdict::alert, Reason::unknown_batch, true},
      {"batch mismatch", Operation::verify, Action::supply, "L1", "281231", Outcome::ok, PackStatus::active, 1,
       Verdict::alert, Reason::batch_mismatch, false},
      {"expiry mismatch", Operation::decommission, Action::supply, "L1", "281130", Outcome::ok, PackStatus::active, 0,
       Verdict::alert, Reason::expiry_mismatch, true},
      {"supply ok", Operation::decommission, Action::supply, "L1", "281231", Outcome::ok, PackStatus::active, 0,
       Verdict::ok, Reason::none, false},
      {"supply recalled refused", Operation::decommission, Action::supply, "L2", "270600", Outcome::ok,
       PackStatus::active, 1, Verdict::refused, Reason::recalled, true},
      {"export expired refused", Operation::decommission, Action::export_, "L3", "240100", Outcome::ok,
       PackStatus::active, 2, Verdict::refused, Reason::expired, true},
      {"destroy recalled allowed", Operation::decommission, Action::destroy, "L2", "270600", Outcome::ok,
       PackStatus::active, 1, Verdict::ok, Reason::none, false},
      {"stolen expired allowed", Operation::decommission, Action::stolen, "L3", "240100", Outcome::ok,
       PackStatus::active, 2, Verdict::ok, Reason::none, false},
      {"supply of inactive pack", Operation::decommission, Action::supply, "L1", "281231", Outcome::already_inactive,
       PackStatus::supplied, 0, Verdict::alert, Reason::already_inactive, false},
      {"same location repeat", Operation::decommission, Action::supply, "L1", "281231", Outcome::already_inactive,
       PackStatus::supplied, 0, Verdict::refused, Reason::already_inactive, false, true, "GLN-HERE"},
      {"other location repeat", Operation::decommission, Action::supply, "L1", "281231", Outcome::already_inactive,
       PackStatus::supplied, 0, Verdict::alert, Reason::already_inactive, false, false, "GLN-THERE"},
      {"destroy of inactive recalled pack", Operation::decommission, Action::destroy, "L2", "270600",
       Outcome::already_inactive, PackStatus::destroyed, 1, Verdict::refused, Reason::already_inactive, false},
      {"undo ok", Operation::undo, Action::supply, "L1", "281231", Outcome::ok, PackStatus::supplied, 0, Verdict::ok,
       Reason::none, false},
      {"undo of expired pack", Operation::undo, Action::supply, "L3", "240100", Outcome::ok, PackStatus::supplied, 2,
       Verdict::refused, Reason::expired, true},
      {"undo window", Operation::undo, Action::supply, "L1", "281231", Outcome::undo_window_passed,
       PackStatus::supplied, 0, Verdict::alert, Reason::undo_window_passed, false},
      {"undo destroyed", Operation::undo, Action::destroy, "L1", "281231", Outcome::undo_not_allowed,
       PackStatus::destroyed, 0, Verdict::alert, Reason::undo_not_allowed, false},
  };
  const auto p = product();
  for (const Row& row : rows) {
    INFO(row.name);
    scanner::PackId pack;
    pack.gtin = p.code;
    pack.serial = "S1";
    pack.batch = row.batch;
    pack.expiry = row.expiry;
    service::Intent intent{row.op, row.action};
    auto bc = service::check_batch(p, pack, kToday);
    auto pl = service::plan(intent, bc);
    CHECK(pl.verify_only == row.verify_only);
    cache::PackResult r;
    r.outcome = row.outcome;
    r.previous = row.previous;
    r.status = row.previous;
    if (row.stored_batch >= 0) r.batch_index = static_cast<std::uint32_t>(row.stored_batch);
    r.redis_time_ms = 1'000'000;
    if (row.last_location) r.last_decommission = cache::DecommissionRecord{row.action, row.last_location, "a", 995'000, "t"};
    service::DecideInput in{intent, pl, bc, &r, cache::Caller{"a", "GLN-HERE"}, std::chrono::seconds(30)};
    auto d = service::decide(in);
    CHECK(service::to_string(d.verdict) == service::to_string(row.verdict));
    CHECK(service::to_string(d.reason) == service::to_string(row.reason));
    CHECK(d.repeat == row.repeat);
  }
}

TEST_CASE("expiry is inclusive and day 00 is the month's last day", "[rules]") {
  CHECK_FALSE(service::is_expired("250601", {2025, 6, 1}));
  CHECK(service::is_expired("250531", {2025, 6, 1}));
  CHECK_FALSE(service::is_expired("240200", {2024, 2, 29}));
  CHECK(service::is_expired("240200", {2024, 3, 1}));
  CHECK(service::same_expiry("270600", "270630", 2025));
  CHECK_FALSE(service::same_expiry("270600", "270629", 2025));
}

TEST_CASE("a repeat outside the window is an alert", "[rules]") {
  auto p = product();
  scanner::PackId pack{scanner::Scheme::gs1, p.code, "", "S1", "L1", "281231", std::nullopt};
  service::Intent intent{Operation::decommission, Action::supply};
  auto bc = service::check_batch(p, pack, kToday);
  auto pl = service::plan(intent, bc);
  cache::PackResult r;
  r.outcome = Outcome::already_inactive;
  r.previous = r.status = PackStatus::supplied;
  r.batch_index = 0;
  r.redis_time_ms = 1'000'000;
  r.last_decommission = cache::DecommissionRecord{Action::supply, "GLN-HERE", "a", 1'000'000 - 31'000, "t"};
  auto d = service::decide({intent, pl, bc, &r, cache::Caller{"a", "GLN-HERE"}, std::chrono::seconds(30)});
  CHECK(d.verdict == Verdict::alert);
  CHECK_FALSE(d.repeat);
}
