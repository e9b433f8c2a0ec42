// `ddlgate bundle build|sign|verify|inspect|diff`: signed migration bundles (docs/bundles.md).
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "ddlgate/base/base64.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/config/trust.h"

namespace ddlgate::cli {
namespace {

namespace fs = std::filesystem;

base::TimePoint now_seconds() { return std::chrono::floor<std::chrono::seconds>(base::Clock::now()); }

std::string b64(const base::PublicKey& k) {
  return base::base64_encode(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

struct BuildArgs {
  std::string src, out, app, environment, tool = "auto", valid_for = "30d", not_before;
  std::string history_schema, history_table;
  std::optional<std::string> search_path;
  std::uint64_t version = 0;
  std::vector<std::string> databases;
  bool any_database = false;
  bundle::BundleSource source;
};

int run_build(const BuildArgs& a) {
  bundle::BuildOptions o;
  o.src_dir = a.src;
  o.out_dir = a.out;
  o.app = a.app;
  o.version = a.version;
  o.environment = a.environment;
  o.databases = a.databases;
  o.any_database = a.any_database;
  o.source = a.source;
  o.search_path = a.search_path;
  if (a.tool != "auto") {
    auto t = bundle::tool_from_string(a.tool);
    if (!t) {
      std::fprintf(stderr, "ddlgate bundle build: --tool: unknown tool '%s'\n", a.tool.c_str());
      return kExitUsage;
    }
    o.tool = *t;
  }
  // --history-table SCHEMA.TABLE is short for --history-schema SCHEMA --history-table TABLE.
  o.history.schema = a.history_schema;
  o.history.table = a.history_table;
  if (auto dot = a.history_table.find('.'); dot != std::string::npos) {
    if (!a.history_schema.empty()) {
      std::fprintf(stderr, "ddlgate bundle build: --history-table: '%s' names a schema, and so does --history-schema\n",
                   a.history_table.c_str());
      return kExitUsage;
    }
    o.history.schema = a.history_table.substr(0, dot);
    o.history.table = a.history_table.substr(dot + 1);
    if (o.history.schema.empty() || o.history.table.empty()) {
      std::fprintf(stderr, "ddlgate bundle build: --history-table: '%s' is not SCHEMA.TABLE or TABLE\n",
                   a.history_table.c_str());
      return kExitUsage;
    }
  }
  auto d = base::parse_duration(a.valid_for);
  if (!d || *d <= std::chrono::seconds(0) || *d > std::chrono::hours(24 * 365)) {
    std::fprintf(stderr, "ddlgate bundle build: --valid-for: '%s' is not a duration from 1s to 365d (30d, 12h, 90m)\n",
                 a.valid_for.c_str());
    return kExitUsage;
  }
  o.valid_for = *d;
  if (a.not_before.empty()) {
    o.not_before = now_seconds();
  } else if (auto t = base::parse_time(a.not_before)) {
    o.not_before = *t;
  } else {
    std::fprintf(stderr, "ddlgate bundle build: --not-before: '%s' is not an RFC 3339 UTC time\n", a.not_before.c_str());
    return kExitUsage;
  }
  bundle::BuildResult r = bundle::build_bundle(o);
  if (!r.ok()) {
    bool usage = false;
    for (const auto& p : r.problems) {
      std::fprintf(stderr, "ddlgate bundle build: %s\n", p.to_string().c_str());
      if (p.where.rfind("--", 0) == 0) usage = true;
    }
    return usage ? kExitUsage : kExitCheckFailed;
  }
  std::printf("tool: %s\n", r.tool_choice.c_str());
  {
    const auto defaults = bundle::history_defaults(r.manifest.tool);
    std::string schema = r.manifest.history.schema.empty() ? std::string(defaults.schema) : r.manifest.history.schema;
    std::string table = r.manifest.history.table.empty() ? std::string(defaults.table) : r.manifest.history.table;
    if (!schema.empty() || !table.empty()) {
      std::printf("history table: %s%s%s (%s)\n", schema.c_str(), schema.empty() || table.empty() ? "" : ".",
                  table.empty() ? "(registry schema)" : table.c_str(),
                  r.manifest.history.empty() ? "the tool's default" : "--history-schema/--history-table");
    }
  }
  if (r.manifest.search_path) {
    std::printf("search_path: %s (%s)\n", r.manifest.search_path->c_str(),
                a.search_path                                   ? "--search-path"
                : r.manifest.tool == bundle::MigrationTool::recorded ? "what most recorded statements ran under"
                                                                : "the tool's default");
  }
  std::size_t n = 0;
  for (const auto& f : r.manifest.files) n += f.statements.size();
  std::printf("bundle %s: app %s version %llu for %s, tool %s, %zu files, %zu statements, %zu bookkeeping statements, "
              "valid %s to %s\n",
              a.out.c_str(), r.manifest.app.c_str(), static_cast<unsigned long long>(r.manifest.version),
              r.manifest.environment.c_str(), std::string(bundle::to_string(r.manifest.tool)).c_str(),
              r.manifest.files.size(), n, r.manifest.bookkeeping.size(),
              base::format_time(r.manifest.not_before).c_str(), base::format_time(r.manifest.not_after).c_str());
  return kExitOk;
}

int run_sign(const std::string& bundle, const std::string& key_path, const std::string& role) {
  auto loaded = base::SigningKey::load(key_path, base::KeyFileAccess::owner_only);
  if (!loaded) {
    std::fprintf(stderr, "ddlgate bundle sign: %s\n", loaded.error().reason.c_str());
    return kExitUsage;
  }
  auto& key = *loaded;
  auto path = bundle::sign_bundle(bundle, *key, role);
  if (!path) {
    std::fprintf(stderr, "ddlgate bundle sign: %s\n", path.error().reason.c_str());
    return kExitCheckFailed;
  }
  std::printf("signed by %s as %s: %s\n", base::key_id(key->public_key()).c_str(), role.c_str(), path->c_str());
  return kExitOk;
}

struct VerifyArgs {
  std::string bundle, trust, environment, at;
  std::uint64_t max_manifest_bytes = bundle::kDefaultMaxManifestBytes;
  std::size_t max_signatures = bundle::kDefaultMaxSignatures;
};

int run_verify(const VerifyArgs& a) {
  config::TrustLoadResult tr = config::load_trust_file(a.trust);
  if (!tr.ok()) {
    for (const auto& p : tr.problems) {
      std::fprintf(stderr, "ddlgate bundle verify: %s: %s: %s\n", a.trust.c_str(), p.where.c_str(), p.message.c_str());
    }
    return kExitUsage;
  }
  std::vector<base::Problem> key_problems;
  auto anchors = bundle::TrustAnchors::from_config(tr.policy, &key_problems);
  if (!key_problems.empty()) {
    for (const auto& p : key_problems) {
      std::fprintf(stderr, "ddlgate bundle verify: %s: %s\n", a.trust.c_str(), p.to_string().c_str());
    }
    return kExitUsage;
  }
  bundle::VerifyOptions o;
  o.environment = a.environment;
  o.max_manifest_bytes = a.max_manifest_bytes;
  o.max_signatures = a.max_signatures;
  if (a.at.empty()) {
    o.now = now_seconds();
  } else if (auto t = base::parse_time(a.at)) {
    o.now = *t;
  } else {
    std::fprintf(stderr, "ddlgate bundle verify: --at: '%s' is not an RFC 3339 UTC time\n", a.at.c_str());
    return kExitUsage;
  }
  if (bundle::is_revocation_dir(a.bundle) && !fs::exists(fs::path(a.bundle) / "manifest.json")) {
    bundle::LoadRevocationResult rv = bundle::load_revocation(a.bundle, anchors, o);
    if (!rv.ok()) {
      for (const auto& p : rv.problems) std::fprintf(stderr, "%s: %s\n", a.bundle.c_str(), p.to_string().c_str());
      std::fprintf(stderr, "ddlgate bundle verify: %s: REJECTED (%zu problems)\n", a.bundle.c_str(), rv.problems.size());
      return kExitCheckFailed;
    }
    const auto& what = rv.revocation->revocation;
    std::printf("%s: OK: a revocation of app %s %s for %s, signed by", a.bundle.c_str(), what.app.c_str(),
                (what.what.version != 0 ? "version " + std::to_string(what.what.version)
                                        : "every version below " + std::to_string(what.what.below))
                    .c_str(),
                what.environment.c_str());
    for (const auto& s : rv.revocation->signers) std::printf(" %s(registry)", base::key_id(s.key).c_str());
    std::printf("\n");
    return kExitOk;
  }
  bundle::LoadBundleResult r = bundle::load_bundle(a.bundle, anchors, o);
  if (!r.ok()) {
    for (const auto& p : r.problems) std::fprintf(stderr, "%s: %s\n", a.bundle.c_str(), p.to_string().c_str());
    std::fprintf(stderr, "ddlgate bundle verify: %s: REJECTED (%zu problems)\n", a.bundle.c_str(), r.problems.size());
    return kExitCheckFailed;
  }
  const auto& m = r.bundle->manifest;
  std::printf("%s: OK: app %s version %llu for %s, valid %s to %s, signed by", a.bundle.c_str(), m.app.c_str(),
              static_cast<unsigned long long>(m.version), m.environment.c_str(), base::format_time(m.not_before).c_str(),
              base::format_time(m.not_after).c_str());
  for (const auto& s : r.bundle->signers) {
    std::string roles;
    for (const auto& role : s.roles) roles += (roles.empty() ? "" : ",") + role;
    std::printf(" %s(%s)", base::key_id(s.key).c_str(), roles.c_str());
  }
  std::printf("\n");
  // Risk tiers (docs/bundles.md): a file whose statements lack their tier's signatures is not
  // approved; the rest of the bundle is. The check failed for that file: exit 1.
  std::size_t unapproved = 0;
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    if (i < r.bundle->unapproved_up.size() && !r.bundle->unapproved_up[i].empty()) {
      std::printf("%s: files/%s: NOT APPROVED: %s\n", a.bundle.c_str(), m.files[i].path.c_str(),
                  r.bundle->unapproved_up[i].c_str());
      ++unapproved;
    }
    if (m.files[i].down && i < r.bundle->unapproved_down.size() && !r.bundle->unapproved_down[i].empty()) {
      std::printf("%s: files/%s (down part): NOT APPROVED: %s\n", a.bundle.c_str(), m.files[i].down->path.c_str(),
                  r.bundle->unapproved_down[i].c_str());
      ++unapproved;
    }
  }
  if (unapproved != 0) {
    std::fprintf(stderr, "ddlgate bundle verify: %s: %zu of its parts lack their risk tiers' signatures; the rest is "
                         "approved\n", a.bundle.c_str(), unapproved);
    return kExitCheckFailed;
  }
  return kExitOk;
}

struct RevokeArgs {
  std::string out, app, environment, reason;
  std::uint64_t version = 0, below = 0;
};

// Writes an unsigned revocation (docs/bundles.md, "Revocation"); `bundle sign --role registry` signs it.
int run_revoke(const RevokeArgs& a) {
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "ddlgate bundle revoke: %s\n", what.c_str());
    return kExitUsage;
  };
  if ((a.version == 0) == (a.below == 0)) return fail("give exactly one of --version N and --below N (N > 0)");
  if (a.reason.empty()) return fail("--reason: say why the version is withdrawn");
  std::error_code ec;
  if (fs::exists(a.out, ec)) return fail(a.out + ": already exists; a revocation is never overwritten");
  bundle::RevocationFile rv;
  rv.app = a.app;
  rv.environment = a.environment;
  rv.what.version = a.version;
  rv.what.below = a.below;
  rv.reason = a.reason;
  rv.issued_at = now_seconds();
  const std::string text = bundle::serialize_revocation(rv);
  // What is written must read back: the proxy parses it strictly.
  std::vector<base::Problem> problems;
  if (!bundle::parse_revocation(text, &problems)) return fail(problems.empty() ? "invalid" : problems.front().to_string());
  if (!fs::create_directories(a.out, ec)) return fail(a.out + ": cannot create: " + ec.message());
  FILE* f = std::fopen((fs::path(a.out) / "revocation.json").c_str(), "wx");
  bool ok = f != nullptr && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (f != nullptr) ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::fprintf(stderr, "ddlgate bundle revoke: %s/revocation.json: cannot write\n", a.out.c_str());
    return kExitCheckFailed;
  }
  std::printf("%s/revocation.json: app %s %s; sign it with `ddlgate bundle sign %s --key <registry key> --role "
              "registry`\n",
              a.out.c_str(),
              a.app.c_str(), (a.version ? "version " + std::to_string(a.version) : "below " + std::to_string(a.below)).c_str(),
              a.out.c_str());
  return kExitOk;
}

