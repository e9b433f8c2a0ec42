// `bundle diff`: what a new version of a bundle adds, removes and changes.
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "ddlgate/base/time.h"
#include "ddlgate/bundle/bundle.h"

namespace ddlgate::bundle {
namespace {

using Place = std::tuple<std::string, bool, std::size_t>;  // file, down part, index

std::map<Place, StatementAt> places(const Manifest& m, const std::vector<std::vector<std::size_t>>& lines) {
  std::map<Place, StatementAt> out;
  for (std::size_t fi = 0; fi < m.files.size(); ++fi) {
    const auto& f = m.files[fi];
    for (std::size_t i = 0; i < f.statements.size(); ++i) {
      const auto& st = f.statements[i];
      std::size_t line = fi < lines.size() && i < lines[fi].size() ? lines[fi][i] : 0;
      out.emplace(Place{f.path, false, st.index},
                  StatementAt{f.path, st.index, line, false, st.cls, st.hash, st.sql, statement_search_path(m, st)});
    }
    // A down part is approved too (for deployers): a changed rollback is a change to review.
    if (!f.down) continue;
    for (const auto& st : f.down->statements) {
      out.emplace(Place{f.down->path, true, st.index},
                  StatementAt{f.down->path, st.index, 0, true, st.cls, st.hash, st.sql, statement_search_path(m, st)});
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void compare(std::vector<std::string>& header, const std::string& name, const std::string& a, const std::string& b) {
  if (a != b) header.push_back(name + ": " + a + " -> " + b);
}

}  // namespace

ManifestDiff diff_manifests(const Manifest& o, const std::vector<std::vector<std::size_t>>& old_lines, const Manifest& n,
                            const std::vector<std::vector<std::size_t>>& new_lines) {
  ManifestDiff d;
  compare(d.header, "format", o.format, n.format);
  compare(d.header, "app", o.app, n.app);
  compare(d.header, "version", std::to_string(o.version), std::to_string(n.version));
  compare(d.header, "environment", o.environment, n.environment);
  compare(d.header, "databases", o.any_database ? "(any)" : join(o.databases),
          n.any_database ? "(any)" : join(n.databases));
  compare(d.header, "tool", std::string(to_string(o.tool)) + "/" + std::to_string(o.tool_profile),
          std::string(to_string(n.tool)) + "/" + std::to_string(n.tool_profile));
  auto history = [](const Manifest& m) {
    return m.history.empty() ? std::string("(default)") : m.history.schema + "." + m.history.table;
  };
  compare(d.header, "history table", history(o), history(n));
  auto path = [](const Manifest& m) { return m.search_path ? *m.search_path : std::string("(none)"); };
  compare(d.header, "search_path", path(o), path(n));
  compare(d.header, "hash_definition", o.hash_definition, n.hash_definition);
  compare(d.header, "valid", base::format_time(o.not_before) + " to " + base::format_time(o.not_after),
          base::format_time(n.not_before) + " to " + base::format_time(n.not_after));

  const auto before = places(o, old_lines);
  const auto after = places(n, new_lines);
  for (const auto& [place, st] : before) {
    auto it = after.find(place);
    if (it == after.end()) d.removed.push_back(st);
    // Another search_path is another approval of the same text (issue 25).
    else if (it->second.hash != st.hash || it->second.search_path != st.search_path) d.changed.emplace_back(st, it->second);
  }
  // In the new manifest's order, so that additions read as the tool applies them.
  // (An unverified manifest may list one place twice: it is shown once.)
  std::set<Place> shown;
  for (std::size_t fi = 0; fi < n.files.size(); ++fi) {
    for (const auto& st : n.files[fi].statements) {
      Place place{n.files[fi].path, false, st.index};
      if (!before.count(place) && shown.insert(place).second) d.added.push_back(after.at(place));
    }
    if (!n.files[fi].down) continue;
    for (const auto& st : n.files[fi].down->statements) {
      Place place{n.files[fi].down->path, true, st.index};
      if (!before.count(place) && shown.insert(place).second) d.added.push_back(after.at(place));
    }
  }
  std::set<std::string> old_bk, new_bk;
  for (const auto& b : o.bookkeeping) old_bk.insert(b.sql);
  for (const auto& b : n.bookkeeping) new_bk.insert(b.sql);
  for (const auto& b : n.bookkeeping) {
    if (!old_bk.count(b.sql)) d.bookkeeping_added.push_back(b.sql);
  }
  for (const auto& b : o.bookkeeping) {
    if (!new_bk.count(b.sql)) d.bookkeeping_removed.push_back(b.sql);
  }
  return d;
}

}  // namespace ddlgate::bundle
