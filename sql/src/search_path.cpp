#include "ddlgate/sql/search_path.h"

#include <algorithm>
#include <array>

namespace ddlgate::sql {

namespace {

// The keywords quote_ident quotes: PostgreSQL 15's column-name, type/function-name and
// reserved keywords (SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'), sorted
// bytewise. tests/integration/search_path_test.cpp checks every keyword against a server's
// quote_ident.
constexpr std::array<std::string_view, 151> kQuotedKeywords = {
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization",
    "between", "bigint", "binary", "bit", "boolean", "both", "case", "cast", "char", "character",
    "check", "coalesce", "collate", "collation", "column", "concurrently", "constraint", "create",
    "cross", "current_catalog", "current_date", "current_role", "current_schema", "current_time",
    "current_timestamp", "current_user", "dec", "decimal", "default", "deferrable", "desc",
    "distinct", "do", "else", "end", "except", "exists", "extract", "false", "fetch", "float",
    "for", "foreign", "freeze", "from", "full", "grant", "greatest", "group", "grouping", "having",
    "ilike", "in", "initially", "inner", "inout", "int", "integer", "intersect", "interval",
    "into", "is", "isnull", "join", "lateral", "leading", "least", "left", "like", "limit",
    "localtime", "localtimestamp", "national", "natural", "nchar", "none", "normalize", "not",
    "notnull", "null", "nullif", "numeric", "offset", "on", "only", "or", "order", "out", "outer",
    "overlaps", "overlay", "placing", "position", "precision", "primary", "real", "references",
    "returning", "right", "row", "select", "session_user", "setof", "similar", "smallint", "some",
    "substring", "symmetric", "table", "tablesample", "then", "time", "timestamp", "to",
    "trailing", "treat", "trim", "true", "union", "unique", "user", "using", "values", "varchar",
    "variadic", "verbose", "when", "where", "window", "with", "xmlattributes", "xmlconcat",
    "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot",
    "xmlserialize", "xmltable"
};
static_assert(std::is_sorted(kQuotedKeywords.begin(), kQuotedKeywords.end()));

// scanner_isspace (src/backend/parser/scansup.c): the lexer's whitespace, not isspace().
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// The length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = 0;
  if (c < 0x80) return c == 0 ? 0 : 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c >= 0xE0 && c <= 0xEF) n = 3;
  else if (c >= 0xF0 && c <= 0xF4) n = 4;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  const unsigned char c1 = b(i + 1);
  if (c == 0xE0 && c1 < 0xA0) return 0;                // overlong
  if (c == 0xED && c1 > 0x9F) return 0;                // UTF-16 surrogates
  if (c == 0xF0 && c1 < 0x90) return 0;                // overlong
  if (c == 0xF4 && c1 > 0x8F) return 0;                // above U+10FFFF
  return n;
}

// truncate_identifier: at most 63 bytes, cut before a character that would not fit
// (pg_mbcliplen). The name is valid UTF-8 by then.
void truncate(std::string& name) {
  if (name.size() <= kMaxIdentifierBytes) return;
  std::size_t keep = 0;
  while (keep < name.size()) {
    const std::size_t n = utf8_length(name, keep);
    if (keep + n > kMaxIdentifierBytes) break;
    keep += n;
  }
  name.resize(keep);
}

bool is_quoted_keyword(std::string_view name) {
  return std::binary_search(kQuotedKeywords.begin(), kQuotedKeywords.end(), name);
}

}  // namespace

base::Result<std::vector<std::string>> split_search_path(std::string_view value) {
  // The server reads a C string in the database's encoding: a NUL or invalid UTF-8 never
  // reaches check_search_path, so neither is a path.
  for (std::size_t i = 0; i < value.size();) {
    const std::size_t n = utf8_length(value, i);
    if (n == 0) {
      return base::Error{value[i] == '\0' ? "search_path: a NUL byte at offset " + std::to_string(i)
                                          : "search_path: invalid UTF-8 at offset " + std::to_string(i)};
    }
    i += n;
  }
  std::vector<std::string> names;
  std::size_t p = 0;
  const auto at_end = [&] { return p >= value.size(); };
  while (!at_end() && is_space(value[p])) ++p;
  if (at_end()) return names;  // an empty path: no schema
  for (;;) {
    const std::size_t element_start = p;
    std::string name;
    if (value[p] == '"') {
      ++p;
      for (;;) {
        const std::size_t q = value.find('"', p);
        if (q == std::string_view::npos) {
          return base::Error{"search_path: the quoted name at offset " + std::to_string(element_start) +
                             " has no closing quote"};
        }
        name.append(value.substr(p, q - p));
        if (q + 1 < value.size() && value[q + 1] == '"') {
          name.push_back('"');
          p = q + 2;
          continue;
        }
        p = q + 1;
        break;
      }
      if (name.empty()) {
        return base::Error{"search_path: a zero-length quoted name (\"\") at offset " + std::to_string(element_start)};
      }
    } else {
      while (!at_end() && value[p] != ',' && !is_space(value[p])) ++p;
      if (p == element_start) {
        return base::Error{"search_path: an empty element at offset " + std::to_string(element_start)};
      }
      name.assign(value.substr(element_start, p - element_start));
      for (char& c : name) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
    }
    truncate(name);
    names.push_back(std::move(name));
    while (!at_end() && is_space(value[p])) ++p;
    if (at_end()) return names;
    if (value[p] != ',') {
      return base::Error{"search_path: unexpected '" + std::string(1, value[p]) + "' at offset " + std::to_string(p) +
                         " after a name (names are separated by commas)"};
    }
    ++p;
    while (!at_end() && is_space(value[p])) ++p;
    if (at_end()) return base::Error{"search_path: an empty element at the end"};
  }
}

std::string quote_identifier(std::string_view name) {
  bool safe = !name.empty() && ((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_');
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) safe = false;
  }
  if (safe && !is_quoted_keyword(name)) return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

base::Result<std::string> normalize_search_path(std::string_view value) {
  auto names = split_search_path(value);
  if (!names) return names.error();
  std::string out;
  for (const auto& n : *names) {
    if (!out.empty()) out += ", ";
    out += quote_identifier(n);
  }
  return out;
}

}  // namespace ddlgate::sql
