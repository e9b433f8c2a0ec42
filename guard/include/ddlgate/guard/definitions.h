// The in-database guard as data: the SQL that `ddlgate guard install` runs, kept in
// the binary and versioned, and what `guard status` expects to find (docs/guard.md).
// Nothing here talks to a server; guard.h does.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::guard {

// The schema version this binary installs; `ddlgate.guard_version.version`.
inline constexpr int kGuardVersion = 2;
// The schema, the role that owns its tables and functions, and the role whose members
// (ddlgate's control connection) may confirm statements and pull the kill switch.
inline constexpr std::string_view kSchema = "ddlgate";
inline constexpr std::string_view kOwnerRole = "ddlgate_guard";
inline constexpr std::string_view kControlRole = "ddlgate_control";
// The SQLSTATE of a refusal by the guard, and of a confirmation refused to a caller
// that is not the registered control connection.
inline constexpr std::string_view kRefusedSqlstate = "DG001";
inline constexpr std::string_view kNotControlSqlstate = "DG002";

// How the guard treats DDL that ddlgate did not confirm for the backend running it.
enum class Mode { detect, enforce };
std::string_view to_string(Mode mode);
std::optional<Mode> mode_from_string(std::string_view text);

// One function of the guard. Its body is stored by PostgreSQL byte for byte
// (pg_proc.prosrc), so `guard status` compares sha256(prosrc) with sha256(body).
struct FunctionDef {
  std::string name;            // without the schema
  std::string arguments;       // "p_tag pg_catalog.text, ..." as in CREATE FUNCTION
  std::string identity_args;   // pg_get_function_identity_arguments() of it
  std::string returns;         // "pg_catalog.bool"
  std::string language;        // "plpgsql" or "sql"
  bool security_definer = false;
  std::string volatility;      // "VOLATILE", "STABLE", "IMMUTABLE"
  std::string body;
  std::vector<std::string> execute_to;  // roles given EXECUTE ("PUBLIC", kControlRole); none else
  // The proconfig the function must have: {"search_path=pg_catalog, pg_temp"} for
  // SECURITY DEFINER functions, nothing for the trigger functions.
  std::vector<std::string> config() const;
  // CREATE OR REPLACE FUNCTION ... for the install script.
  std::string create_sql() const;
};

// One event trigger of the guard (created ENABLE ALWAYS, owned by the installing superuser).
struct TriggerDef {
  std::string name;      // "ddlgate_guard_ddl_command_start"
  std::string event;     // "ddl_command_start"
  std::string function;  // its function, without the schema
};

// One step of the schema: what takes version - 1 to version (tables, sequences).
struct SchemaStep {
  int version;
  std::string sql;
};

const std::vector<FunctionDef>& functions();
const std::vector<TriggerDef>& triggers();
// The steps in version order, 1..kGuardVersion.
const std::vector<SchemaStep>& schema_steps();

// The statements of an install, in order, to run in one transaction after the
// caller read `installed_version` (0: none) and checked it is not newer than
// kGuardVersion. `mode` empty keeps the installed mode (detect for a new install).
std::vector<std::string> install_statements(int installed_version, std::optional<Mode> mode);
// The statements of an uninstall (one transaction): triggers, then the schema.
std::vector<std::string> uninstall_statements();

}  // namespace ddlgate::guard
