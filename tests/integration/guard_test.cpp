// `ddlgate guard install|status|uninstall|kill-switch` on PostgreSQL 15 (issue 25, item 1):
// what the event triggers record in detect mode from a direct session, what they refuse
// in enforce mode unless this test, acting as ddlgate's control connection, confirmed it,
// and what status sees when someone tampers with the guard.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/base/sha256.h"
#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"

namespace ddlgate::testing {
namespace {

DDLGATE_SHARED_PG_SERVER();

CommandResult guard_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{ddlgate_binary().string(), "guard"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

void install(const PgServer& pg, const std::string& mode) {
  auto r = guard_cli({"install", "--url", pg.conninfo(), "--mode", mode});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
}

std::string value(PGconn* c, const std::string& sql) {
  std::string error;
  auto v = pg_query_value(c, sql, &error);
  EXPECT_TRUE(v.has_value()) << sql << ": " << error;
  return v.value_or("<error>");
}

// Runs sql with text parameters; the SQLSTATE, or "OK".
std::string exec_params(PGconn* c, const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PgResult r(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return "OK";
  const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return state ? state : "?";
}

// An ordinary login role that may create objects in the test's database.
PgConn app_connection(const PgServer& pg) {
  pg.ensure_role("app", "LOGIN");
  pg.admin_sql("GRANT CREATE ON SCHEMA public TO app; GRANT CREATE ON DATABASE " + pg.database() + " TO app");
  auto conn = pg_connect(pg.conninfo("app"));
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  return conn;
}

// The test as ddlgate's control connection: a login role in ddlgate_control, registered.
struct Control {
  PgConn conn;
  explicit Control(const PgServer& pg) {
    pg.ensure_role("guard_ctl", "LOGIN");
    pg.admin_sql("GRANT ddlgate_control TO guard_ctl");
    conn = pg_connect(pg.conninfo("guard_ctl"));
    EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    EXPECT_FALSE(value(conn.get(), "select ddlgate.register_control()").empty());
  }
  // Confirms `text` for the backend of `client`; returns the confirmation id ("" on failure).
  std::string confirm(PGconn* client, const std::string& text, const std::string& tags, const std::string& role,
                      const std::string& search_path, bool any_search_path = false) {
    std::string pid = std::to_string(PQbackendPID(client));
    std::string start = value(conn.get(), "select backend_start from pg_stat_activity where pid = " + pid);
    std::vector<const char*> values{pid.c_str(), start.c_str(), nullptr, tags.c_str(), role.c_str(),
                                    any_search_path ? nullptr : search_path.c_str()};
    std::string sha = base::sha256_hex(text);
    values[2] = sha.c_str();
    PgResult r(PQexecParams(conn.get(),
                            "select ddlgate.confirm($1::int4, $2::timestamptz, $3, $4::text[], $5, $6, '1 minute')", 6,
                            nullptr, values.data(), nullptr, nullptr, 0));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(conn.get());
    return PQresultStatus(r.get()) == PGRES_TUPLES_OK ? PQgetvalue(r.get(), 0, 0) : "";
  }
  void release(const std::string& id) { EXPECT_EQ(value(conn.get(), "select ddlgate.release(" + id + ")"), "t"); }
};

TEST(Guard, InstallTwiceIsIdempotentAndKeepsWhatWasRecorded) {
  auto& pg = SharedPgServer::get();
  auto first = guard_cli({"install", "--url", pg.conninfo(), "--mode", "detect"});
  ASSERT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_EQ(first.stdout_text, "installed guard version 2, mode detect\n");
  EXPECT_EQ(first.stderr_text, "");  // the server's notices are not printed
  pg.admin_sql("create table before_reinstall (id int)");
  const std::string catalog_query =
      "select string_agg(p.proname || ':' || md5(p.prosrc), ',' order by p.proname) || '|' || "
      "(select string_agg(evtname || evtenabled::text, ',' order by evtname) from pg_event_trigger) || '|' || "
      "(select string_agg(relname, ',' order by relname) from pg_class where relnamespace = 'ddlgate'::regnamespace) "
      "from pg_proc p where p.pronamespace = 'ddlgate'::regnamespace";
  std::string catalog_before = pg.admin_sql(catalog_query);

  auto second = guard_cli({"install", "--url", pg.conninfo()});
  ASSERT_EQ(second.exit_code, 0) << second.stderr_text;
  EXPECT_EQ(second.stdout_text, "guard version 2 -> 2, mode detect\n");  // the mode is kept
  EXPECT_EQ(pg.admin_sql(catalog_query), catalog_before);
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.changes where object_identity = 'public.before_reinstall'"), "1\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.changes where event = 'install'"), "2\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.guard_version"), "1\n");
  auto status = guard_cli({"status", "--url", pg.conninfo()});
  EXPECT_EQ(status.exit_code, 0) << status.stdout_text << status.stderr_text;
  EXPECT_NE(status.stdout_text.find("guard intact"), std::string::npos);

  // The mode changes only when asked, and the change is recorded.
  install(pg, "enforce");
  EXPECT_EQ(pg.admin_sql("select mode from ddlgate.guard_version"), "enforce\n");
  EXPECT_EQ(pg.admin_sql("select detail from ddlgate.changes where event = 'install' order by id desc limit 1"),
            "version 2 -> 2, mode detect -> enforce\n");
}

// A version 1 guard (issue 25) upgraded to version 2 (issue 28 item 3): install runs step 2
// only, the old confirm and check_start signatures are gone, and status finds it intact. The
// version 1 state is made from version 2 by undoing step 2 and putting back the version 1
// signatures (their bodies do not matter: install replaces every function).
TEST(Guard, InstallUpgradesAVersionOneGuard) {
  auto& pg = SharedPgServer::get();
  install(pg, "detect");
  pg.admin_sql(
      "BEGIN; DROP EVENT TRIGGER ddlgate_guard_ddl_command_start; DROP EVENT TRIGGER ddlgate_guard_ddl_command_end; "
      "DROP EVENT TRIGGER ddlgate_guard_sql_drop; DROP EVENT TRIGGER ddlgate_guard_table_rewrite; "
      "ALTER TABLE ddlgate.confirmations DROP COLUMN lock_timeout_ms, DROP COLUMN lock_timeout_key; "
      "DROP FUNCTION ddlgate.confirm(int4, timestamptz, text, text[], text, text, interval, int4); "
      "CREATE FUNCTION ddlgate.confirm(int4, timestamptz, text, text[], text, text, interval) RETURNS int8 "
      "LANGUAGE sql AS 'SELECT 0::int8'; "
      "DROP FUNCTION ddlgate.check_start(text, text, text); "
      "CREATE FUNCTION ddlgate.check_start(text, text, text) RETURNS void LANGUAGE sql AS ''; "
      "UPDATE ddlgate.guard_version SET version = 1; COMMIT");
  auto r = guard_cli({"install", "--url", pg.conninfo()});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "guard version 1 -> 2, mode detect\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_proc where pronamespace = 'ddlgate'::regnamespace "
                         "and proname = 'confirm'"),
            "1\n");
  EXPECT_EQ(pg.admin_sql("select pg_get_function_result('ddlgate.check_start(text, text, text)'::regprocedure)"),
            "integer\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_attribute where attrelid = 'ddlgate.confirmations'::regclass "
                         "and attname in ('lock_timeout_ms', 'lock_timeout_key')"),
            "2\n");
  auto status = guard_cli({"status", "--url", pg.conninfo()});
  EXPECT_EQ(status.exit_code, 0) << status.stdout_text << status.stderr_text;
}

TEST(Guard, InstallRefusesToDowngradeANewerGuard) {
  auto& pg = SharedPgServer::get();
  install(pg, "enforce");
  pg.admin_sql("update ddlgate.guard_version set version = 99");
  auto r = guard_cli({"install", "--url", pg.conninfo(), "--mode", "detect"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("the installed guard is version 99, newer than this ddlgate's 2; refusing to downgrade"),
            std::string::npos)
      << r.stderr_text;
  // Nothing changed: the same version and mode, the triggers still there.
  EXPECT_EQ(pg.admin_sql("select version || ' ' || mode from ddlgate.guard_version"), "99 enforce\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_event_trigger where evtname like 'ddlgate_guard_%'"), "4\n");
  auto status = guard_cli({"status", "--url", pg.conninfo()});
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_NE(status.stdout_text.find("FAIL version: 99"), std::string::npos) << status.stdout_text;
}

TEST(Guard, InstallNeedsASuperuserAndChangesNothingOtherwise) {
  auto& pg = SharedPgServer::get();
  pg.ensure_role("app", "LOGIN");
  auto r = guard_cli({"install", "--url", pg.conninfo("app")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("needs a superuser"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_namespace where nspname = 'ddlgate'"), "0\n");
  auto bad = guard_cli({"install", "--url", pg.conninfo(), "--mode", "block"});
  EXPECT_EQ(bad.exit_code, 2);
  auto nowhere = guard_cli({"status", "--url", "host=127.0.0.1 port=1 dbname=x connect_timeout=2"});
  EXPECT_EQ(nowhere.exit_code, 2);
  EXPECT_NE(nowhere.stderr_text.find("cannot connect"), std::string::npos) << nowhere.stderr_text;
  EXPECT_EQ(std::count(nowhere.stderr_text.begin(), nowhere.stderr_text.end(), '\n'), 1) << nowhere.stderr_text;
}

TEST(Guard, DetectRecordsFifteenKindsOfChangeFromADirectSession) {
  auto& pg = SharedPgServer::get();
  install(pg, "detect");
  auto conn = pg_connect(pg.conninfo());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  // One statement a message, as psql sends them: each kind, and the tag and object the guard must record.
  struct Change {
    std::string sql;
    std::string tag;
    std::string identity;  // "" when the command names none
  };
  const std::vector<Change> changes = {
      {"create schema billing", "CREATE SCHEMA", "billing"},
      {"create table billing.invoices (id int primary key, total numeric)", "CREATE TABLE", "billing.invoices"},
      {"alter table billing.invoices add column due date", "ALTER TABLE", "billing.invoices"},
      {"create index invoices_due on billing.invoices (due)", "CREATE INDEX", "billing.invoices_due"},
      {"create view billing.open as select id from billing.invoices", "CREATE VIEW", "billing.open"},
      {"create function billing.f() returns int language sql as 'select 1'", "CREATE FUNCTION", "billing.f()"},
      {"do $$ begin execute 'create table billing.from_do (x int)'; end $$", "CREATE TABLE", "billing.from_do"},
      {"grant select on billing.invoices to public", "GRANT", ""},
      {"revoke select on billing.invoices from public", "REVOKE", ""},
      {"comment on table billing.invoices is 'money'", "COMMENT", "billing.invoices"},
      {"create extension citext", "CREATE EXTENSION", "citext"},
      {"create function billing.tf() returns trigger language plpgsql as 'begin return new; end'", "CREATE FUNCTION",
       "billing.tf()"},
      {"create trigger t before insert on billing.invoices for each row execute function billing.tf()",
       "CREATE TRIGGER", "t on billing.invoices"},
      {"create policy p on billing.invoices using (true)", "CREATE POLICY", "p on billing.invoices"},
      {"create sequence billing.numbers", "CREATE SEQUENCE", "billing.numbers"},
      {"create type billing.state as enum ('open', 'paid')", "CREATE TYPE", "billing.state"},
      {"alter table billing.invoices alter column total type bigint", "ALTER TABLE", "billing.invoices"},
      {"create foreign data wrapper dummy", "CREATE FOREIGN DATA WRAPPER", "dummy"},
      {"create server files foreign data wrapper dummy", "CREATE SERVER", "files"},
      {"create user mapping for postgres server files options (user 'u', password 'hunter2')", "CREATE USER MAPPING",
       "postgres on server files"},
      {"drop table billing.from_do", "DROP TABLE", ""},
  };
  for (const auto& c : changes) ASSERT_EQ(sqlstate_of(conn.get(), c.sql), "OK") << c.sql;
  const std::string pid = std::to_string(PQbackendPID(conn.get()));
  for (const auto& c : changes) {
    std::string sha = base::sha256_hex(c.sql);
    std::string where = " from ddlgate.changes where statement_sha256 = '" + sha + "' and command_tag = '" + c.tag + "'";
    EXPECT_GE(std::stoi(pg.admin_sql("select count(*)" + where)), 1) << c.sql;
    if (!c.identity.empty()) {
      EXPECT_GE(std::stoi(pg.admin_sql("select count(*)" + where + " and object_identity = '" + c.identity + "'")), 1)
          << c.sql;
    }
    EXPECT_EQ(pg.admin_sql("select count(*)" + where + " and (role_name <> 'postgres' or backend_pid <> " + pid +
                           " or backend_start is null or database <> current_database() or at is null)"),
              "0\n")
        << c.sql;
  }
  // The dropped table, from sql_drop; the rewrite of billing.invoices, from table_rewrite.
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.changes where event = 'sql_drop' and object_identity = "
                         "'billing.from_do' and detail = 'original'"),
            "1\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.changes where event = 'table_rewrite' and object_identity = "
                         "'billing.invoices'"),
            "1\n");
  // The display text of the user mapping, with its password redacted.
  EXPECT_EQ(pg.admin_sql("select display_text from ddlgate.changes where command_tag = 'CREATE USER MAPPING'"),
            "create user mapping for postgres server files options (user 'u', password '***')\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.changes where display_text like '%hunter2%'"), "0\n");
  // The DO block's command carries the DO's whole text (current_query()).
  EXPECT_EQ(pg.admin_sql("select display_text from ddlgate.changes where object_identity = 'billing.from_do' and "
                         "event = 'ddl_command_end'"),
            changes[6].sql + "\n");

