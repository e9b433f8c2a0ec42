// Lock safety at the server (issue 28 item 3): with enforcement.lock_timeout_for_blocking,
// the guard sets a transaction-local lock_timeout for an approved statement that blocks reads
// or writes of an existing table, so that a migration waiting behind a held lock fails
// (55P03) instead of queueing production traffic behind it. An enforcing ddlgate in front of
// PostgreSQL 15 with the guard installed; session A holds a lock, B migrates through
// ddlgate, C reads. What the guard set is seen from inside: a column added with the default
// current_setting('lock_timeout') takes the value the ALTER ran under (a stable default is
// evaluated once, by the ALTER, for the rows already there).
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/config/config.h"
#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

DDLGATE_SHARED_PG_SERVER();

constexpr const char* kAlter = "ALTER TABLE t ADD COLUMN c text DEFAULT pg_catalog.current_setting('lock_timeout')";
constexpr const char* kProbe = "CREATE TABLE probe AS SELECT pg_catalog.current_setting('lock_timeout') AS v";

// The SQLSTATE of running sql (simple protocol), or "OK".
std::string run(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return "OK";
  const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return state ? state : std::string("?: ") + PQerrorMessage(c);
}

// Waits at most `limit` for what was sent on c (PQsendQuery): "OK", the SQLSTATE of its
// error, or "TIMEOUT" while it still runs.
std::string wait_for(PGconn* c, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (true) {
    if (!PQconsumeInput(c)) return std::string("?: ") + PQerrorMessage(c);
    if (!PQisBusy(c)) break;
    if (Clock::now() >= deadline) return "TIMEOUT";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string out = "OK";
  while (PGresult* raw = PQgetResult(c)) {
    PgResult r(raw);
    auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && out == "OK") {
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      out = state ? state : "?";
    }
  }
  return out;
}

class GuardLock : public ::testing::Test {
 protected:
  // The guard in `mode`, table t (one row) made before it; the approved migration adds a
  // column to t (blocking: AccessExclusiveLock) and creates a new table (not blocking).
  void install(const std::string& mode) {
    const PgServer& pg = SharedPgServer::get();
    pg.ensure_role("ddlgate_ctl", "LOGIN");
    pg.admin_sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
    auto r = run_command({ddlgate_binary().string(), "guard", "install", "--url", pg.conninfo(), "--mode", mode});
    ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
    pg.admin_sql("GRANT ddlgate_control TO ddlgate_ctl");
    fs::create_directories(dir_.path() / "migrations");
    write_file(dir_.path() / "migrations" / "001_lock.sql",
               std::string("-- migrate:up\n") + kAlter + ";\n" + kProbe + ";\n-- migrate:down\n");
    make_signed_bundle(dir_.path(), dir_.path() / "migrations");
  }

