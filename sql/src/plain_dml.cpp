// sql::plain_dml_class: see analyze.h. This runs on every cache miss of the
// proxy, so it reads each byte once and allocates nothing.
#include <algorithm>
#include <array>
#include <cstddef>

#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/server_admin.h"

namespace ddlgate::sql {
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
// by its content. cut: sql is a window that does not begin at the text's start
// (PlainDmlStream), so a look back that reaches its first byte answers "may".
bool may_call_controlled(std::string_view sql, std::size_t paren, bool line_comment_seen, bool cut = false) {
  const auto* p = reinterpret_cast<const unsigned char*>(sql.data());
  std::size_t end = paren;
  bool crossed_line = false;
  while (end > 0 && is_space(p[end - 1])) {
    crossed_line = crossed_line || p[end - 1] == '\n' || p[end - 1] == '\r';  // scan.l: newline [\n\r]
    --end;
  }
  if (crossed_line && line_comment_seen) return true;
  if (end == 0) return cut;
  if (p[end - 1] == '/') return end >= 2 ? p[end - 2] == '*' : cut;  // the end of a block comment
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
  if (start == 0 && cut) return true;  // the name may begin before the window
  return start < end && find_controlled_function(sql.substr(start, end - start)) != nullptr;
}

// Whether the '_' at sql[at] ends a word "pg" or "information" (pg_catalog,
// pg_authid, information_schema, in any case, quoted or not). cut: as above.
bool system_name_at(std::string_view sql, std::size_t at, bool cut = false) {
  auto word_before = [&](std::string_view word) {
    if (at < word.size()) return cut;
    const std::size_t start = at - word.size();
    for (std::size_t i = 0; i < word.size(); ++i) {
      if (lower(static_cast<unsigned char>(sql[start + i])) != static_cast<unsigned char>(word[i])) return false;
    }
    return start == 0 || !is_ident(static_cast<unsigned char>(sql[start - 1]));
  };
  return word_before("pg") || word_before("information");
}

// Only these byte values matter after the keyword: skip everything else fast.
//   NUL ;        end of the text, or a second statement
//   i I          INTO (SELECT INTO creates a table)
//   (            a call of a controlled function (server_admin.h)
//   -            a line comment, which could hide a function name from the look back at '('
//   &            U&"..." spells a name with escapes: no byte scan can read it
//   _            (INSERT/UPDATE/DELETE only) a write to pg_... or information_schema...
constexpr auto kStopRead = [] {
  std::array<bool, 256> t{};
  t[0] = t[';'] = t['i'] = t['I'] = t['('] = t['-'] = t['&'] = true;
  return t;
}();
constexpr auto kStopWrite = [] {
  std::array<bool, 256> t = kStopRead;
  t['_'] = true;
  return t;
}();

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

}  // namespace ddlgate::sql

namespace ddlgate::sql {

bool PlainDmlStream::feed(std::string_view part) {
  if (failed_) return false;
  window_.append(part);
  // The leading keywords are read once the window holds kPrefix bytes (or at the end).
  if (!started_ && window_.size() < kPrefix) return true;
  return run(false);
}

std::optional<StatementClass> PlainDmlStream::finish() {
  if (failed_ || !run(true)) return std::nullopt;
  return cls_;
}

bool PlainDmlStream::fail() {
  failed_ = true;
  window_.clear();
  window_.shrink_to_fit();
  return false;
}

bool PlainDmlStream::run(bool final) {
  const std::string_view sql(window_);
  const std::size_t n = sql.size();
  const auto* p = reinterpret_cast<const unsigned char*>(sql.data());
  if (!started_) {
    // plain_dml_class's start, on the first bytes.
    std::size_t at = skip_space(sql, 0);
    const bool insert = word_at(sql, at, "insert");
    if (word_at(sql, at, "select")) {
      cls_ = StatementClass::read;
    } else if (!insert && !word_at(sql, at, "update") && !word_at(sql, at, "delete")) {
      return fail();
    }
    at += 6;
    if (at == n) return fail();
    if (insert) {
      at = skip_space(sql, at);
      if (!word_at(sql, at, "into")) return fail();
      at += 4;
    }
    // Not the end yet, so the words just read must have had a byte after them (word_at
    // takes the window's end for a word's end): a prefix this long is not streamed.
    if (!final && at + kAhead >= n) return fail();
    started_ = true;
    next_ = at;
  }
  // Bytes before `limit` are scanned now; the last kAhead wait for what follows them
  // (the longest look ahead is "nto" after an 'i').
  const std::size_t limit = final ? n : (n > kAhead ? n - kAhead : 0);
  const std::array<bool, 256>& stops = cls_ == StatementClass::write ? kStopWrite : kStopRead;
  std::size_t at = next_;
  for (; at < limit; ++at) {
    const unsigned char c = p[at];
    if (after_semicolon_) {
      // After a ';' only whitespace may follow, to the end of the text.
      if (!is_space(c)) return fail();
      continue;
    }
    if (!stops[c]) continue;
    if (c == 0) return fail();
    if (c == ';') {
      after_semicolon_ = true;
      continue;
    }
    if (c == '(') {
      if (may_call_controlled(sql, at, line_comment_seen_, cut_)) return fail();
      continue;
    }
    if (c == '-') {
      line_comment_seen_ = line_comment_seen_ || (at + 1 < n && p[at + 1] == '-');
      continue;
    }
    if (c == '&') {
      if (at + 1 < n && p[at + 1] == '"') return fail();
      continue;
    }
    if (c == '_') {
      if (system_name_at(sql, at, cut_)) return fail();
      continue;
    }
    if (n - at >= 4 && lower(p[at + 1]) == 'n' && lower(p[at + 2]) == 't' && lower(p[at + 3]) == 'o') return fail();
  }
  next_ = std::max(next_, at);
  if (final) return true;
  // Keep kBack bytes before the next one to scan, for the looks back; a look back that
  // reaches the window's start answers "may" (cut_).
  if (next_ > kBack) {
    const std::size_t drop = next_ - kBack;
    window_.erase(0, drop);
    next_ -= drop;
    cut_ = true;
  }
  return true;
}

}  // namespace ddlgate::sql
