// Differential tests of server_admin's tables (policy/src/server_admin.cpp) against a
// real PostgreSQL 15: what only a superuser may set, which catalog functions the
// server withholds from PUBLIC, and which relations live in pg_catalog. The tables
// are written by hand; these tests say when the server knows something they miss.
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/server_admin.h"
#include "ddlgate/testing/pg_server.h"

namespace ddlgate::sql {
namespace {

using testing::SharedPgServer;

DDLGATE_SHARED_PG_SERVER();

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Every setting a superuser alone may change (or only at connection start) is in
// ddlgate's table, and SET of it is server_admin.
TEST(ServerAdminDifferential, EverySuperuserSettingOfTheServerIsDangerous) {
  auto names = lines_of(SharedPgServer::get().admin_sql(
      "select name from pg_settings where context in ('superuser', 'superuser-backend') order by name"));
  ASSERT_GE(names.size(), 40u);  // PostgreSQL 15 has about 50
  for (const std::string& name : names) {
    EXPECT_TRUE(is_dangerous_setting(name)) << name << " is superuser-only in the server but not in ddlgate's table";
    Analysis a = analyze("SET " + name + " = DEFAULT");
    ASSERT_TRUE(a.ok()) << name;
    EXPECT_EQ(a.statements[0].cls, StatementClass::server_admin) << name;
  }
}

// And the reverse: a name in the table that the server knows is one a plain user
// cannot change freely (superuser, superuser-backend, or a server-start setting),
// or local_preload_libraries, which loads code at connection start.
TEST(ServerAdminDifferential, EveryDangerousSettingTheServerKnowsIsRestrictedOrLoadsCode) {
  auto rows = lines_of(SharedPgServer::get().admin_sql("select name || ' ' || context from pg_settings"));
  std::set<std::string> user_settable;
  for (const std::string& row : rows) {
    const auto space = row.find(' ');
    const std::string context = row.substr(space + 1);
    if (context == "user") user_settable.insert(row.substr(0, space));
  }
  ASSERT_FALSE(user_settable.empty());
  for (const DangerousSetting& s : dangerous_settings()) {
    if (s.name == "local_preload_libraries") continue;
    EXPECT_EQ(user_settable.count(std::string(s.name)), 0u) << s.name << " can be set by any user";
  }
}

// Catalog functions the server withholds from PUBLIC are those it thinks dangerous:
// each one is either controlled by ddlgate or reviewed and left out, with a reason.
TEST(ServerAdminDifferential, EveryCatalogFunctionWithheldFromPublicIsControlledOrReviewed) {
  // Reviewed, not controlled: they read diagnostics or configuration and change nothing.
  const std::set<std::string> reviewed = {
      "pg_config",                               // the build's configuration
      "pg_current_logfile",                      // the name of the current log file
      "pg_get_backend_memory_contexts",          // this backend's memory use
      "pg_get_shmem_allocations",                // shared memory use
      "pg_hba_file_rules",                       // pg_hba.conf as rows; the view pg_hba_file_rules reads it too
      "pg_ident_file_mappings",                  // pg_ident.conf as rows, also a view
      "pg_log_backend_memory_contexts",          // writes a backend's memory use to the server log
      "pg_replication_origin_oid",               // reads
      "pg_replication_origin_progress",          // reads
      "pg_replication_origin_session_is_setup",  // reads
      "pg_replication_origin_session_progress",  // reads
      "pg_show_all_file_settings",               // postgresql.conf as rows, also the view pg_file_settings
      "pg_show_replication_origin_status",       // reads
      "pg_stat_have_stats",                      // reads
  };
  auto names = lines_of(SharedPgServer::get().admin_sql(
      "select distinct proname from pg_proc where pronamespace = 'pg_catalog'::regnamespace and proacl is not null "
      "and not exists (select 1 from aclexplode(proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE') "
      "order by 1"));
  ASSERT_GE(names.size(), 30u);
  for (const std::string& name : names) {
    const bool controlled = find_controlled_function(name) != nullptr;
    EXPECT_TRUE(controlled || reviewed.count(name) == 1) << name << " is withheld from PUBLIC: control or review it";
    EXPECT_FALSE(controlled && reviewed.count(name) == 1) << name;
  }
}

// Every core function in the table exists in PostgreSQL 15 (a typo would control nothing).
TEST(ServerAdminDifferential, EveryCoreFunctionInTheTableExists) {
  auto names = lines_of(SharedPgServer::get().admin_sql(
      "select distinct proname from pg_proc where pronamespace = 'pg_catalog'::regnamespace order by 1"));
  const std::set<std::string> known(names.begin(), names.end());
  ASSERT_GE(known.size(), 2000u);
  const std::set<std::string> before_15 = {"pg_start_backup", "pg_stop_backup"};  // renamed in 15
  for (const ControlledFunction& f : controlled_functions()) {
    if (f.scope != FunctionScope::core || before_15.count(std::string(f.name)) == 1) continue;
    EXPECT_EQ(known.count(std::string(f.name)), 1u) << f.name << " is not a PostgreSQL 15 function";
  }
}

// An unqualified relation name is a catalog's only if it starts with pg_; ddlgate
// relies on every pg_catalog relation being named so.
TEST(ServerAdminDifferential, EveryCatalogRelationIsNamedPgSomething) {
  auto& pg = SharedPgServer::get();
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relnamespace = 'pg_catalog'::regnamespace "
                         "and relname not like 'pg\\_%'"),
            "0\n");
  EXPECT_NE(pg.admin_sql("select count(*) from pg_class where relnamespace = 'pg_catalog'::regnamespace"), "0\n");
}

// A FunctionCall names its function by OID: each OID ddlgate lets through must be the
// large-object function it is listed as, on the real server, and libpq's own list of
// the functions it calls that way (lo_initialize) must be covered.
TEST(ServerAdminDifferential, TheFastPathFunctionsAreTheLargeObjectFunctionsByOid) {
  auto& pg = SharedPgServer::get();
  for (const FastPathFunction& f : fast_path_functions()) {
    EXPECT_EQ(pg.admin_sql("select proname from pg_proc where oid = " + std::to_string(f.oid) +
                           " and pronamespace = 'pg_catalog'::regnamespace"),
              std::string(f.name) + "\n")
        << f.oid;
  }
  for (const char* name : {"lo_open", "lo_close", "lo_creat", "lo_create", "lo_unlink", "lo_lseek", "lo_lseek64",
                           "lo_tell", "lo_tell64", "lo_truncate", "lo_truncate64", "loread", "lowrite"}) {
    const std::string oid = pg.admin_sql("select oid from pg_proc where proname = '" + std::string(name) +
                                         "' and pronamespace = 'pg_catalog'::regnamespace");
    ASSERT_FALSE(oid.empty()) << name;
    EXPECT_NE(find_fast_path_function(static_cast<std::uint32_t>(std::stoul(oid))), nullptr) << name;
  }
}

}  // namespace
}  // namespace ddlgate::sql
