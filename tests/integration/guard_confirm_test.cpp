// ddlgate confirms what it allows to the database's guard (issue 25, item 2): an enforcing
// ddlgate in front of PostgreSQL 15 with the guard installed in enforce mode. Approved
// statements run (simple and extended protocol, REPEATABLE READ, CREATE INDEX
// CONCURRENTLY); the server itself refuses an approved GRANT sent under another
// search_path, a DDL hidden from ddlgate by a forced misreading, and anything sent around
// ddlgate; a control connection that cannot be opened fails closed.
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/sql/search_path.h"
#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

// The SQLSTATE of running sql (simple protocol), or "OK".
std::string run(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return "OK";
  const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return state ? state : std::string("?: ") + PQerrorMessage(c);
}

// The same through the extended protocol (Parse, Bind, Execute, Sync).
std::string run_extended(PGconn* c, const std::string& sql) {
  PgResult r(PQexecParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return "OK";
  const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return state ? state : std::string("?: ") + PQerrorMessage(c);
}

std::string message_of(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  const char* m = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY);
  return m ? m : "";
}

class GuardConfirm : public ::testing::Test {
 protected:
  void SetUp() override {
    const PgServer& pg = SharedPgServer::get();
    pg.ensure_role("reader", "NOLOGIN");
    pg.ensure_role("ddlgate_ctl", "LOGIN");
    auto r = run_command({ddlgate_binary().string(), "guard", "install", "--url", pg.conninfo(), "--mode", "enforce"});
    ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
    pg.admin_sql("GRANT ddlgate_control TO ddlgate_ctl");
    // The approved migrations (dbmate layout): unqualified names, reviewed under dbmate's
    // search_path; an index built CONCURRENTLY outside a transaction.
    fs::create_directories(dir_.path() / "migrations");
    write_file(dir_.path() / "migrations" / "001_init.sql",
               "-- migrate:up\n"
               "CREATE TABLE accounts (id int PRIMARY KEY, owner text);\n"
               "CREATE SCHEMA secret;\n"
               "CREATE TABLE secret.accounts (id int, ssn text);\n"
               "GRANT SELECT ON accounts TO reader;\n"
               "CREATE TABLE notes (id int);\n"
               "CREATE TABLE later (id int);\n"
               "-- migrate:down\n"
               "DROP TABLE notes;\n");
    write_file(dir_.path() / "migrations" / "002_index.sql",
               "-- migrate:up transaction:false\n"
               "CREATE INDEX CONCURRENTLY accounts_owner ON accounts (owner);\n"
               "-- migrate:down\n"
               "DROP INDEX accounts_owner;\n");
    make_signed_bundle(dir_.path(), dir_.path() / "migrations");
  }

  std::unique_ptr<DdlgateProcess> start(const std::string& control_user = "ddlgate_ctl") {
    return start_in(dir_.path(), control_user);
  }
  static std::unique_ptr<DdlgateProcess> start_in(const fs::path& d, const std::string& control_user = "ddlgate_ctl") {
    write_file(d / "ddlgate.toml", "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n"
                                   "[bundles]\nregistry_dir = \"" + (d / "registry").string() +
                                       "\"\nenvironment = \"production\"\ntrust_file = \"" + (d / "trust.toml").string() +
                                       "\"\n[ledger]\ndirectory = \"" + (d / "ledger").string() +
                                       "\"\ncheckpoint_key_file = \"" + (d / "ledger.key").string() +
                                       "\"\n[guard]\ncontrol_user = \"" + control_user + "\"\n");
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (d / "ddlgate.toml").string()});
  }

  PgConn through(const DdlgateProcess& proxy) {
    auto c = pg_connect(proxy.conninfo());
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    return c;
  }

  static std::string value(const std::string& sql) {
    std::string v = SharedPgServer::get().admin_sql(sql);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
  }

  TempDir dir_{"ddlgate-guard-confirm"};
};

