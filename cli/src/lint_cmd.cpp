// `ddlgate lint DIR|BUNDLE [--policy FILE] [--format text|json|sarif|github]
// [--source-root DIR] [--assume-in-transaction]`: the built-in rules of the lint module (docs/lint.md)
// over a directory of migration files (name order) or a bundle (its manifest's
// order). Exit 0 clean (warnings allowed), 1 any error-severity finding, 2 usage or
// I/O error (one line on stderr).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "commands.h"
#include "ddlgate/base/file.h"
#include "ddlgate/base/sha256.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/lint/lint.h"
#include "ddlgate/sql/analyze.h"
#include "lint_policy.h"

namespace ddlgate::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct LintCmdOptions {
  std::string path;
  std::string format = "text";
  std::string source_root;
  std::string policy;
  bool assume_in_transaction = false;
};

// The most files and bytes one run reads (each file is also capped at the parser's limit).
constexpr std::size_t kMaxFiles = 100000;
constexpr std::uint64_t kMaxTotalBytes = 512ull * 1024 * 1024;

struct Input {
  std::vector<lint::SourceFile> files;
  std::vector<std::string> display;  // file names relative to --source-root, '/'-separated
};

int fail(const std::string& message) {
  std::fprintf(stderr, "ddlgate lint: %s\n", message.c_str());
  return kExitUsage;
}

// Only the tool's "up" part is linted; every other byte becomes a space (newlines kept),
// so that lines and columns stay those of the file.
std::string up_part_in_place(bundle::MigrationTool tool, const std::string& content) {
  auto up = bundle::up_part(tool, content);
  if (!up.ok() || up->size() == content.size()) return content;
  std::size_t at = content.find(*up);
  if (at == std::string::npos) return content;
  std::string out = content;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if ((i < at || i >= at + up->size()) && out[i] != '\n') out[i] = ' ';
  }
  return out;
}

std::string relative_name(const fs::path& file, const fs::path& root) {
  std::error_code ec;
  fs::path abs = fs::weakly_canonical(file, ec);
  if (ec) abs = fs::absolute(file);
  fs::path rel = abs.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return abs.generic_string();
  return rel.generic_string();
}

// Reads the files to lint: a bundle's (manifest.json present) or a directory's *.sql.
int read_input(const LintCmdOptions& opt, Input* in) {
  fs::path dir(opt.path);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return fail(opt.path + ": not a directory");
  fs::path root = opt.source_root.empty() ? fs::current_path(ec) : fs::path(opt.source_root);
  if (!fs::is_directory(root, ec)) return fail("--source-root " + root.string() + ": not a directory");
  root = fs::weakly_canonical(root, ec);
  std::vector<fs::path> paths;
  bundle::MigrationTool tool = bundle::MigrationTool::plain;
  if (fs::exists(dir / "manifest.json", ec)) {
    auto bytes = base::read_capped(dir / "manifest.json", bundle::kDefaultMaxManifestBytes);
    if (!bytes.ok()) return fail((dir / "manifest.json").string() + ": " + bytes.error().reason);
    std::vector<bundle::Problem> problems;
    auto manifest = bundle::parse_manifest(*bytes, &problems);
    if (!manifest) {
      return fail((dir / "manifest.json").string() + ": " +
                  (problems.empty() ? std::string("not a bundle manifest") : problems.front().to_string()));
    }
    tool = manifest->tool;
    for (const auto& f : manifest->files) {
      fs::path rel(f.path);
      if (rel.is_absolute() || f.path.find("..") != std::string::npos) return fail(f.path + ": path leaves the bundle");
      paths.push_back(dir / "files" / rel);
    }
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (!entry.is_regular_file()) continue;
      std::string name = entry.path().filename().string();
      if (name.size() < 4 || name.compare(name.size() - 4, 4, ".sql") != 0) continue;
      if (name.size() > 9 && name.compare(name.size() - 9, 9, ".down.sql") == 0) continue;  // golang-migrate down
      paths.push_back(entry.path());
      if (paths.size() > kMaxFiles) return fail(opt.path + ": more than " + std::to_string(kMaxFiles) + " files");
    }
    if (ec) return fail(opt.path + ": " + ec.message());
    std::sort(paths.begin(), paths.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
    tool = bundle::detect_tool(dir);
  }
  std::uint64_t total = 0;
  for (const fs::path& p : paths) {
    auto text = base::read_capped(p, sql::kMaxAnalyzedBytes);
    if (!text.ok()) return fail(p.string() + ": " + text.error().reason);
    total += text->size();
    if (total > kMaxTotalBytes)
      return fail(opt.path + ": more than " + std::to_string(kMaxTotalBytes) + " bytes of SQL");
    std::string name = relative_name(p, root);
    in->files.push_back({name, up_part_in_place(tool, *text)});
    in->display.push_back(name);
  }
  return kExitOk;
}

std::string first_lines(const std::string& text, std::size_t max_lines) {
  std::string out;
  std::size_t lines = 0, pos = 0;
  while (pos < text.size() && lines < max_lines) {
    std::size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    out += "    " + line + "\n";
    ++lines;
    if (eol == std::string::npos) return out;
    pos = eol + 1;
  }
  if (pos < text.size()) out += "    ...\n";
  return out;
}

