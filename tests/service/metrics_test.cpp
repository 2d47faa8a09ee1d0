// Metrics: children found by label values are the family's own children, one per combination.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "vpoint/service/metrics.hpp"

using vpoint::service::LabelledChildren;
using vpoint::service::Metrics;

TEST_CASE("LabelledChildren gives one child per label combination, created once, with the right labels",
          "[service][metrics]") {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("test_total").Help("test").Register(registry);
  int made = 0;
  LabelledChildren<prometheus::Counter> children({"route", "verdict"},
                                                 [&](const prometheus::Labels& labels) -> prometheus::Counter& {
                                                   ++made;
                                                   return family.Add(labels);
                                                 });
  auto& a = children.at({"/v1/verify", "ok"});
  auto& again = children.at({"/v1/verify", "ok"});
  auto& b = children.at({"/v1/verify", "alert"});
  // A value that ends where another begins must not be taken for it ("ab"+"c" vs "a"+"bc").
  auto& c = children.at({"ab", "c"});
  auto& d = children.at({"a", "bc"});
  CHECK(&a == &again);
  CHECK(&a != &b);
  CHECK(&c != &d);
  CHECK(made == 4);
  CHECK(&a == &family.Add({{"route", "/v1/verify"}, {"verdict", "ok"}}));  // the family's own child

  // Many threads counting the same few combinations: every increment lands, each child made once.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) children.at({"/v1/verify", i % 2 ? "ok" : "alert"}).Increment();
    });
  for (auto& t : threads) t.join();
  CHECK(a.Value() == 20000);
  CHECK(b.Value() == 20000);
  CHECK(made == 4);
}

TEST_CASE("observe_request counts by method, route and status in the text format", "[service][metrics]") {
  Metrics metrics;
  metrics.observe_request("POST", "/v1/verify", 200, std::chrono::microseconds(300));
  metrics.observe_request("POST", "/v1/verify", 200, std::chrono::microseconds(400));
  metrics.observe_request("POST", "/v1/verify", 503, std::chrono::milliseconds(3));
  const std::string text = metrics.serialize();
  CHECK_THAT(text, Catch::Contains(R"(vpoint_http_requests_total{method="POST",route="/v1/verify",status="200"} 2)"));
  CHECK_THAT(text, Catch::Contains(R"(vpoint_http_requests_total{method="POST",route="/v1/verify",status="503"} 1)"));
  CHECK_THAT(text, Catch::Contains(
                       R"(vpoint_http_request_duration_seconds_count{method="POST",route="/v1/verify",status="200"} 2)"));
  CHECK_THAT(text, Catch::Contains(
                       R"(vpoint_http_request_duration_seconds_bucket{method="POST",route="/v1/verify",status="503",le="0.005"} 1)"));
}