TEST_F(GuardConfirm, ApprovedStatementsRunAndWhatGoesAroundDdlgateIsRefused) {
  auto proxy = start();
  auto c = through(*proxy);
  EXPECT_EQ(run(c.get(), "CREATE TABLE accounts (id int PRIMARY KEY, owner text)"), "OK") << proxy->stderr_log();
  EXPECT_EQ(run_extended(c.get(), "CREATE SCHEMA secret"), "OK") << proxy->stderr_log();
  // A REPEATABLE READ snapshot taken before the confirmation still sees it.
  EXPECT_EQ(run(c.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ"), "OK");
  EXPECT_EQ(run(c.get(), "SELECT count(*) FROM pg_catalog.pg_class"), "OK");
  EXPECT_EQ(run(c.get(), "CREATE TABLE secret.accounts (id int, ssn text)"), "OK") << proxy->stderr_log();
  EXPECT_EQ(run(c.get(), "COMMIT"), "OK");
  EXPECT_EQ(run(c.get(), "GRANT SELECT ON accounts TO reader"), "OK") << proxy->stderr_log();
  EXPECT_EQ(run(c.get(), "CREATE INDEX CONCURRENTLY accounts_owner ON accounts (owner)"), "OK") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT count(*) FROM pg_catalog.pg_indexes WHERE indexname = 'accounts_owner'"), "1");
  // Each confirmation ends with its statement (ReadyForQuery; the Parse's statement closed).
  std::string open;
  for (int i = 0; i < 100; ++i) {
    open = value("SELECT count(*) FROM ddlgate.confirmations WHERE released_at IS NULL AND backend_pid = " +
                 std::to_string(PQbackendPID(c.get())) + " AND statement_sha256 <> ''");
    if (std::stoi(open) <= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(value("SELECT count(*) FROM ddlgate.confirmations"), "5") << "one per approved statement";
  // The unnamed statement of the extended-protocol one stays until replaced or the session ends.
  EXPECT_LE(std::stoi(open), 1);
  // Around ddlgate, the server refuses: nobody confirmed it.
  auto direct = pg_connect(SharedPgServer::get().conninfo());
  EXPECT_EQ(run(direct.get(), "CREATE TABLE notes (id int)"), "DG001");
  EXPECT_EQ(value("SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'notes'"), "0");
}

TEST_F(GuardConfirm, AnApprovedGrantUnderAnotherSearchPathIsRefusedByTheServer) {
  auto proxy = start();
  auto c = through(*proxy);
  ASSERT_EQ(run(c.get(), "CREATE TABLE accounts (id int PRIMARY KEY, owner text)"), "OK") << proxy->stderr_log();
  ASSERT_EQ(run(c.get(), "CREATE SCHEMA secret"), "OK");
  ASSERT_EQ(run(c.get(), "CREATE TABLE secret.accounts (id int, ssn text)"), "OK");
  // The text is the approved one; the table it names is not.
  ASSERT_EQ(run(c.get(), "SET search_path = secret, public"), "OK");
  EXPECT_EQ(run(c.get(), "GRANT SELECT ON accounts TO reader"), "DG001") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = 'reader'"), "0");
  // The same spelled otherwise is the same list: confirmed.
  ASSERT_EQ(run(c.get(), "SET search_path = \"$user\",PUBLIC"), "OK");
  EXPECT_EQ(run(c.get(), "GRANT SELECT ON accounts TO reader"), "OK") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT table_schema FROM information_schema.role_table_grants WHERE grantee = 'reader'"), "public");
}

TEST_F(GuardConfirm, ADdlHiddenByAForcedMisreadingIsRefusedByTheServer) {
#ifndef DDLGATE_TEST_HOOKS
  GTEST_SKIP() << "the forced misreading is a test hook of the sanitizer build (DDLGATE_TEST_HOOKS)";
#endif
  ::setenv("DDLGATE_TEST_MISREAD_FROM", "/*hidden*/", 1);
  auto proxy = start();
  ::unsetenv("DDLGATE_TEST_MISREAD_FROM");
  auto c = through(*proxy);
  ASSERT_EQ(run(c.get(), "CREATE TABLE accounts (id int PRIMARY KEY, owner text)"), "OK") << proxy->stderr_log();
  // ddlgate reads only the approved CREATE TABLE; the server also runs the DROP.
  EXPECT_EQ(run(c.get(), "CREATE TABLE notes (id int); /*hidden*/ DROP TABLE accounts"), "DG001")
      << proxy->stderr_log();
  EXPECT_EQ(value("SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename IN ('accounts', 'notes')"), "1")
      << "accounts stays, and the message's approved part rolled back with it";
}

TEST_F(GuardConfirm, AControlConnectionThatCannotBeOpenedFailsClosed) {
  auto proxy = start("no_such_control_role");
  auto c = through(*proxy);
  EXPECT_EQ(run(c.get(), "CREATE TABLE accounts (id int PRIMARY KEY, owner text)"), "58000") << proxy->stderr_log();
  EXPECT_NE(message_of(c.get(), "CREATE TABLE accounts (id int PRIMARY KEY, owner text)")
                .find("the database's guard could not confirm it"),
            std::string::npos);
  EXPECT_EQ(value("SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'accounts'"), "0");
  // Reads and writes are not confirmed, and flow.
  EXPECT_EQ(run(c.get(), "SELECT 1"), "OK");
}

// The guard's ddlgate.normalize_search_path and ddlgate's sql::normalize_search_path are
// twins: the same normal form for every spelling ddlgate accepts, and for what it refuses a
// form no bundle can hold (so nothing is confirmed under it).
TEST_F(GuardConfirm, TheGuardNormalisesASearchPathAsDdlgateDoes) {
  auto c = pg_connect(SharedPgServer::get().conninfo());
  const std::vector<std::string> spellings = {
      "\"$user\", public", "\"$user\",PUBLIC", " public ", "Public ,X", "\"A b\"", "\"a\"\"b\", c",
      "", "   ", "public,public", "\"select\", \"user\"", "select_x", "\"Ab\",ab, \"ab\"",
      "a\tb", "s\n,\tt", std::string(70, 'x'), "\"" + std::string(70, 'y') + "\"", "\"\"", "a,,b", "a,",
      ",a", "\"unterminated", "a b", "caf\xc3\xa9, \"CAF\xc3\x89\"", "\"1abc\", _x, x1"};
  for (const auto& spelling : spellings) {
    const char* values[] = {spelling.c_str()};
    PgResult r(PQexecParams(c.get(), "SELECT ddlgate.normalize_search_path($1)", 1, nullptr, values, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << spelling << ": " << PQerrorMessage(c.get());
    const std::string guard = PQgetvalue(r.get(), 0, 0);
    auto ours = sql::normalize_search_path(spelling);
    if (ours) {
      EXPECT_EQ(guard, *ours) << "spelling [" << spelling << "]";
    } else {
      // ddlgate refuses it: the guard's form must be none a bundle can record.
      EXPECT_FALSE(sql::normalize_search_path(guard).ok() && *sql::normalize_search_path(guard) == guard)
          << "spelling [" << spelling << "] gives [" << guard << "]";
    }
  }
}

// The done-when of issue 25: a real tool applies 1,000 approved statements through ddlgate,
// in transactions (some REPEATABLE READ) and with CREATE INDEX CONCURRENTLY, and the guard,
// detecting, records none of them as out of band.
TEST_F(GuardConfirm, AThousandStatementsAppliedByDbmateLeaveNothingOutOfBand) {
  const PgServer& pg = SharedPgServer::get();
  auto r = run_command({ddlgate_binary().string(), "guard", "install", "--url", pg.conninfo(), "--mode", "detect"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  TempDir bulk{"ddlgate-guard-bulk"};
  const fs::path migrations = bulk.path() / "migrations";
  fs::create_directories(migrations);
  for (int f = 0; f < 10; ++f) {
    std::string text = "-- migrate:up\n";
    if (f % 2 == 1) text += "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\n";
    for (int i = 0; i < 100; ++i) text += "CREATE TABLE t" + std::to_string(f) + "_" + std::to_string(i) + " (id int);\n";
    text += "-- migrate:down\n";
    write_file(migrations / ("00" + std::to_string(f) + "_batch.sql"), text);
  }
  write_file(migrations / "010_index.sql",
             "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY t0_0_id ON t0_0 (id);\n"
             "-- migrate:down\nDROP INDEX t0_0_id;\n");
  make_signed_bundle(bulk.path(), migrations, "bulk");
  auto proxy = start_in(bulk.path());
  const fs::path dbmate = fs::path(DDLGATE_SOURCE_DIR) / ".tools/npm/node_modules/.bin/dbmate";
  ASSERT_TRUE(fs::exists(dbmate)) << "scripts/setup.sh installs dbmate from npm";
  const std::string url = "DATABASE_URL=postgres://postgres@127.0.0.1:" + std::to_string(proxy->port()) + "/" +
                          pg.database() + "?sslmode=disable";
  auto up = run_command({dbmate.string(), "--migrations-dir", migrations.string(), "--no-dump-schema", "up"}, {},
                        std::chrono::seconds(120), {url});
  ASSERT_EQ(up.exit_code, 0) << up.stdout_text << up.stderr_text << proxy->stderr_log();
  EXPECT_EQ(value("SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename ~ '^t[0-9]_[0-9]+$'"), "1000");
  EXPECT_EQ(value("SELECT count(*) FROM pg_catalog.pg_indexes WHERE indexname = 't0_0_id'"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM ddlgate.changes WHERE event <> 'install'"), "0")
      << value("SELECT string_agg(command_tag || ' ' || coalesce(object_identity, ''), '; ') FROM ddlgate.changes "
               "WHERE event <> 'install'");
}

}  // namespace
}  // namespace ddlgate::testing