// Stable across moves of the statement in its file: the rule and the statement's
// text with runs of whitespace folded.
std::string fingerprint(const std::string& rule, const std::string& text) {
  std::string folded = rule + "\n";
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && folded.back() != '\n') folded += ' ';
    space = false;
    folded += c;
  }
  return base::sha256_hex(folded);
}

std::string sarif_level(lint::Severity s) {
  switch (s) {
    case lint::Severity::error:
      return "error";
    case lint::Severity::warning:
      return "warning";
    case lint::Severity::info:
      return "note";
  }
  return "error";
}

json statement_json(const lint::StatementReport& s, const Input& in) {
  json locks = json::array();
  for (const auto& l : s.locks) {
    locks.push_back(
        {{"relation", l.relation}, {"mode", std::string(lint::lock_mode_name(l.mode))}, {"existing", l.existing}});
  }
  json findings = json::array();
  for (const auto& f : s.findings) {
    const lint::Rule* r = lint::find_rule(f.rule_id);
    findings.push_back({{"rule", f.rule_id},
                        {"name", r != nullptr ? std::string(r->name) : std::string()},
                        {"severity", std::string(lint::severity_name(f.severity))},
                        {"message", f.message},
                        {"safer", r != nullptr ? std::string(r->safer) : std::string()},
                        {"docs", lint::docs_link(f.rule_id)}});
  }
  return {{"file", in.display[s.file_index]},
          {"line", s.line},
          {"column", s.column},
          {"tier", s.tier},
          {"lock", std::string(lint::lock_mode_name(s.strongest))},
          {"blocks_reads", lint::blocks_reads(s.strongest)},
          {"blocks_writes", lint::blocks_writes(s.strongest)},
          {"locks", locks},
          {"findings", findings},
          {"sql", s.text}};
}

void print_json(const lint::Report& report, const Input& in) {
  json statements = json::array();
  for (const auto& s : report.statements) statements.push_back(statement_json(s, in));
  json out = {{"tool", "ddlgate lint"},
              {"version", DDLGATE_VERSION},
              {"files", in.display},
              {"statements", statements},
              {"summary",
               {{"statements", report.statements.size()},
                {"errors", report.errors},
                {"warnings", report.warnings},
                {"infos", report.infos},
                {"waived", report.exempted}}}};
  std::printf("%s\n", out.dump(2).c_str());
}

