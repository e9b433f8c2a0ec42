// What `ddlgate guard status` found in a database, and the judgement of it against
// what this binary installs (definitions.h). Pure: guard.h reads the catalogs.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ddlgate::guard {

// One event trigger as pg_event_trigger has it.
struct ObservedTrigger {
  std::string name;
  std::string event;
  char enabled = 'D';        // evtenabled: O origin, D disabled, R replica, A always
  std::string owner;
  bool owner_is_superuser = false;
  std::string function;      // "schema.name" of evtfoid
};

// One function of the ddlgate schema as pg_proc has it.
struct ObservedFunction {
  std::string name;
  std::string identity_args;   // pg_get_function_identity_arguments
  std::string body_sha256;     // hex sha256 of prosrc
  bool security_definer = false;
  std::vector<std::string> config;  // proconfig entries
  std::string owner;
};

// Everything status reads.
struct Observed {
  bool schema_exists = false;
  std::string schema_owner;
  std::optional<int> version;         // ddlgate.guard_version
  std::string mode;
  std::string trigger_owner;          // the superuser who installed the triggers
  std::vector<ObservedTrigger> triggers;    // every trigger named ddlgate% or calling a ddlgate function
  std::vector<ObservedFunction> functions;  // every function in the schema
  std::vector<std::string> writable_by_others;  // "changes: INSERT to app" for grants beyond the owner
  bool owner_reads_stats = false;  // ddlgate_guard is a member of pg_read_all_stats (it reads backend_start)
};

// One line of the status report.
struct Check {
  bool ok = false;
  std::string what;    // "trigger ddlgate_guard_sql_drop"
  std::string detail;  // "enabled A, owner postgres (superuser)" or what is wrong
};

// Each check of an installed guard; an absent guard is one failed check.
std::vector<Check> evaluate(const Observed& observed);
// True when every check passed.
bool intact(const std::vector<Check>& checks);

}  // namespace ddlgate::guard
