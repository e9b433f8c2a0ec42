#include "ddlgate/base/time.h"

#include <charconv>
#include <cstdint>
#include <cstdio>

namespace ddlgate::base {
namespace {

bool parse_uint(std::string_view s, unsigned& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string format_time(TimePoint t) {
  auto days = std::chrono::floor<std::chrono::days>(t);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{t - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::optional<TimePoint> parse_time(std::string_view s) {
  if (s.size() == 25 && s.substr(19) == "+00:00") s = s.substr(0, 19);
  else if (s.size() == 20 && (s[19] == 'Z' || s[19] == 'z')) s = s.substr(0, 19);
  else return std::nullopt;
  if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':') return std::nullopt;
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!parse_uint(s.substr(0, 4), y) || !parse_uint(s.substr(5, 2), mo) || !parse_uint(s.substr(8, 2), d) ||
      !parse_uint(s.substr(11, 2), h) || !parse_uint(s.substr(14, 2), mi) || !parse_uint(s.substr(17, 2), se)) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year(static_cast<int>(y)), std::chrono::month(mo), std::chrono::day(d)};
  if (!ymd.ok() || h > 23 || mi > 59 || se > 59) return std::nullopt;
  return TimePoint{std::chrono::sys_days(ymd)} + std::chrono::hours(h) + std::chrono::minutes(mi) +
         std::chrono::seconds(se);
}

std::optional<std::chrono::seconds> parse_duration(std::string_view s) {
  if (s.size() < 2) return std::nullopt;
  unsigned n = 0;
  if (!parse_uint(s.substr(0, s.size() - 1), n)) return std::nullopt;
  std::uint64_t unit = 0;
  switch (s.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return std::nullopt;
  }
  return std::chrono::seconds(static_cast<std::int64_t>(n * unit));
}

}  // namespace ddlgate::base