// The line in its file of statement i of manifest file fi, or 0 when not known.
std::size_t statement_line(const bundle::InspectResult& r, std::size_t fi, std::size_t i) {
  return fi < r.lines.size() && i < r.lines[fi].size() ? r.lines[fi][i] : 0;
}

// A statement on one line for the terminal: control characters shown as spaces.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

// A statement's signed risk tier and the lint rules that flag it (docs/bundles.md, "Risk tiers").
void print_tier(const bundle::ManifestStatement& st) {
  if (st.tier.empty() && st.rules.empty()) return;
  std::string rules;
  for (const auto& r : st.rules) rules += (rules.empty() ? "" : ", ") + r;
  std::printf("       (tier: %s%s%s)\n", st.tier.empty() ? "none" : st.tier.c_str(), rules.empty() ? "" : "; rules: ",
              rules.c_str());
}

int run_inspect(const std::string& bundle, bool json) {
  bundle::InspectResult r = bundle::inspect_bundle(bundle);
  if (!r.manifest) {
    for (const auto& p : r.problems) std::fprintf(stderr, "%s: %s\n", bundle.c_str(), p.to_string().c_str());
    return kExitCheckFailed;
  }
  const auto& m = *r.manifest;
  if (json) {
    nlohmann::ordered_json j;
    j["app"] = m.app;
    j["version"] = m.version;
    j["environment"] = m.environment;
    j["format"] = m.format;
    j["databases"] = m.databases;
    j["any_database"] = m.any_database;
    j["tool_profile"] = m.tool_profile;
    if (!m.history.empty()) j["history"] = {{"schema", m.history.schema}, {"table", m.history.table}};
    j["not_before"] = base::format_time(m.not_before);
    j["not_after"] = base::format_time(m.not_after);
    j["tool"] = std::string(bundle::to_string(m.tool));
    j["search_path"] = m.search_path ? nlohmann::ordered_json(*m.search_path) : nlohmann::ordered_json(nullptr);
    j["analysis"] = m.analysis.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.analysis);
    j["source"] = {{"repository", m.source.repository}, {"commit", m.source.commit},
                   {"pull_request", m.source.pull_request}, {"ci_run", m.source.ci_run}};
    auto files = nlohmann::ordered_json::array();
    for (std::size_t fi = 0; fi < m.files.size(); ++fi) {
      const auto& f = m.files[fi];
      nlohmann::ordered_json classes = nlohmann::ordered_json::object();
      auto approved = nlohmann::ordered_json::array();
      for (std::size_t i = 0; i < f.statements.size(); ++i) {
        const auto& st = f.statements[i];
        std::string c(sql::to_string(st.cls));
        classes[c] = classes.value(c, 0) + 1;
        nlohmann::ordered_json line = nullptr;
        if (const std::size_t at = statement_line(r, fi, i)) line = at;
        nlohmann::ordered_json a = {{"index", st.index}, {"line", line}, {"class", c}, {"hash", st.hash}, {"sql", st.sql}};
        if (st.search_path) a["search_path"] = *st.search_path;
        if (!st.tier.empty()) a["tier"] = st.tier;
        if (!st.risk.empty()) a["risk"] = st.risk;
        if (!st.rules.empty()) a["rules"] = st.rules;
        approved.push_back(std::move(a));
      }
      nlohmann::ordered_json entry = {{"path", f.path}, {"sha256", f.sha256}, {"statements", f.statements.size()},
                                      {"classes", classes}, {"approved", approved}};
      if (f.down) {
        auto down = nlohmann::ordered_json::array();
        for (const auto& st : f.down->statements) {
          nlohmann::ordered_json a = {{"index", st.index}, {"class", std::string(sql::to_string(st.cls))},
                                      {"hash", st.hash}, {"sql", st.sql}};
          if (st.search_path) a["search_path"] = *st.search_path;
          if (!st.tier.empty()) a["tier"] = st.tier;
          if (!st.rules.empty()) a["rules"] = st.rules;
          down.push_back(std::move(a));
        }
        entry["down"] = {{"path", f.down->path}, {"sha256", f.down->sha256}, {"approved", down}};
      }
      files.push_back(std::move(entry));
    }
    j["files"] = files;
    j["bookkeeping"] = m.bookkeeping.size();
    auto bookkeeping = nlohmann::ordered_json::array();
    for (const auto& b : m.bookkeeping) {
      nlohmann::ordered_json e = {
          {"tool", b.tool}, {"class", std::string(sql::to_string(b.cls))}, {"hash", b.hash}, {"sql", b.sql}};
      if (b.search_path) e["search_path"] = *b.search_path;
      bookkeeping.push_back(std::move(e));
    }
    j["bookkeeping_statements"] = bookkeeping;
    auto signers = nlohmann::ordered_json::array();
    for (const auto& s : r.signers) {
      signers.push_back({{"key_id", base::key_id(s.key)}, {"public_key", b64(s.key)}, {"role", s.claimed_role},
                         {"file", s.file}});
    }
    j["signers"] = signers;
    auto problems = nlohmann::ordered_json::array();
    for (const auto& p : r.problems) problems.push_back(p.to_string());
    j["problems"] = problems;
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  std::printf("format:      %s\napp:         %s\nversion:     %llu\nenvironment: %s\n", m.format.c_str(), m.app.c_str(),
              static_cast<unsigned long long>(m.version), m.environment.c_str());
  std::string dbs;
  for (const auto& d : m.databases) dbs += (dbs.empty() ? "" : ", ") + d;
  std::printf("databases:   %s\n", m.any_database ? "(any database of the environment)" : dbs.c_str());
  std::printf("valid:       %s to %s\ntool:        %s (profile %u)\n", base::format_time(m.not_before).c_str(),
              base::format_time(m.not_after).c_str(), std::string(bundle::to_string(m.tool)).c_str(), m.tool_profile);
  if (!m.history.empty()) {
    std::printf("history:     schema %s, table %s\n", m.history.schema.empty() ? "(default)" : m.history.schema.c_str(),
                m.history.table.empty() ? "(default)" : m.history.table.c_str());
  }
  if (m.search_path) {
    std::printf("search_path: %s (statements are reviewed under it unless they say otherwise)\n", m.search_path->c_str());
  } else {
    std::printf("search_path: (none recorded: only schema-qualified statements can be confirmed by the guard)\n");
  }
  std::printf("analysis:    %s\n", m.analysis.empty() ? "(none: the verifier's own analysis tiers the statements)"
                                                       : m.analysis.c_str());
  if (!m.source.empty()) {
    std::printf("source:      %s @ %s, pull request %s, CI run %s\n", m.source.repository.c_str(),
                m.source.commit.c_str(), m.source.pull_request.c_str(), m.source.ci_run.c_str());
  }
  // Every approved statement as the signed manifest states it: what an approver reads
  // is what the proxy approves (bundle verify holds the sql to the file's statement).
  std::printf("files:\n");
  for (std::size_t fi = 0; fi < m.files.size(); ++fi) {
    const auto& f = m.files[fi];
    std::map<std::string, int> classes;
    for (const auto& st : f.statements) ++classes[std::string(sql::to_string(st.cls))];
    std::string cs;
    for (const auto& [c, n] : classes) cs += (cs.empty() ? "" : ", ") + std::to_string(n) + " " + c;
    std::printf("  %s: %zu statements (%s)\n", f.path.c_str(), f.statements.size(), cs.c_str());
    for (std::size_t i = 0; i < f.statements.size(); ++i) {
      const auto& st = f.statements[i];
      const std::size_t line = statement_line(r, fi, i);
      std::printf("    %zu. line %s, %s, %s\n       %s\n", st.index, line ? std::to_string(line).c_str() : "?",
                  std::string(sql::to_string(st.cls)).c_str(), st.hash.c_str(), one_line(st.sql).c_str());
      if (st.search_path) std::printf("       (search_path: %s)\n", one_line(*st.search_path).c_str());
      print_tier(st);
    }
    if (f.down) {
      std::printf("    down (%s): %zu statements (for enforcement.deployers only)\n", f.down->path.c_str(),
                  f.down->statements.size());
      for (const auto& st : f.down->statements) {
        std::printf("    down %zu. %s, %s\n       %s\n", st.index, std::string(sql::to_string(st.cls)).c_str(),
                    st.hash.c_str(), one_line(st.sql).c_str());
        if (st.search_path) std::printf("       (search_path: %s)\n", one_line(*st.search_path).c_str());
        print_tier(st);
      }
    }
  }
  std::printf("bookkeeping: %zu statements (repeatable, the %s profile's own)\n", m.bookkeeping.size(),
              std::string(bundle::to_string(m.tool)).c_str());
  for (const auto& b : m.bookkeeping) {
    std::printf("    %s, %s\n       %s\n", std::string(sql::to_string(b.cls)).c_str(), b.hash.c_str(),
                one_line(b.sql).c_str());
    if (b.search_path) std::printf("       (search_path: %s)\n", one_line(*b.search_path).c_str());
  }
  std::printf("signers:\n");
  for (const auto& s : r.signers) {
    std::printf("  %s (says role %s) %s\n", base::key_id(s.key).c_str(), s.claimed_role.c_str(), s.file.c_str());
  }
  for (const auto& p : r.problems) std::printf("problem: %s\n", p.to_string().c_str());
  return kExitOk;
}

