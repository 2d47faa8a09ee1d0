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
