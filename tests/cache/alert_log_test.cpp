// cache::AlertLog against a real redis-server: one writer rule for every alert, the senders' cursor and the
// operator's redelivery queue.
#include <catch2/catch.hpp>

#include "mirror_support.hpp"
#include "vpoint/cache/alert_log.hpp"

using namespace vpoint;
using namespace vpoint::test;
namespace json = boost::json;

namespace {

json::object alert_of(std::string reason, std::string tx) {
  json::object a{{"reason", std::move(reason)}, {"verdict", "alert"}, {"pack", json::object{{"serial", "S1"}}}};
  a["transaction_id"] = tx.empty() ? json::value(nullptr) : json::value(tx);
  return a;
}

}  // namespace

TEST_CASE("an alert is raised once per reason and transaction, whoever raises it", "[alerts]") {
  MirrorFixture f;
  cache::AlertLog log(f.client);
  auto first = f.run(log.raise(alert_of("unknown_serial", "tx-1")));
  REQUIRE(first);
  // The pack route's retry and the central link raising the same problem of the same transaction: one alert.
  CHECK(f.run(log.raise(alert_of("unknown_serial", "tx-1"))).value() == *first);
  // Another problem of the same transaction is another alert; alerts without a transaction never merge.
  auto other = f.run(log.raise(alert_of("central_rejected", "tx-1")));
  REQUIRE(other);
  CHECK(*other != *first);
  auto recall1 = f.run(log.raise(alert_of("batch_recalled", "")));
  auto recall2 = f.run(log.raise(alert_of("batch_recalled", "")));
  REQUIRE(recall1);
  REQUIRE(recall2);
  CHECK(*recall1 != *recall2);
  CHECK(f.run(log.size()).value() == 4);

  auto listed = f.run(log.list(cache::AlertQuery{}));
  REQUIRE(listed);
  REQUIRE(listed->size() == 4);
  const auto& a = listed->front();
  CHECK(a.at("id").as_string() == *first);
  CHECK(a.at("delivery") == "pending");
  CHECK(a.at("acked") == false);
  CHECK(a.at("time").as_string().size() == 24);  // 2026-12-06T05:56:02.482Z

  // A one-off claim (a recall every instance sees in the feed): the first caller only.
  CHECK(f.run(log.claim("recall:04150123456782:L1:recalled:7", "instance-a")).value());
  CHECK_FALSE(f.run(log.claim("recall:04150123456782:L1:recalled:7", "instance-b")).value());
}

TEST_CASE("a sender reads after its own cursor, and records delivery per target", "[alerts]") {
  MirrorFixture f;
  cache::AlertLog log(f.client);
  std::vector<std::string> ids;
  for (const char* tx : {"tx-1", "tx-2", "tx-3"}) ids.push_back(f.run(log.raise(alert_of("unknown_serial", tx))).value());

  auto first = f.run(log.next_for("central", 2));
  REQUIRE(first);
  REQUIRE(first->size() == 2);
  CHECK((*first)[0].id == ids[0]);
  CHECK((*first)[0].alert.at("transaction_id") == "tx-1");
  REQUIRE(f.run(log.advance("central", ids[1])));
  auto rest = f.run(log.next_for("central", 50));
  REQUIRE(rest);
  REQUIRE(rest->size() == 1);
  CHECK(rest->front().id == ids[2]);
  // Each target has its own cursor.
  CHECK(f.run(log.next_for("webhook:erp", 50)).value().size() == 3);

  REQUIRE(f.run(log.record_delivery(ids[0], "webhook:erp",
                                    json::object{{"status", "failed"}, {"attempts", 1}, {"last_error", "HTTP 400"}})));
  auto listed = f.run(log.list(cache::AlertQuery{.limit = 1}));
  REQUIRE(listed);
  CHECK(listed->front().at("delivery").at("erp").at("status") == "failed");

  auto targets = f.run(log.redeliver(ids[0]));
  REQUIRE(targets);
  REQUIRE(*targets);
  CHECK(**targets == std::vector<std::string>{"webhook:erp"});
  auto again = f.run(log.take_redelivery("webhook:erp"));
  REQUIRE(again);
  REQUIRE(*again);
  CHECK((*again)->id == ids[0]);
  CHECK_FALSE(*f.run(log.take_redelivery("webhook:erp")));
  CHECK_FALSE(*f.run(log.redeliver("1-0")));  // no such alert
}

