// ddlgate: the composition root. Parses the command line and runs one subcommand.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"ddlgate: a PostgreSQL proxy that lets a schema change through only if it was approved"};
  app.set_version_flag("--version", std::string("ddlgate ") + DDLGATE_VERSION);
  app.require_subcommand(1);

  ddlgate::cli::Runner runner;
  ddlgate::cli::add_serve(app, runner);
  ddlgate::cli::add_check_config(app, runner);
  ddlgate::cli::add_hash(app, runner);
  ddlgate::cli::add_keygen(app, runner);
  ddlgate::cli::add_bundle(app, runner);
  ddlgate::cli::add_explain(app, runner);
  ddlgate::cli::add_breakglass(app, runner);
  ddlgate::cli::add_ledger(app, runner);
  ddlgate::cli::add_witness(app, runner);
  ddlgate::cli::add_drift(app, runner);
  ddlgate::cli::add_report(app, runner);
  ddlgate::cli::add_evidence(app, runner);
  ddlgate::cli::add_guard(app, runner);
  ddlgate::cli::add_lint(app, runner);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    // CLI11 returns 0 for --help/--version; every other parse error is a usage error.
    return code == 0 ? ddlgate::cli::kExitOk : ddlgate::cli::kExitUsage;
  }
  try {
    return runner ? runner() : ddlgate::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddlgate: %s\n", e.what());
    return ddlgate::cli::kExitUsage;
  }
}
