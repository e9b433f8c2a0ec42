// `bundle build`: migration directory layouts, their "up" parts, tool bookkeeping
// statements, and writing a bundle directory.
#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include <openssl/evp.h>

#include "ddlgate/base/base64.h"
#include "ddlgate/base/file.h"
#include "ddlgate/base/sha256.h"
#include "internal.h"
#include "tiers.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/search_path.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/bundle/recorded.h"

namespace ddlgate::bundle {
namespace {

namespace fs = std::filesystem;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Compares decimal numbers of any length ("10" > "9"), as the tools compare versions.
int compare_numbers(std::string_view a, std::string_view b) {
  while (a.size() > 1 && a.front() == '0') a.remove_prefix(1);
  while (b.size() > 1 && b.front() == '0') b.remove_prefix(1);
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// A line of text with its byte range; `next` is where the following line starts.
struct Line {
  std::string_view text;
  std::size_t begin = 0;
  std::size_t next = 0;
};

std::vector<Line> split_lines(std::string_view content) {
  std::vector<Line> lines;
  std::size_t pos = 0;
  while (pos < content.size()) {
    std::size_t nl = content.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? content.size() : nl;
    std::size_t next = nl == std::string_view::npos ? content.size() : nl + 1;
    std::string_view text = content.substr(pos, end - pos);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    lines.push_back({text, pos, next});
    pos = next;
  }
  return lines;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// goose: "-- +goose Up" (goose trims the text after "--" and compares the annotation).
std::optional<std::string_view> goose_annotation(std::string_view line) {
  line = trim(line);
  if (!starts_with(line, "--")) return std::nullopt;
  std::string_view rest = trim(line.substr(2));
  if (!starts_with(rest, "+goose ")) return std::nullopt;
  return trim(rest.substr(7));
}

// dbmate: a line "-- migrate:up" or "-- migrate:down", optionally followed by options
// ("-- migrate:up transaction:false"); dbmate matches ^--\s*migrate:up(\s|$).
bool dbmate_marker(std::string_view line, std::string_view which) {
  if (!starts_with(line, "--")) return false;
  std::string_view rest = line.substr(2);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::string marker = "migrate:" + std::string(which);
  if (!starts_with(rest, marker)) return false;
  rest.remove_prefix(marker.size());
  return rest.empty() || rest.front() == ' ' || rest.front() == '\t';
}

// sql-migrate (rubenv/sql-migrate sqlparse/sqlparse.go): a line that starts with
// "-- +migrate " followed by a command word; "Up" and "Down" switch direction (options
// such as "notransaction" may follow), StatementBegin/End are the other commands.
std::optional<std::string_view> sql_migrate_command(std::string_view line) {
  constexpr std::string_view kPrefix = "-- +migrate ";
  if (!starts_with(line, kPrefix)) return std::nullopt;
  std::string_view rest = trim(line.substr(kPrefix.size()));
  return rest.substr(0, rest.find_first_of(" \t"));
}

// node-pg-migrate (src/sqlMigration.ts): /^\s*--[\s-]*up\s+migration/im, and the same
// with "down": a comment line whose words, after any dashes, are "<which> migration...".
bool node_pg_migrate_marker(std::string_view line, std::string_view which) {
  line = trim(line);
  if (!starts_with(line, "--")) return false;
  std::size_t i = 2;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '-')) ++i;
  auto lower_is = [&](std::string_view word) {
    if (line.size() - i < word.size()) return false;
    for (std::size_t k = 0; k < word.size(); ++k) {
      char c = line[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != word[k]) return false;
    }
    i += word.size();
    return true;
  };
  if (!lower_is(which)) return false;
  std::size_t spaces = i;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i > spaces && lower_is("migration");
}

// Liquibase formatted SQL: the first line is "--liquibase formatted sql"
// (FormattedSqlChangeLogParser: -- then optional blanks, case-insensitive).
bool liquibase_header(std::string_view content) {
  std::string_view first = content.substr(0, content.find('\n'));
  first = trim(first);
  if (!first.empty() && first.back() == '\r') first.remove_suffix(1);
  if (!starts_with(first, "--")) return false;
  first = trim(first.substr(2));
  std::string lower(first.substr(0, 23));
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower == "liquibase formatted sql";
}

struct Range {
  std::size_t offset = 0;
  std::size_t length = 0;
};

// The text between a file's one up marker and the next down marker after it (or the
// end), for layouts whose markers may come in either order (sql-migrate).
std::optional<Range> marked_up_range(std::string_view content, const std::function<bool(std::string_view)>& is_up,
                                     const std::function<bool(std::string_view)>& is_down, std::string_view up_name,
                                     std::string* why) {
  std::optional<std::size_t> up_begin;
  std::optional<std::size_t> up_end;
  for (const Line& l : split_lines(content)) {
    if (is_up(l.text)) {
      if (up_begin) {
        *why = "two '" + std::string(up_name) + "' markers";
        return std::nullopt;
      }
      up_begin = l.next;
    } else if (is_down(l.text) && up_begin && !up_end) {
      up_end = l.begin;
    }
  }
  if (!up_begin) {
    *why = "no '" + std::string(up_name) + "' marker";
    return std::nullopt;
  }
  std::size_t end = up_end.value_or(content.size());
  return Range{*up_begin, end - *up_begin};
}

std::optional<Range> up_range(MigrationTool tool, std::string_view content, std::string* why) {
  switch (tool) {
    case MigrationTool::plain:
    case MigrationTool::atlas:
    case MigrationTool::golang_migrate:  // the .up.sql file is all up
    case MigrationTool::flyway:
    case MigrationTool::sqitch:          // deploy/<change>.sql
    case MigrationTool::liquibase:       // changesets; --rollback lines are comments
    case MigrationTool::prisma:          // <migration>/migration.sql
    case MigrationTool::alembic:         // the ORMs: SQL their offline modes wrote
    case MigrationTool::django:
    case MigrationTool::rails:
    case MigrationTool::knex:
    case MigrationTool::sequelize:
    case MigrationTool::typeorm:
    case MigrationTool::recorded:        // recorded.sql, repeatable.sql
      return Range{0, content.size()};
    case MigrationTool::sql_migrate: {
      // Up and Down sections may come in either order; the up part ends at the next
      // "Down" after "Up".
      return marked_up_range(
          content, [](std::string_view l) { auto c = sql_migrate_command(l); return c && *c == "Up"; },
          [](std::string_view l) { auto c = sql_migrate_command(l); return c && *c == "Down"; }, "-- +migrate Up", why);
    }
    case MigrationTool::node_pg_migrate: {
      // node-pg-migrate runs the whole file as "up" when it has no up marker (even a
      // down section in it); otherwise from the first up marker to the first down
      // marker after it.
      std::optional<std::size_t> up_begin, down_begin;
      for (const Line& l : split_lines(content)) {
        if (!up_begin && node_pg_migrate_marker(l.text, "up")) up_begin = l.begin;
        else if (!down_begin && node_pg_migrate_marker(l.text, "down")) down_begin = l.begin;
      }
      if (!up_begin) return Range{0, content.size()};
      std::size_t end = (down_begin && *down_begin > *up_begin) ? *down_begin : content.size();
      return Range{*up_begin, end - *up_begin};
    }
    case MigrationTool::goose: {
      std::optional<std::size_t> up_begin;
      std::size_t up_end = content.size();
      for (const Line& l : split_lines(content)) {
        auto a = goose_annotation(l.text);
        if (!a) continue;
        if (*a == "Up") {
          if (up_begin) {
            *why = "two '-- +goose Up' annotations";
            return std::nullopt;
          }
          up_begin = l.next;
        } else if (*a == "Down") {
          if (!up_begin) {
            *why = "'-- +goose Down' before '-- +goose Up'";
            return std::nullopt;
          }
          up_end = l.begin;
          break;
        }
      }
      if (!up_begin) {
        *why = "no '-- +goose Up' annotation";
        return std::nullopt;
      }
      return Range{*up_begin, up_end - *up_begin};
    }
    case MigrationTool::dbmate: {
      std::optional<std::size_t> up_begin;
      std::size_t up_end = content.size();
      for (const Line& l : split_lines(content)) {
        if (dbmate_marker(l.text, "up")) {
          if (up_begin) {
            *why = "two '-- migrate:up' markers";
            return std::nullopt;
          }
          up_begin = l.next;
        } else if (dbmate_marker(l.text, "down")) {
          if (!up_begin) {
            *why = "'-- migrate:down' before '-- migrate:up'";
            return std::nullopt;
          }
          up_end = l.begin;
          break;
        }
      }
      if (!up_begin) {
        *why = "no '-- migrate:up' marker";
        return std::nullopt;
      }
      return Range{*up_begin, up_end - *up_begin};
    }
  }
  *why = "unknown tool";
  return std::nullopt;
}

// The down part of a file that holds both (dbmate, goose, sql-migrate, node-pg-migrate): the
// text after the down marker, empty when there is none. Files that are all down
// (golang-migrate .down.sql, sqitch revert/) are whole (down_path says which file).
std::optional<Range> down_range(MigrationTool tool, std::string_view content, std::string* why) {
  if (tool == MigrationTool::sql_migrate) {
    // rubenv/sql-migrate sqlparse/sqlparse.go: "-- +migrate Down" switches the direction to
    // down until a "-- +migrate Up"; the sections may come in either order. One of each (two
    // down sections would be joined by sql-migrate; ddlgate refuses them, as two Up markers).
    if (!up_range(tool, content, why)) return std::nullopt;
    std::optional<std::size_t> down_begin, down_end;
    for (const Line& l : split_lines(content)) {
      auto c = sql_migrate_command(l.text);
      if (c && *c == "Down") {
        if (down_begin) {
          *why = "two '-- +migrate Down' markers";
          return std::nullopt;
        }
        down_begin = l.next;
      } else if (c && *c == "Up" && down_begin && !down_end) {
        down_end = l.begin;
      }
    }
    if (!down_begin) return Range{content.size(), 0};
    const std::size_t end = down_end.value_or(content.size());
    return Range{*down_begin, end - *down_begin};
  }
  if (tool == MigrationTool::node_pg_migrate) {
    // src/sqlMigration.ts getActions: from the first down marker to the first up marker when
    // that comes after it, else to the end; no down marker: no down (node-pg-migrate then
    // refuses to roll the migration back).
    std::optional<std::size_t> up_begin, down_begin;
    for (const Line& l : split_lines(content)) {
      if (!up_begin && node_pg_migrate_marker(l.text, "up")) up_begin = l.begin;
      else if (!down_begin && node_pg_migrate_marker(l.text, "down")) down_begin = l.begin;
    }
    if (!down_begin) return Range{content.size(), 0};
    const std::size_t end = (up_begin && *up_begin > *down_begin) ? *up_begin : content.size();
    return Range{*down_begin, end - *down_begin};
  }
  if (tool != MigrationTool::dbmate && tool != MigrationTool::goose) return Range{0, content.size()};
  // The up part must be well-formed too: a down marker before the up marker is refused there.
  if (!up_range(tool, content, why)) return std::nullopt;
  for (const Line& l : split_lines(content)) {
    bool down = tool == MigrationTool::dbmate ? dbmate_marker(l.text, "down") : goose_annotation(l.text) == "Down";
    if (down) return Range{l.next, content.size() - l.next};
  }
  return Range{content.size(), 0};
}

// A migration file of the source directory, in application order.
struct SourceFile {
  std::string rel;  // path relative to the source directory ('/'-separated)
};

std::vector<std::string> sql_files(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file() && ends_with(name, ".sql")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Orders files named <digits>_<rest>.sql numerically by their version (goose, dbmate:
// dbmate sorts names, which is the same order for equal-width versions).
bool versioned_order(const std::vector<std::string>& names, std::string_view suffix, std::vector<SourceFile>& out,
                     std::vector<Problem>& problems, bool numeric) {
  std::vector<std::pair<std::string, std::string>> versioned;  // version, name
  for (const auto& n : names) {
    auto us = n.find('_');
    std::string version = us == std::string::npos ? std::string() : n.substr(0, us);
    if (!ends_with(n, suffix) || !all_digits(version)) continue;
    versioned.emplace_back(version, n);
  }
  std::stable_sort(versioned.begin(), versioned.end(), [numeric](const auto& a, const auto& b) {
    return numeric ? compare_numbers(a.first, b.first) < 0 : a.second < b.second;
  });
  for (std::size_t i = 1; i < versioned.size(); ++i) {
    if (compare_numbers(versioned[i - 1].first, versioned[i].first) == 0) {
      problems.push_back({versioned[i].second, "same version as " + versioned[i - 1].second});
    }
  }
  for (auto& v : versioned) out.push_back({v.second});
  return true;
}

// Flyway: V<version>__<desc>.sql in version order (parts split on '.' or '_'), then
// repeatable R__<desc>.sql by description; U<version>__ undo files are not "up".
void flyway_order(const std::vector<std::string>& names, std::vector<SourceFile>& out,
                  std::vector<Problem>& problems) {
  std::vector<std::pair<std::vector<std::string>, std::string>> versioned;
  std::vector<std::string> repeatable;
  for (const auto& n : names) {
    auto sep = n.find("__");
    if (sep == std::string::npos || sep == 0) {
      problems.push_back({n, "not a Flyway migration name (V<version>__<description>.sql or R__<description>.sql)"});
      continue;
    }
    char kind = n[0];
    std::string version = n.substr(1, sep - 1);
    if (kind == 'U') continue;
    if (kind == 'R' && version.empty()) {
      repeatable.push_back(n);
      continue;
    }
    std::vector<std::string> parts;
    std::string cur;
    bool ok = kind == 'V' && !version.empty();
    for (char c : version) {
      if (c == '.' || c == '_') {
        if (cur.empty()) ok = false;
        parts.push_back(cur);
        cur.clear();
      } else if (c >= '0' && c <= '9') {
        cur.push_back(c);
      } else {
        ok = false;
      }
    }
    if (cur.empty()) ok = false;
    parts.push_back(cur);
    if (!ok) {
      problems.push_back({n, "not a Flyway migration name (V<version>__<description>.sql or R__<description>.sql)"});
      continue;
    }
    versioned.emplace_back(parts, n);
  }
  auto less = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      std::string_view x = i < a.size() ? std::string_view(a[i]) : "0";
      std::string_view y = i < b.size() ? std::string_view(b[i]) : "0";
      if (int c = compare_numbers(x, y); c != 0) return c < 0;
    }
    return false;
  };
  std::stable_sort(versioned.begin(), versioned.end(), [&](const auto& a, const auto& b) { return less(a.first, b.first); });
  for (std::size_t i = 1; i < versioned.size(); ++i) {
    if (!less(versioned[i - 1].first, versioned[i].first)) {
      problems.push_back({versioned[i].second, "same version as " + versioned[i - 1].second});
    }
  }
  for (auto& v : versioned) out.push_back({v.second});
  for (auto& r : repeatable) out.push_back({r});
}

// sql-migrate (migrate.go, Migration.Less): names with a numeric prefix first, by that
// number (then by name), then the others by name.
void sql_migrate_order(const std::vector<std::string>& names, std::vector<SourceFile>& out) {
  auto prefix = [](const std::string& n) {
    std::size_t d = 0;
    while (d < n.size() && n[d] >= '0' && n[d] <= '9') ++d;
    return std::string_view(n).substr(0, d);
  };
  std::vector<std::string> sorted = names;
  std::stable_sort(sorted.begin(), sorted.end(), [&](const std::string& a, const std::string& b) {
    std::string_view pa = prefix(a), pb = prefix(b);
    if (!pa.empty() && !pb.empty()) {
      if (int c = compare_numbers(pa, pb); c != 0) return c < 0;
      return a < b;
    }
    if (pa.empty() != pb.empty()) return !pa.empty();
    return a < b;
  });
  for (auto& n : sorted) out.push_back({n});
}

// Prisma Migrate: each migration is a directory <name>/migration.sql, applied in the
// order of the directory names; migration_lock.toml sits beside them.
void prisma_order(const fs::path& dir, std::vector<SourceFile>& out, std::vector<Problem>& problems) {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory()) dirs.push_back(e.path().filename().string());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs) {
    if (fs::is_regular_file(dir / d / "migration.sql", ec)) {
      out.push_back({d + "/migration.sql"});
    } else {
      problems.push_back({d, "not a Prisma migration (no migration.sql)"});
    }
  }
}

