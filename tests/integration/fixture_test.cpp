// The integration-test fixtures, proven against a real PostgreSQL 15 without
// ddlgate in between (and against a stand-in for the ddlgate binary).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

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

// Each test that calls SharedPgServer::get() works in a database of its own, made
// from the template, and every helper's default database is that one.
TEST(SharedPgServer, EachTestHasADatabaseOfItsOwn) {
  auto& pg = SharedPgServer::get();
  const std::string prefix = "t" + std::to_string(getpid()) + "_sharedpgserver_eachtesthasadatabaseofitsown";
  EXPECT_EQ(pg.database(), prefix.substr(0, 63));
  for (const auto& conninfo : {pg.conninfo(), pg.socket_conninfo()}) {
    auto conn = pg_connect(conninfo);
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << conninfo << ": " << PQerrorMessage(conn.get());
    EXPECT_EQ(pg_query_value(conn.get(), "select current_database()"), pg.database());
  }
  EXPECT_EQ(pg.admin_sql("select current_database()"), pg.database() + "\n");
  EXPECT_EQ(pg.admin_sql(std::string("select datistemplate from pg_database where datname = '") +
                         kTestTemplateDatabase + "'"),
            "t\n");
  auto proxy = DdlgateProcess::serve(pg);
  EXPECT_EQ(proxy->database(), pg.database());
  auto through = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(through.get()), CONNECTION_OK) << PQerrorMessage(through.get());
  EXPECT_EQ(pg_query_value(through.get(), "select current_database()"), pg.database());
  // A table made here is in no other test's database.
  pg.admin_sql("create table mine (id int)");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'mine'", "postgres"), "0\n");
  std::cout << "test database: " << pg.database() << "\n";
}

// What ctest does for a binary (tests/CMakeLists.txt): `ddlgate_test_pg start`, the
// tests in processes of their own attached through DDLGATE_TEST_PG_STATE, `stop`.
TEST(SharedPgServer, AFixtureServerIsSharedByTestProcessesAndEachDropsItsDatabase) {
  TempDir dir("ddlgate-fixture");
  const auto state = dir.path() / "server.pg";
  auto started = run_command({DDLGATE_TEST_PG, "start", state.string()}, {}, 120s);
  ASSERT_EQ(started.exit_code, 0) << started.stdout_text << started.stderr_text;
  const auto facts = parse_facts(read_file(state));
  auto server = PgServer::attach(facts);
  // Two test processes in turn, as ctest runs them.
  std::vector<std::string> databases;
  for (int run = 0; run < 2; ++run) {
    auto child = run_command({"/proc/self/exe", "--gtest_filter=SharedPgServer.EachTestHasADatabaseOfItsOwn"}, {},
                             120s, {std::string(kSharedPgStateEnv) + "=" + state.string()});
    ASSERT_EQ(child.exit_code, 0) << child.stdout_text << child.stderr_text;
    auto at = child.stdout_text.find("test database: ");
    ASSERT_NE(at, std::string::npos) << child.stdout_text;
    databases.push_back(child.stdout_text.substr(at + 15, child.stdout_text.find('\n', at) - at - 15));
  }
  EXPECT_NE(databases[0], databases[1]);
  const std::string log = server->server_log();
  for (const auto& db : databases) {
    EXPECT_NE(log.find("database=" + db), std::string::npos) << db << " was not used on the fixture's server";
    EXPECT_EQ(server->admin_sql("select count(*) from pg_database where datname = '" + db + "'", "postgres"), "0\n")
        << db << " outlived its test";
  }
  // A start over a state file that an interrupted run left stops that server first.
  auto again = run_command({DDLGATE_TEST_PG, "start", state.string()}, {}, 120s);
  ASSERT_EQ(again.exit_code, 0) << again.stdout_text << again.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(facts.dir)) << "the old server's directory is still there";
  auto old_conn = pg_connect(server->conninfo());
  EXPECT_EQ(PQstatus(old_conn.get()), CONNECTION_BAD);
  const auto second = parse_facts(read_file(state));
  auto stopped = run_command({DDLGATE_TEST_PG, "stop", state.string()}, {}, 120s);
  EXPECT_EQ(stopped.exit_code, 0) << stopped.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(state));
  EXPECT_FALSE(std::filesystem::exists(second.dir));
}

TEST(SharedPgServer, AStateFileIsReadStrictly) {
  EXPECT_EQ(parse_facts("port=5432\ndir=/tmp/a\ndata_dir=/tmp/a/data\n").port, 5432);
  for (const char* bad : {"port=5432\ndir=/tmp/a\n", "port=0\ndir=/tmp/a\ndata_dir=/tmp/a/data\n",
                          "port=70000\ndir=/tmp/a\ndata_dir=/tmp/a/data\n", "port=5432\ndir=a\ndata_dir=/tmp/a/data\n",
                          "port=5432\ndir=/tmp/a\ndata_dir=/tmp/a/data", "port=5432\nuser=x\ndir=/tmp/a\ndata_dir=/d\n",
                          "port=54x2\ndir=/tmp/a\ndata_dir=/tmp/a/data\n"}) {
    EXPECT_THROW(parse_facts(bad), std::runtime_error) << bad;
  }
  EXPECT_THROW(parse_facts(std::string(5000, 'x')), std::runtime_error);
  // stop_server removes only a directory that a PgServer made.
  TempDir foreign("ddlgate-not-a-server");
  write_file(foreign.path() / "keep", "x");
  write_file(foreign.path() / "state",
             "port=5432\ndir=" + foreign.path().string() + "\ndata_dir=" + (foreign.path() / "data").string() + "\n");
  std::string why;
  EXPECT_FALSE(stop_server(foreign.path() / "state", &why));
  EXPECT_NE(why.find("not a test server's directory"), std::string::npos) << why;
  EXPECT_TRUE(std::filesystem::exists(foreign.path() / "keep"));
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
