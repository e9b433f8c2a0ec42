// The integration-test fixtures, proven against a real PostgreSQL 15 without
// ddlgate in between (and against a stand-in for the ddlgate binary).
#include <gtest/gtest.h>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;

DDLGATE_SHARED_PG_SERVER();

std::string psql_bin() { return (pg_bindir() / "psql").string(); }

TEST(RunCommand, CollectsOutputAndExitCode) {
  auto r = run_command({"/bin/sh", "-c", "cat; echo err >&2; exit 3"}, "hello\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.stdout_text, "hello\n");
  EXPECT_EQ(r.stderr_text, "err\n");
  EXPECT_FALSE(r.timed_out);
}

TEST(RunCommand, KillsACommandThatOverrunsItsTimeout) {
  auto start = std::chrono::steady_clock::now();
  auto r = run_command({"/bin/sh", "-c", "sleep 30"}, {}, 200ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(RunCommand, ReportsAProgramThatDoesNotExist) {
  auto r = run_command({"/nonexistent/program"});
  EXPECT_EQ(r.exit_code, 127);
}

TEST(PgServer, AnswersPsqlOverTcp) {
  auto& pg = SharedPgServer::get();
  auto r = run_command({psql_bin(), "-X", "-A", "-t", "-d", pg.conninfo(), "-c", "select 1"});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "1\n");
}

TEST(PgServer, AcceptsLibpqOverTcpAndTheUnixSocket) {
  auto& pg = SharedPgServer::get();
  EXPECT_TRUE(std::filesystem::exists(pg.socket_path()));
  for (const auto& conninfo : {pg.conninfo(), pg.socket_conninfo()}) {
    auto conn = pg_connect(conninfo);
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << conninfo << ": " << PQerrorMessage(conn.get());
    EXPECT_EQ(pg_query_value(conn.get(), "select current_user"), "postgres");
  }
  auto tcp = pg_connect(pg.conninfo());
  EXPECT_EQ(pg_query_value(tcp.get(), "select inet_server_addr()::text"), "127.0.0.1/32");
  auto unix_socket = pg_connect(pg.socket_conninfo());
  EXPECT_EQ(pg_query_value(unix_socket.get(), "select coalesce(inet_server_addr()::text, 'unix')"), "unix");
}

TEST(PgServer, AllowsSixHundredConnectionsByDefault) {
  auto& pg = SharedPgServer::get();
  EXPECT_EQ(pg.admin_sql("show max_connections"), "600\n");
}

TEST(PgServer, ServerLogIsReadable) {
  auto& pg = SharedPgServer::get();
  EXPECT_NE(pg.server_log().find("database system is ready to accept connections"), std::string::npos)
      << pg.server_log();
}

TEST(PgServer, AppliesExtraConfigurationLines) {
  PgServer pg({.max_connections = 20, .extra_conf = {"work_mem = '7MB'"}});
  EXPECT_EQ(pg.admin_sql("show max_connections"), "20\n");
  EXPECT_EQ(pg.admin_sql("show work_mem"), "7MB\n");
}

TEST(PgServer, ScramRejectsAWrongPasswordAndAcceptsTheRightOne) {
  PgServer pg({.auth = PgAuth::scram_sha_256, .user = "alice", .password = "right-horse"});
  auto bad = pg_connect(pg.conninfo("alice") + " password=wrong-horse");
  EXPECT_EQ(PQstatus(bad.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(bad.get())).find("password authentication failed"), std::string::npos)
      << PQerrorMessage(bad.get());
  auto none = pg_connect(pg.conninfo("alice"));
  EXPECT_EQ(PQstatus(none.get()), CONNECTION_BAD);

  auto good = pg_connect(pg.conninfo("alice") + " password=right-horse");
  ASSERT_EQ(PQstatus(good.get()), CONNECTION_OK) << PQerrorMessage(good.get());
  EXPECT_EQ(pg_query_value(good.get(), "select current_user"), "alice");
  EXPECT_EQ(pg.admin_sql("select left(rolpassword, 14) from pg_authid where rolname = 'alice'"), "SCRAM-SHA-256$\n");
  EXPECT_NE(pg.server_log().find("password authentication failed for user \"alice\""), std::string::npos);
}

TEST(PgServer, Md5StoresAnMd5Password) {
  PgServer pg({.auth = PgAuth::md5, .user = "bob", .password = "pw-bob"});
  EXPECT_EQ(pg.admin_sql("select left(rolpassword, 3) from pg_authid where rolname = 'bob'"), "md5\n");
  auto bad = pg_connect(pg.conninfo("bob") + " password=nope");
  EXPECT_EQ(PQstatus(bad.get()), CONNECTION_BAD);
  auto good = pg_connect(pg.conninfo("bob") + " password=pw-bob");
  EXPECT_EQ(PQstatus(good.get()), CONNECTION_OK) << PQerrorMessage(good.get());
}

TEST(PgServer, TlsServerAcceptsSslmodeRequireAndVerifyFull) {
  PgServer pg({.tls = true});
  auto conn = pg_connect(pg.conninfo() + " sslmode=require");
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(PQsslInUse(conn.get()), 1);
  EXPECT_EQ(pg_query_value(conn.get(), "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()"), "true");

  auto verified = pg_connect(pg.conninfo() + " sslmode=verify-full sslrootcert=" + pg.ca_file().string());
  ASSERT_EQ(PQstatus(verified.get()), CONNECTION_OK) << PQerrorMessage(verified.get());
  EXPECT_EQ(PQsslInUse(verified.get()), 1);
}

TEST(PgServer, TlsOnlyServerRefusesPlaintext) {
  PgServer pg({.tls_only = true});
  auto plain = pg_connect(pg.conninfo() + " sslmode=disable");
  EXPECT_EQ(PQstatus(plain.get()), CONNECTION_BAD);
  auto tls = pg_connect(pg.conninfo() + " sslmode=require");
  EXPECT_EQ(PQstatus(tls.get()), CONNECTION_OK) << PQerrorMessage(tls.get());
}

TEST(PgServer, StopRemovesTheSocket) {
  PgServer pg;
  auto socket = pg.socket_path();
  EXPECT_TRUE(std::filesystem::exists(socket));
  pg.stop();
  EXPECT_FALSE(pg.running());
  EXPECT_FALSE(std::filesystem::exists(socket));
}

TEST(DdlgateProcess, ReadsTheEndpointsFromTheReadyFile) {
  DdlgateProcess proc({"serve"}, 10s, FAKE_DDLGATE);
  ASSERT_EQ(proc.endpoints().size(), 2u);
  EXPECT_EQ(proc.endpoints()[0], "127.0.0.1:45678");
  EXPECT_EQ(proc.endpoints()[1], "/tmp/fake-ddlgate.sock");
  EXPECT_EQ(proc.port(), 45678);
  EXPECT_GT(proc.pid(), 0);
  EXPECT_TRUE(proc.running());
  EXPECT_EQ(proc.terminate(), 0);
  EXPECT_FALSE(proc.running());
  EXPECT_NE(proc.stderr_log().find("SIGTERM, bye"), std::string::npos) << proc.stderr_log();
}

TEST(DdlgateProcess, ThrowsWithTheLogWhenTheProcessExitsBeforeItIsReady) {
  try {
    DdlgateProcess proc({"serve", "--exit-early", "2"}, 10s, FAKE_DDLGATE);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("exited with 2"), std::string::npos) << what;
    EXPECT_NE(what.find("failing with 2"), std::string::npos) << what;
  }
}

TEST(DdlgateProcess, TimesOutWhenNoReadyFileAppears) {
  EXPECT_THROW(DdlgateProcess({"-c", "sleep 30"}, 300ms, "/bin/sh"), std::runtime_error);
}

// The real binary, once `ddlgate serve` exists: select 1 through the proxy.
TEST(DdlgateProcess, ServesSelectOneThroughTheRealBinary) {
  auto help = run_command({ddlgate_binary().string(), "--help"}, {}, 10s);
  if (help.stdout_text.find("\n  serve ") == std::string::npos) GTEST_SKIP() << "this ddlgate has no `serve` yet";
  auto& pg = SharedPgServer::get();
  auto proxy = DdlgateProcess::serve(pg);
  auto conn = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(pg_query_value(conn.get(), "select 1"), "1");
  conn.reset();
  EXPECT_EQ(proxy->terminate(), 0);
}

}  // namespace
}  // namespace ddlgate::testing
