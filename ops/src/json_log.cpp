#include "ddlgate/ops/json_log.h"

#include <nlohmann/json.hpp>

namespace ddlgate::ops {
namespace {

bool key_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

bool all_digits(std::string_view v) {
  if (v.empty() || v.size() > 18) return false;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

std::string json_log_line(std::string_view ts, std::string_view level, std::string_view msg) {
  nlohmann::ordered_json j;
  j["ts"] = std::string(ts);
  j["level"] = std::string(level);
  j["msg"] = std::string(msg);
  std::size_t i = 0;
  while (i < msg.size()) {
    while (i < msg.size() && msg[i] == ' ') ++i;
    std::size_t start = i;
    while (i < msg.size() && msg[i] != ' ') ++i;
    std::string_view token = msg.substr(start, i - start);
    auto eq = token.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string_view key = token.substr(0, eq);
    bool ok = key.front() < '0' || key.front() > '9';
    for (char c : key) ok = ok && key_char(c);
    if (!ok || key == "ts" || key == "level" || key == "msg") continue;
    std::string_view value = token.substr(eq + 1);
    // "user=alice:" or "database=db," at the end of a clause.
    while (!value.empty() && (value.back() == ',' || value.back() == ';' || value.back() == ':')) value.remove_suffix(1);
    if (all_digits(value)) j[std::string(key)] = std::stoull(std::string(value));
    else j[std::string(key)] = std::string(value);
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ddlgate::ops