nlohmann::ordered_json statement_json(const bundle::StatementAt& st) {
  nlohmann::ordered_json line = nullptr;
  if (st.line != 0) line = st.line;
  nlohmann::ordered_json j = {{"file", st.file},   {"index", st.index}, {"line", line},
                              {"class", std::string(sql::to_string(st.cls))}, {"hash", st.hash}, {"sql", st.sql}};
  j["search_path"] = st.search_path ? nlohmann::ordered_json(*st.search_path) : nlohmann::ordered_json(nullptr);
  if (st.down) j["part"] = "down";
  return j;
}

std::string place(const bundle::StatementAt& st) {
  return st.file + (st.down ? " down statement " : " statement ") + std::to_string(st.index) + " (line " +
         (st.line ? std::to_string(st.line) : "?") + ")";
}

// Both bundles are read as `bundle inspect` reads them: no trust decision, but a
// signature, file or manifest problem of either is printed (and the diff still shown).
int run_diff(const std::string& old_dir, const std::string& new_dir, bool json) {
  bundle::InspectResult o = bundle::inspect_bundle(old_dir);
  bundle::InspectResult n = bundle::inspect_bundle(new_dir);
  bool unreadable = false;
  for (const auto& [dir, r] : {std::pair{&old_dir, &o}, std::pair{&new_dir, &n}}) {
    for (const auto& p : r->problems) std::fprintf(stderr, "%s: %s\n", dir->c_str(), p.to_string().c_str());
    if (!r->manifest) unreadable = true;
  }
  if (unreadable) return kExitCheckFailed;
  bundle::ManifestDiff d = bundle::diff_manifests(*o.manifest, o.lines, *n.manifest, n.lines);
  if (json) {
    nlohmann::ordered_json j;
    j["old"] = {{"app", o.manifest->app}, {"version", o.manifest->version}};
    j["new"] = {{"app", n.manifest->app}, {"version", n.manifest->version}};
    j["header"] = d.header;
    auto list = [](const std::vector<bundle::StatementAt>& v) {
      auto a = nlohmann::ordered_json::array();
      for (const auto& st : v) a.push_back(statement_json(st));
      return a;
    };
    j["added"] = list(d.added);
    j["removed"] = list(d.removed);
    auto changed = nlohmann::ordered_json::array();
    for (const auto& [a, b] : d.changed) changed.push_back({{"old", statement_json(a)}, {"new", statement_json(b)}});
    j["changed"] = changed;
    j["bookkeeping_added"] = d.bookkeeping_added;
    j["bookkeeping_removed"] = d.bookkeeping_removed;
    j["problems"] = o.problems.size() + n.problems.size();
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
  }
  std::printf("%s (%s version %llu) -> %s (%s version %llu)\n", old_dir.c_str(), o.manifest->app.c_str(),
              static_cast<unsigned long long>(o.manifest->version), new_dir.c_str(), n.manifest->app.c_str(),
              static_cast<unsigned long long>(n.manifest->version));
  for (const auto& h : d.header) std::printf("  %s\n", h.c_str());
  for (const auto& st : d.added) {
    std::printf("+ %s, %s, %s\n    %s\n", place(st).c_str(), std::string(sql::to_string(st.cls)).c_str(),
                st.hash.c_str(), one_line(st.sql).c_str());
  }
  for (const auto& st : d.removed) {
    std::printf("- %s, %s, %s\n    %s\n", place(st).c_str(), std::string(sql::to_string(st.cls)).c_str(),
                st.hash.c_str(), one_line(st.sql).c_str());
  }
  for (const auto& [a, b] : d.changed) {
    std::printf("~ %s: %s %s -> %s %s\n  - %s\n  + %s\n", place(b).c_str(), std::string(sql::to_string(a.cls)).c_str(),
                a.hash.c_str(), std::string(sql::to_string(b.cls)).c_str(), b.hash.c_str(), one_line(a.sql).c_str(),
                one_line(b.sql).c_str());
    if (a.search_path != b.search_path) {
      std::printf("  search_path %s -> %s\n", a.search_path ? one_line(*a.search_path).c_str() : "(none)",
                  b.search_path ? one_line(*b.search_path).c_str() : "(none)");
    }
  }
  for (const auto& b : d.bookkeeping_added) std::printf("+ bookkeeping: %s\n", one_line(b).c_str());
  for (const auto& b : d.bookkeeping_removed) std::printf("- bookkeeping: %s\n", one_line(b).c_str());
  std::printf("%zu added, %zu removed, %zu changed, bookkeeping %zu added and %zu removed\n", d.added.size(),
              d.removed.size(), d.changed.size(), d.bookkeeping_added.size(), d.bookkeeping_removed.size());
  return kExitOk;
}

}  // namespace

