// What makes a read, write or SET statement the class server_admin: the functions
// that read or write server files, run SQL text or change server state, the
// settings only a superuser may change (or that load code), and the system schemas
// whose relations no statement may write unapproved (docs/classification.md).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ddlgate::sql {

// Where a listed function matches a qualified call.
enum class FunctionScope : unsigned char {
  core,       // a pg_catalog function: unqualified or pg_catalog-qualified calls match
  extension,  // an extension's function (dblink, adminpack, tablefunc): any schema matches
};

// One row of the table of controlled functions.
struct ControlledFunction {
  std::string_view name;  // lower case, as pg_proc.proname
  FunctionScope scope;
  int only_with_args;     // -1: any call; n: only calls with exactly n arguments (ts_rewrite)
  std::string_view why;
};

// The controlled functions, sorted by name (one row per name).
std::span<const ControlledFunction> controlled_functions();

// The row for a function name in any case, or nullptr.
const ControlledFunction* find_controlled_function(std::string_view name);

// One setting whose SET, RESET or set_config() is server_admin.
struct DangerousSetting {
  std::string_view name;  // lower case, as pg_settings.name
  std::string_view why;
};

// The dangerous settings, sorted by name.
std::span<const DangerousSetting> dangerous_settings();

// Whether a setting name (any case) is in dangerous_settings().
bool is_dangerous_setting(std::string_view name);

// Whether a relation named so (schema empty when unqualified) is a system relation
// for the purpose of writes: pg_catalog, pg_toast*, information_schema, and an
// unqualified name starting with pg_ (pg_catalog is searched first unless
// search_path says otherwise; ddlgate does not know search_path, so it assumes so).
bool is_system_relation(std::string_view schema, std::string_view relname);

// A function that a FunctionCall message (the protocol's "fast path") may call in an
// enforcing session. A FunctionCall names its function by OID, with no SQL text to
// classify, so only these built-in ones go on: the large-object functions that libpq
// and pgjdbc call that way. Their OIDs are fixed in PostgreSQL 15's pg_proc.dat (a
// test checks them against a real server).
struct FastPathFunction {
  std::uint32_t oid;
  std::string_view name;  // pg_catalog.<name>
};

// The functions a FunctionCall may call, sorted by OID.
std::span<const FastPathFunction> fast_path_functions();

// The row for an OID, or nullptr: a FunctionCall of any other function is refused.
const FastPathFunction* find_fast_path_function(std::uint32_t oid);

}  // namespace ddlgate::sql