  // An ordinary role's change is recorded under its name, and it can neither write nor erase the record.
  auto app = app_connection(pg);
  ASSERT_EQ(sqlstate_of(app.get(), "create table app_table (x int)"), "OK");
  EXPECT_EQ(pg.admin_sql("select role_name || ' ' || session_role from ddlgate.changes where object_identity = "
                         "'public.app_table'"),
            "app app\n");
  EXPECT_EQ(sqlstate_of(app.get(), "delete from ddlgate.changes"), "42501");
  EXPECT_EQ(sqlstate_of(app.get(), "update ddlgate.changes set display_text = ''"), "42501");
  EXPECT_EQ(sqlstate_of(app.get(), "truncate ddlgate.changes"), "42501");
  EXPECT_EQ(sqlstate_of(app.get(), "insert into ddlgate.changes (event) values ('fake')"), "42501");
  EXPECT_EQ(sqlstate_of(app.get(), "select * from ddlgate.changes"), "42501");
  EXPECT_EQ(sqlstate_of(app.get(), "select ddlgate.note('fake', 'x', 'x', 'x', 'x', 'x', 'x', false, 'x')"), "42501");
  // Outside an event trigger the recording functions refuse to run at all.
  EXPECT_NE(sqlstate_of(app.get(), "select ddlgate.record_end('CREATE TABLE', 'x', 'x')"), "OK");
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.changes where role_name = 'x'"), "0\n");
}

