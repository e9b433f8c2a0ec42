// RFC 3339 times in UTC, as every ddlgate file writes them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ddlgate::base {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::sys_seconds;

// "2026-11-25T22:54:17Z".
std::string format_time(TimePoint t);
// "YYYY-MM-DDTHH:MM:SSZ" or "...+00:00" (only UTC: another offset is refused rather
// than converted, so that every time in a signed file reads the same to a human).
std::optional<TimePoint> parse_time(std::string_view text);
// "90s", "30m", "12h", "7d".
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace ddlgate::base
