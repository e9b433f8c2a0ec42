// Log lines as JSON (log.format = "json"): one object per line with ts, level,
// msg, and each key=value token of the message as a field of its own.
#pragma once

#include <string>
#include <string_view>

namespace ddlgate::ops {

// {"ts":..., "level":..., "msg":..., "<key>":<value>...}: a token key=value of
// msg (key: lower-case letters, digits and _) becomes a field; a value of
// digits only becomes a number. ts, level and msg are never overwritten.
std::string json_log_line(std::string_view ts, std::string_view level, std::string_view msg);

}  // namespace ddlgate::ops