TEST(Guard, EnforceRefusesUnconfirmedDdlAtTheStartAndLeavesNothingBehind) {
  auto& pg = SharedPgServer::get();
  auto app = app_connection(pg);  // its grants are DDL: before the guard enforces
  install(pg, "enforce");
  auto conn = pg_connect(pg.conninfo());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  const std::string refusals = "select case when is_called then last_value else 0 end from ddlgate.refusals";
  const std::string before = pg.admin_sql(refusals);
  PgResult r(PQexec(conn.get(), "create table refused (id serial primary key, v text unique)"));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(r.get(), PG_DIAG_SQLSTATE), "DG001");
  EXPECT_STREQ(PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY),
               "ddlgate guard refused CREATE TABLE: ddlgate did not confirm this statement for this session");
  EXPECT_NE(std::string(PQresultErrorField(r.get(), PG_DIAG_MESSAGE_DETAIL))
                .find("statement sha256:" + base::sha256_hex("create table refused (id serial primary key, v text unique)")),
            std::string::npos);
  // Nothing of it exists: no table, no sequence, no index, no type.
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname like 'refused%'"), "0\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_type where typname like '%refused%'"), "0\n");
  // The refusal left a trace that its rollback did not undo.
  EXPECT_EQ(std::stoll(pg.admin_sql(refusals)), std::stoll(before) + 1);
  // Refused too: inside a DO block, a drop, a grant, by an ordinary role, in a transaction block.
  pg.admin_sql("alter event trigger ddlgate_guard_ddl_command_start disable");
  pg.admin_sql("create table kept (id int)");
  pg.admin_sql("alter event trigger ddlgate_guard_ddl_command_start enable always");
  EXPECT_EQ(sqlstate_of(conn.get(), "do $$ begin execute 'create table from_do (x int)'; end $$"), "DG001");
  EXPECT_EQ(sqlstate_of(conn.get(), "drop table kept"), "DG001");
  EXPECT_EQ(sqlstate_of(conn.get(), "grant select on kept to public"), "DG001");
  EXPECT_EQ(sqlstate_of(conn.get(), "begin"), "OK");
  EXPECT_EQ(sqlstate_of(conn.get(), "create index on kept (id)"), "DG001");
  EXPECT_EQ(sqlstate_of(conn.get(), "rollback"), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), "create table mine (x int)"), "DG001");
  EXPECT_EQ(sqlstate_of(app.get(), "set session_replication_role = replica"), "42501");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname in ('from_do', 'mine')"), "0\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_indexes where tablename = 'kept'"), "0\n");
  // ENABLE ALWAYS: a superuser's replica mode does not switch the guard off.
  EXPECT_EQ(sqlstate_of(conn.get(), "set session_replication_role = replica"), "OK");
  EXPECT_EQ(sqlstate_of(conn.get(), "create table replica_mode (x int)"), "DG001");
}

