// `ddlgate explain SQL|HASH --config FILE [--database DB]` (issue 26 item 8): for each statement,
// whether the bundles in force under the configuration approve it and, if not, why: approved for
// another database or environment, expired, spent, not in force, a near miss (naming the nearest
// approved statement) or unknown. The reasoning is engine::explain; this gathers its inputs the
// way `serve` does (registry, trust policy, environment, ledger).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "commands.h"
#include "ddlgate/base/time.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/bundle/registry.h"
#include "ddlgate/config/config.h"
#include "ddlgate/engine/decide.h"
#include "ddlgate/engine/explain.h"
#include "ddlgate/engine/spent.h"
#include "ddlgate/ledger/verify.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::cli {
namespace {

namespace fs = std::filesystem;

struct ExplainArgs {
  std::string input;
  std::string config;
  std::string database;
};

bool is_hash(std::string_view s) {
  constexpr std::string_view kPrefix = "sha256:";
  if (s.size() != kPrefix.size() + 64 || !s.starts_with(kPrefix)) return false;
  return std::all_of(s.begin() + kPrefix.size(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Every statement of every bundle in the registry that verifies against the trust policy when its
// environment and validity window are set aside, with the standing the configuration gives it.
// history: what the ledger says earlier processes accepted and revoked (as `serve` starts with).
// search_paths: for each statement returned, at the same place, the search_path it was reviewed
// under (bundle::statement_search_path; nullopt for a bundle without one).
std::vector<engine::KnownStatement> known_statements(const config::Bundles& b, const bundle::TrustAnchors& trust,
                                                     base::TimePoint now, const bundle::ApprovedSet& history,
                                                     std::vector<std::optional<std::string>>& search_paths) {
  using Standing = engine::KnownStatement::Standing;
  const bundle::VerifyOptions options = bundle::VerifyOptions::from_config(b, now);
  // What `serve` would put in force now, starting from the ledger's history as its first load does.
  const bundle::RegistryLoad load = bundle::Registry::load(b.registry_dir, trust, options, &history);
  // Which revocation withdrew what, for the reason explain gives.
  auto revoked_by = [&](const std::string& app, std::uint64_t version) -> std::string {
    for (const auto& r : load.revocations) {
      if (r.app == app && (r.version == version || version < r.below)) {
        return "by " + r.path.string() + (r.reason.empty() ? "" : " (" + r.reason + ")");
      }
    }
    return "by a revocation the ledger records";
  };
  std::map<fs::path, std::string> rejected;
  for (const auto& r : load.rejected) {
    std::string why;
    for (const auto& p : r.reasons) why += (why.empty() ? "" : "; ") + p.to_string();
    rejected[r.path] = why;
  }
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(b.registry_dir, ec)) {
    if (e.is_directory(ec)) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  std::vector<engine::KnownStatement> out;
  for (const auto& dir : dirs) {
    bundle::InspectResult seen = bundle::inspect_bundle(dir, b.max_manifest_bytes);
    if (!seen.manifest) continue;
    const bundle::Manifest& m = *seen.manifest;
    // Verified at a time inside its window and for any environment: signatures, thresholds,
    // files and every statement still count. A bundle that fails those approves nothing anywhere.
    bundle::VerifyOptions relaxed = options;
    relaxed.environment.clear();
    relaxed.now = std::clamp(now, m.not_before, std::max(m.not_before, m.not_after));
    bundle::LoadBundleResult verified = bundle::load_bundle(dir, trust, relaxed);
    if (!verified.ok()) continue;
    const bundle::Bundle& bundle = *verified.bundle;
    Standing standing = Standing::in_force;
    std::string why;
    auto app = load.snapshot->apps().find(m.app);
    if (!b.environment.empty() && m.environment != b.environment) {
      standing = Standing::other_environment;
    } else if (app != load.snapshot->apps().end() && app->second.is_revoked(m.version)) {
      standing = Standing::revoked;
      why = revoked_by(m.app, m.version);
    } else if (now - options.clock_skew > m.not_after) {
      standing = Standing::expired;
    } else if (now + options.clock_skew < m.not_before) {
      standing = Standing::not_yet_valid;
    } else if (app == load.snapshot->apps().end() || app->second.version != m.version ||
               app->second.manifest_sha256 != bundle.manifest_sha256) {
      standing = Standing::not_in_force;
      auto r = rejected.find(dir);
      why = r != rejected.end() ? "refused: " + r->second
            : app != load.snapshot->apps().end() && app->second.version != 0
                ? "version " + std::to_string(app->second.version) + " of " + m.app + " is in force"
                : "it is not in force";
    }
    // A file without its risk tiers' signatures approves nothing (docs/bundles.md, "Risk tiers").
    auto add = [&](engine::KnownStatement k, std::optional<std::string> search_path, const std::string& unapproved = {}) {
      search_paths.push_back(std::move(search_path));
      k.app = m.app;
      k.version = m.version;
      k.any_database = m.any_database;
      k.databases = m.databases;
      k.environment = m.environment;
      k.not_before = base::format_time(m.not_before);
      k.not_after = base::format_time(m.not_after);
      k.standing = standing;
      k.not_in_force_why = why;
      if (standing == Standing::in_force && !unapproved.empty()) {
        k.standing = Standing::not_in_force;
        k.not_in_force_why = unapproved;
      }
      out.push_back(std::move(k));
    };
    for (std::size_t f = 0; f < m.files.size(); ++f) {
      const auto& file = m.files[f];
      for (std::size_t s = 0; s < file.statements.size(); ++s) {
        const auto& st = file.statements[s];
        engine::KnownStatement k;
        k.hash = st.hash;
        k.sql = st.sql;
        k.cls = std::string(sql::to_string(st.cls));
        k.file = file.path;
        k.index = st.index;
        if (f < seen.lines.size() && s < seen.lines[f].size()) k.line = seen.lines[f][s];
        add(std::move(k), bundle::statement_search_path(m, st),
            f < bundle.unapproved_up.size() && !bundle.unapproved_up[f].empty()
                ? file.path + " is not approved: " + bundle.unapproved_up[f] : std::string());
      }
      if (!file.down) continue;
      for (const auto& st : file.down->statements) {
        engine::KnownStatement k;
        k.hash = st.hash;
        k.sql = st.sql;
        k.cls = std::string(sql::to_string(st.cls));
        k.file = file.down->path;
        k.index = st.index;
        k.down = true;
        add(std::move(k), bundle::statement_search_path(m, st),
            f < bundle.unapproved_down.size() && !bundle.unapproved_down[f].empty()
                ? file.down->path + " (down part) is not approved: " + bundle.unapproved_down[f] : std::string());
      }
    }
    for (const auto& bk : m.bookkeeping) {
      engine::KnownStatement k;
      k.hash = bk.hash;
      k.sql = bk.sql;
      k.cls = std::string(sql::to_string(bk.cls));
      k.repeatable = true;
      add(std::move(k), bundle::statement_search_path(m, bk));
    }
  }
  return out;
}

int run_explain(const ExplainArgs& a) {
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "ddlgate explain: %s\n", what.c_str());
    return kExitUsage;
  };
  config::LoadResult loaded = config::load_file(a.config);
  // explain does not listen or connect: as with `serve --listen/--upstream`, those keys may be absent.
  std::erase_if(loaded.problems, [](const config::Problem& p) { return p.where == "listen" || p.where == "upstream"; });
  if (!loaded.ok()) {
    for (const auto& p : loaded.problems) std::fprintf(stderr, "%s: %s: %s\n", a.config.c_str(), p.where.c_str(), p.message.c_str());
    return kExitUsage;
  }
  const config::Config& cfg = loaded.config;
  if (!cfg.bundles.enabled) return fail(a.config + ": no [bundles] section: nothing is ever approved");
  std::vector<base::Problem> key_problems;
  bundle::TrustAnchors trust = bundle::TrustAnchors::from_config(cfg.bundles.trust, &key_problems);
  if (!key_problems.empty()) {
    for (const auto& p : key_problems) std::fprintf(stderr, "%s: bundles.trust: %s\n", a.config.c_str(), p.to_string().c_str());
    return kExitUsage;
  }

  // The statements: a hash as given, or SQL analyzed as the proxy does.
  struct Asked {
    std::string hash, display_sql, cls;
    bool controlled = true;
  };
  std::vector<Asked> asked;
  if (is_hash(a.input)) {
    asked.push_back({a.input, "", "", true});
  } else {
    sql::Analysis analysis = sql::analyze(a.input, sql::Policy{}, sql::Detail::all);
    if (!analysis.ok()) {
      // Never approvable (fail closed). The parser's message may quote the text: it is the user's own.
      std::printf("unparseable: %s: never approved\n", analysis.error->message.c_str());
      return kExitCheckFailed;
    }
    if (analysis.statements.empty()) return fail("no statement in the SQL text");
    for (const auto& st : analysis.statements) {
      asked.push_back({st.hash, st.display_sql, std::string(sql::to_string(st.cls)), st.controlled});
    }
  }

  const base::TimePoint now = std::chrono::floor<std::chrono::seconds>(base::Clock::now());

  // The ledger, read as `serve` reads it: the approvals it shows spent (enforcement.
  // spend_approvals_once), and the bundles accepted and revoked before.
  std::unordered_set<std::string> spent;
  std::vector<bundle::AcceptedBefore> accepted;
  std::vector<bundle::RevokedBefore> revoked;
  const bool spending = cfg.enforcement.spend_approvals_once;
  if (cfg.ledger.enabled && fs::is_directory(cfg.ledger.directory)) {
    engine::SpentHistory history;
    std::uint64_t next = 0;
    auto number = [](const nlohmann::json& f, const char* name) -> std::uint64_t {
      auto it = f.find(name);
      if (it == f.end() || !it->is_string()) return 0;
      const std::string& t = it->get_ref<const std::string&>();
      std::uint64_t v = 0;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      return ec == std::errc{} && end == t.data() + t.size() ? v : 0;
    };
    auto st = ledger::read_records(cfg.ledger.directory, 0, [&](const ledger::ParsedRecord& r) {
      if (spending && (r.type == ledger::RecordType::decision || r.type == ledger::RecordType::outcome)) history.read(r);
      if (!r.fields.is_object()) return;
      const std::string app = r.fields.value("bundle", std::string());
      if (r.type == ledger::RecordType::bundle_accepted && !app.empty() && number(r.fields, "version") != 0) {
        accepted.push_back({app, number(r.fields, "version"), r.fields.value("manifest_sha256", std::string())});
      } else if (r.type == ledger::RecordType::bundle_revoked && !app.empty()) {
        revoked.push_back({app, number(r.fields, "version"), number(r.fields, "below"),
                           r.fields.value("revocation_sha256", std::string())});
      }
    }, &next);
    if (!st) {
      std::fprintf(stderr, "ddlgate explain: %s: %s\n", cfg.ledger.directory.c_str(), st.error().to_string().c_str());
      return kExitCheckFailed;
    }
    spent = history.take();
  }
  std::vector<std::optional<std::string>> search_paths;
  std::vector<engine::KnownStatement> known =
      known_statements(cfg.bundles, trust, now, *bundle::ApprovedSet::with_history(accepted, revoked), search_paths);
  engine::SpentCheck is_spent = [&](const engine::KnownStatement& k, std::string_view database) {
    return spending &&
           spent.count(engine::approval_key(database, k.app, std::to_string(k.version), k.file, k.index, k.down)) != 0;
  };

  if (a.database.empty()) {
    std::printf("(no --database: an approval for any database counts, and spent approvals are not looked for)\n");
  }
  bool all_approved = true;
  for (std::size_t i = 0; i < asked.size(); ++i) {
    const Asked& s = asked[i];
    std::string head = "statement " + std::to_string(i + 1);
    if (!s.cls.empty()) head += " (" + s.cls + ")";
    head += " " + s.hash;
    if (!s.display_sql.empty()) head += " \"" + engine::statement_excerpt(s.display_sql) + "\"";
    if (!s.controlled) {
      std::printf("%s\n  not controlled: ddlgate lets it through without an approval\n", head.c_str());
      continue;
    }
    engine::Explanation e = engine::explain(s.hash, s.display_sql, known, a.database, is_spent);
    if (e.verdict != engine::Verdict::approved) all_approved = false;
    std::printf("%s\n  %s: %s\n", head.c_str(), std::string(engine::to_string(e.verdict)).c_str(), e.reason.c_str());
    // The search_path the named approval was reviewed under: the guard confirms the statement
    // only under it, unless every name in it is schema-qualified (docs/bundles.md, "search_path").
    if (e.nearest != nullptr && e.verdict != engine::Verdict::near_miss) {
      const auto at = static_cast<std::size_t>(e.nearest - known.data());
      if (at < search_paths.size()) {
        if (search_paths[at]) std::printf("  reviewed under search_path: %s\n", search_paths[at]->c_str());
        else std::printf("  reviewed under search_path: (none recorded; the bundle predates the field)\n");
      }
    }
  }
  return all_approved ? kExitOk : kExitCheckFailed;
}

}  // namespace

void add_explain(CLI::App& app, Runner& runner) {
  auto a = std::make_shared<ExplainArgs>();
  auto* cmd = app.add_subcommand(
      "explain", "say whether the bundles in force approve each statement of SQL (or a hash), and if not, why");
  cmd->add_option("statement", a->input, "SQL text, or a statement hash (sha256:<64 hex>)")->required();
  cmd->add_option("--config,-c", a->config, "the configuration `serve` runs with (its registry, trust, environment, ledger)")
      ->required();
  cmd->add_option("--database,-d", a->database, "the database it would run in (default: any)");
  cmd->callback([&runner, a] { runner = [a] { return run_explain(*a); }; });
}

}  // namespace ddlgate::cli
