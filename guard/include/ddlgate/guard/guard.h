// `ddlgate guard install|status|uninstall|kill-switch` against one database, over libpq
// (docs/guard.md). Each call opens its own connection and closes it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ddlgate/base/result.h"
#include "ddlgate/guard/definitions.h"
#include "ddlgate/guard/status.h"

namespace ddlgate::guard {

// What an install did.
struct InstallReport {
  int from_version = 0;  // 0: nothing was installed
  int to_version = 0;
  std::string mode;
};

// Installs or upgrades the guard in the database `conninfo` names, in one transaction,
// as a superuser. `mode` empty keeps the installed mode (detect for a new install).
base::Result<InstallReport> install(const std::string& conninfo, std::optional<Mode> mode);

// What is installed and each check of it (status.h).
struct StatusReport {
  Observed observed;
  std::vector<Check> checks;
  bool intact = false;
};
base::Result<StatusReport> status(const std::string& conninfo);

// What an uninstall did.
struct UninstallReport {
  bool was_installed = false;
  bool roles_dropped = false;  // false when another database's guard still uses them
};
// Removes the triggers and the schema (one transaction), then the two roles when no
// other database uses them.
base::Result<UninstallReport> uninstall(const std::string& conninfo);

// Turns enforce into detect and records who and why in ddlgate.changes (as a superuser
// or a member of ddlgate_control).
base::Status kill_switch(const std::string& conninfo, const std::string& reason);

}  // namespace ddlgate::guard