TEST(Guard, EnforceAllowsWhatTheControlConnectionConfirmedForThatBackendOnly) {
  auto& pg = SharedPgServer::get();
  auto app = app_connection(pg);  // grants are DDL: before the guard enforces
  auto other = app_connection(pg);
  pg.ensure_role("guard_other", "NOLOGIN");
  pg.admin_sql("grant guard_other to app; grant create on schema public to guard_other");
  install(pg, "enforce");
  Control control(pg);
  const std::string path = value(app.get(), "select current_setting('search_path')");
  const std::string text = "create table confirmed (id int)";
  // A REPEATABLE READ transaction whose snapshot is older than the confirmation still sees it.
  ASSERT_EQ(sqlstate_of(app.get(), "begin isolation level repeatable read"), "OK");
  ASSERT_EQ(value(app.get(), "select count(*) from pg_class"), value(app.get(), "select count(*) from pg_class"));
  std::string id = control.confirm(app.get(), text, "{CREATE TABLE}", "app", path);
  ASSERT_FALSE(id.empty());
  // Not for another backend with the same role and text, nor another text, nor another tag.
  EXPECT_EQ(sqlstate_of(other.get(), text), "DG001");
  EXPECT_EQ(sqlstate_of(app.get(), "savepoint a"), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), "create table confirmed2 (id int)"), "DG001");
  EXPECT_EQ(sqlstate_of(app.get(), "rollback to savepoint a"), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), text), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), "commit"), "OK");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'confirmed'"), "1\n");
  // A confirmed statement is not recorded as a change.
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.changes where object_identity = 'public.confirmed'"), "0\n");
  // Once released, the same text is refused again (at the start: before "already exists").
  control.release(id);
  EXPECT_EQ(sqlstate_of(app.get(), text), "DG001");

  // The search_path is part of the confirmation unless the control connection says every name is qualified.
  const std::string grant = "grant select on confirmed to public";
  id = control.confirm(app.get(), grant, "{GRANT}", "app", path);
  EXPECT_EQ(sqlstate_of(app.get(), "set search_path = pg_catalog, public"), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), grant), "DG001");
  EXPECT_EQ(sqlstate_of(app.get(), "reset search_path"), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), grant), "OK");
  control.release(id);
  const std::string qualified = "create table public.qualified (id int)";
  id = control.confirm(app.get(), qualified, "{CREATE TABLE}", "app", "", /*any_search_path=*/true);
  EXPECT_EQ(sqlstate_of(app.get(), "set search_path = pg_catalog"), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), qualified), "OK");
  control.release(id);
  // The role too: confirmed for app, refused once the session has SET ROLE to another.
  const std::string as_other = "create table public.as_other (id int)";
  id = control.confirm(app.get(), as_other, "{CREATE TABLE}", "app", "", true);
  EXPECT_EQ(sqlstate_of(app.get(), "set role guard_other"), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), as_other), "DG001");
  EXPECT_EQ(sqlstate_of(app.get(), "reset role"), "OK");
  EXPECT_EQ(sqlstate_of(app.get(), as_other), "OK");
  control.release(id);

  // Commands nested in a confirmed DO run; the same DO text unconfirmed does not.
  const std::string do_block = "do $$ begin execute 'create table public.from_do (x int)'; end $$";
  EXPECT_EQ(sqlstate_of(app.get(), do_block), "DG001");
  id = control.confirm(app.get(), do_block, "{DO}", "app", "", true);
  EXPECT_EQ(sqlstate_of(app.get(), do_block), "OK");
  control.release(id);

  // CREATE EXTENSION: its script's commands run under the script's own search_path.
  const std::string extension = "create extension citext";
  EXPECT_EQ(sqlstate_of(app.get(), extension), "DG001");
  id = control.confirm(app.get(), extension, "{CREATE EXTENSION}", "app", path);
  EXPECT_EQ(sqlstate_of(app.get(), extension), "OK");
  control.release(id);

  // When the control connection ends, its confirmations end with it.
  id = control.confirm(app.get(), "create table public.late (id int)", "{CREATE TABLE}", "app", "", true);
  const std::string control_pid = std::to_string(PQbackendPID(control.conn.get()));
  control.conn.reset();
  for (int i = 0; i < 100 && pg.admin_sql("select count(*) from pg_locks where pid = " + control_pid) != "0\n"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(sqlstate_of(app.get(), "create table public.late (id int)"), "DG001");
}

