#include "ddlgate/monitor/snapshot.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace ddlgate::monitor {

std::string CatalogObject::display() const {
  auto name = [&](std::size_t i) { return i < names.size() ? names[i] : std::string(); };
  if (kind == "membership") return kind + " " + name(1) + " in " + name(0);
  if (kind == "role_setting") {
    std::string who = name(0).empty() ? "(all roles)" : name(0);
    return kind + " " + who + (name(1).empty() ? "" : " in " + name(1));
  }
  return kind + " " + name(0);
}

void CatalogSnapshot::add(std::string_view kind, std::vector<std::string> names, std::string_view attribute,
                          std::string_view value) {
  CatalogObject probe{std::string(kind), std::move(names), {}};
  std::string key = probe.display();
  auto [it, fresh] = objects.try_emplace(key, std::move(probe));
  if (!attribute.empty()) it->second.attributes[std::string(attribute)] = std::string(value);
}

std::string CatalogDifference::to_string() const {
  if (change != "changed") return object + " " + change;
  return object + ": " + attribute + " " + (before.empty() ? "(none)" : before) + " -> " +
         (after.empty() ? "(none)" : after);
}

std::vector<CatalogDifference> diff(const CatalogSnapshot& before, const CatalogSnapshot& after) {
  std::vector<CatalogDifference> out;
  auto b = before.objects.begin();
  auto a = after.objects.begin();
  auto whole = [&](const CatalogObject& o, const char* change) {
    out.push_back({o.kind, o.names, o.display(), change, "", "", ""});
  };
  while (b != before.objects.end() || a != after.objects.end()) {
    if (a == after.objects.end() || (b != before.objects.end() && b->first < a->first)) {
      whole(b->second, "dropped");
      ++b;
    } else if (b == before.objects.end() || a->first < b->first) {
      whole(a->second, "created");
      ++a;
    } else {
      std::set<std::string> keys;
      for (const auto& [k, v] : b->second.attributes) keys.insert(k);
      for (const auto& [k, v] : a->second.attributes) keys.insert(k);
      for (const auto& k : keys) {
        auto bv = b->second.attributes.find(k);
        auto av = a->second.attributes.find(k);
        std::string bs = bv == b->second.attributes.end() ? "" : bv->second;
        std::string as = av == a->second.attributes.end() ? "" : av->second;
        bool same = (bv == b->second.attributes.end()) == (av == a->second.attributes.end()) && bs == as;
        if (!same) out.push_back({a->second.kind, a->second.names, a->second.display(), "changed", k, bs, as});
      }
      ++a;
      ++b;
    }
  }
  return out;
}

std::vector<std::string> words(std::string_view sql) {
  std::vector<std::string> out;
  std::size_t i = 0;
  const std::size_t n = sql.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(sql[i]);
    if (c == '"') {  // a quoted identifier; "" is a quote in it
      std::string w;
      ++i;
      while (i < n) {
        if (sql[i] == '"') {
          if (i + 1 < n && sql[i + 1] == '"') {
            w += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        w += sql[i++];
      }
      out.push_back(std::move(w));
    } else if (c == '\'') {  // a string constant: skipped ('' inside it)
      ++i;
      while (i < n) {
        if (sql[i] == '\'') {
          if (i + 1 < n && sql[i + 1] == '\'') {
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        ++i;
      }
    } else if (std::isalpha(c) || c == '_' || c >= 0x80) {
      std::string w;
      while (i < n) {
        const unsigned char d = static_cast<unsigned char>(sql[i]);
        if (!(std::isalnum(d) || d == '_' || d == '$' || d >= 0x80)) break;
        w += static_cast<char>(d < 0x80 ? std::tolower(d) : d);
        ++i;
      }
      out.push_back(std::move(w));
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {  // a line comment
      while (i < n && sql[i] != '\n') ++i;
    } else if (std::isdigit(c)) {
      while (i < n && (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '.')) ++i;
    } else {
      ++i;
    }
  }
  return out;
}

namespace {

// Which kinds of object a statement can change, read from its first words.
std::set<std::string> kinds_changed_by(const std::vector<std::string>& w) {
  auto at = [&](std::size_t i) { return i < w.size() ? w[i] : std::string(); };
  const std::string verb = at(0), noun = at(1);
  const bool cad = verb == "create" || verb == "alter" || verb == "drop";
  if (cad && (noun == "role" || noun == "user" || noun == "group")) return {"role", "membership", "role_setting"};
  if (cad && noun == "database") return {"database", "role_setting"};
  if (cad && noun == "tablespace") return {"tablespace"};
  if (verb == "grant" || verb == "revoke") return {"membership", "database", "tablespace"};
  if (verb == "alter" && noun == "system") return {"system_setting"};
  if ((verb == "reassign" || verb == "drop") && noun == "owned") return {"database", "tablespace"};
  return {};
}

}  // namespace

bool explains(std::string_view display_sql, const CatalogDifference& d) {
  const std::vector<std::string> w = words(display_sql);
  if (!kinds_changed_by(w).contains(d.kind)) return false;
  // ALTER SYSTEM RESET ALL names no setting and resets them all.
  if (d.kind == "system_setting" && w.size() >= 4 && w[2] == "reset" && w[3] == "all") return true;
  // DROP ROLE / DROP DATABASE also drop the memberships and settings that name it: one name is enough.
  if (d.change == "dropped" && w[0] == "drop" && (d.kind == "membership" || d.kind == "role_setting")) {
    for (const auto& name : d.names) {
      if (!name.empty() && std::find(w.begin() + 2, w.end(), name) != w.end()) return true;
    }
    return false;
  }
  bool named = false;
  for (const auto& name : d.names) {
    if (name.empty()) continue;
    if (std::find(w.begin() + 1, w.end(), name) == w.end()) return false;
    named = true;
  }
  return named;
}

}  // namespace ddlgate::monitor
