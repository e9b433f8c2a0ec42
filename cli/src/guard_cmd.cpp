// `ddlgate guard install|status|uninstall|kill-switch`: the in-database guard (docs/guard.md).
// Exit codes: 0 done (status: intact); 1 the server refused the change, or status found the
// guard missing or not intact; 2 usage error or no connection.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "ddlgate/guard/guard.h"

namespace ddlgate::cli {
namespace {

// A connection failure is an operator's error (2); anything the server refused is 1.
int failure(const char* command, const base::Error& error) {
  std::fprintf(stderr, "ddlgate guard %s: %s\n", command, error.to_string().c_str());
  return error.reason.rfind("cannot connect", 0) == 0 ? kExitUsage : kExitCheckFailed;
}

int run_install(const std::string& url, const std::string& mode_text) {
  std::optional<guard::Mode> mode;
  if (!mode_text.empty()) {
    mode = guard::mode_from_string(mode_text);
    if (!mode) {
      std::fprintf(stderr, "ddlgate guard install: --mode: '%s' is not enforce or detect\n", mode_text.c_str());
      return kExitUsage;
    }
  }
  auto report = guard::install(url, mode);
  if (!report) return failure("install", report.error());
  if (report->from_version == 0) {
    std::printf("installed guard version %d, mode %s\n", report->to_version, report->mode.c_str());
  } else {
    std::printf("guard version %d -> %d, mode %s\n", report->from_version, report->to_version, report->mode.c_str());
  }
  return kExitOk;
}

int run_status(const std::string& url, bool json) {
  auto report = guard::status(url);
  if (!report) return failure("status", report.error());
  if (json) {
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& c : report->checks) checks.push_back({{"ok", c.ok}, {"what", c.what}, {"detail", c.detail}});
    nlohmann::json out = {{"installed", report->observed.schema_exists},
                          {"version", report->observed.version ? nlohmann::json(*report->observed.version) : nlohmann::json()},
                          {"mode", report->observed.mode},
                          {"intact", report->intact},
                          {"checks", checks}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    for (const auto& c : report->checks) {
      std::printf("%-4s %s: %s\n", c.ok ? "ok" : "FAIL", c.what.c_str(), c.detail.c_str());
    }
    std::printf("%s\n", report->intact ? "guard intact" : "guard NOT intact");
  }
  if (!report->intact) {
    std::fprintf(stderr, "ddlgate guard status: %s\n",
                 report->observed.schema_exists ? "the guard is not intact (see the FAIL lines)" : "no guard installed");
    return kExitCheckFailed;
  }
  return kExitOk;
}

int run_uninstall(const std::string& url) {
  auto report = guard::uninstall(url);
  if (!report) return failure("uninstall", report.error());
  std::printf("%s; roles %s\n", report->was_installed ? "guard removed" : "no guard was installed",
              report->roles_dropped ? "dropped" : "kept (another database's guard uses them)");
  return kExitOk;
}

int run_kill_switch(const std::string& url, const std::string& reason) {
  auto st = guard::kill_switch(url, reason);
  if (!st) return failure("kill-switch", st.error());
  std::printf("guard mode is now detect (recorded in ddlgate.changes)\n");
  return kExitOk;
}

}  // namespace

void add_guard(CLI::App& app, Runner& runner) {
  auto* g = app.add_subcommand("guard", "the in-database guard: event triggers that refuse or record unconfirmed DDL");
  g->require_subcommand(1);

  auto* inst = g->add_subcommand("install", "install or upgrade the guard in one database (as a superuser)");
  auto inst_url = std::make_shared<std::string>();
  auto inst_mode = std::make_shared<std::string>();
  inst->add_option("--url", *inst_url, "libpq connection string of the database")->required();
  inst->add_option("--mode", *inst_mode, "enforce|detect (default: keep the installed mode; detect when new)");
  inst->callback([&runner, inst_url, inst_mode] { runner = [inst_url, inst_mode] { return run_install(*inst_url, *inst_mode); }; });

  auto* st = g->add_subcommand("status", "what is installed and whether it is intact (exit 1 if not)");
  auto st_url = std::make_shared<std::string>();
  auto st_json = std::make_shared<bool>(false);
  st->add_option("--url", *st_url, "libpq connection string of the database")->required();
  st->add_flag("--json", *st_json, "print the checks as JSON");
  st->callback([&runner, st_url, st_json] { runner = [st_url, st_json] { return run_status(*st_url, *st_json); }; });

  auto* un = g->add_subcommand("uninstall", "remove everything guard install installed in one database");
  auto un_url = std::make_shared<std::string>();
  un->add_option("--url", *un_url, "libpq connection string of the database")->required();
  un->callback([&runner, un_url] { runner = [un_url] { return run_uninstall(*un_url); }; });

  auto* ks = g->add_subcommand("kill-switch", "turn an enforcing guard to detect, recorded with the reason");
  auto ks_url = std::make_shared<std::string>();
  auto ks_reason = std::make_shared<std::string>();
  ks->add_option("--url", *ks_url, "libpq connection string of the database")->required();
  ks->add_option("--reason", *ks_reason, "why (recorded in ddlgate.changes)")->required();
  ks->callback([&runner, ks_url, ks_reason] { runner = [ks_url, ks_reason] { return run_kill_switch(*ks_url, *ks_reason); }; });
}

}  // namespace ddlgate::cli