TEST(Guard, AClientCannotConfirmItsOwnStatements) {
  auto& pg = SharedPgServer::get();
  auto app = app_connection(pg);
  install(pg, "enforce");
  Control control(pg);  // a live, registered control connection
  const std::string pid = std::to_string(PQbackendPID(app.get()));
  const std::string text = "create table self_confirmed (id int)";
  const std::string sha = base::sha256_hex(text);
  EXPECT_EQ(exec_params(app.get(), "select ddlgate.confirm($1::int4, now(), $2, '{CREATE TABLE}', 'app', null, '1 minute')",
                        {pid, sha}),
            "42501");
  EXPECT_EQ(sqlstate_of(app.get(), "select ddlgate.register_control()"), "42501");
  EXPECT_EQ(exec_params(app.get(),
                        "insert into ddlgate.confirmations (control_pid, backend_pid, backend_start, statement_sha256, "
                        "command_tags, role_name, lock_keys, expires_at) values ($1::int4, $1::int4, now(), $2, "
                        "'{CREATE TABLE}', 'app', '{}', now() + '1 minute')",
                        {pid, sha}),
            "42501");
  EXPECT_EQ(exec_params(app.get(), "insert into ddlgate.control_sessions (pid, backend_start, lock_key, role_name) "
                                   "values ($1::int4, now(), 1, 'app')",
                        {pid}),
            "42501");
  EXPECT_EQ(sqlstate_of(app.get(), "select ddlgate.kill_switch('let me')"), "42501");
  // The advisory lock that would confirm it, taken by the client itself, confirms nothing:
  // the guard asks whose lock it is.
  std::string start = pg.admin_sql("select backend_start from pg_stat_activity where pid = " + pid);
  start.pop_back();
  std::string path = value(app.get(), "select current_setting('search_path')");
  std::string key = pg.admin_sql("select ddlgate.confirmation_key(" + pid + ", (extract(epoch from '" + start +
                                 "'::timestamptz) * 1000000)::int8, '" + sha + "', 'CREATE TABLE', 'app', '*')");
  key.pop_back();
  EXPECT_EQ(value(app.get(), "select pg_advisory_lock(" + key + ")"), "");
  EXPECT_EQ(sqlstate_of(app.get(), text), "DG001");
  EXPECT_EQ(value(app.get(), "select pg_advisory_unlock(" + key + ")"), "t");
  // Nor taken by another backend of an ordinary role (the client's second connection).
  auto accomplice = pg_connect(pg.conninfo("app"));
  EXPECT_EQ(value(accomplice.get(), "select pg_advisory_lock_shared(" + key + ")"), "");
  EXPECT_EQ(sqlstate_of(app.get(), text), "DG001");
  EXPECT_EQ(value(accomplice.get(), "select pg_advisory_unlock_shared(" + key + ")"), "t");
  // The same key held by the control connection confirms it: the test above was not vacuous.
  std::string id = control.confirm(app.get(), text, "{CREATE TABLE}", "app", "", true);
  EXPECT_EQ(sqlstate_of(app.get(), text), "OK");
  // A second control that is not registered cannot confirm either.
  auto unregistered = pg_connect(pg.conninfo("guard_ctl"));
  EXPECT_EQ(exec_params(unregistered.get(),
                        "select ddlgate.confirm($1::int4, now(), $2, '{CREATE TABLE}', 'app', null, '1 minute')",
                        {pid, sha}),
            "DG002");
}

