// Migration lint: reads SQL files with PostgreSQL 15's grammar (libpg_query) and
// reports, per statement, the lock it takes, its risk tier and the findings of the
// built-in rules (docs/lint.md). A library: it returns values and prints nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::lint {

enum class Severity : std::uint8_t { info, warning, error };
std::string_view severity_name(Severity s);

// PostgreSQL's table lock modes, weakest first (the numbering of lockdefs.h, none = 0).
enum class LockMode : std::uint8_t {
  none = 0,
  access_share = 1,
  row_share = 2,
  row_exclusive = 3,
  share_update_exclusive = 4,
  share = 5,
  share_row_exclusive = 6,
  exclusive = 7,
  access_exclusive = 8,
};
// "AccessExclusiveLock", as pg_locks.mode spells it ("" for none).
std::string_view lock_mode_name(LockMode m);
// Whether a lock in mode m makes plain SELECTs (AccessShareLock) wait.
inline bool blocks_reads(LockMode m) { return m == LockMode::access_exclusive; }
// Whether a lock in mode m makes INSERT/UPDATE/DELETE (RowExclusiveLock) wait.
inline bool blocks_writes(LockMode m) { return m >= LockMode::share; }

// One built-in rule: its stable ID, short name, default severity, what it flags and
// the safer form. The anchor in docs/lint.md is the lower-cased ID.
struct Rule {
  std::string_view id;    // "DG-L001"
  std::string_view name;  // "drop-table"
  Severity severity;
  std::string_view category;  // destructive | compatibility | locking | data | transactions | security | syntax
  std::string_view summary;   // one line: what the rule flags
  std::string_view safer;     // one line: what to do instead
};
// Every built-in rule, in ID order.
const std::vector<Rule>& rules();
// The rule with that ID, or nullptr.
const Rule* find_rule(std::string_view id);
// "docs/lint.md#dg-l001"
std::string docs_link(std::string_view id);

// A lock a statement takes on a relation named in it.
struct RelationLock {
  std::string relation;  // as written, schema-qualified if it was ("public.t", "t")
  LockMode mode = LockMode::none;
  bool existing = true;  // not created earlier in the same input
};

// One finding of one rule on one statement.
struct Finding {
  std::string rule_id;
  Severity severity = Severity::warning;
  std::string message;  // one line, names the object
};

// One statement of one file with what the analysis says about it.
struct StatementReport {
  std::size_t file_index = 0;  // into the inputs given to lint()
  std::size_t offset = 0;      // bytes: the statement's first token (after comments)
  std::size_t length = 0;
  std::size_t line = 1;    // 1-based, of offset
  std::size_t column = 1;  // 1-based, in characters
  std::string text;        // the statement's source text (trimmed)
  std::vector<RelationLock> locks;
  // The strongest lock on an existing table, and whether it blocks reads or writes.
  LockMode strongest = LockMode::none;
  // additive | blocking | destructive | privilege | data (the bundle's risk tiers).
  std::string tier = "additive";
  std::vector<Finding> findings;
};

// One input file: a name to report (relative path) and its text.
struct SourceFile {
  std::string name;
  std::string text;
};

// A name pattern for one kind of object (table, column, index, constraint, view,
// sequence, schema, function, type): DG-P002 reports a new name that does not match.
struct NamingRule {
  std::string kind;
  std::string pattern;  // as written, for messages
  std::regex re;
};

// Waives findings: of every rule, or of `rules`, for the files whose reported name
// matches file_glob (fnmatch) and/or the statements with this canonical hash
// (`ddlgate hash`). Both set: both must match.
struct Exemption {
  std::string file_glob;
  std::string statement_hash;  // "sha256:<hex>"
  std::vector<std::string> rules;
};

// Custom rules and overrides (docs/lint.md, "Policy file"). Custom findings and
// exemptions never lower a statement's tier: tiers come from the built-in rules.
struct Policy {
  bool require_primary_key = false;          // DG-P001
  bool require_not_null_or_default = false;  // DG-P003
  bool foreign_key_index = false;            // DG-P004
  std::vector<std::string> forbidden_types;  // DG-P005, PostgreSQL's names: int4, varchar, timestamp, ...
  std::vector<NamingRule> naming;            // DG-P002
  std::map<std::string, std::optional<Severity>> severity;  // per rule; nullopt: off
  std::vector<Exemption> exemptions;
};

struct Options {
  // Custom rules, severity overrides and exemptions; none when null.
  const Policy* policy = nullptr;
  // The files run inside one transaction block (a migration tool's default):
  // CONCURRENTLY there fails.
  bool assume_in_transaction = false;
};

// The whole input's statements in order (files in the order given), or per file a
// parse error (then reported as a DG-L000 finding at the error's position, with
// no statements for that file).
struct Report {
  std::vector<StatementReport> statements;
  std::size_t errors = 0, warnings = 0, infos = 0;
  std::size_t exempted = 0;  // findings a policy exemption or an "off" severity removed
};

// Lints files as one migration: a table is "existing" unless an earlier statement
// of the input (this file or an earlier one) created it.
Report lint(const std::vector<SourceFile>& files, const Options& options = {});

}  // namespace ddlgate::lint
