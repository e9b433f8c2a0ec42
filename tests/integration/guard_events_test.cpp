// Statements ddlgate does not control but the server fires event triggers for
// (REFRESH MATERIALIZED VIEW): an enforcing guard refuses every such statement nobody
// confirmed, so ddlgate confirms them when it lets them through. Against PostgreSQL 15 with
// the guard installed in enforce mode, an application's REFRESH runs through ddlgate in the
// simple and extended protocols, in a transaction block, as a prepared statement and beside an
// approved change; the same sent around ddlgate is refused; and without a control connection
// ddlgate does not refuse it itself: the guard decides alone.
#include <string>

#include <gtest/gtest.h>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

// The SQLSTATE of a result, or "OK".
std::string state_of(PGconn* c, PGresult* r) {
  auto st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return "OK";
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return state ? state : std::string("?: ") + PQerrorMessage(c);
}

std::string run(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  return state_of(c, r.get());
}

std::string run_extended(PGconn* c, const std::string& sql) {
  PgResult r(PQexecParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0));
  return state_of(c, r.get());
}

class GuardEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    const PgServer& pg = SharedPgServer::get();
    pg.ensure_role("ddlgate_ctl", "LOGIN");
    // The application's objects, made while the guard only detects.
    guard_install("detect");
    pg.admin_sql(
        "CREATE TABLE IF NOT EXISTS reports (id int PRIMARY KEY, amount int);"
        "CREATE MATERIALIZED VIEW IF NOT EXISTS report_totals AS SELECT 1 AS k, count(*) AS n FROM reports;"
        "CREATE UNIQUE INDEX IF NOT EXISTS report_totals_k ON report_totals (k);"
        "DROP TABLE IF EXISTS later;"
        "TRUNCATE reports;");
    guard_install("enforce");
    pg.admin_sql("GRANT ddlgate_control TO ddlgate_ctl");
    seen_ = value("SELECT coalesce(max(id), 0) FROM ddlgate.confirmations");
    fs::create_directories(dir_.path() / "migrations");
    write_file(dir_.path() / "migrations" / "001_later.sql", "-- migrate:up\nCREATE TABLE later (id int);\n");
    make_signed_bundle(dir_.path(), dir_.path() / "migrations");
  }

  static void guard_install(const std::string& mode) {
    auto r = run_command({ddlgate_binary().string(), "guard", "install", "--url", SharedPgServer::get().conninfo(),
                          "--mode", mode});
    ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  }

  std::unique_ptr<DdlgateProcess> start(const std::string& control_user = "ddlgate_ctl") {
    const fs::path& d = dir_.path();
    write_file(d / "ddlgate.toml", "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n"
                                   "[bundles]\nregistry_dir = \"" + (d / "registry").string() +
                                       "\"\nenvironment = \"production\"\ntrust_file = \"" + (d / "trust.toml").string() +
                                       "\"\n[ledger]\ndirectory = \"" + (d / "ledger").string() +
                                       "\"\ncheckpoint_key_file = \"" + (d / "ledger.key").string() +
                                       "\"\n[guard]\ncontrol_user = \"" + control_user + "\"\n");
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (d / "ddlgate.toml").string()});
  }

  static std::string value(const std::string& sql) {
    std::string v = SharedPgServer::get().admin_sql(sql);
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
  }

  // This test's confirmations: those after the last one when it started.
  std::string confirmations(const std::string& where) const {
    return value("SELECT count(*) FROM ddlgate.confirmations WHERE id > " + seen_ + " AND " + where);
  }

  TempDir dir_{"ddlgate-guard-events"};
  std::string seen_;
};

