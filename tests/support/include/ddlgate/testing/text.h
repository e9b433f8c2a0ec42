// Reading what a command printed (`ddlgate ledger tail`, logs) in assertions.
#pragma once

#include <cstddef>
#include <string>

namespace ddlgate::testing {

// How many times `what` occurs in `text` (overlapping occurrences included).
inline std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The first line of `text` that holds `what`, without its newline; "" when none does.
inline std::string line_with(const std::string& text, const std::string& what) {
  auto at = text.find(what);
  if (at == std::string::npos) return "";
  auto begin = text.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(begin, text.find('\n', at) - begin);
}

}  // namespace ddlgate::testing