// sqitch.plan: one change per line ("name [deps] date planner <email> # note"); blank
// lines, %pragmas, #comments and @tags are not changes. Each change is deploy/<name>.sql.
void sqitch_order(const fs::path& dir, std::vector<SourceFile>& out, std::vector<Problem>& problems) {
  std::string why;
  auto plan = base::read_capped(dir / "sqitch.plan", 16u * 1024 * 1024);
  if (!plan) {
    problems.push_back({"sqitch.plan", plan.error().reason});
    return;
  }
  std::set<std::string> seen;
  std::size_t line_no = 0;
  for (const Line& l : split_lines(*plan)) {
    ++line_no;
    std::string_view t = trim(l.text);
    if (t.empty() || t.front() == '%' || t.front() == '#' || t.front() == '@') continue;
    auto end = t.find_first_of(" \t[");
    std::string name(t.substr(0, end));
    if (name.empty() || name.find('/') != std::string::npos || name.find("..") != std::string::npos) {
      problems.push_back({"sqitch.plan", "line " + std::to_string(line_no) + ": not a change name"});
      continue;
    }
    if (!seen.insert(name).second) {
      problems.push_back({"sqitch.plan", "line " + std::to_string(line_no) + ": change '" + name +
                                             "' is reworked; reworked changes are not supported yet"});
      continue;
    }
    out.push_back({"deploy/" + name + ".sql"});
  }
}

