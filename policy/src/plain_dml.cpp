// policy::plain_dml_class: see analyze.h. This runs on every cache miss of the
// proxy, so it reads each byte once and allocates nothing.
#include <array>
#include <cstddef>

#include "ddlgate/policy/analyze.h"

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
  // Only four byte values matter after the keyword: skip everything else fast.
  static constexpr auto kStop = [] {
    std::array<bool, 256> t{};
    t[0] = t[';'] = t['i'] = t['I'] = true;
    return t;
  }();
  const auto* p = reinterpret_cast<const unsigned char*>(sql.data());
  const std::size_t n = sql.size();
  for (; at < n; ++at) {
    const unsigned char c = p[at];
    if (!kStop[c]) continue;
    if (c == 0) return std::nullopt;
    if (c == ';') return skip_space(sql, at + 1) == n ? std::optional(cls) : std::nullopt;
    if (n - at >= 4 && lower(p[at + 1]) == 'n' && lower(p[at + 2]) == 't' && lower(p[at + 3]) == 'o') {
      return std::nullopt;
    }
  }
  return cls;
}

}  // namespace ddlgate::policy