void print_sarif(const lint::Report& report, const Input& in, const fs::path& root) {
  json rules = json::array();
  std::map<std::string, std::size_t> index;
  for (const lint::Rule& r : lint::rules()) {
    index[std::string(r.id)] = rules.size();
    rules.push_back(
        {{"id", r.id},
         {"name", r.name},
         {"shortDescription", {{"text", r.summary}}},
         {"fullDescription", {{"text", std::string(r.summary) + ". Safer: " + std::string(r.safer)}}},
         {"help",
          {{"text", std::string(r.safer) + " (" + lint::docs_link(r.id) + ")"},
           {"markdown", std::string(r.safer) + " ([" + std::string(r.id) + "](" + lint::docs_link(r.id) + "))"}}},
         {"defaultConfiguration", {{"level", sarif_level(r.severity)}}},
         {"properties", {{"category", r.category}}}});
  }
  json results = json::array();
  for (const auto& s : report.statements) {
    for (const auto& f : s.findings) {
      json region = {{"startLine", s.line}, {"startColumn", s.column}, {"snippet", {{"text", s.text}}}};
      json result = {
          {"ruleId", f.rule_id},
          {"level", sarif_level(f.severity)},
          {"message", {{"text", f.message}}},
          {"locations",
           json::array({{{"physicalLocation",
                          {{"artifactLocation", {{"uri", in.display[s.file_index]}, {"uriBaseId", "SRCROOT"}}},
                           {"region", region}}}}})},
          {"partialFingerprints", {{"ddlgateStatement/v1", fingerprint(f.rule_id, s.text)}}},
          {"properties", {{"tier", s.tier}, {"lock", std::string(lint::lock_mode_name(s.strongest))}}}};
      if (auto it = index.find(f.rule_id); it != index.end()) result["ruleIndex"] = it->second;
      results.push_back(result);
    }
  }
  std::string root_uri = "file://" + root.generic_string();
  if (root_uri.back() != '/') root_uri += '/';
  json out = {
      {"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
      {"version", "2.1.0"},
      {"runs",
       json::array({{{"tool", {{"driver", {{"name", "ddlgate lint"}, {"version", DDLGATE_VERSION}, {"rules", rules}}}}},
                     {"originalUriBaseIds", {{"SRCROOT", {{"uri", root_uri}}}}},
                     {"results", results}}})}};
  std::printf("%s\n", out.dump(2).c_str());
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

void print_github(const lint::Report& report, const Input& in) {
  std::size_t with_findings = 0;
  for (const auto& s : report.statements) with_findings += s.findings.empty() ? 0 : 1;
  std::printf("### ddlgate lint: %zu error%s, %zu warning%s, %zu note%s\n\n", report.errors,
              report.errors == 1 ? "" : "s", report.warnings, report.warnings == 1 ? "" : "s", report.infos,
              report.infos == 1 ? "" : "s");
  std::printf("%zu statements in %zu files; %zu with findings.\n\n", report.statements.size(), in.files.size(),
              with_findings);
  if (with_findings == 0) {
    std::printf("No findings.\n");
    return;
  }
  std::printf("| Severity | Rule | Location | Tier | Lock | Finding |\n|---|---|---|---|---|---|\n");
  for (const auto& s : report.statements) {
    for (const auto& f : s.findings) {
      const lint::Rule* r = lint::find_rule(f.rule_id);
      std::string sev(lint::severity_name(f.severity));
      std::string rule = "[" + f.rule_id + "](" + lint::docs_link(f.rule_id) + ")" +
                         (r != nullptr ? " " + std::string(r->name) : std::string());
      std::printf("| %s | %s | `%s:%zu` | %s | %s | %s |\n", sev.c_str(), rule.c_str(),
                  md_cell(in.display[s.file_index]).c_str(), s.line, s.tier.c_str(),
                  std::string(lint::lock_mode_name(s.strongest)).c_str(), md_cell(f.message).c_str());
    }
  }
  std::printf("\n<details><summary>Statements and safer forms</summary>\n\n");
  for (const auto& s : report.statements) {
    if (s.findings.empty()) continue;
    std::printf("**`%s:%zu`**\n\n```sql\n%s\n```\n\n", md_cell(in.display[s.file_index]).c_str(), s.line,
                s.text.c_str());
    for (const auto& f : s.findings) {
      const lint::Rule* r = lint::find_rule(f.rule_id);
      if (r != nullptr) std::printf("- %s: %s\n", f.rule_id.c_str(), std::string(r->safer).c_str());
    }
    std::printf("\n");
  }
  std::printf("</details>\n");
}

void print_text(const lint::Report& report, const Input& in) {
  for (const auto& s : report.statements) {
    if (s.findings.empty()) continue;
    for (const auto& f : s.findings) {
      std::printf("%s:%zu:%zu: %s %s: %s\n", in.display[s.file_index].c_str(), s.line, s.column, f.rule_id.c_str(),
                  std::string(lint::severity_name(f.severity)).c_str(), f.message.c_str());
    }
    std::printf("%s", first_lines(s.text, 6).c_str());
  }
  std::printf("%zu statements in %zu files: %zu errors, %zu warnings, %zu notes", report.statements.size(),
              in.files.size(), report.errors, report.warnings, report.infos);
  if (report.exempted > 0) std::printf(" (%zu waived by the policy)", report.exempted);
  std::printf("\n");
}

int run_lint(const LintCmdOptions& opt) {
  Input in;
  if (int rc = read_input(opt, &in); rc != kExitOk) return rc;
  lint::Options options;
  options.assume_in_transaction = opt.assume_in_transaction;
  PolicyLoad policy;
  if (!opt.policy.empty()) {
    policy = load_lint_policy(opt.policy);
    if (!policy.problems.empty()) {
      std::string more = policy.problems.size() > 1
                             ? " (and " + std::to_string(policy.problems.size() - 1) + " more problems)"
                             : std::string();
      return fail("--policy " + opt.policy + ": " + policy.problems.front().to_string() + more);
    }
    options.policy = &policy.policy;
  }
  lint::Report report = lint::lint(in.files, options);
  std::error_code ec;
  fs::path root = opt.source_root.empty() ? fs::current_path(ec) : fs::weakly_canonical(opt.source_root, ec);
  if (opt.format == "json") {
    print_json(report, in);
  } else if (opt.format == "sarif") {
    print_sarif(report, in, root);
  } else if (opt.format == "github") {
    print_github(report, in);
  } else {
    print_text(report, in);
  }
  return report.errors > 0 ? kExitCheckFailed : kExitOk;
}

}  // namespace

void add_lint(CLI::App& app, Runner& runner) {
  auto* cmd = app.add_subcommand("lint", "check migration files against the built-in rules (docs/lint.md)");
  auto opt = std::make_shared<LintCmdOptions>();
  cmd->add_option("path", opt->path, "a directory of .sql files (name order) or a bundle directory")->required();
  cmd->add_option("--format", opt->format, "text (default), json, sarif or github")
      ->check(CLI::IsMember({"text", "json", "sarif", "github"}));
  cmd->add_option("--policy", opt->policy, "custom rules, severities and exemptions (TOML, docs/lint.md)");
  cmd->add_option("--source-root", opt->source_root,
                  "report file paths relative to this directory (default: the current one)");
  cmd->add_flag("--assume-in-transaction", opt->assume_in_transaction,
                "each file runs inside a transaction block (as most migration tools run them)");
  cmd->callback([&runner, opt] { runner = [opt] { return run_lint(*opt); }; });
}

}  // namespace ddlgate::cli
