// Each subcommand of the ddlgate executable registers itself on the CLI11 app
// and returns the exit code: 0 success, 1 a check failed, 2 usage or configuration error.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace ddlgate::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;
inline constexpr int kExitUsage = 2;

// A subcommand's body, run after parsing; it returns the process exit code.
using Runner = std::function<int()>;

// Adds `check-config` to app; *runner is set when it is the chosen subcommand.
void add_check_config(CLI::App& app, Runner& runner);
// Adds `serve`: the proxy itself.
void add_serve(CLI::App& app, Runner& runner);

// Adds `hash` (class, canonical hash and display SQL of each statement).
void add_hash(CLI::App& app, Runner& runner);

// Adds `keygen` (an Ed25519 key pair for signing bundles).
void add_keygen(CLI::App& app, Runner& runner);
// Adds `bundle build|sign|verify|inspect` (signed migration bundles, docs/bundles.md).
void add_bundle(CLI::App& app, Runner& runner);
// Adds `bundle record` to the bundle subcommand (a recorded source from any tool, record_cmd.cpp).
void add_bundle_record(CLI::App& bundle, Runner& runner);

// Adds `explain` (why a statement is or is not approved under a configuration).
void add_explain(CLI::App& app, Runner& runner);

// Adds `breakglass issue|inspect` (break-glass tokens, docs/breakglass.md).
void add_breakglass(CLI::App& app, Runner& runner);

// Adds `ledger verify|export|tail` to app.
void add_ledger(CLI::App& app, Runner& runner);

// Adds `report` (an HTML page of one or more ledgers for an auditor, docs/ledger.md).
void add_report(CLI::App& app, Runner& runner);
// Adds `evidence export|verify` (evidence packs for auditors, docs/evidence.md).
void add_evidence(CLI::App& app, Runner& runner);

// Adds `drift` (the live schema against the approved bundles, docs/drift.md).
void add_drift(CLI::App& app, Runner& runner);
// Adds `guard install|status|uninstall|kill-switch` (the in-database guard, docs/guard.md).
void add_guard(CLI::App& app, Runner& runner);

// Adds `lint` (the migration linter's built-in rules, docs/lint.md).
void add_lint(CLI::App& app, Runner& runner);

// Adds `witness serve` (a C2SP tlog-witness for another host's ledger).
void add_witness(CLI::App& app, Runner& runner);

}  // namespace ddlgate::cli
