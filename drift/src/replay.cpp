// Choosing the approved bundles and replaying them into the scratch database (docs/drift.md).
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "ddlgate/base/file.h"
#include "ddlgate/base/sha256.h"
#include "ddlgate/drift/drift.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::drift {

namespace fs = std::filesystem;

namespace {

// A pg_dump --schema-only of a large database is a few MB; 256 MiB is far beyond any.
constexpr std::uint64_t kMaxBaselineBytes = 256u * 1024 * 1024;

bool covers(const bundle::Manifest& m, const std::string& database) {
  return m.any_database || std::find(m.databases.begin(), m.databases.end(), database) != m.databases.end();
}

std::string problems_text(const std::vector<base::Problem>& problems) {
  std::string s = problems.empty() ? "refused" : problems.front().to_string();
  if (problems.size() > 1) s += " (and " + std::to_string(problems.size() - 1) + " more problems)";
  return s;
}

}  // namespace

base::Result<Selection> select_bundles(const fs::path& dir, const bundle::TrustAnchors& trust,
                                       const bundle::VerifyOptions& options, const std::string& database) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return base::Error("--bundles: " + dir.string() + ": not a directory");
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory(ec)) dirs.push_back(e.path());
  }
  if (ec) return base::Error("--bundles: " + dir.string() + ": cannot list: " + ec.message());
  std::sort(dirs.begin(), dirs.end());

  Selection out;
  std::map<std::string, bundle::Bundle> highest;  // by app
  for (const auto& d : dirs) {
    // The window is set aside: verified at a moment inside it (as `explain` does), so that an
    // expired bundle still counts for the schema its migrations made. Nothing else is relaxed.
    bundle::VerifyOptions at = options;
    if (auto bytes = base::read_capped(d / "manifest.json", options.max_manifest_bytes)) {
      std::vector<base::Problem> ignored;
      if (auto m = bundle::parse_manifest(*bytes, &ignored)) {
        at.now = std::clamp(options.now, m->not_before, std::max(m->not_before, m->not_after));
      }
    }
    bundle::LoadBundleResult r = bundle::load_bundle(d, trust, at);
    if (!r.ok()) {
      const bool other_environment =
          !r.problems.empty() && std::all_of(r.problems.begin(), r.problems.end(), [](const base::Problem& p) {
            return p.message.rfind("environment is '", 0) == 0;
          });
      if (other_environment) {
        out.skipped.push_back(d.string() + ": " + r.problems.front().message);
        continue;
      }
      return base::Error("bundle " + d.string() + " refused: " + problems_text(r.problems));
    }
    bundle::Bundle& b = *r.bundle;
    auto it = highest.find(b.manifest.app);
    if (it == highest.end()) {
      highest.emplace(b.manifest.app, std::move(b));
      continue;
    }
    bundle::Bundle& kept = it->second;
    if (kept.manifest.version == b.manifest.version && kept.manifest_sha256 != b.manifest_sha256) {
      return base::Error("bundles " + kept.dir.string() + " and " + d.string() + ": version " +
                         std::to_string(b.manifest.version) + " of app '" + b.manifest.app +
                         "' with two different manifests");
    }
    if (b.manifest.version > kept.manifest.version) std::swap(kept, b);
    out.skipped.push_back(b.dir.string() + ": version " + std::to_string(b.manifest.version) + " of app '" +
                          b.manifest.app + "' is below version " + std::to_string(kept.manifest.version));
  }
  for (auto& [app, b] : highest) {
    if (!covers(b.manifest, database)) {
      out.skipped.push_back(b.dir.string() + ": its scope does not cover database '" + database + "'");
      continue;
    }
    out.replay.push_back(std::move(b));
  }
  return out;
}

base::Status apply_baseline(const std::string& scratch_url, const fs::path& file) {
  auto text = base::read_capped(file, kMaxBaselineBytes, base::Links::follow);
  if (!text) return base::Error("--baseline: " + file.string() + ": " + text.error().reason);
  // psql meta-commands are not SQL. \restrict and \unrestrict (pg_dump 15.14 and later) only
  // stop psql from running meta-commands a server could inject: with none run here at all, they
  // are dropped. Any other (\connect from pg_dump --create) is refused rather than sent as text.
  std::string sql;
  sql.reserve(text->size());
  std::size_t line = 1;
  for (std::size_t at = 0; at < text->size(); ++line) {
    std::size_t end = text->find('\n', at);
    end = end == std::string::npos ? text->size() : end + 1;
    const std::string_view l = std::string_view(*text).substr(at, end - at);
    if (l.starts_with("\\restrict ") || l.starts_with("\\unrestrict ")) {
      sql += '\n';
    } else if (l.starts_with("\\")) {
      return base::Error("--baseline: " + file.string() + ": line " + std::to_string(line) +
                         ": a psql meta-command; make the dump with pg_dump --schema-only and without --create");
    } else {
      sql += l;
    }
    at = end;
  }
  // A connection of its own: pg_dump's output sets search_path to '' for the session.
  auto conn = Connection::open(scratch_url, "scratch");
  if (!conn) return conn.error();
  if (auto st = conn->exec(sql); !st) {
    return base::Error("--baseline: " + file.string() + ": failed in the scratch database: " + st.error().reason);
  }
  return base::Ok{};
}