TEST(Guard, StatusDetectsADisabledTriggerAndAnAlteredFunctionBody) {
  auto& pg = SharedPgServer::get();
  install(pg, "detect");
  auto ok = guard_cli({"status", "--url", pg.conninfo()});
  ASSERT_EQ(ok.exit_code, 0) << ok.stdout_text;
  EXPECT_NE(ok.stdout_text.find("ok   trigger ddlgate_guard_sql_drop: evtenabled A, owner postgres"), std::string::npos)
      << ok.stdout_text;
  EXPECT_NE(ok.stdout_text.find("ok   mode: detect"), std::string::npos) << ok.stdout_text;

  pg.admin_sql("alter event trigger ddlgate_guard_sql_drop disable");
  auto disabled = guard_cli({"status", "--url", pg.conninfo()});
  EXPECT_EQ(disabled.exit_code, 1);
  EXPECT_NE(disabled.stdout_text.find("FAIL trigger ddlgate_guard_sql_drop: evtenabled D"), std::string::npos)
      << disabled.stdout_text;
  EXPECT_NE(disabled.stdout_text.find("guard NOT intact"), std::string::npos);
  // ENABLE (origin only) is not enough: replica sessions would skip it.
  pg.admin_sql("alter event trigger ddlgate_guard_sql_drop enable");
  EXPECT_EQ(guard_cli({"status", "--url", pg.conninfo()}).exit_code, 1);
  install(pg, "detect");
  EXPECT_EQ(guard_cli({"status", "--url", pg.conninfo()}).exit_code, 0);

  pg.admin_sql("create or replace function ddlgate.is_confirmed(p_tag text, p_role text, p_search_path text) "
               "returns boolean language plpgsql security definer set search_path = pg_catalog, pg_temp "
               "as $$ begin return true; end $$");
  auto altered = guard_cli({"status", "--url", pg.conninfo(), "--json"});
  EXPECT_EQ(altered.exit_code, 1);
  EXPECT_NE(altered.stdout_text.find("\"intact\": false"), std::string::npos) << altered.stdout_text;
  EXPECT_NE(altered.stdout_text.find("function ddlgate.is_confirmed(p_tag text, p_role text, p_search_path text)"),
            std::string::npos);
  EXPECT_NE(altered.stdout_text.find("body sha256:"), std::string::npos);
  // Someone giving a role the right to erase the record is found too.
  install(pg, "detect");
  pg.admin_sql("grant delete on ddlgate.changes to public");
  auto granted = guard_cli({"status", "--url", pg.conninfo()});
  EXPECT_EQ(granted.exit_code, 1);
  EXPECT_NE(granted.stdout_text.find("changes: DELETE to PUBLIC"), std::string::npos) << granted.stdout_text;
  install(pg, "detect");
  EXPECT_EQ(guard_cli({"status", "--url", pg.conninfo()}).exit_code, 0);
}

