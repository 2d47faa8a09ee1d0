// log_event: every line one JSON object, whatever the field values hold.
#include <catch2/catch.hpp>

#include <memory>
#include <sstream>
#include <string>

#include <boost/json/parse.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "vpoint/service/logging.hpp"

using vpoint::service::log_event;

namespace {

// Routes the default logger into a string with vpointd's pattern for the test's lifetime.
struct CapturedLog {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> before = spdlog::default_logger();
  CapturedLog() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    auto logger = std::make_shared<spdlog::logger>("captured", sink);
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(before); }
  std::vector<boost::json::object> lines() {
    std::vector<boost::json::object> parsed;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) {
      CAPTURE(line);
      boost::system::error_code ec;
      auto value = boost::json::parse(line, ec);
      REQUIRE_FALSE(ec);
      REQUIRE(value.is_object());
      parsed.push_back(value.as_object());
    }
    return parsed;
  }
};

}  // namespace

TEST_CASE("log_event writes one JSON object per line with the event first and every field escaped",
          "[service][logging]") {
  CapturedLog log;
  const std::string awkward = "quote \" backslash \\ newline \n tab \t ctrl \x01 gs \x1d \xc3\xa9";
  log_event(spdlog::level::info, "request",
            {{"status", 200}, {"caller", nullptr}, {"error", awkward}, {"nested", {{"a", 1}}}, {"k\"ey", true}});
  log_event(spdlog::level::warn, "second", {});
  log_event(spdlog::level::debug, "below the level", {{"x", 1}});  // not written
  auto lines = log.lines();
  REQUIRE(lines.size() == 2);
  const auto& first = lines[0];
  CHECK(first.at("event") == "request");
  CHECK(first.at("level") == "info");
  CHECK(first.at("status") == 200);
  CHECK(first.at("caller").is_null());
  CHECK(first.at("error").as_string() == awkward);
  CHECK(first.at("nested").at("a") == 1);
  CHECK(first.at("k\"ey") == true);
  CHECK(log.out.str().rfind("{\"ts\":", 0) == 0);
  CHECK(log.out.str().find("\"level\":\"info\",\"event\":\"request\",") != std::string::npos);
  CHECK(lines[1].at("event") == "second");
  CHECK(lines[1].at("level") == "warning");
}

TEST_CASE("a field named event replaces the event name rather than repeating the key", "[service][logging]") {
  CapturedLog log;
  log_event(spdlog::level::info, "outer", {{"event", "inner"}, {"n", 1}});
  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("event") == "inner");
  CHECK(lines[0].at("n") == 1);
  CHECK(log.out.str().find("\"event\"") == log.out.str().rfind("\"event\""));  // one key only
}
