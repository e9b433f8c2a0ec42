// The tables behind server_admin (docs/classification.md lists them with the same
// reasons). A read or a write in PostgreSQL can still change the server: a
// superuser's UPDATE pg_authid, lo_export() over postgresql.auto.conf followed by
// pg_reload_conf(), SET session_replication_role = replica. These tables name what
// ddlgate then treats as controlled. The settings table is checked against a real
// PostgreSQL 15 by tests/integration/server_admin_test.cpp.
#include "ddlgate/sql/server_admin.h"

#include <algorithm>
#include <array>
#include <cstddef>

namespace ddlgate::sql {
namespace {

// clang-format off
constexpr ControlledFunction kFunctions[] = {
    {"connectby", FunctionScope::extension, -1, "tablefunc: runs a query built from its text arguments (unquoted)"},
    {"crosstab", FunctionScope::extension, -1, "tablefunc: runs its SQL text argument"},
    {"crosstab2", FunctionScope::extension, -1, "tablefunc: runs its SQL text argument"},
    {"crosstab3", FunctionScope::extension, -1, "tablefunc: runs its SQL text argument"},
    {"crosstab4", FunctionScope::extension, -1, "tablefunc: runs its SQL text argument"},
    {"dblink", FunctionScope::extension, -1, "dblink: runs SQL text on a connection (which can be this server, past the proxy)"},
    {"dblink_connect", FunctionScope::extension, -1, "dblink: opens a connection that later calls use, possibly to this server"},
    {"dblink_connect_u", FunctionScope::extension, -1, "dblink: opens a connection without password checks"},
    {"dblink_exec", FunctionScope::extension, -1, "dblink: runs SQL text on a connection"},
    {"dblink_open", FunctionScope::extension, -1, "dblink: opens a cursor over SQL text on a connection"},
    {"dblink_send_query", FunctionScope::extension, -1, "dblink: sends SQL text on a connection"},
    {"lo_export", FunctionScope::core, -1, "server-side: writes a large object to any server file (postgresql.auto.conf, then pg_reload_conf)"},
    {"lo_import", FunctionScope::core, -1, "server-side: reads a server file into a large object"},
    {"pg_backup_start", FunctionScope::core, -1, "starts an online backup"},
    {"pg_backup_stop", FunctionScope::core, -1, "ends an online backup"},
    {"pg_copy_logical_replication_slot", FunctionScope::core, -1, "creates a logical replication slot"},
    {"pg_copy_physical_replication_slot", FunctionScope::core, -1, "creates a replication slot"},
    {"pg_create_logical_replication_slot", FunctionScope::core, -1, "creates a logical replication slot (retains WAL and catalog rows)"},
    {"pg_create_physical_replication_slot", FunctionScope::core, -1, "creates a replication slot (retains WAL, can fill the disk)"},
    {"pg_create_restore_point", FunctionScope::core, -1, "writes a named restore point into WAL"},
    {"pg_drop_replication_slot", FunctionScope::core, -1, "drops a replication slot (breaks a replica or a change-data consumer)"},
    {"pg_file_rename", FunctionScope::extension, -1, "adminpack: renames a server file"},
    {"pg_file_sync", FunctionScope::extension, -1, "adminpack: fsyncs a server file or directory"},
    {"pg_file_unlink", FunctionScope::extension, -1, "adminpack: deletes a server file"},
    {"pg_file_write", FunctionScope::extension, -1, "adminpack: writes a server file"},
    {"pg_import_system_collations", FunctionScope::core, -1, "creates collations in a schema (a schema change by function)"},
    {"pg_logdir_ls", FunctionScope::extension, -1, "adminpack: lists the log directory"},
    {"pg_logical_emit_message", FunctionScope::core, -1, "writes a message into WAL for logical decoding consumers"},
    {"pg_logical_slot_get_binary_changes", FunctionScope::core, -1, "consumes a slot's changes"},
    {"pg_logical_slot_get_changes", FunctionScope::core, -1, "consumes a slot's changes (its consumer loses them) and reads every decoded row change"},
    {"pg_logical_slot_peek_binary_changes", FunctionScope::core, -1, "reads every row change of the database, past table privileges"},
    {"pg_logical_slot_peek_changes", FunctionScope::core, -1, "reads every row change of the database, past table privileges"},
    {"pg_ls_archive_statusdir", FunctionScope::core, -1, "lists the WAL archive status directory"},
    {"pg_ls_dir", FunctionScope::core, -1, "lists any server directory"},
    {"pg_ls_logdir", FunctionScope::core, -1, "lists the server's log directory"},
    {"pg_ls_logicalmapdir", FunctionScope::core, -1, "lists the logical decoding mapping directory"},
    {"pg_ls_logicalsnapdir", FunctionScope::core, -1, "lists the logical decoding snapshot directory"},
    {"pg_ls_replslotdir", FunctionScope::core, -1, "lists a replication slot's directory"},
    {"pg_ls_tmpdir", FunctionScope::core, -1, "lists a tablespace's temporary directory"},
    {"pg_ls_waldir", FunctionScope::core, -1, "lists the WAL directory"},
    {"pg_promote", FunctionScope::core, -1, "promotes a standby to primary"},
    {"pg_read_binary_file", FunctionScope::core, -1, "reads any server file (superuser or pg_read_server_files)"},
    {"pg_read_file", FunctionScope::core, -1, "reads any server file (superuser or pg_read_server_files)"},
    {"pg_reload_conf", FunctionScope::core, -1, "makes the server re-read its configuration files (the second half of a lo_export attack)"},
    {"pg_replication_origin_advance", FunctionScope::core, -1, "sets a replication origin's progress"},
    {"pg_replication_origin_create", FunctionScope::core, -1, "creates a replication origin"},
    {"pg_replication_origin_drop", FunctionScope::core, -1, "drops a replication origin"},
    {"pg_replication_origin_session_reset", FunctionScope::core, -1, "undoes pg_replication_origin_session_setup"},
    {"pg_replication_origin_session_setup", FunctionScope::core, -1, "marks this session's changes as replicated (consumers may skip them)"},
    {"pg_replication_origin_xact_reset", FunctionScope::core, -1, "undoes pg_replication_origin_xact_setup"},
    {"pg_replication_origin_xact_setup", FunctionScope::core, -1, "sets the origin position of this transaction"},
    {"pg_replication_slot_advance", FunctionScope::core, -1, "moves a slot forward (changes are lost to its consumer)"},
    {"pg_rotate_logfile", FunctionScope::core, -1, "switches the server's log file"},
    {"pg_start_backup", FunctionScope::core, -1, "the name of pg_backup_start before PostgreSQL 15"},
    {"pg_stat_file", FunctionScope::core, -1, "reads metadata of any server file"},
    {"pg_stat_reset", FunctionScope::core, -1, "erases the database's statistics (monitoring loses its history)"},
    {"pg_stat_reset_replication_slot", FunctionScope::core, -1, "erases replication slot statistics"},
    {"pg_stat_reset_shared", FunctionScope::core, -1, "erases cluster-wide statistics"},
    {"pg_stat_reset_single_function_counters", FunctionScope::core, -1, "erases a function's statistics"},
    {"pg_stat_reset_single_table_counters", FunctionScope::core, -1, "erases a table's statistics"},
    {"pg_stat_reset_slru", FunctionScope::core, -1, "erases SLRU statistics"},
    {"pg_stat_reset_subscription_stats", FunctionScope::core, -1, "erases subscription statistics"},
    {"pg_stop_backup", FunctionScope::core, -1, "the name of pg_backup_stop before PostgreSQL 15"},
    {"pg_switch_wal", FunctionScope::core, -1, "forces a WAL segment switch"},
    {"pg_wal_replay_pause", FunctionScope::core, -1, "pauses recovery on a standby"},
    {"pg_wal_replay_resume", FunctionScope::core, -1, "resumes recovery on a standby"},
    {"query_to_xml", FunctionScope::core, -1, "runs its SQL text argument (the text is never seen by ddlgate)"},
    {"query_to_xml_and_xmlschema", FunctionScope::core, -1, "runs its SQL text argument"},
    {"query_to_xmlschema", FunctionScope::core, -1, "runs its SQL text argument"},
    {"set_config", FunctionScope::core, -1, "SET by function: server_admin when the setting is dangerous or not a string constant"},
    {"ts_rewrite", FunctionScope::core, 2, "the two-argument form runs its SQL text argument"},
    {"ts_stat", FunctionScope::core, -1, "runs its SQL text argument"},
};

// Every setting of context superuser or superuser-backend in PostgreSQL 15 (the
// differential test reads pg_settings), the settings that load code whatever their
// context, and the superuser developer options of debug builds.
constexpr DangerousSetting kSettings[] = {
    {"allow_in_place_tablespaces", "context superuser or superuser-backend in PostgreSQL 15"},
    {"allow_system_table_mods", "context superuser or superuser-backend in PostgreSQL 15"},
    {"backtrace_functions", "context superuser or superuser-backend in PostgreSQL 15"},
    {"commit_delay", "context superuser or superuser-backend in PostgreSQL 15"},
    {"compute_query_id", "context superuser or superuser-backend in PostgreSQL 15"},
    {"deadlock_timeout", "context superuser or superuser-backend in PostgreSQL 15"},
    {"debug_deadlocks", "superuser developer option of builds with LOCK_DEBUG or WAL_DEBUG"},
    {"debug_discard_caches", "context superuser or superuser-backend in PostgreSQL 15"},
    {"dynamic_library_path", "loads shared libraries or extension files (code) into the server"},
    {"extension_destdir", "loads shared libraries or extension files (code) into the server"},
    {"ignore_checksum_failure", "context superuser or superuser-backend in PostgreSQL 15"},
    {"jit_debugging_support", "context superuser or superuser-backend in PostgreSQL 15"},
    {"jit_dump_bitcode", "context superuser or superuser-backend in PostgreSQL 15"},
    {"jit_profiling_support", "context superuser or superuser-backend in PostgreSQL 15"},
    {"jit_provider", "loads shared libraries or extension files (code) into the server"},
    {"lc_messages", "context superuser or superuser-backend in PostgreSQL 15"},
    {"lo_compat_privileges", "context superuser or superuser-backend in PostgreSQL 15"},
    {"local_preload_libraries", "loads shared libraries or extension files (code) into the server"},
    {"log_connections", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_disconnections", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_duration", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_error_verbosity", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_executor_stats", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_lock_waits", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_min_duration_sample", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_min_duration_statement", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_min_error_statement", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_min_messages", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_parameter_max_length", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_parser_stats", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_planner_stats", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_replication_commands", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_statement", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_statement_sample_rate", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_statement_stats", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_temp_files", "context superuser or superuser-backend in PostgreSQL 15"},
    {"log_transaction_sample_rate", "context superuser or superuser-backend in PostgreSQL 15"},
    {"max_stack_depth", "context superuser or superuser-backend in PostgreSQL 15"},
    {"session_preload_libraries", "loads shared libraries or extension files (code) into the server"},
    {"session_replication_role", "superuser; replica turns off ordinary triggers and foreign key checks"},
    {"shared_preload_libraries", "loads shared libraries or extension files (code) into the server"},
    {"temp_file_limit", "context superuser or superuser-backend in PostgreSQL 15"},
    {"trace_lock_oidmin", "superuser developer option of builds with LOCK_DEBUG or WAL_DEBUG"},
    {"trace_lock_table", "superuser developer option of builds with LOCK_DEBUG or WAL_DEBUG"},
    {"trace_locks", "superuser developer option of builds with LOCK_DEBUG or WAL_DEBUG"},
    {"trace_lwlocks", "superuser developer option of builds with LOCK_DEBUG or WAL_DEBUG"},
    {"trace_userlocks", "superuser developer option of builds with LOCK_DEBUG or WAL_DEBUG"},
    {"track_activities", "context superuser or superuser-backend in PostgreSQL 15"},
    {"track_counts", "context superuser or superuser-backend in PostgreSQL 15"},
    {"track_functions", "context superuser or superuser-backend in PostgreSQL 15"},
    {"track_io_timing", "context superuser or superuser-backend in PostgreSQL 15"},
    {"track_wal_io_timing", "context superuser or superuser-backend in PostgreSQL 15"},
    {"update_process_title", "context superuser or superuser-backend in PostgreSQL 15"},
    {"wal_compression", "context superuser or superuser-backend in PostgreSQL 15"},
    {"wal_consistency_checking", "context superuser or superuser-backend in PostgreSQL 15"},
    {"wal_debug", "superuser developer option of builds with LOCK_DEBUG or WAL_DEBUG"},
    {"wal_init_zero", "context superuser or superuser-backend in PostgreSQL 15"},
    {"wal_recycle", "context superuser or superuser-backend in PostgreSQL 15"},
    {"zero_damaged_pages", "context superuser or superuser-backend in PostgreSQL 15"},
};
// clang-format on

// Sorted and one row per name: the lookups below are binary searches.
template <class Row, std::size_t N>
constexpr bool strictly_sorted(const Row (&rows)[N]) {
  for (std::size_t i = 1; i < N; ++i) {
    if (!(rows[i - 1].name < rows[i].name)) return false;
  }
  return true;
}
static_assert(strictly_sorted(kFunctions), "kFunctions must be sorted by name, without duplicates");
static_assert(strictly_sorted(kSettings), "kSettings must be sorted by name, without duplicates");

// The longest name in either table; a longer word is not looked up.
constexpr std::size_t kMaxName = 64;
constexpr bool names_fit() {
  for (const auto& f : kFunctions) {
    if (f.name.size() > kMaxName) return false;
  }
  for (const auto& s : kSettings) {
    if (s.name.size() > kMaxName) return false;
  }
  return true;
}
static_assert(names_fit());

// name in lower case ASCII into buf (PostgreSQL folds unquoted identifiers and
// setting names that way); empty when it is too long to be in a table.
std::string_view lowered(std::string_view name, std::array<char, kMaxName>& buf) {
  if (name.size() > buf.size()) return {};
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    buf[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
  }
  return {buf.data(), name.size()};
}

// What a name must look like to be in a table: its length and its first letter.
// The fast paths look up every word or string they meet, and most are no candidate.
struct Prefilter {
  std::size_t min_size = kMaxName;
  std::size_t max_size = 0;
  std::array<bool, 256> first{};
};

template <class Row, std::size_t N>
constexpr Prefilter prefilter_of(const Row (&rows)[N]) {
  Prefilter f;
  for (const Row& r : rows) {
    f.min_size = std::min(f.min_size, r.name.size());
    f.max_size = std::max(f.max_size, r.name.size());
    const auto c = static_cast<unsigned char>(r.name[0]);
    f.first[c] = true;
    if (c >= 'a' && c <= 'z') f.first[c - 32] = true;  // names match in any case
  }
  return f;
}

template <class Row, std::size_t N>
const Row* find_row(const Row (&rows)[N], const Prefilter& filter, std::string_view name) {
  if (name.size() < filter.min_size || name.size() > filter.max_size ||
      !filter.first[static_cast<unsigned char>(name[0])]) {
    return nullptr;
  }
  std::array<char, kMaxName> buf;
  const std::string_view key = lowered(name, buf);
  if (key.empty()) return nullptr;
  const Row* it = std::lower_bound(std::begin(rows), std::end(rows), key,
                                   [](const Row& r, std::string_view k) { return r.name < k; });
  return it != std::end(rows) && it->name == key ? it : nullptr;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

std::span<const ControlledFunction> controlled_functions() { return kFunctions; }

constexpr Prefilter kFunctionFilter = prefilter_of(kFunctions);
constexpr Prefilter kSettingFilter = prefilter_of(kSettings);

const ControlledFunction* find_controlled_function(std::string_view name) {
  return find_row(kFunctions, kFunctionFilter, name);
}

std::span<const DangerousSetting> dangerous_settings() { return kSettings; }

bool is_dangerous_setting(std::string_view name) { return find_row(kSettings, kSettingFilter, name) != nullptr; }

namespace {

// libpq's lo_initialize (fe-lobj.c) and pgjdbc's LargeObjectManager look these up by
// name and call them by OID; nothing else of the server is known to use the fast path.
constexpr FastPathFunction kFastPath[] = {
    {715, "lo_create"},  {952, "lo_open"},       {953, "lo_close"},      {954, "loread"},
    {955, "lowrite"},    {956, "lo_lseek"},      {957, "lo_creat"},      {958, "lo_tell"},
    {964, "lo_unlink"},  {1004, "lo_truncate"},  {3170, "lo_lseek64"},   {3171, "lo_tell64"},
    {3172, "lo_truncate64"},
};

}  // namespace

std::span<const FastPathFunction> fast_path_functions() { return kFastPath; }

const FastPathFunction* find_fast_path_function(std::uint32_t oid) {
  for (const auto& f : kFastPath) {
    if (f.oid == oid) return &f;
  }
  return nullptr;
}

bool is_system_relation(std::string_view schema, std::string_view relname) {
  // The parser has already folded unquoted names to lower case; a quoted
  // "PG_CATALOG" is another schema to PostgreSQL too.
  if (schema.empty()) return starts_with(relname, "pg_");
  return schema == "pg_catalog" || schema == "information_schema" || starts_with(schema, "pg_toast");
}

}  // namespace ddlgate::sql