base::Result<std::size_t> replay(Connection& scratch, const std::vector<bundle::Bundle>& bundles) {
  std::size_t ran = 0;
  std::set<std::string> bookkeeping_done;
  for (const bundle::Bundle& b : bundles) {
    const bundle::Manifest& m = b.manifest;
    const std::string where = "app " + m.app + " version " + std::to_string(m.version) + " (" + b.dir.string() + ")";
    // The tool's history table exists before its first migration, as the tool makes it: its
    // table is compared like any other (its rows are not). Each text runs once, whatever the app.
    for (const auto& bk : m.bookkeeping) {
      if (bk.cls != sql::StatementClass::schema_change || !bookkeeping_done.insert(bk.sql).second) continue;
      if (auto st = scratch.exec(bk.sql); !st) {
        return base::Error(where + ": the tool's statement \"" + bk.sql + "\" failed in the scratch database: " +
                           st.error().reason);
      }
      ++ran;
    }
    for (const auto& f : m.files) {
      const fs::path path = b.dir / "files" / f.path;
      auto content = base::read_capped(path, bundle::kMaxMigrationFileBytes);
      if (!content) return base::Error(where + ": files/" + f.path + ": " + content.error().reason);
      // Read again after verification: held to the digest the verified manifest signs.
      if (base::sha256_hex(*content) != f.sha256) {
        return base::Error(where + ": files/" + f.path + ": changed since the bundle was verified");
      }
      auto up = bundle::up_part(m.tool, *content);
      if (!up) return base::Error(where + ": files/" + f.path + ": " + up.error().reason);
      sql::Analysis a = sql::analyze(*up, sql::Policy{}, sql::Detail::hashes);
      if (!a.ok() || a.statements.size() != f.statements.size()) {
        return base::Error(where + ": files/" + f.path + ": its statements are not the ones verified");
      }
      std::vector<std::string_view> texts;
      for (std::size_t i = 0; i < a.statements.size(); ++i) {
        const sql::Statement& st = a.statements[i];
        if (st.hash != f.statements[i].hash) {
          return base::Error(where + ": files/" + f.path + ": statement " + std::to_string(i + 1) +
                             " is not the one verified");
        }
        texts.push_back(std::string_view(*up).substr(st.offset, st.length));
      }
      // The first statement of the file that failed: its SQLSTATE and the message to report.
      struct Failure {
        std::string sqlstate, message;
      };
      auto run = [&](bool in_transaction) -> std::optional<Failure> {
        for (std::size_t i = 0; i < texts.size(); ++i) {
          if (auto r = scratch.exec(texts[i]); !r) {
            Failure failure{scratch.last_sqlstate(), where + ": files/" + f.path + " statement " + std::to_string(i + 1) +
                                                         " failed in the scratch database: " + r.error().reason};
            if (in_transaction) (void)scratch.exec("ROLLBACK");
            return failure;
          }
        }
        return std::nullopt;
      };
      // One transaction per file, as most tools apply a file, and a commit per file instead of
      // per statement (3,000 statements took 24 s one commit each on a cluster with fsync on).
      // A statement that cannot run in a transaction block (SQLSTATE 25001: CREATE INDEX
      // CONCURRENTLY, ...) rolls it back, and the file runs again one statement per Query.
      if (auto begin = scratch.exec("BEGIN"); !begin) return base::Error(where + ": BEGIN: " + begin.error().reason);
      std::optional<Failure> failed = run(true);
      if (!failed) {
        if (auto commit = scratch.exec("COMMIT"); !commit) {
          return base::Error(where + ": files/" + f.path + ": COMMIT failed in the scratch database: " +
                             commit.error().reason);
        }
      } else if (failed->sqlstate == "25001") {
        failed = run(false);
      }
      if (failed) return base::Error(failed->message);
      ran += texts.size();
    }
  }
  return ran;
}

}  // namespace ddlgate::drift
