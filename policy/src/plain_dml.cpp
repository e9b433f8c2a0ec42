// policy::plain_dml_class: see analyze.h. This runs on every cache miss of the
// proxy, so it reads each byte once and allocates nothing.
#include <array>
#include <cstddef>

#include "ddlgate/policy/analyze.h"
#include "ddlgate/policy/server_admin.h"

namespace ddlgate::policy {
namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// PostgreSQL's identifier characters (scan.l: ident_cont), bytes 0x80+ included.
bool is_ident(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
         c >= 0x80;
}

unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; }

// Whether sql[at..] starts with word (lower case) in any case, as a whole word.
bool word_at(std::string_view sql, std::size_t at, std::string_view word) {
  if (sql.size() - at < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (lower(static_cast<unsigned char>(sql[at + i])) != static_cast<unsigned char>(word[i])) return false;
  }
  return at + word.size() == sql.size() || !is_ident(static_cast<unsigned char>(sql[at + word.size()]));
}

std::size_t skip_space(std::string_view sql, std::size_t at) {
  while (at < sql.size() && is_space(static_cast<unsigned char>(sql[at]))) ++at;
  return at;
}

// Whether the identifier just before the '(' at sql[paren] may name a controlled
// function (server_admin.h), so that the full analysis must decide. Between a
// function name and its '(' PostgreSQL allows only whitespace and comments: a
// comment there, or a line comment anywhere before a line break there, is not
// read back but answered "may" (rare in real traffic). A quoted name is compared
// by its content.
bool may_call_controlled(std::string_view sql, std::size_t paren, bool line_comment_seen) {
  const auto* p = reinterpret_cast<const unsigned char*>(sql.data());
  std::size_t end = paren;
  bool crossed_line = false;
  while (end > 0 && is_space(p[end - 1])) {
    crossed_line = crossed_line || p[end - 1] == '\n' || p[end - 1] == '\r';  // scan.l: newline [\n\r]
    --end;
  }
  if (crossed_line && line_comment_seen) return true;
  if (end == 0) return false;
  if (p[end - 1] == '/') return end >= 2 && p[end - 2] == '*';  // the end of a block comment
  std::size_t start = end;
  if (p[end - 1] == '"') {
    // "name": the text after the last quote inside it (a name with a doubled
    // quote in it is no listed name; this can only answer "may" too often).
    start = end - 1;
    while (start > 0 && p[start - 1] != '"') --start;
    if (start == 0) return true;  // no opening quote: not something to guess about
    return find_controlled_function(sql.substr(start, end - 1 - start)) != nullptr;
  }
  while (start > 0 && is_ident(p[start - 1])) --start;
  return start < end && find_controlled_function(sql.substr(start, end - start)) != nullptr;
}

// Whether the '_' at sql[at] ends a word "pg" or "information" (pg_catalog,
// pg_authid, information_schema, in any case, quoted or not).
bool system_name_at(std::string_view sql, std::size_t at) {
  auto word_before = [&](std::string_view word) {
    if (at < word.size()) return false;
    const std::size_t start = at - word.size();
    for (std::size_t i = 0; i < word.size(); ++i) {
      if (lower(static_cast<unsigned char>(sql[start + i])) != static_cast<unsigned char>(word[i])) return false;
    }
    return start == 0 || !is_ident(static_cast<unsigned char>(sql[start - 1]));
  };
  return word_before("pg") || word_before("information");
}

}  // namespace

std::optional<StatementClass> plain_dml_class(std::string_view sql) {
  std::size_t at = skip_space(sql, 0);
  StatementClass cls = StatementClass::write;
  const bool insert = word_at(sql, at, "insert");
  if (word_at(sql, at, "select")) {
    cls = StatementClass::read;
  } else if (!insert && !word_at(sql, at, "update") && !word_at(sql, at, "delete")) {
    return std::nullopt;
  }
  at += 6;  // all four keywords have six letters
  if (at == sql.size()) return std::nullopt;
  if (insert) {
    // INSERT's own INTO, right after it.
    at = skip_space(sql, at);
    if (!word_at(sql, at, "into")) return std::nullopt;
    at += 4;
  }
  // Only these byte values matter after the keyword: skip everything else fast.
  //   NUL ;        end of the text, or a second statement
  //   i I          INTO (SELECT INTO creates a table)
  //   (            a call of a controlled function (server_admin.h)
  //   -            a line comment, which could hide a function name from the look back at '('
  //   &            U&"..." spells a name with escapes: no byte scan can read it
  //   _            (INSERT/UPDATE/DELETE only) a write to pg_... or information_schema...
  static constexpr auto kStopRead = [] {
    std::array<bool, 256> t{};
    t[0] = t[';'] = t['i'] = t['I'] = t['('] = t['-'] = t['&'] = true;
    return t;
  }();
  static constexpr auto kStopWrite = [] {
    std::array<bool, 256> t = kStopRead;
    t['_'] = true;
    return t;
  }();
  const std::array<bool, 256>& stops = cls == StatementClass::write ? kStopWrite : kStopRead;
  bool line_comment_seen = false;
  const auto* p = reinterpret_cast<const unsigned char*>(sql.data());
  const std::size_t n = sql.size();
  for (; at < n; ++at) {
    // The tight loop over bytes that matter to nobody, apart from the rare stops.
    while (!stops[p[at]]) {
      if (++at == n) return cls;
    }
    const unsigned char c = p[at];
    if (c == 0) return std::nullopt;
    if (c == ';') return skip_space(sql, at + 1) == n ? std::optional(cls) : std::nullopt;
    if (c == '(') {
      if (may_call_controlled(sql, at, line_comment_seen)) return std::nullopt;
      continue;
    }
    if (c == '-') {
      line_comment_seen = line_comment_seen || (at + 1 < n && p[at + 1] == '-');
      continue;
    }
    if (c == '&') {
      if (at + 1 < n && p[at + 1] == '"') return std::nullopt;
      continue;
    }
    if (c == '_') {
      if (system_name_at(sql, at)) return std::nullopt;  // only a write stops at '_'
      continue;
    }
    if (n - at >= 4 && lower(p[at + 1]) == 'n' && lower(p[at + 2]) == 't' && lower(p[at + 3]) == 'o') {
      return std::nullopt;
    }
  }
  return cls;
}

}  // namespace ddlgate::policy
