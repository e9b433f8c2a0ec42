// `bundle build`: migration directory layouts, their "up" parts, tool bookkeeping
// statements, and writing a bundle directory.
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <openssl/evp.h>

#include "ddlgate/base/base64.h"
#include "ddlgate/base/file.h"
#include "ddlgate/base/sha256.h"
#include "internal.h"
#include "ddlgate/sql/analyze.h"
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

struct Range {
  std::size_t offset = 0;
  std::size_t length = 0;
};

std::optional<Range> up_range(MigrationTool tool, std::string_view content, std::string* why) {
  switch (tool) {
    case MigrationTool::plain:
    case MigrationTool::atlas:
    case MigrationTool::golang_migrate:  // the .up.sql file is all up
    case MigrationTool::flyway:
    case MigrationTool::sqitch:          // deploy/<change>.sql
    case MigrationTool::recorded:        // recorded.sql, repeatable.sql
      return Range{0, content.size()};
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

const std::map<MigrationTool, std::vector<std::string>>& bookkeeping_table() {
  // Statements exactly as each tool's PostgreSQL driver sends them, for its default
  // history table in the default schema (public). Sources in docs/bundles.md.
  static const std::map<MigrationTool, std::vector<std::string>> kTable = {
      {MigrationTool::dbmate,
       {
           // amacneil/dbmate pkg/driver/postgres/postgres.go; the table's definition as
           // dbmate 2.x sends it was observed with log_statement = 'all' (npm dbmate
           // 2.36.0: "version varchar primary key"); earlier releases used varchar(255).
           "select current_schema()",
           "select quote_ident(unnest($1::text[]))",
           "select true from pg_database where datname = $1",
           "SELECT 1 FROM information_schema.tables WHERE  table_schema = $1 AND    table_name   = $2",
           "create table if not exists public.schema_migrations (version varchar primary key)",
           "create table if not exists public.schema_migrations (version varchar(255) primary key)",
           "create schema if not exists public",
           "select version from public.schema_migrations order by version desc",
           "select version from public.schema_migrations order by version desc limit 1",
           "insert into public.schema_migrations (version) values ($1)",
           "delete from public.schema_migrations where version = $1",
       }},
      {MigrationTool::golang_migrate,
       {
           // golang-migrate/migrate database/postgres/postgres.go
           "SELECT pg_advisory_lock($1)",
           "SELECT pg_advisory_unlock($1)",
           "SELECT COUNT(1) FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2 LIMIT 1",
           "CREATE TABLE IF NOT EXISTS \"public\".\"schema_migrations\" (version bigint not null primary key, dirty boolean not null)",
           "SELECT version, dirty FROM \"public\".\"schema_migrations\" LIMIT 1",
           "TRUNCATE \"public\".\"schema_migrations\"",
           "INSERT INTO \"public\".\"schema_migrations\" (version, dirty) VALUES ($1, $2)",
       }},
      {MigrationTool::goose,
       {
           // pressly/goose internal/dialect/dialectquery/postgres.go
           "CREATE TABLE goose_db_version (\n\t\tid integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,\n\t\t"
           "version_id bigint NOT NULL,\n\t\tis_applied boolean NOT NULL,\n\t\ttstamp timestamp NOT NULL DEFAULT now()\n\t)",
           "INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, $2)",
           "DELETE FROM goose_db_version WHERE version_id=$1",
           "SELECT tstamp, is_applied FROM goose_db_version WHERE version_id=$1 ORDER BY tstamp DESC LIMIT 1",
           "SELECT version_id, is_applied from goose_db_version ORDER BY id DESC",
           "SELECT max(version_id) FROM goose_db_version",
           "SELECT EXISTS ( SELECT 1 FROM pg_tables WHERE (current_schema() IS NULL OR schemaname = current_schema()) "
           "AND tablename = 'goose_db_version' )",
       }},
  };
  return kTable;
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

std::vector<std::string> bookkeeping_sql(MigrationTool tool) {
  const auto& t = bookkeeping_table();
  auto it = t.find(tool);
  return it == t.end() ? std::vector<std::string>{} : it->second;
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
  bool goose = false, dbmate = false;
  for (const auto& n : names) {
    auto content = base::read_capped(dir / n, kMaxMigrationFileBytes);
    if (!content) continue;
    for (const Line& l : split_lines(*content)) {
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
  m.format = std::string(o.format);
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

  // The files in the order the tool applies them.
  std::vector<SourceFile> order;
  auto names = sql_files(o.src_dir);
  switch (m.tool) {
    case MigrationTool::plain:
      for (auto& n : names) order.push_back({n});
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
    m.files.push_back(std::move(mf));
    contents.push_back(std::move(*content));
  }
  // A recorded source's bookkeeping is what the tool sent again on a second run: the
  // statements of its repeatable.sql, which the bundle carries as a file.
  const std::vector<std::string> bookkeeping =
      m.tool == MigrationTool::recorded ? recorded_bookkeeping_sql(m) : bookkeeping_sql(m.tool);
  for (const auto& sql : bookkeeping) {
    sql::Analysis a = sql::analyze(sql, sql::Policy{}, sql::Detail::all);
    if (!a.ok() || a.statements.size() != 1) {
      problems.push_back({"bookkeeping", "cannot hash '" + sql + "'"});  // a bug in the table above
      continue;
    }
    // The tool's own text, not the deparsed form: verification re-hashes exactly this.
    m.bookkeeping.push_back({std::string(to_string(m.tool)), a.statements[0].cls, a.statements[0].hash, sql});
  }
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
  if (!write_file(o.out_dir / "manifest.json", manifest)) problems.push_back({(o.out_dir / "manifest.json").string(), "cannot write"});
  return result;
}

}  // namespace ddlgate::bundle