  // An enforcing ddlgate confirming to the guard; lock_timeout empty: the key left out.
  std::unique_ptr<DdlgateProcess> start(const std::string& lock_timeout) {
    const fs::path& d = dir_.path();
    std::string toml = "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n";
    if (!lock_timeout.empty()) toml += "lock_timeout_for_blocking = \"" + lock_timeout + "\"\n";
    toml += "[bundles]\nregistry_dir = \"" + (d / "registry").string() +
            "\"\nenvironment = \"production\"\ntrust_file = \"" + (d / "trust.toml").string() +
            "\"\n[ledger]\ndirectory = \"" + (d / "ledger").string() + "\"\ncheckpoint_key_file = \"" +
            (d / "ledger.key").string() + "\"\n[guard]\ncontrol_user = \"ddlgate_ctl\"\n";
    write_file(d / "ddlgate.toml", toml);
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (d / "ddlgate.toml").string()});
  }

  static PgConn connect(const std::string& conninfo) {
    auto c = pg_connect(conninfo);
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    return c;
  }

  static std::string value(const std::string& sql) {
    std::string v = SharedPgServer::get().admin_sql(sql);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
  }

  // Until some backend waits for a lock on t (the ALTER queued behind A), at most 10 s.
  static bool someone_waits_on_t() {
    for (int i = 0; i < 500; ++i) {
      if (value("SELECT count(*) FROM pg_catalog.pg_locks WHERE NOT granted AND relation = 'public.t'::regclass") !=
          "0") {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  TempDir dir_{"ddlgate-guard-lock"};
};

TEST_F(GuardLock, ABlockingMigrationWaitingOnAHeldLockFailsAfterTheTimeoutAndReadsGoOn) {
  install("enforce");
  auto proxy = start("1s");
  const PgServer& pg = SharedPgServer::get();
  auto a = connect(pg.conninfo());
  auto b = connect(proxy->conninfo());
  auto c = connect(pg.conninfo());
  ASSERT_EQ(run(a.get(), "BEGIN"), "OK");
  ASSERT_EQ(run(a.get(), "LOCK TABLE t IN ACCESS SHARE MODE"), "OK");

  const auto sent = Clock::now();
  ASSERT_EQ(PQsendQuery(b.get(), kAlter), 1) << PQerrorMessage(b.get());
  ASSERT_TRUE(someone_waits_on_t()) << proxy->stderr_log();
  // C's read queues behind the ALTER's AccessExclusiveLock request, and goes on when it ends.
  const auto read_sent = Clock::now();
  ASSERT_EQ(PQsendQuery(c.get(), "SELECT count(*) FROM t"), 1);
  EXPECT_EQ(wait_for(b.get(), std::chrono::seconds(10)), "55P03") << "lock_not_available" << proxy->stderr_log();
  const auto failed_after = Clock::now() - sent;
  EXPECT_GE(failed_after, std::chrono::milliseconds(950)) << "not before the configured 1s";
  EXPECT_LT(failed_after, std::chrono::seconds(10));
  EXPECT_EQ(wait_for(c.get(), std::chrono::seconds(10)), "OK") << "the read was not stuck behind the migration";
  EXPECT_LT(Clock::now() - read_sent, std::chrono::seconds(10));
  EXPECT_EQ(value("SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = 'public.t'::regclass AND attname = 'c'"),
            "0");

  // Once A is done, the same approved statement runs, and it ran under the timeout.
  ASSERT_EQ(run(a.get(), "COMMIT"), "OK");
  EXPECT_EQ(run(b.get(), kAlter), "OK") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT c FROM t"), "1s");
  // Transaction-local: the session's own setting is untouched afterwards.
  EXPECT_EQ(run(b.get(), "SELECT 1"), "OK");
  std::string error;
  EXPECT_EQ(pg_query_value(b.get(), "SHOW lock_timeout", &error).value_or(error), "0");
}

TEST_F(GuardLock, WithoutTheKeyTheSameMigrationWaitsUntilTheLockIsReleased) {
  install("enforce");
  auto proxy = start("");
  const PgServer& pg = SharedPgServer::get();
  auto a = connect(pg.conninfo());
  auto b = connect(proxy->conninfo());
  ASSERT_EQ(run(a.get(), "BEGIN"), "OK");
  ASSERT_EQ(run(a.get(), "LOCK TABLE t IN ACCESS SHARE MODE"), "OK");
  ASSERT_EQ(PQsendQuery(b.get(), kAlter), 1) << PQerrorMessage(b.get());
  ASSERT_TRUE(someone_waits_on_t()) << proxy->stderr_log();
  // Well past the 1s the other test configures, it still waits.
  EXPECT_EQ(wait_for(b.get(), std::chrono::milliseconds(2500)), "TIMEOUT");
  EXPECT_NE(value("SELECT count(*) FROM pg_catalog.pg_locks WHERE NOT granted AND relation = 'public.t'::regclass"),
            "0");
  ASSERT_EQ(run(a.get(), "COMMIT"), "OK");
  EXPECT_EQ(wait_for(b.get(), std::chrono::seconds(10)), "OK") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT c FROM t"), "0") << "no lock_timeout was set";
}

TEST_F(GuardLock, ANonBlockingStatementGetsNoneAndAMigrationsOwnIsKept) {
  install("enforce");
  auto proxy = start("1s");
  auto b = connect(proxy->conninfo());
  // A new table blocks nobody: no lock_timeout.
  EXPECT_EQ(run(b.get(), kProbe), "OK") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT v FROM probe"), "0");
  // A lock_timeout the migration set itself stays.
  ASSERT_EQ(run(b.get(), "BEGIN"), "OK");
  ASSERT_EQ(run(b.get(), "SET LOCAL lock_timeout = '250ms'"), "OK");
  EXPECT_EQ(run(b.get(), kAlter), "OK") << proxy->stderr_log();
  ASSERT_EQ(run(b.get(), "COMMIT"), "OK");
  EXPECT_EQ(value("SELECT c FROM t"), "250ms");
}

TEST_F(GuardLock, ADetectingGuardSetsItForWhatDdlgateConfirmedOnly) {
  install("detect");
  auto proxy = start("1s");
  auto b = connect(proxy->conninfo());
  EXPECT_EQ(run(b.get(), kAlter), "OK") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT c FROM t"), "1s");
  // The same kind of statement on a direct connection: recorded, not confirmed, no timeout.
  auto direct = connect(SharedPgServer::get().conninfo());
  EXPECT_EQ(run(direct.get(), "ALTER TABLE t ADD COLUMN d text DEFAULT pg_catalog.current_setting('lock_timeout')"),
            "OK");
  EXPECT_EQ(value("SELECT d FROM t"), "0");
}

// config::parse_lock_timeout_ms against the server: each value it accepts is the one
// PostgreSQL 15 sets for the same text (pg_settings, in ms).
TEST(GuardLockConfig, TheConfiguredValueIsWhatTheServerReadsFromTheSameText) {
  auto c = pg_connect(SharedPgServer::get().conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  const std::vector<std::string> spellings = {"5s",     "500ms",   "500",    " 1 min ", "1.5s",     "0.5min",
                                              "1h",     "1500us",  "2500us", "2.5ms",   "3.5ms",    "5.",
                                              "7 ms",   "0.01min", "1.0005s", "0.05h", "59.9999s", "1000000us"};
  for (const auto& text : spellings) {
    auto ours = config::parse_lock_timeout_ms(text);
    ASSERT_TRUE(ours) << text << ": " << ours.error().reason;
    const char* values[] = {text.c_str()};
    PgResult set(PQexecParams(c.get(), "SELECT pg_catalog.set_config('lock_timeout', $1, false)", 1, nullptr, values,
                              nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(set.get()), PGRES_TUPLES_OK) << text << ": " << PQerrorMessage(c.get());
    std::string error;
    EXPECT_EQ(pg_query_value(c.get(), "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'lock_timeout'", &error)
                  .value_or(error),
              std::to_string(*ours))
        << "[" << text << "]";
  }
}

}  // namespace
}  // namespace ddlgate::testing
