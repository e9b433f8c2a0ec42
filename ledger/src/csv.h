// CSV cells for the exports (RFC 4180), guarded against formula injection.
#pragma once

#include <string>
#include <string_view>

namespace ddlgate::ledger::detail {

// RFC 4180: quoted when needed, quotes doubled. A cell starting with = + - @, a tab or a carriage
// return gets a leading ' so that a spreadsheet shows it as text and never runs it as a formula
// (OWASP "CSV Injection"; a statement text or a user name is the client's to choose).
inline std::string csv_field(std::string_view s) {
  std::string v(s);
  if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r')) {
    v.insert(v.begin(), '\'');
  }
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace ddlgate::ledger::detail