// Atlas's atlas.sum (ariga.io/atlas sql/migrate/dir.go, HashFile): one running SHA-256
// over every file's name then its bytes, in directory order; each line is
// "<name> h1:<base64 of the running sum after that file>", and the first line is
// "h1:<base64 SHA-256 over every name and line sum>".
void check_atlas_sum(const fs::path& dir, const std::vector<std::string>& names, std::vector<Problem>& problems) {
  std::string why;
  auto sum_text = base::read_capped(dir / "atlas.sum", 16u * 1024 * 1024);
  if (!sum_text) {
    problems.push_back({"atlas.sum", sum_text.error().reason});
    return;
  }
  // One running digest: each line's sum is the state after that file, so a copy is finalised.
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> running(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> copy(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!running || !copy || EVP_DigestInit_ex(running.get(), EVP_sha256(), nullptr) != 1) {
    problems.push_back({"atlas.sum", "cannot compute SHA-256"});
    return;
  }
  std::string total;  // every name and line sum, for the header
  std::string lines;
  for (const auto& n : names) {
    auto content = base::read_capped(dir / n, kMaxMigrationFileBytes);
    if (!content) {
      problems.push_back({n, content.error().reason});
      return;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestUpdate(running.get(), n.data(), n.size());
    EVP_DigestUpdate(running.get(), content->data(), content->size());
    EVP_MD_CTX_copy_ex(copy.get(), running.get());
    EVP_DigestFinal_ex(copy.get(), md, &len);
    std::string h = base::base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
    lines += n + " h1:" + h + "\n";
    total += n + h;
  }
  std::string expected = "h1:" + base::base64_encode(base::sha256_raw(total)) + "\n" + lines;
  if (*sum_text != expected) {
    problems.push_back({"atlas.sum", "does not match the migration files (as `atlas migrate hash` computes it); "
                                     "run `atlas migrate hash` and review the change"});
  }
}

bool write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f.flush());
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

namespace detail {


std::string excerpt(std::string_view sql) {
  constexpr std::size_t kMax = 80;
  std::size_t n = std::min(sql.size(), kMax);
  // Back to the start of a UTF-8 sequence: never half a character.
  while (n < sql.size() && n > 0 && (static_cast<unsigned char>(sql[n]) & 0xC0) == 0x80) --n;
  std::string out(sql.substr(0, n));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (n < sql.size()) out += "...";
  return out;
}

bool safe_relative_path(std::string_view path) {
  if (path.empty() || path.size() > 1024 || path.front() == '/') return false;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    std::string_view part = path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    for (char c : part) {
      if (c == '\\' || c == '\0' || static_cast<unsigned char>(c) < 0x20) return false;
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return true;
}

}  // namespace detail

base::Result<std::string> up_part(MigrationTool tool, std::string_view content) {
  std::string why;
  auto r = up_range(tool, content, &why);
  if (!r) return base::Error{why};
  return std::string(content.substr(r->offset, r->length));
}

base::Result<std::string> down_part(MigrationTool tool, std::string_view content) {
  std::string why;
  auto r = down_range(tool, content, &why);
  if (!r) return base::Error{why};
  return std::string(content.substr(r->offset, r->length));
}

std::optional<std::string> down_path(MigrationTool tool, std::string_view up_path) {
  switch (tool) {
    case MigrationTool::dbmate:
    case MigrationTool::goose:
    case MigrationTool::sql_migrate:
    case MigrationTool::node_pg_migrate:
      return std::string(up_path);
    case MigrationTool::golang_migrate:
      if (!ends_with(up_path, ".up.sql")) return std::nullopt;
      return std::string(up_path.substr(0, up_path.size() - 7)) + ".down.sql";
    case MigrationTool::sqitch:
      if (!up_path.starts_with("deploy/")) return std::nullopt;
      return "revert/" + std::string(up_path.substr(7));
    case MigrationTool::recorded:
      // What `bundle record --down` recorded of the tool's rollback (recorded.h).
      if (up_path != kRecordedFile) return std::nullopt;
      return std::string(kDownFile);
    default:
      return std::nullopt;
  }
}

namespace {

// How many bytes of blanks and comments (-- to the end of a line, /* */ nested as
// PostgreSQL nests them) start text.
std::size_t leading_space_and_comments(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
      ++i;
    } else if (text.substr(i, 2) == "--") {
      std::size_t nl = text.find('\n', i);
      i = nl == std::string_view::npos ? text.size() : nl + 1;
    } else if (text.substr(i, 2) == "/*") {
      std::size_t depth = 0;
      do {
        if (text.substr(i, 2) == "/*") {
          ++depth;
          i += 2;
        } else if (text.substr(i, 2) == "*/") {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      } while (depth > 0 && i < text.size());
    } else {
      break;
    }
  }
  return std::min(i, text.size());
}

}  // namespace

std::vector<std::size_t> statement_lines(MigrationTool tool, std::string_view content) {
  std::string why;
  auto r = up_range(tool, content, &why);
  if (!r) return {};
  sql::Analysis a = sql::analyze(content.substr(r->offset, r->length), sql::Policy{}, sql::Detail::hashes);
  if (!a.ok()) return {};
  std::vector<std::size_t> lines;
  lines.reserve(a.statements.size());
  std::size_t line = 1, scanned = 0;
  for (const auto& st : a.statements) {
    // The statement's text may start with blank lines and comments: its first token is
    // after them, but the offset libpg_query gives is where its text starts.
    std::size_t at = r->offset + st.offset;
    at += leading_space_and_comments(content.substr(at, st.length));
    line += static_cast<std::size_t>(std::count(content.begin() + static_cast<std::ptrdiff_t>(scanned),
                                                content.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
    scanned = at;
    lines.push_back(line);
  }
  return lines;
}

std::vector<std::pair<MigrationTool, std::string>> detect_tools(const fs::path& dir) {
  std::vector<std::pair<MigrationTool, std::string>> fits;
  std::error_code ec;
  if (fs::exists(dir / "atlas.sum", ec)) fits.emplace_back(MigrationTool::atlas, "atlas.sum");
  if (fs::exists(dir / "sqitch.plan", ec)) fits.emplace_back(MigrationTool::sqitch, "sqitch.plan");
  if (fs::exists(dir / kRecordingIndex, ec)) fits.emplace_back(MigrationTool::recorded, std::string(kRecordingIndex));
  auto names = sql_files(dir);
  for (const auto& n : names) {
    if (ends_with(n, ".up.sql")) {
      fits.emplace_back(MigrationTool::golang_migrate, n);
      break;
    }
  }
  for (const auto& n : names) {
    if (n.size() > 3 && (n[0] == 'V' || n[0] == 'R') && n.find("__") != std::string::npos) {
      fits.emplace_back(MigrationTool::flyway, n);
      break;
    }
  }
  if (fs::exists(dir / "migration_lock.toml", ec)) fits.emplace_back(MigrationTool::prisma, "migration_lock.toml");
  bool goose = false, dbmate = false, sql_migrate = false, node_pg = false, liquibase = false;
  for (const auto& n : names) {
    auto content = base::read_capped(dir / n, kMaxMigrationFileBytes);
    if (!content) continue;
    if (!liquibase && liquibase_header(*content)) {
      liquibase = true;
      fits.emplace_back(MigrationTool::liquibase, "a --liquibase formatted sql first line in " + n);
    }
    for (const Line& l : split_lines(*content)) {
      if (auto c = sql_migrate_command(l.text); !sql_migrate && c && *c == "Up") {
        sql_migrate = true;
        fits.emplace_back(MigrationTool::sql_migrate, "a -- +migrate Up line in " + n);
      }
      if (!node_pg && node_pg_migrate_marker(l.text, "up")) {
        node_pg = true;
        fits.emplace_back(MigrationTool::node_pg_migrate, "an -- Up Migration line in " + n);
      }
      if (auto a = goose_annotation(l.text); !goose && a && *a == "Up") {
        goose = true;
        fits.emplace_back(MigrationTool::goose, "a -- +goose Up line in " + n);
      }
      if (!dbmate && dbmate_marker(l.text, "up")) {
        dbmate = true;
        fits.emplace_back(MigrationTool::dbmate, "a -- migrate:up line in " + n);
      }
    }
  }
  return fits;
}

MigrationTool detect_tool(const fs::path& dir) {
  auto fits = detect_tools(dir);
  return fits.empty() ? MigrationTool::plain : fits.front().first;
}

namespace {

// A recorded source's statements carry the search_path the tool ran each one under (the
// recorder's event trigger). The manifest's is --search-path, else the one most statements
// ran under (the first of equals); a statement under another one carries its own, and so does
// a bookkeeping entry of repeatable.sql. A statement the trigger did not see (no DDL event)
// takes the manifest's.
void recorded_search_paths(const BuildOptions& o, Manifest& m, std::vector<Problem>& problems) {
  auto bytes = base::read_capped(o.src_dir / kRecordingIndex, kMaxRecordingIndexBytes);
  auto rec = bytes ? parse_recording_index(*bytes) : base::Result<Recording>(bytes.error());
  if (!rec) {
    problems.push_back({std::string(kRecordingIndex), rec.error().reason});
    return;
  }
  auto normalised = [&](const std::vector<RecordedStatement>& sts, std::string_view file) {
    std::vector<std::optional<std::string>> out;
    for (std::size_t i = 0; i < sts.size(); ++i) {
      if (!sts[i].search_path) {
        out.emplace_back();
        continue;
      }
      auto n = sql::normalize_search_path(*sts[i].search_path);
      if (!n) {
        problems.push_back({std::string(file), "statement " + std::to_string(i + 1) + ": " + n.error().reason});
        out.emplace_back();
      } else {
        out.emplace_back(std::move(*n));
      }
    }
    return out;
  };
  const auto recorded = normalised(rec->statements, kRecordedFile);
  const auto repeatable = normalised(rec->repeatable, kRepeatableFile);
  const auto down = normalised(rec->down, kDownFile);
  if (!m.search_path) {
    std::vector<std::pair<std::string, std::size_t>> counts;  // in order of first use
    for (const auto* list : {&recorded, &repeatable}) {
      for (const auto& sp : *list) {
        if (!sp) continue;
        auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == *sp; });
        if (it == counts.end()) counts.emplace_back(*sp, 1);
        else ++it->second;
      }
    }
    std::size_t best = 0;
    for (std::size_t i = 1; i < counts.size(); ++i) {
      if (counts[i].second > counts[best].second) best = i;
    }
    m.search_path = counts.empty() ? default_search_path(MigrationTool::recorded) : counts[best].first;
  }
  auto own = [&](const std::optional<std::string>& sp) -> std::optional<std::string> {
    return sp && sp != m.search_path ? sp : std::nullopt;
  };
  for (auto& f : m.files) {
    const auto& list = f.path == kRecordedFile ? recorded : repeatable;
    for (std::size_t i = 0; i < f.statements.size() && i < list.size(); ++i) f.statements[i].search_path = own(list[i]);
    if (f.down) {
      for (std::size_t i = 0; i < f.down->statements.size() && i < down.size(); ++i) {
        f.down->statements[i].search_path = own(down[i]);
      }
    }
  }
  // Bookkeeping entries are repeatable.sql's statements, in order (recorded_bookkeeping_sql).
  for (std::size_t i = 0; i < m.bookkeeping.size() && i < repeatable.size(); ++i) {
    m.bookkeeping[i].search_path = own(repeatable[i]);
  }
}

}  // namespace

BuildResult build_bundle(const BuildOptions& o) {
  BuildResult result;
  auto& problems = result.problems;
  Manifest& m = result.manifest;
  if (!valid_name(o.app)) problems.push_back({"--app", "must be 1 to 128 of A-Z a-z 0-9 . _ -"});
  if (o.version == 0) problems.push_back({"--version", "must be a positive integer"});
  if (!valid_name(o.environment)) problems.push_back({"--environment", "must be 1 to 128 of A-Z a-z 0-9 . _ -"});
  for (const auto& d : o.databases) {
    if (d.empty()) problems.push_back({"--database", "must not be empty"});
  }
  // The scope is said, never assumed: a bundle built without it would approve its
  // statements in every database of the environment (issue 26).
  if (o.databases.empty() && !o.any_database) {
    problems.push_back({"--database", "required: name each database the bundle is for (repeatable), or say "
                                      "--any-database for every database of the environment"});
  }
  if (!o.databases.empty() && o.any_database) {
    problems.push_back({"--any-database", "cannot be combined with --database"});
  }
  if (o.format != kBundleFormat1 && o.format != kBundleFormat2) problems.push_back({"format", "unknown"});
  if (o.valid_for <= std::chrono::seconds(0) || o.valid_for > std::chrono::hours(24 * 365)) {
    problems.push_back({"--valid-for", "must be more than 0 and at most 365d"});
  }
  std::error_code ec;
  if (!fs::is_directory(o.src_dir, ec)) problems.push_back({o.src_dir.string(), "not a directory"});
  if (fs::exists(o.out_dir, ec)) problems.push_back({o.out_dir.string(), "already exists; a bundle is never overwritten"});
  if (!problems.empty()) return result;

  // The layout: named, or detected only when exactly one fits.
  if (o.tool) {
    m.tool = *o.tool;
    result.tool_choice = std::string(to_string(m.tool)) + " (--tool)";
  } else {
    auto fits = detect_tools(o.src_dir);
    if (fits.empty()) {
      m.tool = MigrationTool::plain;
      result.tool_choice = "plain (--tool auto: no other layout's marks; every *.sql file, whole, by name)";
    } else if (fits.size() == 1) {
      m.tool = fits[0].first;
      result.tool_choice = std::string(to_string(m.tool)) + " (--tool auto: " + fits[0].second + ")";
    } else {
      std::string seen;
      for (const auto& [t, why] : fits) seen += (seen.empty() ? "" : "; ") + std::string(to_string(t)) + ": " + why;
      problems.push_back({"--tool", "auto: several layouts fit (" + seen + "); name one with --tool"});
      return result;
    }
  }
  if (auto st = check_history_table(m.tool, o.history); !st.ok()) {
    problems.push_back({o.history.table.empty() ? "--history-schema" : "--history-table", st.error().reason});
    return result;
  }
  if (!o.history.empty() && o.format == kBundleFormat1) {
    problems.push_back({"--history-table", "format 1 has no place for history table names"});
    return result;
  }
  m.format = std::string(o.format);
  m.tool_profile = o.format == kBundleFormat1 ? kToolProfileVersionOldest : kToolProfileVersion;
  m.history = o.history;
  m.any_database = o.any_database;
  m.app = o.app;
  m.version = o.version;
  m.environment = o.environment;
  m.databases = o.databases;
  std::sort(m.databases.begin(), m.databases.end());
  m.databases.erase(std::unique(m.databases.begin(), m.databases.end()), m.databases.end());
  m.not_before = o.not_before;
  m.not_after = o.not_before + o.valid_for;
  m.source = o.source;
  m.hash_definition = std::string(sql::kHashVersionTag);
  // The search_path the statements are reviewed under (format 2): --search-path in any spelling,
  // written normalised, or the tool's default (a recorded source: what the tool ran under, below).
  if (o.search_path) {
    if (o.format == kBundleFormat1) {
      problems.push_back({"--search-path", "format 1 has no place for a search_path"});
      return result;
    }
    auto normal = sql::normalize_search_path(*o.search_path);
    if (!normal) {
      problems.push_back({"--search-path", normal.error().reason});
      return result;
    }
    m.search_path = *normal;
  } else if (o.format == kBundleFormat2 && m.tool != MigrationTool::recorded) {
    m.search_path = default_search_path(m.tool, m.history);
  }

  // The files in the order the tool applies them.
  std::vector<SourceFile> order;
  auto names = sql_files(o.src_dir);
  switch (m.tool) {
    case MigrationTool::plain:
    case MigrationTool::alembic:
    case MigrationTool::django:
    case MigrationTool::rails:
    case MigrationTool::knex:
    case MigrationTool::sequelize:
    case MigrationTool::typeorm:
      for (auto& n : names) order.push_back({n});
      break;
    case MigrationTool::liquibase:
      // includeAll's order (by path); every file must be formatted SQL.
      for (auto& n : names) {
        auto content = base::read_capped(o.src_dir / n, kMaxMigrationFileBytes);
        if (content && !liquibase_header(*content)) {
          problems.push_back({n, "not Liquibase formatted SQL (its first line must be --liquibase formatted sql)"});
        }
        order.push_back({n});
      }
      break;
    case MigrationTool::sql_migrate:
      sql_migrate_order(names, order);
      break;
    case MigrationTool::node_pg_migrate: {
      // node-pg-migrate loads every file of the directory but dotfiles (its default
      // ignorePattern); a JavaScript migration's SQL is made at run time and cannot be
      // bundled, so a directory with one is refused rather than half approved.
      std::error_code dir_ec;
      for (const auto& e : fs::directory_iterator(o.src_dir, dir_ec)) {
        const std::string n = e.path().filename().string();
        if (!n.empty() && n[0] != '.' && !e.is_directory() && !ends_with(n, ".sql")) {
          problems.push_back({n, "node-pg-migrate would run it, and only SQL migrations can be bundled "
                                 "(record the JavaScript ones with bundle record)"});
        }
      }
      for (auto& n : names) {
        auto us = n.find('_');
        if (us == std::string::npos || !all_digits(std::string_view(n).substr(0, us))) {
          problems.push_back({n, "not a node-pg-migrate migration name (<number>_<name>.sql)"});
        }
      }
      versioned_order(names, ".sql", order, problems, true);
      break;
    }
    case MigrationTool::prisma:
      prisma_order(o.src_dir, order, problems);
      break;
    case MigrationTool::atlas:
      check_atlas_sum(o.src_dir, names, problems);
      for (auto& n : names) order.push_back({n});
      break;
    case MigrationTool::golang_migrate: {
      std::vector<std::string> up;
      for (auto& n : names) {
        auto us = n.find('_');
        bool named = us != std::string::npos && all_digits(std::string_view(n).substr(0, us)) &&
                     (ends_with(n, ".up.sql") || ends_with(n, ".down.sql"));
        if (!named) problems.push_back({n, "not a golang-migrate name (<version>_<title>.up.sql or .down.sql)"});
      }
      versioned_order(names, ".up.sql", order, problems, true);
      break;
    }
    case MigrationTool::goose:
    case MigrationTool::dbmate:
      for (auto& n : names) {
        auto us = n.find('_');
        if (us == std::string::npos || !all_digits(std::string_view(n).substr(0, us))) {
          problems.push_back({n, std::string("not a ") + std::string(to_string(m.tool)) + " migration name (<version>_<name>.sql)"});
        }
      }
      versioned_order(names, ".sql", order, problems, m.tool == MigrationTool::goose);
      break;
    case MigrationTool::flyway:
      flyway_order(names, order, problems);
      break;
    case MigrationTool::sqitch:
      sqitch_order(o.src_dir, order, problems);
      break;
    case MigrationTool::recorded:
      for (auto& f : recorded_files(o.src_dir, problems)) order.push_back({f});
      break;
  }
  if (order.empty() && problems.empty()) {
    problems.push_back({o.src_dir.string(), "no migration file for layout " + std::string(to_string(m.tool))});
  }

  std::vector<std::string> contents;
  std::vector<std::pair<std::string, std::string>> down_files;  // separate down files: path, bytes
  // Each file's up and down parts, for the risk tiers (format 2).
  std::vector<std::string> part_names, ups;
  std::vector<std::optional<std::string>> downs;
  for (const auto& f : order) {
    std::string why;
    auto content = base::read_capped(o.src_dir / f.rel, kMaxMigrationFileBytes);
    if (!content) {
      problems.push_back({f.rel, content.error().reason});
      continue;
    }
    auto range = up_range(m.tool, *content, &why);
    if (!range) {
      problems.push_back({f.rel, why});
      continue;
    }
    sql::Analysis a = sql::analyze(std::string_view(*content).substr(range->offset, range->length), sql::Policy{}, sql::Detail::all);
    if (!a.ok()) {
      std::string msg = a.error->message;
      if (a.error->position > 0) {
        std::size_t byte = range->offset + a.error->position - 1;
        std::size_t line = 1 + static_cast<std::size_t>(std::count(content->begin(),
                                                                   content->begin() + static_cast<std::ptrdiff_t>(std::min(byte, content->size())), '\n'));
        msg += " at position " + std::to_string(a.error->position) + " of the up part (line " + std::to_string(line) + ")";
      }
      problems.push_back({f.rel, msg});
      continue;
    }
    std::string up_text = content->substr(range->offset, range->length);
    std::optional<std::string> down_text;
    ManifestFile mf;
    mf.path = f.rel;
    mf.sha256 = base::sha256_hex(*content);
    std::size_t index = 0;
    for (const auto& st : a.statements) {
      ManifestStatement ms;
      ms.index = ++index;
      ms.cls = st.cls;
      ms.hash = st.hash;
      ms.sql = st.display_sql;
      mf.statements.push_back(std::move(ms));
    }
    // The down part, where the layout has one: a separate approval (docs/bundles.md, "Down parts").
    if (auto dp = down_path(m.tool, f.rel)) {
      std::optional<std::string> down_file;
      if (*dp != f.rel && fs::is_regular_file(o.src_dir / *dp, ec)) {
        auto d = base::read_capped(o.src_dir / *dp, kMaxMigrationFileBytes);
        if (!d) {
          problems.push_back({*dp, d.error().reason});
          continue;
        }
        down_file = std::move(*d);
      }
      if (*dp == f.rel || down_file) {
        const std::string& text = down_file ? *down_file : *content;
        auto down = down_part(m.tool, text);
        sql::Analysis da = down ? sql::analyze(*down, sql::Policy{}, sql::Detail::all) : sql::Analysis{};
        if (!down || !da.ok()) {
          problems.push_back({*dp, "the down part does not parse: " + (down ? da.error->message : down.error().reason)});
          continue;
        }
        if (!da.statements.empty()) {
          DownPart part{*dp, base::sha256_hex(text), {}};
          for (const auto& st : da.statements) {
            part.statements.push_back({part.statements.size() + 1, st.cls, st.hash, st.display_sql, {}, {}, {}, {}});
          }
          mf.down = std::move(part);
          down_text = std::move(*down);
          if (down_file) down_files.emplace_back(*dp, std::move(*down_file));
        }
      }
    }
    m.files.push_back(std::move(mf));
    contents.push_back(std::move(*content));
    part_names.push_back(f.rel);
    ups.push_back(std::move(up_text));
    downs.push_back(std::move(down_text));
  }
  // Format 2: each statement's risk tier and rule ids (docs/bundles.md, "Risk tiers"), which
  // verification recomputes; bookkeeping statements (the tool profile's, or a recorded bundle's
  // repeatable.sql, tiered there as a file) carry none.
  if (problems.empty() && o.format == kBundleFormat2) {
    auto tiers = detail::compute_tiers(part_names, ups, downs);
    if (!tiers) {
      problems.push_back({"risk tiers", tiers.error().reason});
    } else {
      auto fill = [&](std::vector<ManifestStatement>& sts, const detail::PartTiers& t, const std::string& where) {
        if (t.tiers.size() != sts.size()) {
          problems.push_back({where, "the risk analysis found " + std::to_string(t.tiers.size()) + " statements, the "
                                     "hash found " + std::to_string(sts.size())});
          return;
        }
        for (std::size_t i = 0; i < sts.size(); ++i) {
          sts[i].tier = t.tiers[i];
          sts[i].rules = t.rules[i];
        }
      };
      for (std::size_t i = 0; i < m.files.size(); ++i) {
        fill(m.files[i].statements, tiers->up[i], m.files[i].path);
        if (m.files[i].down && tiers->down[i]) fill(m.files[i].down->statements, *tiers->down[i], m.files[i].down->path);
      }
      m.analysis = std::string(kTierAnalysis);
    }
  }
  // A recorded source's bookkeeping is what the tool sent again on a second run: the
  // statements of its repeatable.sql, which the bundle carries as a file.
  const std::vector<std::string> bookkeeping = m.tool == MigrationTool::recorded
                                                   ? recorded_bookkeeping_sql(m)
                                                   : bookkeeping_sql(m.tool, m.history, m.tool_profile);
  for (const auto& sql : bookkeeping) {
    sql::Analysis a = sql::analyze(sql, sql::Policy{}, sql::Detail::all);
    if (!a.ok() || a.statements.size() != 1) {
      problems.push_back({"bookkeeping", "cannot hash '" + sql + "'"});  // a bug in the table above
      continue;
    }
    // The tool's own text, not the deparsed form: verification re-hashes exactly this.
    m.bookkeeping.push_back({std::string(to_string(m.tool)), a.statements[0].cls, a.statements[0].hash, sql, std::nullopt});
  }
  if (!problems.empty()) return result;
  if (m.tool == MigrationTool::recorded && o.format == kBundleFormat2) recorded_search_paths(o, m, problems);
  if (!problems.empty()) return result;

  std::string manifest = serialize_manifest(m);
  if (!fs::create_directories(o.out_dir / "files", ec)) {
    problems.push_back({o.out_dir.string(), "cannot create: " + ec.message()});
    return result;
  }
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    fs::path dest = o.out_dir / "files" / m.files[i].path;
    fs::create_directories(dest.parent_path(), ec);
    if (!write_file(dest, contents[i])) problems.push_back({dest.string(), "cannot write"});
  }
  for (const auto& [rel, bytes] : down_files) {
    fs::path dest = o.out_dir / "files" / rel;
    fs::create_directories(dest.parent_path(), ec);
    if (!write_file(dest, bytes)) problems.push_back({dest.string(), "cannot write"});
  }
  if (!write_file(o.out_dir / "manifest.json", manifest)) problems.push_back({(o.out_dir / "manifest.json").string(), "cannot write"});
  return result;
}

}  // namespace ddlgate::bundle