TEST_CASE("a webhook renamed from its URL to its name takes over its cursor once", "[alerts]") {
  MirrorFixture f;
  cache::AlertLog log(f.client);
  std::vector<std::string> ids;
  for (const char* tx : {"tx-1", "tx-2", "tx-3"}) ids.push_back(f.run(log.raise(alert_of("unknown_serial", tx))).value());
  REQUIRE(f.run(log.advance("webhook:http://127.0.0.1:9/h", ids[1])));  // delivered up to tx-2 under the old name
  CHECK(*f.run(log.adopt_cursor("webhook:http://127.0.0.1:9/h", "webhook:erp")));
  auto rest = f.run(log.next_for("webhook:erp", 50));
  REQUIRE(rest);
  REQUIRE(rest->size() == 1);  // nothing sent twice, nothing skipped
  CHECK(rest->front().id == ids[2]);
  // Once the new name has a cursor of its own, it is kept.
  REQUIRE(f.run(log.advance("webhook:erp", ids[2])));
  CHECK_FALSE(*f.run(log.adopt_cursor("webhook:http://127.0.0.1:9/h", "webhook:erp")));
  CHECK(f.run(log.next_for("webhook:erp", 50))->empty());
  CHECK_FALSE(*f.run(log.adopt_cursor("webhook:never-used", "webhook:other")));  // nothing to take over
}

TEST_CASE("alert pages filter by location and acknowledgement, in either order, and stop at the scan bound",
          "[alerts][page]") {
  MirrorFixture f;
  cache::AlertLog log(f.client);
  // 30 alerts: every third at kThere, the rest at kHere.
  std::vector<std::string> here, there;
  for (int i = 0; i < 30; ++i) {
    json::object a = alert_of("unknown_serial", "tx-" + std::to_string(i));
    const bool at_there = i % 3 == 0;
    a["location"] = at_there ? kThere : kHere;
    auto id = f.run(log.raise(std::move(a))).value();
    (at_there ? there : here).push_back(id);
  }
  auto ids_of = [](const cache::AlertPage& page) {
    std::vector<std::string> out;
    for (const auto& a : page.alerts) out.emplace_back(a.at("id").as_string());
    return out;
  };

  // Location: only that location's alerts, oldest first; the page is full, so next is its last id.
  auto asc = f.run(log.page(cache::AlertQuery{.limit = 4, .location = kThere})).value();
  CHECK(ids_of(asc) == std::vector<std::string>(there.begin(), there.begin() + 4));
  CHECK(asc.next == there[3]);
  CHECK_FALSE(asc.scan_limited);
  auto asc_rest = f.run(log.page(cache::AlertQuery{.limit = 100, .location = kThere, .cursor = asc.next})).value();
  CHECK(ids_of(asc_rest) == std::vector<std::string>(there.begin() + 4, there.end()));
  CHECK(asc_rest.next.empty());

  // Newest first, continued with the cursor, down to `since` (exclusive) as the lower bound.
  auto desc = f.run(log.page(cache::AlertQuery{.limit = 3, .location = kThere, .descending = true})).value();
  CHECK(ids_of(desc) == std::vector<std::string>{there[9], there[8], there[7]});
  REQUIRE(desc.next == there[7]);
  auto older = f.run(log.page(cache::AlertQuery{
                         .since = there[4], .limit = 10, .location = kThere, .descending = true, .cursor = desc.next}))
                   .value();
  CHECK(ids_of(older) == std::vector<std::string>{there[6], there[5]});
  CHECK(older.next.empty());

  // Acknowledgement: acked=true shows the acknowledged ones only, acked=false the others.
  REQUIRE(f.run(log.ack(here[1], "anna")).value());
  REQUIRE(f.run(log.ack(here[5], "anna")).value());
  auto acked = f.run(log.page(cache::AlertQuery{.location = kHere, .acked = true})).value();
  CHECK(ids_of(acked) == std::vector<std::string>{here[1], here[5]});
  CHECK(acked.alerts.front().at("ack").at("by") == "anna");
  auto open = f.run(log.page(cache::AlertQuery{.location = kHere, .acked = false})).value();
  CHECK(open.alerts.size() == here.size() - 2);

  // The scan bound: at most max_examined entries looked at; the page ends early and next says where the scan
  // stopped, so that the next call goes on from there.
  auto bounded =
      f.run(log.page(cache::AlertQuery{.limit = 100, .location = kThere, .max_examined = 7})).value();
  CHECK(bounded.scan_limited);
  CHECK(ids_of(bounded) == std::vector<std::string>{there[0], there[1], there[2]});  // entries 0, 3, 6
  const std::size_t entry6 = 6;
  auto everything = f.run(log.page(cache::AlertQuery{})).value();
  const std::vector<std::string> all = ids_of(everything);
  CHECK(bounded.next == all[entry6]);
  auto after =
      f.run(log.page(cache::AlertQuery{.limit = 100, .location = kThere, .cursor = bounded.next, .max_examined = 7}))
          .value();
  CHECK(ids_of(after) == std::vector<std::string>{there[3], there[4]});  // entries 9, 12
  CHECK(after.next == all[13]);

  // Acknowledging with a location: another location's alert is left alone and reported as not found.
  CHECK_FALSE(f.run(log.ack(there[0], "bob", kHere)).value());
  CHECK(f.run(log.page(cache::AlertQuery{.location = kThere, .acked = true})).value().alerts.empty());
  CHECK(f.run(log.ack(there[0], "bob", kThere)).value());
}
