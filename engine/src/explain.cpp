#include "ddlgate/engine/explain.h"

#include <algorithm>

#include "ddlgate/engine/decide.h"

namespace ddlgate::engine {

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::approved: return "approved";
    case Verdict::spent: return "spent";
    case Verdict::other_database: return "other_database";
    case Verdict::other_environment: return "other_environment";
    case Verdict::revoked: return "revoked";
    case Verdict::expired: return "expired";
    case Verdict::not_yet_valid: return "not_yet_valid";
    case Verdict::not_in_force: return "not_in_force";
    case Verdict::near_miss: return "near_miss";
    case Verdict::unknown: return "unknown";
  }
  return "unknown";
}

namespace {

bool ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '$'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string loose_form(std::string_view s, bool literals, bool schemas) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  const std::size_t n = s.size();
  // After an identifier (bare or quoted) at [start, i): dropped with its dot when it qualifies a name.
  auto identifier_done = [&](std::size_t start) {
    if (schemas && i + 1 < n && s[i] == '.' && (ident_start(s[i + 1]) || s[i + 1] == '"')) {
      ++i;  // the dot; the qualifier is not copied
      return;
    }
    out.append(s.substr(start, i - start));
  };
  while (i < n) {
    const char c = s[i];
    if (c == '\'') {
      // A string; E'...' (the E was copied as a name) takes backslash escapes.
      const bool escapes = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e');
      std::size_t start = i++;
      while (i < n) {
        if (escapes && s[i] == '\\' && i + 1 < n) {
          i += 2;
        } else if (s[i] == '\'') {
          if (i + 1 < n && s[i + 1] == '\'') {
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          ++i;
        }
      }
      if (literals) out += '?';
      else out.append(s.substr(start, i - start));
    } else if (c == '"') {
      std::size_t start = i++;
      while (i < n) {
        if (s[i] == '"') {
          if (i + 1 < n && s[i + 1] == '"') {
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          ++i;
        }
      }
      identifier_done(start);
    } else if (c == '$' && i + 1 < n && digit(s[i + 1])) {
      // A parameter ($1): not a literal.
      std::size_t start = i++;
      while (i < n && digit(s[i])) ++i;
      out.append(s.substr(start, i - start));
    } else if (c == '$' && i + 1 < n && (ident_start(s[i + 1]) || s[i + 1] == '$')) {
      // A dollar-quoted string: $tag$ ... $tag$ (a function body, with any comments in it).
      std::size_t tag_end = i + 1;
      while (tag_end < n && s[tag_end] != '$' && ident_char(s[tag_end])) ++tag_end;
      if (tag_end >= n || s[tag_end] != '$') {
        out += c;
        ++i;
        continue;
      }
      std::string_view tag = s.substr(i, tag_end + 1 - i);
      std::size_t close = s.find(tag, tag_end + 1);
      std::size_t end = close == std::string_view::npos ? n : close + tag.size();
      if (literals) out += '?';
      else out.append(s.substr(i, end - i));
      i = end;
    } else if (digit(c) || (c == '.' && i + 1 < n && digit(s[i + 1]))) {
      std::size_t start = i;
      while (i < n && (digit(s[i]) || s[i] == '.')) ++i;
      if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        std::size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-')) ++j;
        if (j < n && digit(s[j])) {
          i = j;
          while (i < n && digit(s[i])) ++i;
        }
      }
      if (literals) out += '?';
      else out.append(s.substr(start, i - start));
    } else if (ident_start(c)) {
      std::size_t start = i;
      while (i < n && ident_char(s[i])) ++i;
      identifier_done(start);
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

namespace {

std::string where(const KnownStatement& k) {
  std::string w = k.app + " v" + std::to_string(k.version);
  if (k.file.empty()) return w + " (a bookkeeping statement of its tool)";
  w += ", " + k.file;
  if (k.line != 0) w += ":" + std::to_string(k.line);
  w += k.down ? " (down part, statement " + std::to_string(k.index) + ")"
              : " (statement " + std::to_string(k.index) + ")";
  return w;
}

bool covers(const KnownStatement& k, std::string_view database) {
  return database.empty() || k.any_database ||
         std::find(k.databases.begin(), k.databases.end(), database) != k.databases.end();
}

std::string scope(const KnownStatement& k) {
  if (k.any_database) return "every database";
  std::string s = k.databases.size() == 1 ? "database " : "databases ";
  for (std::size_t i = 0; i < k.databases.size(); ++i) s += (i ? ", " : "") + k.databases[i];
  return s;
}

}  // namespace

Explanation explain(std::string_view hash, std::string_view display_sql, const std::vector<KnownStatement>& known,
                    std::string_view database, const SpentCheck& spent) {
  using Standing = KnownStatement::Standing;
  Explanation e;
  auto first = [&](const std::function<bool(const KnownStatement&)>& f) -> const KnownStatement* {
    for (const auto& k : known) {
      if (k.hash == hash && f(k)) return &k;
    }
    return nullptr;
  };
  const std::string db = database.empty() ? std::string() : " " + std::string(database);
  // In force and covering the database: approved unless every such approval is spent there.
  if (auto* k = first([&](const KnownStatement& c) {
        return c.standing == Standing::in_force && covers(c, database) &&
               (c.repeatable || database.empty() || !spent || !spent(c, database));
      })) {
    e.verdict = Verdict::approved;
    e.nearest = k;
    e.reason = "approved by " + where(*k) + " for " + scope(*k);
    return e;
  }
  if (auto* k = first([&](const KnownStatement& c) { return c.standing == Standing::in_force && covers(c, database); })) {
    e.verdict = Verdict::spent;
    e.nearest = k;
    e.reason = "approved by " + where(*k) + ", but that approval was already used in database" + db +
               " (enforcement.spend_approvals_once: each applies once); approve it again in a new bundle version";
    return e;
  }
  if (auto* k = first([&](const KnownStatement& c) { return c.standing == Standing::in_force; })) {
    e.verdict = Verdict::other_database;
    e.nearest = k;
    e.reason = "approved by " + where(*k) + " for " + scope(*k) + " only, not database" + db;
    return e;
  }
  if (auto* k = first([&](const KnownStatement& c) { return c.standing == Standing::other_environment; })) {
    e.verdict = Verdict::other_environment;
    e.nearest = k;
    e.reason = "approved by " + where(*k) + " for environment " + k->environment +
               ", not this configuration's (bundles.environment)";
    return e;
  }
  if (auto* k = first([&](const KnownStatement& c) { return c.standing == Standing::revoked; })) {
    e.verdict = Verdict::revoked;
    e.nearest = k;
    e.reason = "approved by " + where(*k) + ", which is revoked " + k->not_in_force_why +
               "; a revoked version never comes back: approve it again in a new bundle version";
    return e;
  }
  if (auto* k = first([&](const KnownStatement& c) { return c.standing == Standing::expired; })) {
    e.verdict = Verdict::expired;
    e.nearest = k;
    e.reason = "approved by " + where(*k) + ", which expired at " + k->not_after + "; sign a new bundle version";
    return e;
  }
  if (auto* k = first([&](const KnownStatement& c) { return c.standing == Standing::not_yet_valid; })) {
    e.verdict = Verdict::not_yet_valid;
    e.nearest = k;
    e.reason = "approved by " + where(*k) + ", which is valid only from " + k->not_before;
    return e;
  }
  if (auto* k = first([&](const KnownStatement& c) { return c.standing == Standing::not_in_force; })) {
    e.verdict = Verdict::not_in_force;
    e.nearest = k;
    e.reason = "approved by " + where(*k) + ", which is not in force: " + k->not_in_force_why;
    return e;
  }
  // A near miss: an approved statement in force that differs only in literals (a comment
  // inside a string is in a literal) or schema qualification. Those covering the database first.
  if (!display_sql.empty()) {
    struct Kind {
      bool literals, schemas;
      const char* what;
    };
    static constexpr Kind kKinds[] = {
        {true, false, "a literal (a string, a number, or a comment inside a string)"},
        {false, true, "schema qualification"},
        {true, true, "schema qualification and literals"},
    };
    for (const Kind& kind : kKinds) {
      const std::string mine = loose_form(display_sql, kind.literals, kind.schemas);
      for (int pass = 0; pass < 2; ++pass) {
        for (const auto& k : known) {
          if (k.standing != Standing::in_force || k.sql.empty() || k.hash == hash) continue;
          if ((pass == 0) != covers(k, database)) continue;
          if (loose_form(k.sql, kind.literals, kind.schemas) != mine) continue;
          e.verdict = Verdict::near_miss;
          e.nearest = &k;
          e.reason = "no bundle approves it; the nearest approved statement, " + where(k) + " for " + scope(k) +
                     ", differs from it only in " + kind.what + ": " + statement_excerpt(k.sql);
          return e;
        }
      }
    }
  }
  e.verdict = Verdict::unknown;
  e.reason = "no bundle in the registry approves it, in any database or environment, and no approved statement "
             "differs from it only in schema qualification or a literal";
  return e;
}

}  // namespace ddlgate::engine
