#include "vpoint/service/logging.hpp"

#include <array>
#include <chrono>
#include <type_traits>

#include <iostream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

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
  // spdlog's stdout sink fflush()es after every line (a write(2) per request: ~7 % of vpointd's CPU per verify
  // in the issue 19 profile, whatever flush_on says). An ostream sink on std::cout without force_flush writes
  // into stdout's buffer instead, and the flushes below decide when it reaches the file or pipe.
  auto logger = std::make_shared<spdlog::logger>(
      "vpoint", std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cout, /*force_flush=*/false));
  spdlog::register_logger(logger);
  // %v is the event object without its braces, so every line is one JSON object.
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
  logger->set_level(level);
  // Warnings and errors reach the file/pipe at once (with every line before them); request lines are written
  // in batches, at least every second (spdlog 1.10's flush_every takes whole seconds). On a terminal stdout is
  // line-buffered anyway.
  logger->flush_on(spdlog::level::warn);
  spdlog::flush_every(std::chrono::seconds(1));
  spdlog::set_default_logger(std::move(logger));
}

namespace {

// Appends the JSON text of `value` to `out` through a reused serializer: no intermediate string.
template <class T>
void append_json(boost::json::serializer& serializer, std::string& out, const T& value) {
  if constexpr (std::is_same_v<T, boost::json::string_view>) {
    serializer.reset(value);  // (a string is serialised from the view itself)
  } else {
    serializer.reset(&value);
  }
  char chunk[512];
  while (!serializer.done()) out.append(serializer.read(chunk));
}

}  // namespace

void log_event(spdlog::level::level_enum level, std::string_view event, const boost::json::object& fields) {
  if (!spdlog::should_log(level)) return;
  // One line per request: written straight from the fields into a per-thread buffer (no copy of the
  // object, no allocation once the buffer has grown). The pattern supplies the braces around ts and level.
  thread_local boost::json::serializer serializer;
  thread_local std::string body;
  body.clear();
  body += "\"event\":";
  const boost::json::value* own_event = fields.if_contains("event");  // a field "event" wins, as before
  if (own_event != nullptr) {
    append_json(serializer, body, *own_event);
  } else {
    boost::json::string_view text(event.data(), event.size());
    append_json(serializer, body, text);
  }
  for (const auto& kv : fields) {
    if (kv.key() == "event") continue;
    body += ',';
    const boost::json::string_view key = kv.key();
    append_json(serializer, body, key);
    body += ':';
    append_json(serializer, body, kv.value());
  }
  spdlog::log(level, "{}", body);
}

}  // namespace vpoint::service
