#pragma once
// Structured logs: one JSON object per line on stdout, through spdlog (so levels, sinks and async are
// spdlog's). {"ts":"2025-01-31T12:00:00.123456Z","level":"info","event":"request",...fields}.
// Never put secrets (API keys, Authorization) in fields; full scanner text only at debug (issue 5).
#include <string>
#include <string_view>

#include <spdlog/common.h>
#include <boost/json/object.hpp>

namespace vpoint::service {

// "trace", "debug", "info", "warn", "error", "critical", "off"; nullopt-like false when unknown.
bool parse_log_level(std::string_view text, spdlog::level::level_enum& out);

// Installs the JSON-lines logger on stdout as spdlog's default logger.
void init_logging(spdlog::level::level_enum level);

// Logs one event with fields (the "event" member comes first). Cheap when the level is off.
void log_event(spdlog::level::level_enum level, std::string_view event,
               const boost::json::object& fields = {});

}  // namespace vpoint::service