void add_bundle(CLI::App& app, Runner& runner) {
  auto* bundle = app.add_subcommand("bundle", "build, sign, verify and inspect signed migration bundles");
  bundle->require_subcommand(1);

  auto* build = bundle->add_subcommand("build", "turn a migration directory into an unsigned bundle");
  auto b = std::make_shared<BuildArgs>();
  build->add_option("src_dir", b->src, "the migration directory")->required();
  build->add_option("--out", b->out, "the bundle directory to create")->required();
  build->add_option("--app", b->app, "application name")->required();
  build->add_option("--version", b->version, "bundle version; only ever increases")->required();
  build->add_option("--environment", b->environment, "environment the bundle is for")->required();
  build->add_option("--database", b->databases, "a database it is for (repeatable); this or --any-database");
  build->add_flag("--any-database", b->any_database, "it is for every database of the environment");
  build->add_option("--tool", b->tool,
                    "auto|plain|atlas|golang-migrate|goose|flyway|dbmate|sqitch|liquibase|sql-migrate|node-pg-migrate|"
                    "prisma|alembic|django|rails|knex|sequelize|typeorm|recorded (auto refuses when several fit)");
  build->add_option("--history-schema", b->history_schema,
                    "schema of the tool's history table (sqitch: its registry), when not the tool's default");
  build->add_option("--history-table", b->history_table,
                    "[SCHEMA.]TABLE: the tool's history table, when not the tool's default");
  build->add_option_function<std::string>(
      "--search-path", [b](const std::string& v) { b->search_path = v; },
      "the search_path the statements are reviewed under (default: the tool's, mostly '\"$user\", "
      "public'; a recording: what the tool ran under)");
  build->add_option("--valid-for", b->valid_for, "validity (default 30d, at most 365d)");
  build->add_option("--not-before", b->not_before, "start of validity, RFC 3339 UTC (default now)");
  build->add_option("--repository", b->source.repository, "source repository");
  build->add_option("--commit", b->source.commit, "source commit");
  build->add_option("--pull-request", b->source.pull_request, "pull request");
  build->add_option("--ci-run", b->source.ci_run, "CI run URL");
  build->callback([&runner, b] { runner = [b] { return run_build(*b); }; });

  add_bundle_record(*bundle, runner);

  auto* sign = bundle->add_subcommand("sign", "add a detached Ed25519 signature over the manifest");
  auto s_bundle = std::make_shared<std::string>();
  auto s_key = std::make_shared<std::string>();
  auto s_role = std::make_shared<std::string>("approver");
  sign->add_option("bundle", *s_bundle, "the bundle directory")->required();
  sign->add_option("--key", *s_key, "PKCS#8 PEM private key (ddlgate keygen)")->required();
  sign->add_option("--role", *s_role, "registry|approver (default approver; signed in a format-2 bundle)")
      ->check(CLI::IsMember({"registry", "approver"}));
  sign->callback([&runner, s_bundle, s_key, s_role] {
    runner = [s_bundle, s_key, s_role] { return run_sign(*s_bundle, *s_key, *s_role); };
  });

  auto* verify = bundle->add_subcommand("verify", "check a bundle against a trust policy");
  auto v = std::make_shared<VerifyArgs>();
  verify->add_option("bundle", v->bundle, "the bundle directory")->required();
  verify->add_option("--trust", v->trust, "trust policy TOML file")->required();
  verify->add_option("--environment", v->environment, "the environment it must be for");
  verify->add_option("--at", v->at, "check validity at this RFC 3339 UTC time (default now)");
  verify->add_option("--max-manifest-bytes", v->max_manifest_bytes, "cap on manifest.json (default 16 MiB)");
  verify->add_option("--max-signatures", v->max_signatures, "cap on signature files (default 32)");
  verify->callback([&runner, v] { runner = [v] { return run_verify(*v); }; });

  auto* revoke = bundle->add_subcommand("revoke", "write a revocation of a version (or of every version below one) "
                                                  "to sign with --role registry");
  auto r = std::make_shared<RevokeArgs>();
  revoke->add_option("--out", r->out, "the revocation directory to create (publish it into the registry)")->required();
  revoke->add_option("--app", r->app, "application name")->required();
  revoke->add_option("--environment", r->environment, "environment it is for")->required();
  revoke->add_option("--version", r->version, "the one version it withdraws");
  revoke->add_option("--below", r->below, "withdraw every version below this one");
  revoke->add_option("--reason", r->reason, "why (recorded in the ledger)")->required();
  revoke->callback([&runner, r] { runner = [r] { return run_revoke(*r); }; });

  auto* inspect = bundle->add_subcommand("inspect", "summarise a bundle (no trust decision)");
  auto i_bundle = std::make_shared<std::string>();
  auto i_json = std::make_shared<bool>(false);
  inspect->add_option("bundle", *i_bundle, "the bundle directory")->required();
  inspect->add_flag("--json", *i_json, "print JSON");
  inspect->callback([&runner, i_bundle, i_json] { runner = [i_bundle, i_json] { return run_inspect(*i_bundle, *i_json); }; });

  auto* diff = bundle->add_subcommand("diff", "what a new bundle version adds, removes and changes (no trust decision)");
  auto d_old = std::make_shared<std::string>();
  auto d_new = std::make_shared<std::string>();
  auto d_json = std::make_shared<bool>(false);
  diff->add_option("old", *d_old, "the bundle in force (directory)")->required();
  diff->add_option("new", *d_new, "the new bundle (directory)")->required();
  diff->add_flag("--json", *d_json, "print JSON");
  diff->callback([&runner, d_old, d_new, d_json] {
    runner = [d_old, d_new, d_json] { return run_diff(*d_old, *d_new, *d_json); };
  });
}

}  // namespace ddlgate::cli