TEST_F(GuardEvents, ARefreshRunsThroughDdlgateAndIsRefusedAroundIt) {
  auto proxy = start();
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  const std::string refresh = "REFRESH MATERIALIZED VIEW report_totals";
  ASSERT_EQ(run(c.get(), "INSERT INTO reports VALUES (1, 10), (2, 20)"), "OK");
  EXPECT_EQ(run(c.get(), refresh), "OK") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT n FROM report_totals"), "2");
  ASSERT_EQ(run(c.get(), "INSERT INTO reports VALUES (3, 30)"), "OK");
  EXPECT_EQ(run(c.get(), "REFRESH MATERIALIZED VIEW CONCURRENTLY report_totals"), "OK") << proxy->stderr_log();
  EXPECT_EQ(value("SELECT n FROM report_totals"), "3");
  EXPECT_EQ(run_extended(c.get(), refresh), "OK") << proxy->stderr_log();
  EXPECT_EQ(run(c.get(), "BEGIN"), "OK");
  EXPECT_EQ(run(c.get(), refresh), "OK") << proxy->stderr_log();
  EXPECT_EQ(run(c.get(), "COMMIT"), "OK");
  EXPECT_EQ(run(c.get(), "SELECT 1; " + refresh), "OK") << proxy->stderr_log();
  // A prepared REFRESH keeps its confirmation for as long as the statement lives.
  {
    PgResult p(PQprepare(c.get(), "refresh_totals", refresh.c_str(), 0, nullptr));
    ASSERT_EQ(state_of(c.get(), p.get()), "OK") << proxy->stderr_log();
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(run(c.get(), "INSERT INTO reports VALUES (" + std::to_string(10 + i) + ", 1)"), "OK");
    PgResult e(PQexecPrepared(c.get(), "refresh_totals", 0, nullptr, nullptr, nullptr, 0));
    EXPECT_EQ(state_of(c.get(), e.get()), "OK") << proxy->stderr_log();
    EXPECT_EQ(value("SELECT n FROM report_totals"), std::to_string(4 + i));
  }
  // Maintenance the server fires no event trigger for needs nothing.
  EXPECT_EQ(run(c.get(), "VACUUM reports"), "OK");
  EXPECT_EQ(run(c.get(), "ANALYZE reports"), "OK");
  // Each confirmation named the REFRESH's tag and nothing else, but CONCURRENTLY's, which
  // also named the commands on its temporary diff table.
  EXPECT_EQ(confirmations("command_tags <> ARRAY['REFRESH MATERIALIZED VIEW']"), "1");
  EXPECT_EQ(confirmations("command_tags = ARRAY['REFRESH MATERIALIZED VIEW', 'CREATE TABLE', 'ALTER TABLE', "
                          "'DROP TABLE']"),
            "1");
  EXPECT_GE(std::stoi(confirmations("true")), 6);
  // Around ddlgate the enforcing guard refuses it: nobody confirmed it.
  auto direct = pg_connect(SharedPgServer::get().conninfo());
  EXPECT_EQ(run(direct.get(), refresh), "DG001");
}

TEST_F(GuardEvents, AnApprovedChangeAndARefreshInOneMessageRunTogether) {
  auto proxy = start();
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(run(c.get(), "CREATE TABLE later (id int); REFRESH MATERIALIZED VIEW report_totals"), "OK")
      << proxy->stderr_log();
  EXPECT_EQ(value("SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'later'"), "1");
  EXPECT_EQ(confirmations("command_tags = ARRAY['CREATE TABLE', 'REFRESH MATERIALIZED VIEW']"), "1");
}

TEST_F(GuardEvents, WithoutAControlConnectionTheGuardDecidesAlone) {
  auto proxy = start("no_such_control_role");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  // ddlgate does not control a REFRESH: it goes on unconfirmed, and the enforcing guard refuses it.
  EXPECT_EQ(run(c.get(), "REFRESH MATERIALIZED VIEW report_totals"), "DG001") << proxy->stderr_log();
  EXPECT_NE(proxy->stderr_log().find("the guard could not confirm a statement it fires event triggers for"),
            std::string::npos);
  EXPECT_EQ(run(c.get(), "SELECT 1"), "OK");
  // An approved change is refused by ddlgate itself (58000), as before.
  EXPECT_EQ(run(c.get(), "CREATE TABLE later (id int)"), "58000");
}

}  // namespace
}  // namespace ddlgate::testing