TEST(Guard, TheKillSwitchTurnsEnforceToDetectAndIsRecorded) {
  auto& pg = SharedPgServer::get();
  install(pg, "enforce");
  auto conn = pg_connect(pg.conninfo());
  EXPECT_EQ(sqlstate_of(conn.get(), "create table blocked (x int)"), "DG001");
  auto r = guard_cli({"kill-switch", "--url", pg.conninfo(), "--reason", "guard bug blocks deploys, INC-42"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(sqlstate_of(conn.get(), "create table blocked (x int)"), "OK");
  EXPECT_EQ(pg.admin_sql("select session_role || ': ' || detail from ddlgate.changes where event = 'kill_switch'"),
            "postgres: mode enforce -> detect: guard bug blocks deploys, INC-42\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from ddlgate.changes where object_identity = 'public.blocked'"), "1\n");
  auto no_reason = guard_cli({"kill-switch", "--url", pg.conninfo(), "--reason", " "});
  EXPECT_EQ(no_reason.exit_code, 1);
}

TEST(Guard, UninstallRemovesEverythingItInstalled) {
  auto& pg = SharedPgServer::get();
  install(pg, "enforce");
  auto r = guard_cli({"uninstall", "--url", pg.conninfo()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  // This test has a server of its own: no other database's guard keeps the roles.
  EXPECT_EQ(r.stdout_text, "guard removed; roles dropped\n");
  EXPECT_EQ(r.stderr_text, "");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_namespace where nspname = 'ddlgate'"), "0\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_event_trigger"), "0\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_roles where rolname like 'ddlgate%'"), "0\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                         "where n.nspname = 'ddlgate'"),
            "0\n");
  auto conn = pg_connect(pg.conninfo());
  EXPECT_EQ(sqlstate_of(conn.get(), "create table after (x int)"), "OK");
  auto status = guard_cli({"status", "--url", pg.conninfo()});
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_NE(status.stdout_text.find("FAIL schema ddlgate: not installed"), std::string::npos) << status.stdout_text;
  auto again = guard_cli({"uninstall", "--url", pg.conninfo()});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_EQ(again.stdout_text, "no guard was installed; roles dropped\n");
}

}  // namespace
}  // namespace ddlgate::testing
