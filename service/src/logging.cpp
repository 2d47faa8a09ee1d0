#include "vpoint/service/logging.hpp"

#include <array>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>

namespace vpoint::service {

bool parse_log_level(std::string_view text, spdlog::level::level_enum& out) {
  static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> kLevels{{
      {"trace", spdlog::level::trace},
      {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},
      {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  }};
  for (const auto& [name, level] : kLevels) {
    if (name == text) {
      out = level;
      return true;
    }
  }
  return false;
}

void init_logging(spdlog::level::level_enum level) {
  spdlog::drop("vpoint");  // idempotent: tests and reloads may call it again
  auto logger = spdlog::stdout_logger_mt("vpoint");
  // %v is the event object without its braces, so every line is one JSON object.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);  // one line per request must reach the file/pipe promptly
  spdlog::set_default_logger(std::move(logger));
}

void log_event(spdlog::level::level_enum level, std::string_view event, const boost::json::object& fields) {
  if (!spdlog::should_log(level)) return;
  boost::json::object line;
  line.reserve(fields.size() + 1);
  line["event"] = event;
  for (const auto& kv : fields) line[kv.key()] = kv.value();
  std::string text = boost::json::serialize(line);
  // Strip the outer braces: the pattern supplies them around ts and level.
  std::string_view body(text);
  body.remove_prefix(1);
  body.remove_suffix(1);
  spdlog::log(level, "{}", body);
}

}  // namespace vpoint::service
