// Enforcement end to end: a signed bundle built from a dbmate directory, a
// ledger, and ddlgate in enforce (or monitor) mode in front of a real
// PostgreSQL. Approved statements apply; anything else is refused exactly as a
// failing statement is refused by PostgreSQL, and every decision is on the
// ledger, which then verifies.
// Only what needs the real server, a driver, the ledger on disk or a process is
// here; the engine's decisions and protocol bookkeeping are tested from bytes in
// tests/unit/engine/engine_test.cpp.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <poll.h>
#include <libpq-fe.h>

#include <nlohmann/json.hpp>

#include "ddlgate/ledger/merkle.h"
#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/signed_bundle.h"
#include "ddlgate/testing/raw_wire.h"
#include "ddlgate/testing/text.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

std::string ddlgate() { return ddlgate_binary().string(); }

// The up parts of tests/data/migrations/dbmate, as a deploy job runs them.
constexpr const char* kMigration = R"(create table users (
  id bigint primary key,
  email text not null
);
grant select on users to reporting;
create index concurrently users_email on users (email);
alter table users add column name text default '';
)";

class Enforce : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = SharedPgServer::get();
    pg.admin_sql("drop table if exists users, sneaky, t2 cascade");
    pg.ensure_role("reporting");
    make_signed_bundle(dir_.path(), std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate");
  }

  // Full-statement logging: a fresh audit_probe (id int) table and an enforcing ddlgate
  // with enforcement.record_all_statements.
  std::unique_ptr<DdlgateProcess> start_recording_all() {
    auto& pg = SharedPgServer::get();
    pg.admin_sql("drop table if exists audit_probe cascade");
    pg.admin_sql("create table audit_probe (id int)");
    return start("enforce", "record_all_statements = true\n");
  }
  std::unique_ptr<DdlgateProcess> start(const std::string& mode = "enforce", const std::string& extra = "") {
    write_file(dir_.path() / "ddlgate.toml",
               "[enforcement]\nmode = \"" + mode + "\"\n" + superusers_ + extra + "[ledger]\ndirectory = \"" + ledger_dir().string() +
                   "\"\ncheckpoint_key_file = \"" + (dir_.path() / "ledger.key").string() +
                   "\"\n[bundles]\nregistry_dir = \"" + (dir_.path() / "registry").string() +
                   "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() + "\"\n");
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / "ddlgate.toml").string()});
  }

  // Replay protection: a fresh orders (customer text) table, the demo bundle (which
  // approves an index on it), and an enforcing ddlgate with spend_approvals_once.
  std::unique_ptr<DdlgateProcess> start_spending_once() {
    SharedPgServer::get().admin_sql("drop table if exists orders cascade; create table orders (customer text)");
    add_demo_bundle();
    return start("enforce", "spend_approvals_once = true\n");
  }

  fs::path ledger_dir() const { return dir_.path() / "ledger"; }

  // A second application's signed bundle, built from the demo's dbmate
  // directory (copied, so a test may add to it); returns that directory.
  fs::path add_demo_bundle() {
    fs::path migrations = dir_.path() / "demo-migrations";
    fs::create_directories(migrations);
    for (const auto& e : fs::directory_iterator(fs::path(DDLGATE_SOURCE_DIR) / "docs/demo/migrations")) {
      fs::copy_file(e.path(), migrations / e.path().filename());
    }
    fs::path staging = dir_.path() / "staging-demo";
    run_ok({ddlgate(), "bundle", "build", migrations.string(), "--tool", "dbmate", "--out", staging.string(), "--app",
            "demo", "--version", "1", "--environment", "production", "--database", SharedPgServer::get().database()});
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (dir_.path() / "registry.key").string(), "--role",
            "registry"});
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (dir_.path() / "alice.key").string(), "--role",
            "approver"});
    fs::rename(staging, dir_.path() / "registry" / "demo-v1");
    return migrations;
  }

  // `dbmate up` of migrations through ddlgate listening on port.
  static CommandResult dbmate_up(const fs::path& migrations, std::uint16_t port) {
    const fs::path dbmate = fs::path(DDLGATE_SOURCE_DIR) / ".tools/npm/node_modules/.bin/dbmate";
    EXPECT_TRUE(fs::exists(dbmate)) << "scripts/setup.sh installs dbmate from npm";
    const std::string url =
        "DATABASE_URL=postgres://postgres@127.0.0.1:" + std::to_string(port) + "/" + SharedPgServer::get().database() +
        "?sslmode=disable";
    return run_command({dbmate.string(), "--migrations-dir", migrations.string(), "--no-dump-schema", "up"}, {}, 60s,
                       {url});
  }

  // Stops ddlgate (final checkpoint) and returns `ddlgate ledger verify` and `tail`.
  std::pair<CommandResult, std::string> verify_ledger(std::unique_ptr<DdlgateProcess>& proxy) {
    EXPECT_EQ(proxy->terminate(20s), 0);
    proxy.reset();
    auto v = run_command({ddlgate(), "ledger", "verify", ledger_dir().string(), "--pubkey", (dir_.path() / "ledger.pub").string()});
    auto t = run_command({ddlgate(), "ledger", "tail", "--lines", "1000", ledger_dir().string()});
    return {v, t.stdout_text};
  }

  TempDir dir_{"ddlgate-enforce"};
  // The tests connect as the superuser postgres; listed, it is enforced as anyone is.
  std::string superusers_ = "superusers = [\"postgres\"]\n";
};

struct Failure {
  std::string sqlstate, message, detail, hint;
};

Failure exec_fail(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR) << sql;
  auto field = [&](int code) {
    const char* v = PQresultErrorField(r.get(), code);
    return std::string(v ? v : "");
  };
  return {field(PG_DIAG_SQLSTATE), field(PG_DIAG_MESSAGE_PRIMARY), field(PG_DIAG_MESSAGE_DETAIL),
          field(PG_DIAG_MESSAGE_HINT)};
}

std::string value(PGconn* c, const std::string& sql) {
  std::string err;
  auto v = pg_query_value(c, sql, &err);
  return v ? *v : "ERROR: " + err;
}

TEST_F(Enforce, ApprovedMigrationAppliesWithPsqlAndAnUnapprovedDropIsRefused) {
  auto proxy = start();
  write_file(dir_.path() / "up.sql", kMigration);
  auto applied = run_command({(pg_bindir() / "psql").string(), "-X", "-v", "ON_ERROR_STOP=1", "-d", proxy->conninfo(),
                              "-f", (dir_.path() / "up.sql").string()});
  ASSERT_EQ(applied.exit_code, 0) << applied.stderr_text;
  auto& pg = SharedPgServer::get();
  EXPECT_EQ(pg.admin_sql("select string_agg(attname, ',' order by attnum) from pg_attribute where attrelid = 'users'::regclass and attnum > 0"),
            "id,email,name\n");

  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  Failure f = exec_fail(c.get(), "DROP TABLE users");
  EXPECT_EQ(f.sqlstate, "42501");
  // The primary message names the statement (an excerpt), the reason and the hash. The drop is
  // the bundle's down part: a down approval, which no user may run without enforcement.deployers.
  EXPECT_EQ(f.message.rfind("ddlgate: schema_change statement \"DROP TABLE users\" is not approved: it is approved "
                            "only as a down (rollback) statement, which only a role named in enforcement.deployers "
                            "may run, and user postgres is not named there (sha256:", 0),
            0u)
      << f.message;
  EXPECT_EQ(f.detail, "DROP TABLE users");
  EXPECT_FALSE(f.hint.empty());
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");
  // Reads and writes flow as before.
  EXPECT_EQ(value(c.get(), "insert into users (id, email) values (1, 'a@example.com') returning id"), "1");
  c.reset();

  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  EXPECT_NE(tail.find("decision=\"allowed\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("display_sql=\"DROP TABLE users\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("decision=\"denied\""), std::string::npos) << tail;
  EXPECT_EQ(tail.find("INSERT"), std::string::npos) << "application writes are not ledgered: " << tail;
}

// PQcmdStatus of a command that succeeds, or "ERROR <sqlstate>".
std::string command(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PQcmdStatus(r.get());
  const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return std::string("ERROR ") + (code ? code : "?");
}

TEST_F(Enforce, ADenialInsideATransactionAbortsItSoCommitRollsBack) {
  auto proxy = start();
  SharedPgServer::get().admin_sql("create table t2 (v int)");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK);
  EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
  EXPECT_EQ(command(c.get(), "insert into t2 values (1)"), "INSERT 0 1");
  EXPECT_EQ(command(c.get(), "drop table t2"), "ERROR 42501");
  // The client is told the transaction failed, and so is the server.
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
  EXPECT_EQ(command(c.get(), "select 1"), "ERROR 25P02");
  EXPECT_EQ(command(c.get(), "commit"), "ROLLBACK");
  EXPECT_EQ(SharedPgServer::get().admin_sql("select count(*) from t2"), "0\n");
}

// A denial is a PL/pgSQL DO block that raises ddlgate's error. In a database without
// PL/pgSQL the server refuses the block itself: the refused statement still does not run and
// the transaction still aborts, but the client sees the server's error, not ddlgate's.
TEST_F(Enforce, WithoutPlpgsqlARefusedStatementStillDoesNotRunAndItsTransactionAborts) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop database if exists no_plpgsql");
  pg.admin_sql("create database no_plpgsql");
  pg.admin_sql("drop extension plpgsql", "no_plpgsql");
  pg.admin_sql("create table t2 (v int)", "no_plpgsql");
  auto proxy = start();
  {
    auto c = pg_connect(proxy->conninfo("postgres", "no_plpgsql"));
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(command(c.get(), "drop table t2"), "ERROR 42704");  // language "plpgsql" does not exist
    EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
    EXPECT_EQ(command(c.get(), "insert into t2 values (1)"), "INSERT 0 1");
    EXPECT_EQ(command(c.get(), "drop table t2"), "ERROR 42704");
    EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_INERROR);
    EXPECT_EQ(command(c.get(), "commit"), "ROLLBACK");
    EXPECT_EQ(command(c.get(), "select count(*) from t2"), "SELECT 1");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from t2", "no_plpgsql"), "0\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  std::size_t denied = 0;
  for (auto at = tail.find("decision=\"denied\""); at != std::string::npos; at = tail.find("decision=\"denied\"", at + 1)) ++denied;
  EXPECT_EQ(denied, 2u) << tail;
  pg.admin_sql("drop database no_plpgsql");
}

// Texts on which libpg_query 15's deparser dereferences NULL (fuzz_classifier found them).
// Sent by any authenticated client, each one used to kill ddlgate and every session with it.
TEST_F(Enforce, EmptyStringsThatCrashedTheDeparserAreDecidedAndTheProxyLives) {
  auto proxy = start("enforce", "record_all_statements = true\n");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  for (const char* sql : {"ALTER TYPE e ADD VALUE ''", "ALTER SUBSCRIPTION s CONNECTION ''",
                          "CREATE CONVERSION c FOR '' TO 'UTF8' FROM f", "LOAD ''"}) {
    EXPECT_EQ(command(c.get(), sql), "ERROR 42501") << sql;
  }
  // Transaction statements are not controlled: the server answers them (recorded in full).
  EXPECT_EQ(command(c.get(), "COMMIT PREPARED ''"), "ERROR 42704");
  EXPECT_EQ(command(c.get(), "ROLLBACK PREPARED ''"), "ERROR 42704");
  EXPECT_EQ(command(c.get(), "PREPARE TRANSACTION ''"), "ROLLBACK");  // outside a transaction block
  EXPECT_EQ(command(c.get(), "select 1"), "SELECT 1");
  c.reset();
  EXPECT_TRUE(proxy->running());
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  EXPECT_NE(tail.find("cannot deparse: an empty string literal"), std::string::npos) << tail;
}

// A pipeline's results until `syncs` PIPELINE_SYNCs, or what came within `limit`
// when they do not all come (a session that hangs).
struct PipelineResults {
  std::vector<ExecStatusType> seen;
  std::vector<std::string> codes;  // the SQLSTATE of each error
  bool complete = false;
};

PipelineResults pipeline_results(PGconn* c, int syncs, std::chrono::milliseconds limit) {
  PipelineResults out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int got = 0;
  while (got < syncs) {
    while (PQisBusy(c)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return out;
      pollfd p{PQsocket(c), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) < 0 || PQconsumeInput(c) != 1) return out;
    }
    PGresult* r = PQgetResult(c);
    if (!r) continue;
    out.seen.push_back(PQresultStatus(r));
    if (PQresultStatus(r) == PGRES_FATAL_ERROR) out.codes.emplace_back(PQresultErrorField(r, PG_DIAG_SQLSTATE));
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) ++got;
    PQclear(r);
  }
  out.complete = true;
  return out;
}

// In libpq's pipeline mode through ddlgate: `batch` (each statement with
// Parse/Bind/Describe/Execute), a Sync, then "select 4" and a Sync. Returns the
// results, and checks that the pipeline ended and the session goes on.
PipelineResults two_batches(const DdlgateProcess& proxy, const std::vector<std::string>& batch) {
  auto c = pg_connect(proxy.conninfo());
  EXPECT_EQ(PQenterPipelineMode(c.get()), 1);
  auto send = [&](const std::string& sql) {
    EXPECT_EQ(PQsendQueryParams(c.get(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0), 1)
        << PQerrorMessage(c.get());
  };
  for (const auto& sql : batch) send(sql);
  EXPECT_EQ(PQpipelineSync(c.get()), 1);
  send("select 4");
  EXPECT_EQ(PQpipelineSync(c.get()), 1);
  PipelineResults r = pipeline_results(c.get(), 2, 20s);
  EXPECT_TRUE(r.complete) << "the pipeline hung after " << r.seen.size() << " results";
  if (!r.complete) return r;
  EXPECT_EQ(PQexitPipelineMode(c.get()), 1);
  EXPECT_EQ(value(c.get(), "select 5"), "5");
  return r;
}

TEST_F(Enforce, APipelineWithADenialInTheMiddleGetsPostgresqlsSequence) {
  auto proxy = start();
  PipelineResults r = two_batches(*proxy, {"select 1", "drop table if exists users", "select 3"});
  // Exactly what PostgreSQL sends when the second statement fails (see proxy_test's 1/0 case).
  std::vector<ExecStatusType> expected = {PGRES_TUPLES_OK, PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED,
                                          PGRES_PIPELINE_SYNC, PGRES_TUPLES_OK, PGRES_PIPELINE_SYNC};
  EXPECT_EQ(r.seen, expected);
  EXPECT_EQ(r.codes, std::vector<std::string>{"42501"});
}

// A statement that fails on the server, then one ddlgate refuses, in one batch:
// the server is already skipping to the Sync when ddlgate's refusal reaches it,
// so the client must get PostgreSQL's own sequence for the first failure, and
// the session must go on (ddlgate used to drop the Sync, and the server waited for it).
TEST_F(Enforce, ARefusalAfterAFailedStatementOfTheSameBatchDoesNotHangThePipeline) {
  auto proxy = start();
  PipelineResults r = two_batches(*proxy, {"select 1/0", "drop table if exists users"});
  std::vector<ExecStatusType> expected = {PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED, PGRES_PIPELINE_SYNC,
                                          PGRES_TUPLES_OK, PGRES_PIPELINE_SYNC};
  EXPECT_EQ(r.seen, expected);
  EXPECT_EQ(r.codes, std::vector<std::string>{"22012"});
}

TEST_F(Enforce, BypassAttemptsAreRefused) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("create table users (id bigint primary key, email text not null)");
  auto c = pg_connect(proxy->conninfo());
  for (const char* sql : {
           "drop table users",
           "DrOp /* hidden */ TABLE\n\tusers",
           "select 1; drop table users",
           "select * into sneaky from users",
           "explain analyze create table sneaky as select 1",
           "prepare p as delete from users; drop table users",
           "do $$ begin execute 'drop table users'; end $$",
           "create rule r as on insert to users do instead nothing",
           "copy users from program 'true'",
           "truncate users",
           "alter role reporting superuser",
           "create function f() returns int language sql as 'select 1'",
           "this is not sql",
           "alter role app password 'hunter2' oops",
       }) {
    EXPECT_EQ(command(c.get(), sql), "ERROR 42501") << sql;
  }
  // The parser's error quotes the text near it ("at or near ..."): the client
  // sees it, the log does not (it may be a password).
  PGresult* r = PQexec(c.get(), "alter role app password 'hunter2' oops");
  EXPECT_NE(std::string(PQresultErrorMessage(r)).find("oops"), std::string::npos) << PQresultErrorMessage(r);
  PQclear(r);
  const std::string log = proxy->stderr_log();
  EXPECT_NE(log.find("unparseable statement is not approved (parse error at byte"), std::string::npos) << log;
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;
  EXPECT_EQ(log.find("oops"), std::string::npos) << log;
  // A statement split across many TCP segments is reassembled before it is judged.
  std::string big = "drop table users /*" + std::string(300000, 'x') + "*/";
  EXPECT_EQ(command(c.get(), big), "ERROR 42501");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname in ('users')"), "1\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname in ('sneaky')"), "0\n");
  // Reads and writes are untouched.
  EXPECT_EQ(command(c.get(), "insert into users values (9, 'x@example.com')"), "INSERT 0 1");
  EXPECT_EQ(value(c.get(), "select count(*) from users"), "1");
}

// A client may send statements in the same write as its startup packet, before
// authentication has finished (with trust or certificate authentication the
// server runs them right after). They are decided like any other.
TEST_F(Enforce, StatementsPipelinedBehindTheStartupPacketAreDecidedToo) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("create table users (id bigint primary key, email text not null)");
  for (char type : {'Q', 'P'}) {
    std::vector<std::uint8_t> wire = startup_packet(0, {{"user", "postgres"}, {"database", SharedPgServer::get().database()}});
    auto append = [&](std::vector<std::uint8_t> m) { wire.insert(wire.end(), m.begin(), m.end()); };
    if (type == 'Q') {
      append(frontend_message('Q', std::string("drop table users") + '\0'));
    } else {
      // Parse (unnamed, no parameter types), Bind, Execute, Sync.
      append(frontend_message('P', std::string("\0drop table users\0\0\0", 20)));
      append(frontend_message('B', std::string("\0\0\0\0\0\0\0\0", 8)));
      append(frontend_message('E', std::string("\0\0\0\0\0", 5)));
      append(frontend_message('S', ""));
    }
    append(frontend_message('X', ""));
    int fd = tcp_connect(proxy->port());
    ASSERT_GE(fd, 0);
    send_all(fd, wire);
    std::string answer = read_until_close(fd, 20s);
    ::close(fd);
    EXPECT_EQ(error_field(answer, 'C'), "42501") << type << ": " << message_types(answer);
    std::string types = message_types(answer);
    // Authentication, parameters, key, ready; then the refusal and one ReadyForQuery.
    ASSERT_GE(types.size(), 2u) << type;
    EXPECT_EQ(types.substr(types.size() - 2), "EZ") << type << ": " << types;
    EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n") << type;
  }
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_NE(tail.find("denied"), std::string::npos) << tail;
}

// Sends Query messages for sqls and a Terminate in one write after a startup
// packet (in the same write, or once the session is ready) over a raw socket,
// and returns everything the server side answered until it closed.
std::string pipelined_queries(std::uint16_t port, const std::vector<std::string>& sqls, bool wait_for_ready) {
  int fd = tcp_connect(port);
  EXPECT_GE(fd, 0);
  if (fd < 0) return "";
  std::vector<std::uint8_t> wire = startup_packet(0, {{"user", "postgres"}, {"database", SharedPgServer::get().database()}});
  if (wait_for_ready) {
    send_all(fd, wire);
    wire.clear();
    EXPECT_NE(message_types(read_until_message(fd, 'Z')).find('Z'), std::string::npos);
  }
  for (const std::string& sql : sqls) {
    auto m = frontend_message('Q', sql + '\0');
    wire.insert(wire.end(), m.begin(), m.end());
  }
  auto x = frontend_message('X', "");
  wire.insert(wire.end(), x.begin(), x.end());
  send_all(fd, wire);
  std::string answer = read_until_close(fd, 20s);
  ::close(fd);
  return answer;
}

// Appends a frontend message to wire.
void append(std::vector<std::uint8_t>& wire, char type, const std::string& body) {
  auto m = frontend_message(type, body);
  wire.insert(wire.end(), m.begin(), m.end());
}

// Parse, Bind and Execute of sql as the unnamed statement and portal (no Sync);
// with describe, a Describe of the portal before the Execute.
std::vector<std::uint8_t> unnamed_execute(const std::string& sql, bool describe = false) {
  const std::string none(2, '\0');  // an int16 0
  std::vector<std::uint8_t> wire;
  append(wire, 'P', std::string(1, '\0') + sql + '\0' + none);
  append(wire, 'B', std::string(2, '\0') + none + none + none);
  if (describe) append(wire, 'D', std::string("P") + '\0');
  append(wire, 'E', std::string(1, '\0') + std::string(4, '\0'));
  return wire;
}

// A raw session on port: startup (trust), then `wire` and a Terminate in one
// write; returns everything the server side answered after the session was ready.
std::string raw_session(std::uint16_t port, std::vector<std::uint8_t> wire) {
  int fd = tcp_connect(port);
  EXPECT_GE(fd, 0);
  if (fd < 0) return "";
  send_all(fd, startup_packet(0, {{"user", "postgres"}, {"database", SharedPgServer::get().database()}}));
  EXPECT_NE(message_types(read_until_message(fd, 'Z')).find('Z'), std::string::npos);
  append(wire, 'X', "");
  send_all(fd, wire);
  // Terminate ends the session: the server closes, and so must ddlgate, in seconds.
  bool closed = false;
  std::string answer = read_until_close(fd, 10s, &closed);
  EXPECT_TRUE(closed) << "the connection was still open 10 s after Terminate; got " << message_types(answer);
  ::close(fd);
  return answer;
}

// With standard_conforming_strings off, a backslash escapes a quote in a plain
// literal, so the server splits this text into a SELECT and a DROP where
// PostgreSQL's default reading sees one SELECT. ddlgate must read it the way the
// server will, also when the setting arrives in a pipeline or in the startup packet.
TEST_F(Enforce, BackslashQuotesCannotHideAStatementWhenStandardConformingStringsIsOff) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("create table users (id bigint primary key, email text not null)");
  const std::string sneaky = R"(select 'a\' || ' ; drop table users; --')";
  {
    auto c = pg_connect(proxy->conninfo());
    // With the default (on) it is one harmless SELECT.
    EXPECT_EQ(value(c.get(), sneaky), R"(a\ ; drop table users; --)");
    EXPECT_EQ(command(c.get(), "set standard_conforming_strings = off"), "SET");
    EXPECT_EQ(command(c.get(), sneaky), "ERROR 42501");
    // Approved-free text with backslashes still works, read the server's way.
    EXPECT_EQ(value(c.get(), R"(select 'it\'s')"), "it's");
  }
  {
    // Set in the startup packet.
    auto c = pg_connect(proxy->conninfo() + " options='-c standard_conforming_strings=off'");
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(command(c.get(), sneaky), "ERROR 42501");
  }
  // Set and used in two pipelined Query messages: the second is decided before
  // the server has reported the change (and, without waiting for the first
  // ReadyForQuery, before the session is even established).
  for (bool wait_for_ready : {true, false}) {
    std::string answer = pipelined_queries(proxy->port(), {"set standard_conforming_strings = off", sneaky}, wait_for_ready);
    EXPECT_EQ(error_field(answer, 'C'), "42501") << wait_for_ready << ": " << message_types(answer);
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");
}

// The same setting changed by an Execute whose batch has no Sync yet, and the
// text sent right behind it in a Query: the server runs the Query under the new
// setting, so ddlgate must not take the session's settings as known while an
// Execute is unanswered.
TEST_F(Enforce, BackslashQuotesCannotHideAStatementBehindAnUnsyncedExecuteThatSetsTheSetting) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("create table users (id bigint primary key, email text not null)");
  std::vector<std::uint8_t> wire = unnamed_execute("set standard_conforming_strings = off");
  append(wire, 'Q', std::string(R"(select 'a\' || ' ; drop table users; --')") + '\0');
  append(wire, 'S', "");
  std::string answer = raw_session(proxy->port(), wire);
  EXPECT_EQ(error_field(answer, 'C'), "42501") << message_types(answer);
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");
}

// The issue's reproduction: the setting changes by an Execute and a Flush (no Sync),
// and the client waits for its CommandComplete before it sends the text. Nothing is
// left unanswered then, but no ReadyForQuery (and so no ParameterStatus) has come:
// the session's settings are unknown until one does.
TEST_F(Enforce, BackslashQuotesCannotHideAStatementAfterAnAnsweredExecuteAndFlush) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists x");
  for (bool in_block : {false, true}) {
    int fd = tcp_connect(proxy->port());
    ASSERT_GE(fd, 0);
    send_all(fd, startup_packet(0, {{"user", "postgres"}, {"database", SharedPgServer::get().database()}}));
    ASSERT_NE(message_types(read_until_message(fd, 'Z')).find('Z'), std::string::npos);
    std::vector<std::uint8_t> wire;
    if (in_block) {
      append(wire, 'Q', std::string("begin") + '\0');
      send_all(fd, wire);
      ASSERT_NE(message_types(read_until_message(fd, 'Z')).find('Z'), std::string::npos);
      wire.clear();
    }
    wire = unnamed_execute(in_block ? "set local standard_conforming_strings = off"
                                    : "set standard_conforming_strings = off");
    append(wire, 'H', "");
    send_all(fd, wire);
    ASSERT_NE(message_types(read_until_message(fd, 'C')).find('C'), std::string::npos);
    wire.clear();
    append(wire, 'Q', std::string(R"(select 'a\' || ' ; create table x (a int); --')") + '\0');
    append(wire, 'S', "");
    send_all(fd, wire);
    const std::string answer = read_until_message(fd, 'Z');
    ::close(fd);
    EXPECT_EQ(error_field(answer, 'C'), "42501") << in_block << ": " << message_types(answer);
    EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'x'"), "0\n") << in_block;
  }
}

// A configuration reload changes an idle session's settings before it runs its next
// message, and PostgreSQL reports the change only afterwards. ddlgate pins
// standard_conforming_strings (and backslash_quote) in the startup packet, where a
// client's setting outranks postgresql.conf, so the reload cannot change them.
TEST_F(Enforce, AReloadCannotChangeHowAnIdleSessionsTextIsSplit) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists x");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(value(c.get(), "show standard_conforming_strings"), "on");
  struct Restore {
    PgServer& pg;
    ~Restore() {
      pg.admin_sql("alter system reset standard_conforming_strings");
      pg.admin_sql("select pg_reload_conf()");
    }
  } restore{pg};
  pg.admin_sql("alter system set standard_conforming_strings = off");
  pg.admin_sql("select pg_reload_conf()");
  // A direct session now reads backslashes as escapes (the reload took effect)...
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(pg.admin_sql("show standard_conforming_strings"), "off\n");
  // ...and the idle session through ddlgate still splits the text as one SELECT.
  EXPECT_EQ(value(c.get(), R"(select 'a\' || ' ; create table x (a int); --')"), R"(a\ ; create table x (a int); --)");
  EXPECT_EQ(value(c.get(), "show standard_conforming_strings"), "on");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'x'"), "0\n");
  // A client's own value goes upstream unchanged.
  auto off = pg_connect(proxy->conninfo() + " options='-c standard_conforming_strings=off -c backslash_quote=on'");
  ASSERT_EQ(PQstatus(off.get()), CONNECTION_OK) << PQerrorMessage(off.get());
  EXPECT_EQ(value(off.get(), "show backslash_quote"), "on");
  EXPECT_EQ(value(off.get(), "show standard_conforming_strings"), "off");
}

// A refused statement goes upstream as ddlgate's own Query. The lexing model
// (protocol/lexing_state.h) counts what goes upstream, so once that Query's
// ReadyForQuery has come, the idle session's settings are known again and a harmless
// text with a backslash is read one way only, not refused for another reading.
TEST_F(Enforce, AfterARefusalAnIdleSessionsSettingsAreKnownAgain) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists x");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  const std::string harmless = R"(select 'a\' || ' ; create table x (a int); --')";
  EXPECT_EQ(command(c.get(), "create table refused_here (a int)"), "ERROR 42501");
  EXPECT_EQ(value(c.get(), harmless), R"(a\ ; create table x (a int); --)");
  PgResult prepared(PQprepare(c.get(), "refused", "create table refused_here (a int)", 0, nullptr));
  EXPECT_EQ(PQresultStatus(prepared.get()), PGRES_FATAL_ERROR);
  EXPECT_EQ(value(c.get(), harmless), R"(a\ ; create table x (a int); --)");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname in ('x', 'refused_here')"), "0\n");
}

// A superuser changes the server with plain reads and writes (and settings of the
// startup packet), so unless enforcement.superusers lists the user, a session that
// PostgreSQL reports is_superuser = on has every statement decided as controlled
// (transaction control aside). An ordinary role's session is enforced as before.
TEST_F(Enforce, ASuperusersSessionHasEveryStatementDecidedUnlessListed) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists t2; create table t2 (v int)");
  pg.ensure_role("app", "LOGIN");
  pg.admin_sql("grant select, insert on t2 to app");
  superusers_.clear();
  auto proxy = start();
  {
    auto su = pg_connect(proxy->conninfo());
    ASSERT_EQ(PQstatus(su.get()), CONNECTION_OK) << PQerrorMessage(su.get());
    EXPECT_EQ(command(su.get(), "select 1"), "ERROR 42501");
    EXPECT_EQ(command(su.get(), "insert into t2 values (1)"), "ERROR 42501");
    EXPECT_EQ(command(su.get(), "begin"), "BEGIN");
    EXPECT_EQ(command(su.get(), "rollback"), "ROLLBACK");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from t2"), "0\n");
  {
    auto app = pg_connect(proxy->conninfo("app"));
    ASSERT_EQ(PQstatus(app.get()), CONNECTION_OK) << PQerrorMessage(app.get());
    EXPECT_EQ(command(app.get(), "insert into t2 values (2)"), "INSERT 0 1");
    EXPECT_EQ(value(app.get(), "select count(*) from t2"), "1");
    EXPECT_EQ(command(app.get(), "drop table t2"), "ERROR 42501");
  }
  EXPECT_NE(proxy->stderr_log().find("is a superuser: every statement is decided as controlled"), std::string::npos)
      << proxy->stderr_log();
}

// A dangerous setting in the startup packet (superuser-only, loading code, or
// session_replication_role, which switches off triggers and rules) runs before any
// statement: refused unless enforcement.allowed_startup_settings names it.
TEST_F(Enforce, ADangerousStartupSettingIsRefusedUnlessAllowedByName) {
  auto proxy = start();
  for (const std::string options : {"-c session_replication_role=replica", "--session-replication-role=replica",
                                    "-c session_preload_libraries=auto_explain"}) {
    auto c = pg_connect(proxy->conninfo() + " options='" + options + "'");
    EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD) << options;
    EXPECT_NE(std::string(PQerrorMessage(c.get())).find("is not allowed"), std::string::npos)
        << options << ": " << PQerrorMessage(c.get());
  }
  // A top-level startup parameter too (raw packet: libpq puts settings in options).
  std::string answer = exchange(proxy->port(), startup_packet(0, {{"user", "postgres"}, {"database", SharedPgServer::get().database()},
                                                                  {"session_replication_role", "replica"}}));
  EXPECT_EQ(error_field(answer, 'C'), "42501") << message_types(answer);
  proxy->terminate(20s);
  proxy = start("enforce", "allowed_startup_settings = [\"session_replication_role\"]\n");
  auto ok = pg_connect(proxy->conninfo() + " options='-c session_replication_role=replica'");
  ASSERT_EQ(PQstatus(ok.get()), CONNECTION_OK) << PQerrorMessage(ok.get());
  EXPECT_EQ(value(ok.get(), "show session_replication_role"), "replica");
}

// A FunctionCall message (the protocol's fast path) names its function by OID, with no
// text to classify: only the large-object functions that libpq and pgjdbc call that way
// go on, and they keep working; lo_export or pg_reload_conf called so is refused.
TEST_F(Enforce, AFunctionCallMessageMayOnlyCallTheLargeObjectFunctions) {
  auto& pg = SharedPgServer::get();
  auto proxy = start();
  {
    // libpq's large-object API: lo_creat, lo_open, lowrite, lo_lseek, loread, lo_close,
    // lo_unlink, all FunctionCall messages, in a transaction.
    auto c = pg_connect(proxy->conninfo());
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    ASSERT_EQ(command(c.get(), "begin"), "BEGIN");
    const Oid lo = lo_creat(c.get(), 0x00060000);  // INV_READ | INV_WRITE
    ASSERT_NE(lo, 0u) << PQerrorMessage(c.get());
    const int fd = lo_open(c.get(), lo, 0x00060000);
    ASSERT_GE(fd, 0) << PQerrorMessage(c.get());
    EXPECT_EQ(lo_write(c.get(), fd, "hello", 5), 5) << PQerrorMessage(c.get());
    EXPECT_EQ(lo_lseek(c.get(), fd, 0, SEEK_SET), 0);
    char buf[8] = {};
    EXPECT_EQ(lo_read(c.get(), fd, buf, sizeof buf), 5) << PQerrorMessage(c.get());
    EXPECT_STREQ(buf, "hello");
    EXPECT_EQ(lo_close(c.get(), fd), 0);
    EXPECT_EQ(lo_unlink(c.get(), lo), 1);
    EXPECT_EQ(command(c.get(), "commit"), "COMMIT");
  }
  // lo_export (OID 765) of a large object over a server file, and pg_reload_conf (2621).
  const std::string lo = pg.admin_sql("select lo_from_bytea(0, 'x')");
  // A directory the server's own user may write in, so that only ddlgate stops the write.
  const fs::path drop = fs::temp_directory_path() / ("ddlgate-fastpath-" + std::to_string(::getpid()));
  fs::create_directories(drop);
  fs::permissions(drop, fs::perms::all);
  const std::string target = (drop / "exported").string();
  auto int32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  auto int16 = [](std::uint16_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; };
  auto text_arg = [&](const std::string& v) { return int32(static_cast<std::uint32_t>(v.size())) + v; };
  const std::string lo_oid = lo.substr(0, lo.find('\n'));
  for (const std::string& body : {int32(765) + int16(0) + int16(2) + text_arg(lo_oid) + text_arg(target) + int16(0),
                                  int32(2621) + int16(0) + int16(0) + int16(0)}) {
    std::vector<std::uint8_t> wire;
    append(wire, 'F', body);
    const std::string answer = raw_session(proxy->port(), wire);
    EXPECT_EQ(error_field(answer, 'C'), "42501") << message_types(answer);
    EXPECT_EQ(message_types(answer).find('V'), std::string::npos) << "the function ran: " << message_types(answer);
  }
  EXPECT_FALSE(fs::exists(target));
  fs::remove_all(drop);
  pg.admin_sql("select lo_unlink(" + lo_oid + ")");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_NE(tail.find("FunctionCall message: function OID 765"), std::string::npos) << tail;
}

// In SJIS the bytes 0x95 0x5C are one character (a kanji): the server converts
// the text before it parses it and sees the quote after them end the literal,
// where a byte reader sees an escaped quote. ddlgate reads such text converted.
TEST_F(Enforce, AClientEncodingCannotHideABackslashFromTheDecision) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("create table users (id bigint primary key, email text not null)");
  const std::string sneaky = "select E'\x95\\' ; drop table users; --'";
  {
    auto c = pg_connect(proxy->conninfo());
    ASSERT_EQ(PQsetClientEncoding(c.get(), "SJIS"), 0);
    EXPECT_EQ(command(c.get(), sneaky), "ERROR 42501");
    // Ordinary SJIS text still flows, read the server's way.
    EXPECT_EQ(value(c.get(), "select '\x95\\' || 'x'"), "\x95\\x");
  }
  // Set and used in two pipelined Query messages.
  for (bool wait_for_ready : {true, false}) {
    std::string answer = pipelined_queries(proxy->port(), {"set client_encoding = 'SJIS'", sneaky}, wait_for_ready);
    EXPECT_EQ(error_field(answer, 'C'), "42501") << wait_for_ready << ": " << message_types(answer);
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");
}

// The same bytes, two databases. SHIFT_JIS_2004's 0x81 0x5F is an ASCII
// backslash after PostgreSQL's conversion to UTF8 (its map, unlike glibc's, says
// so) but the full-width U+FF3C after its conversion to EUC_JIS_2004. With
// standard_conforming_strings off and backslash_quote on (a session may set
// both), `'<0x81 0x5F>''` is then the literal "'" followed by a create table in
// the UTF8 database, and one literal in the other. A reader of glibc's
// conversion sees one literal in both.
TEST_F(Enforce, AClientEncodingReadsAsTheDatabaseConvertsIt) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists smuggled");
  pg.admin_sql("drop database if exists enforce_euc_jis_2004");
  pg.admin_sql("create database enforce_euc_jis_2004 encoding 'EUC_JIS_2004' lc_collate 'C' lc_ctype 'C' "
               "template template0");
  const std::string smuggling = "select '\x81\x5F'' ; create table smuggled (id int); --'";
  auto lexing_as_attacker = [](PGconn* c) {
    EXPECT_EQ(command(c, "set standard_conforming_strings = off"), "SET");
    EXPECT_EQ(command(c, "set backslash_quote = on"), "SET");
  };
  {
    auto c = pg_connect(proxy->conninfo() + " client_encoding=SHIFT_JIS_2004");
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    lexing_as_attacker(c.get());
    EXPECT_EQ(command(c.get(), smuggling), "ERROR 42501");
    // The session goes on; ordinary SHIFT_JIS_2004 text still flows.
    EXPECT_EQ(value(c.get(), "select '\x82\xA0'"), "\x82\xA0");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'smuggled'"), "0\n");
  {
    auto c = pg_connect(proxy->conninfo("postgres", "enforce_euc_jis_2004") + " client_encoding=SHIFT_JIS_2004");
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    lexing_as_attacker(c.get());
    // One literal to this server, so one plain SELECT: allowed, and it creates nothing.
    EXPECT_EQ(value(c.get(), smuggling), "\x81\x5F' ; create table smuggled (id int); --");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'smuggled'", "enforce_euc_jis_2004"), "0\n");
  pg.admin_sql("drop database enforce_euc_jis_2004");
}

// enforcement.spend_approvals_once: an approved statement applies once per
// database; a rolled-back attempt does not spend it; dbmate's bookkeeping
// statements stay repeatable; a restart remembers what is spent (the ledger).
TEST_F(Enforce, ReplayProtectionAppliesEachApprovalOncePerDatabase) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists orders, schema_migrations cascade");
  fs::path migrations = add_demo_bundle();
  const std::string replay = "spend_approvals_once = true\n";
  auto proxy = start("enforce", replay);
  const std::string create_index = "create index orders_customer on orders (customer)";
  {
    // Rolled back: the approval is not spent.
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
    EXPECT_EQ(command(c.get(), "create table orders (customer text)"), "ERROR 42501");  // not the approved text
    EXPECT_EQ(command(c.get(), "rollback"), "ROLLBACK");
    pg.admin_sql("create table orders (customer text)");
    EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
    EXPECT_EQ(command(c.get(), create_index), "CREATE INDEX");
    EXPECT_EQ(command(c.get(), "rollback"), "ROLLBACK");
    // Undone by ROLLBACK TO SAVEPOINT: released at once, so the block may run it again.
    EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
    EXPECT_EQ(command(c.get(), "savepoint before_index"), "SAVEPOINT");
    EXPECT_EQ(command(c.get(), create_index), "CREATE INDEX");
    EXPECT_EQ(command(c.get(), "rollback to savepoint before_index"), "ROLLBACK");
    EXPECT_EQ(command(c.get(), create_index), "CREATE INDEX");
    EXPECT_EQ(command(c.get(), "rollback"), "ROLLBACK");
    pg.admin_sql("drop table orders");
  }
  auto up = dbmate_up(migrations, proxy->port());
  ASSERT_EQ(up.exit_code, 0) << up.stdout_text << up.stderr_text;
  EXPECT_EQ(pg.admin_sql("select count(*) from schema_migrations"), "2\n");
  // Nothing new to apply: dbmate's own statements run again and are allowed.
  up = dbmate_up(migrations, proxy->port());
  EXPECT_EQ(up.exit_code, 0) << up.stdout_text << up.stderr_text;

  // Someone drops the table behind ddlgate's back and the migrations are
  // replayed: their statements have been applied to this database already.
  pg.admin_sql("drop table orders cascade; delete from schema_migrations");
  auto check_refused = [&](DdlgateProcess& p) {
    pg.admin_sql("create table if not exists orders (customer text)");
    auto c = pg_connect(p.conninfo());
    Failure f = exec_fail(c.get(), create_index);
    EXPECT_EQ(f.sqlstate, "42501");
    EXPECT_NE(f.message.find("already used in database " + SharedPgServer::get().database()), std::string::npos) << f.message;
    EXPECT_NE(f.hint.find("spend_approvals_once"), std::string::npos) << f.hint;
    pg.admin_sql("drop table orders");
  };
  check_refused(*proxy);
  up = dbmate_up(migrations, proxy->port());
  EXPECT_NE(up.exit_code, 0) << up.stdout_text;
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'orders'"), "0\n");

  // After a restart on the same ledger it is still spent.
  EXPECT_EQ(proxy->terminate(20s), 0);
  proxy = start("enforce", replay);
  check_refused(*proxy);
  // create table, create index, alter table: three approvals spent.
  EXPECT_NE(proxy->stderr_log().find("replay protection: 3 approval(s) already spent"), std::string::npos)
      << proxy->stderr_log();
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_NE(tail.find("spend=\"on_commit\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("already used in this database"), std::string::npos) << tail;
}

// Replay protection in the extended protocol: an approved statement prepared
// once runs once; executing its prepared statement again (a new portal) is
// refused and recorded, and the session goes on.
TEST_F(Enforce, ReplayProtectionRefusesExecutingAnApprovedPreparedStatementTwice) {
  auto& pg = SharedPgServer::get();
  auto proxy = start_spending_once();
  auto c = pg_connect(proxy->conninfo());
  PgResult prepared(PQprepare(c.get(), "mig", "create index orders_customer on orders (customer)", 0, nullptr));
  ASSERT_EQ(PQresultStatus(prepared.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(prepared.get());
  PgResult first(PQexecPrepared(c.get(), "mig", 0, nullptr, nullptr, nullptr, 0));
  EXPECT_EQ(PQresultStatus(first.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(first.get());
  pg.admin_sql("drop index orders_customer");
  PgResult again(PQexecPrepared(c.get(), "mig", 0, nullptr, nullptr, nullptr, 0));
  EXPECT_EQ(PQresultStatus(again.get()), PGRES_FATAL_ERROR);
  const char* state = PQresultErrorField(again.get(), PG_DIAG_SQLSTATE);
  EXPECT_EQ(std::string(state ? state : ""), "42501");
  EXPECT_NE(std::string(PQresultErrorMessage(again.get())).find("executed already"), std::string::npos)
      << PQresultErrorMessage(again.get());
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'orders_customer'"), "0\n");
  // The session goes on.
  EXPECT_EQ(value(c.get(), "select 7"), "7");
  c.reset();
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_NE(tail.find("its prepared statement was executed already"), std::string::npos) << tail;
  pg.admin_sql("drop table orders");
}

// A full disk under the ledger: decisions can no longer be made durable, so
// controlled statements are refused with 58030 while reads and writes go on.
// The ledger lives on a 2 MiB tmpfs, which needs root (CI runs as root).
TEST_F(Enforce, WhenTheLedgerCannotWriteControlledStatementsAreRefusedAndTrafficFlows) {
  SmallDisk disk(ledger_dir(), "2m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)";
  auto& pg = SharedPgServer::get();
  pg.admin_sql("create table users (id bigint primary key, email text not null)");
  auto proxy = start();
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(command(c.get(), "drop table users"), "ERROR 42501");  // decided and recorded

  disk.fill();
  // The segment file's last page may still hold a few records; the first write
  // that needs a new page fails, and the ledger stays failed from then on.
  Failure f;
  int denied_while_full = 0;
  for (; denied_while_full < 200; ++denied_while_full) {
    f = exec_fail(c.get(), "drop table users");
    if (f.sqlstate != "42501") break;
  }
  EXPECT_LT(denied_while_full, 200);
  EXPECT_EQ(f.sqlstate, "58030");
  EXPECT_NE(f.message.find("ledger is unavailable"), std::string::npos) << f.message;
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");
  // Application traffic keeps flowing, on this session and on new ones.
  EXPECT_EQ(command(c.get(), "insert into users values (1, 'a@example.com')"), "INSERT 0 1");
  auto c2 = pg_connect(proxy->conninfo());
  EXPECT_EQ(value(c2.get(), "select count(*) from users"), "1");
  EXPECT_EQ(exec_fail(c2.get(), "create table t2 (id int)").sqlstate, "58030");
  EXPECT_NE(proxy->stderr_log().find("ledger"), std::string::npos);
  c.reset();
  c2.reset();
  proxy->terminate(20s);
}

// Replay protection with a full ledger disk: executing an approved prepared
// statement a second time cannot be recorded, so, like any other controlled
// statement, it is refused with 58030 in enforce mode and runs (logged) in
// monitor mode.
TEST_F(Enforce, AReExecutedPreparedStatementWithoutALedgerIs58030WhenEnforcingAndRunsInMonitorMode) {
  auto& pg = SharedPgServer::get();
  add_demo_bundle();
  for (const std::string mode : {"enforce", "monitor"}) {
    SCOPED_TRACE(mode);
    pg.admin_sql("drop table if exists orders cascade; create table orders (customer text)");
    SmallDisk disk(ledger_dir(), "2m");  // a fresh, empty ledger for each mode
    if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)";
    auto proxy = start(mode, "spend_approvals_once = true\n");
    auto c = pg_connect(proxy->conninfo());
    PgResult prepared(PQprepare(c.get(), "mig", "create index orders_customer on orders (customer)", 0, nullptr));
    ASSERT_EQ(PQresultStatus(prepared.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(prepared.get());
    PgResult first(PQexecPrepared(c.get(), "mig", 0, nullptr, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(first.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(first.get());
    pg.admin_sql("drop index orders_customer");

    disk.fill();
    // Unapproved statements until one finds the ledger failed (see the test above).
    const std::string unavailable = "the ledger is unavailable";
    for (int i = 0; i < 200 && proxy->stderr_log().find(unavailable) == std::string::npos; ++i) {
      PgResult r(PQexec(c.get(), "drop table if exists no_such_table"));
    }
    ASSERT_NE(proxy->stderr_log().find(unavailable), std::string::npos) << "the ledger never failed";

    PgResult again(PQexecPrepared(c.get(), "mig", 0, nullptr, nullptr, nullptr, 0));
    if (mode == "enforce") {
      EXPECT_EQ(PQresultStatus(again.get()), PGRES_FATAL_ERROR);
      const char* state = PQresultErrorField(again.get(), PG_DIAG_SQLSTATE);
      EXPECT_EQ(std::string(state ? state : ""), "58030") << PQresultErrorMessage(again.get());
      EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'orders_customer'"), "0\n");
    } else {
      EXPECT_EQ(PQresultStatus(again.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(again.get());
      EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'orders_customer'"), "1\n");
      EXPECT_NE(proxy->stderr_log().find("re-executed prepared statement allowed (monitor mode)"), std::string::npos)
          << proxy->stderr_log();
    }
    EXPECT_EQ(value(c.get(), "select 7"), "7");  // the session goes on
    c.reset();
    proxy->terminate(20s);
  }
  pg.admin_sql("drop table orders");
}

// PostgreSQL looks prepared statements and portals up by their first 63 bytes
// (NAMEDATALEN - 1): "a"*63 + "1" and "a"*63 + "2" are one statement to the
// server. ddlgate must read names the same way, or a second name would run an
// approved statement again unseen (no replay check, no outcome).
TEST_F(Enforce, ReplayProtectionReadsLongStatementNamesAsTheServerDoes) {
  auto& pg = SharedPgServer::get();
  auto proxy = start_spending_once();
  auto c = pg_connect(proxy->conninfo());
  const std::string name = std::string(63, 'm') + "1";
  const std::string alias = std::string(63, 'm') + "2";
  PgResult prepared(PQprepare(c.get(), name.c_str(), "create index orders_customer on orders (customer)", 0, nullptr));
  ASSERT_EQ(PQresultStatus(prepared.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(prepared.get());
  PgResult first(PQexecPrepared(c.get(), name.c_str(), 0, nullptr, nullptr, nullptr, 0));
  EXPECT_EQ(PQresultStatus(first.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(first.get());
  pg.admin_sql("drop index orders_customer");
  PgResult again(PQexecPrepared(c.get(), alias.c_str(), 0, nullptr, nullptr, nullptr, 0));
  EXPECT_EQ(PQresultStatus(again.get()), PGRES_FATAL_ERROR);
  const char* state = PQresultErrorField(again.get(), PG_DIAG_SQLSTATE);
  EXPECT_EQ(std::string(state ? state : ""), "42501") << PQresultErrorMessage(again.get());
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'orders_customer'"), "0\n");
  EXPECT_EQ(value(c.get(), "select 7"), "7");
  c.reset();
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "outcome=\"executed\""), 1u) << tail;  // the first run
  pg.admin_sql("drop table orders");
}

// PQprepare / PQexecPrepared: the command status ("PREPARE" for a Parse, which has
// none), or "ERROR <sqlstate>".
std::string result_status(PGresult* raw) {
  PgResult r(raw);
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    std::string tag = PQcmdStatus(r.get());
    return tag.empty() ? "PREPARE" : tag;
  }
  const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return std::string("ERROR ") + (code ? code : "?");
}
std::string prepare(PGconn* c, const std::string& name, const std::string& sql) {
  return result_status(PQprepare(c, name.c_str(), sql.c_str(), 0, nullptr));
}
std::string exec_prepared(PGconn* c, const std::string& name) {
  return result_status(PQexecPrepared(c, name.c_str(), 0, nullptr, nullptr, nullptr, 0));
}

constexpr const char* kApprovedIndex = "create index orders_customer on orders (customer)";

// Protocol Parse and SQL PREPARE share one namespace on the server, so SQL EXECUTE can run
// a statement prepared with Parse: with replay protection, every SQL spelling that reaches
// a once-only prepared statement is refused and recorded, and the server does not run it.
TEST_F(Enforce, ReplayProtectionRefusesSqlExecuteOfAProtocolPreparedStatement) {
  auto& pg = SharedPgServer::get();
  auto proxy = start_spending_once();
  auto c = pg_connect(proxy->conninfo());
  auto index_count = [&] { return pg.admin_sql("select count(*) from pg_class where relname = 'orders_customer'"); };
  ASSERT_EQ(prepare(c.get(), "mig", kApprovedIndex), "PREPARE");
  // Before its own Execute: SQL may not be its one run either.
  EXPECT_EQ(command(c.get(), "execute mig"), "ERROR 42501");
  EXPECT_EQ(index_count(), "0\n");
  ASSERT_EQ(exec_prepared(c.get(), "mig"), "CREATE INDEX");
  pg.admin_sql("drop index orders_customer");
  const std::vector<std::string> spellings = {
      "execute mig",
      "EXECUTE MIG",                        // folded to mig, as the server folds it
      "execute \"mig\"",
      "explain analyze execute mig",
      "explain (analyze, costs off) execute mig",
      "select 1; execute mig",              // inside a multi-statement Query
      "begin; execute mig; commit",
      "create table t2 as execute mig",     // controlled itself; never its replay either
      "do $$begin execute 'exec' || 'ute mig'; end$$",  // code: a DO needs its own approval
  };
  for (const std::string& sql : spellings) {
    Failure f = exec_fail(c.get(), sql);
    EXPECT_EQ(f.sqlstate, "42501") << sql << ": " << f.message;
    EXPECT_EQ(index_count(), "0\n") << sql;
    EXPECT_EQ(value(c.get(), "select 7"), "7") << sql;  // the session goes on
  }
  EXPECT_NE(exec_fail(c.get(), "execute mig").message.find("SQL EXECUTE may run its prepared statement"),
            std::string::npos);
  // EXECUTE prepared with Parse (named or unnamed) is refused at its Parse: its Bind and
  // Execute could otherwise run it again and again.
  EXPECT_EQ(prepare(c.get(), "again", "execute mig"), "ERROR 42501");
  EXPECT_EQ(exec_prepared(c.get(), "again"), "ERROR 26000");  // never prepared
  EXPECT_EQ(result_status(PQexecParams(c.get(), "execute mig", 0, nullptr, nullptr, nullptr, nullptr, 0)),
            "ERROR 42501");
  EXPECT_EQ(index_count(), "0\n");
  c.reset();
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "outcome=\"executed\""), 1u) << tail;  // its one run
  // Each refusal of an EXECUTE of it is a denied decision on its hash (the DO and the
  // CREATE TABLE AS are refused as themselves).
  EXPECT_GE(occurrences(tail, "SQL EXECUTE of its prepared statement"), 10u) << tail;
  pg.admin_sql("drop table orders");
}

// Names the server reads differently from their bytes: over 63 bytes (cut), and quoted
// with capitals. SQL reaches the statement by the server's reading and is refused.
TEST_F(Enforce, ReplayProtectionRefusesSqlExecuteOfLongAndQuotedStatementNames) {
  auto& pg = SharedPgServer::get();
  auto proxy = start_spending_once();
  auto c = pg_connect(proxy->conninfo());
  auto index_count = [&] { return pg.admin_sql("select count(*) from pg_class where relname = 'orders_customer'"); };
  ASSERT_EQ(prepare(c.get(), std::string(63, 'm') + "1", kApprovedIndex), "PREPARE");
  ASSERT_EQ(exec_prepared(c.get(), std::string(63, 'm')), "CREATE INDEX");
  pg.admin_sql("drop index orders_customer");
  // The parser cuts the identifier to the 63 bytes the server keys by.
  EXPECT_EQ(command(c.get(), "execute " + std::string(70, 'm')), "ERROR 42501");
  EXPECT_EQ(command(c.get(), "execute \"" + std::string(63, 'm') + "2\""), "ERROR 42501");
  EXPECT_EQ(index_count(), "0\n");
  c.reset();

  // A quoted name with capitals: SQL must quote it too.
  c = pg_connect(proxy->conninfo());
  const std::string add_status = "alter table orders add column status text not null default 'new'";
  ASSERT_EQ(prepare(c.get(), "Mig", add_status), "PREPARE");
  ASSERT_EQ(exec_prepared(c.get(), "Mig"), "ALTER TABLE");
  pg.admin_sql("alter table orders drop column status");
  EXPECT_EQ(command(c.get(), "execute \"Mig\""), "ERROR 42501");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_attribute where attrelid = 'orders'::regclass and attname = 'status'"),
            "0\n");
  c.reset();
  pg.admin_sql("drop table orders");
}

// Giving the name of a once-only prepared statement to another statement: the server
// refuses the Parse (42P05, the name is in use) and keeps the old statement, so ddlgate
// keeps it too; a Bind of the name runs it, and a second run is refused.
TEST_F(Enforce, ReplayProtectionKeepsAPreparedStatementWhoseNameAParseReuses) {
  auto& pg = SharedPgServer::get();
  auto proxy = start_spending_once();
  auto c = pg_connect(proxy->conninfo());
  auto index_count = [&] { return pg.admin_sql("select count(*) from pg_class where relname = 'orders_customer'"); };
  ASSERT_EQ(prepare(c.get(), "mig", kApprovedIndex), "PREPARE");
  ASSERT_EQ(exec_prepared(c.get(), "mig"), "CREATE INDEX");
  pg.admin_sql("drop index orders_customer");
  EXPECT_EQ(prepare(c.get(), "mig", "select 1"), "ERROR 42P05");
  EXPECT_EQ(exec_prepared(c.get(), "mig"), "ERROR 42501");
  EXPECT_EQ(index_count(), "0\n");
  // An approved statement under the same name: refused before its approval is used.
  EXPECT_EQ(prepare(c.get(), "mig", "alter table orders add column status text not null default 'new'"),
            "ERROR 42501");
  EXPECT_EQ(exec_prepared(c.get(), "mig"), "ERROR 42501");
  EXPECT_EQ(index_count(), "0\n");
  // Closed (the server says so): the name is free, and the statement is decided afresh.
  EXPECT_EQ(command(c.get(), "deallocate mig"), "DEALLOCATE");
  EXPECT_EQ(prepare(c.get(), "mig", "alter table orders add column status text not null default 'new'"), "PREPARE");
  EXPECT_EQ(exec_prepared(c.get(), "mig"), "ALTER TABLE");
  c.reset();
  pg.admin_sql("drop table orders");
}

// `prefix` and then "+1" until the text is `size` bytes: one deep expression.
std::string deep_sum(std::string prefix, std::size_t size) {
  prefix.reserve(size + 2);
  while (prefix.size() < size) prefix += "+1";
  return prefix;
}

// What happened when one session sent a large statement and, 200 ms later,
// another session of the same worker thread asked for "select 42".
struct LargeStatementRace {
  bool slow_busy_when_fast_answered = false;
  std::chrono::steady_clock::duration fast_took{};  // from its question to its answer
  std::chrono::steady_clock::duration slow_took{};  // from sending the statement to its refusal
};

LargeStatementRace race_with_large_statement(const DdlgateProcess& proxy, const std::string& text) {
  auto slow = pg_connect(proxy.conninfo());
  auto fast = pg_connect(proxy.conninfo());
  LargeStatementRace race;
  const auto sent = std::chrono::steady_clock::now();
  EXPECT_EQ(PQsendQuery(slow.get(), text.c_str()), 1);
  std::this_thread::sleep_for(200ms);  // let the slow one reach ddlgate first
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(value(fast.get(), "select 42"), "42");
  race.fast_took = std::chrono::steady_clock::now() - asked;
  EXPECT_EQ(PQconsumeInput(slow.get()), 1);
  race.slow_busy_when_fast_answered = PQisBusy(slow.get()) == 1;
  PGresult* r = PQgetResult(slow.get());
  race.slow_took = std::chrono::steady_clock::now() - sent;
  EXPECT_NE(r, nullptr);
  if (r == nullptr) return race;
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  EXPECT_STREQ(code ? code : "", "42501") << PQresultErrorMessage(r);  // too deep to judge: refused
  PQclear(r);
  while ((r = PQgetResult(slow.get())) != nullptr) PQclear(r);
  return race;
}

// A large statement is parsed on a thread of its own: a crafted one (libpg_query
// spends seconds on deeply nested input) does not stall the other sessions of
// the same worker thread. One worker, so both sessions share it.
TEST_F(Enforce, ALargeStatementIsAnalysedWithoutStallingOtherSessions) {
  auto proxy = start("enforce", "[server]\nworkers = 1\n");
  auto race = race_with_large_statement(*proxy, deep_sum("/**/select 1", 500 * 1024));
  // The fast session was answered while the slow statement was still being analysed.
  EXPECT_TRUE(race.slow_busy_when_fast_answered);
}

// The same for a large text that names break_glass: looking for a break-glass
// token in it is a parse as well, and it is done elsewhere too.
TEST_F(Enforce, ALargeStatementNamingBreakGlassDoesNotStallOtherSessions) {
  auto proxy = start("enforce", "[server]\nworkers = 1\n");
  auto race = race_with_large_statement(*proxy, deep_sum("/* ddlgate.break_glass */ select 1", 2048 * 1024));
  // Two parses of the large text (the break-glass scan, then the decision), each
  // hundreds of milliseconds: the other session's answer waited for neither (when
  // the scan ran on the worker, fast took about a third of slow's time).
  using std::chrono::duration_cast, std::chrono::milliseconds;
  EXPECT_LT(race.fast_took * 8, race.slow_took)
      << "fast " << duration_cast<milliseconds>(race.fast_took).count() << " ms, slow "
      << duration_cast<milliseconds>(race.slow_took).count() << " ms";
}

// ROLLBACK TO SAVEPOINT undoes what ran after the savepoint: those statements are
// recorded rolled_back at once, and the COMMIT that follows records only what
// stayed. Names are the server's (a and "A" are two savepoints), in separate
// messages, in one Query, and through the extended protocol; ROLLBACK AND CHAIN
// rolls back although a block stays open.
TEST_F(Enforce, RollbackToASavepointRecordsTheStatementsAfterItAsRolledBack) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  const std::string create = "create table users (id bigint primary key, email text not null)";
  const std::string grant = "grant select on users to reporting";
  const std::string add_name = "alter table users add column name text default ''";
  {
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
    EXPECT_EQ(command(c.get(), create), "CREATE TABLE");  // executed
    EXPECT_EQ(command(c.get(), "savepoint a"), "SAVEPOINT");
    EXPECT_EQ(command(c.get(), grant), "GRANT");  // rolled back
    EXPECT_EQ(command(c.get(), "savepoint \"A\""), "SAVEPOINT");
    EXPECT_EQ(command(c.get(), add_name), "ALTER TABLE");  // rolled back
    EXPECT_EQ(command(c.get(), "rollback to savepoint a"), "ROLLBACK");
    EXPECT_EQ(command(c.get(), "release a"), "RELEASE");
    EXPECT_EQ(command(c.get(), "commit"), "COMMIT");
    // One Query: the ALTER is rolled back, the GRANT after the ROLLBACK TO is executed.
    EXPECT_EQ(command(c.get(), "begin; savepoint x; " + add_name + "; rollback to x; " + grant + "; commit"), "COMMIT");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_attribute where attrelid = 'users'::regclass and attname = 'name'"),
            "0\n");
  {
    auto c = pg_connect(proxy->conninfo());
    // PQexecParams: Parse, Bind, Execute and Sync for every statement, savepoints included.
    auto exec_params = [&](const std::string& sql) {
      PgResult r(PQexecParams(c.get(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0));
      return PQresultStatus(r.get()) == PGRES_COMMAND_OK ? std::string(PQcmdStatus(r.get()))
                                                         : std::string(PQresultErrorMessage(r.get()));
    };
    EXPECT_EQ(exec_params("begin"), "BEGIN");
    EXPECT_EQ(exec_params("savepoint s1"), "SAVEPOINT");
    EXPECT_EQ(exec_params(add_name), "ALTER TABLE");  // executed: its savepoint is released
    EXPECT_EQ(exec_params("release savepoint s1"), "RELEASE");
    EXPECT_EQ(exec_params("savepoint s2"), "SAVEPOINT");
    EXPECT_EQ(exec_params(grant), "GRANT");  // rolled back
    EXPECT_EQ(exec_params("rollback to savepoint s2"), "ROLLBACK");
    EXPECT_EQ(exec_params("commit"), "COMMIT");
    // ROLLBACK AND CHAIN: the GRANT is rolled back, though the COMMIT after it succeeds.
    EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
    EXPECT_EQ(command(c.get(), grant), "GRANT");
    EXPECT_EQ(command(c.get(), "rollback and chain"), "ROLLBACK");
    EXPECT_EQ(command(c.get(), "commit"), "COMMIT");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_attribute where attrelid = 'users'::regclass and attname = 'name'"),
            "1\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  // Executed: the CREATE, the GRANT of the one Query, the ALTER of the extended
  // protocol. Rolled back: GRANT and ALTER after savepoint a, the ALTER after x,
  // the GRANT after s2, the GRANT before ROLLBACK AND CHAIN.
  EXPECT_EQ(occurrences(tail, "outcome=\"executed\""), 3u) << tail;
  EXPECT_EQ(occurrences(tail, "outcome=\"rolled_back\""), 5u) << tail;
}

// dbmate, from the npm registry (scripts/setup.sh installs it), applying a
// signed bundle of a dbmate directory through ddlgate: its own bookkeeping
// statements are in the bundle, exactly as dbmate sends them.
TEST_F(Enforce, DbmateAppliesASignedBundleAndAStatementSlippedInAfterSigningIsRefused) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists orders, schema_migrations cascade");
  fs::path migrations = add_demo_bundle();
  auto proxy = start();

  auto up = dbmate_up(migrations, proxy->port());
  ASSERT_EQ(up.exit_code, 0) << up.stdout_text << up.stderr_text;
  EXPECT_EQ(pg.admin_sql("select count(*) from schema_migrations"), "2\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from information_schema.columns where table_name = 'orders' and column_name = 'status'"),
            "1\n");

  // After signing, someone adds a migration: dbmate runs it, ddlgate refuses it,
  // and nothing of that migration is applied.
  write_file(migrations / "20260103000000_cleanup.sql",
             "-- migrate:up\ncreate table orders_archive (id bigint);\ndrop table orders;\n\n-- migrate:down\n");
  auto sneaky = dbmate_up(migrations, proxy->port());
  EXPECT_NE(sneaky.exit_code, 0);
  EXPECT_NE((sneaky.stdout_text + sneaky.stderr_text).find("42501"), std::string::npos) << sneaky.stderr_text;
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname in ('orders', 'orders_archive')"), "1\n");
  EXPECT_EQ(pg.admin_sql("select count(*) from schema_migrations"), "2\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  EXPECT_NE(tail.find("decision=\"denied\" display_sql=\"CREATE TABLE orders_archive"), std::string::npos) << tail;
}

TEST_F(Enforce, NodePostgresExtendedProtocol) {
  auto proxy = start();
  auto r = run_command({"node", std::string(DDLGATE_SOURCE_DIR) + "/tests/integration/clients/node_pg.js",
                        std::to_string(proxy->port())},
                       {}, 60s, {"NPM_TOOLS=" + std::string(DDLGATE_SOURCE_DIR) + "/.tools/npm", "PGDATABASE=" + proxy->database()});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  // node-postgres shows only the primary message: it names the statement and the reason.
  // The bundle's down part: no user may run it without enforcement.deployers.
  const std::string shown = "error string: error: ddlgate: schema_change statement \"DROP TABLE users\" is not approved: "
                            "it is approved only as a down (rollback) statement, which only a role named in "
                            "enforcement.deployers may run, and user postgres is not named there (sha256:";
  std::string out = r.stdout_text;
  std::size_t at = out.find(shown);
  ASSERT_NE(at, std::string::npos) << out;
  std::size_t end = out.find('\n', at);
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(end - at, shown.size() + 64 + 1) << out;  // the hash and ")"
  out.erase(at, end + 1 - at);
  EXPECT_EQ(out, "approved: ok\nunapproved: 42501\nafter: 42\nin transaction: 42501\ncommit: ROLLBACK\n");
  EXPECT_EQ(SharedPgServer::get().admin_sql("select count(*) from users"), "0\n");
}

// pgjdbc (Debian's libpostgresql-jdbc-java), statement by statement in one
// transaction per migration, as Flyway sends them: the approved migration
// applies; the one with a statement slipped in is refused and rolled back whole.
TEST_F(Enforce, PgjdbcAppliesMigrationsStatementByStatementAsFlywayDoes) {
  const std::string java = "/usr/lib/jvm/default-java/bin/java";
  const std::string jar = "/usr/share/java/postgresql.jar";
  ASSERT_TRUE(fs::exists(java) && fs::exists(jar)) << "scripts/setup.sh installs default-jdk-headless and libpostgresql-jdbc-java";
  auto proxy = start();
  write_file(dir_.path() / "V1__users.sql",
             "create table users (\n  id bigint primary key,\n  email text not null\n)\n;\ngrant select on users to reporting\n;\n");
  write_file(dir_.path() / "V2__name.sql", "alter table users add column name text default ''\n;\ndrop table users\n;\n");
  auto r = run_command({java, "-cp", jar, std::string(DDLGATE_SOURCE_DIR) + "/tests/integration/clients/JdbcMigrate.java",
                        std::to_string(proxy->port()), (dir_.path() / "V1__users.sql").string(),
                        (dir_.path() / "V2__name.sql").string()},
                       {}, 120s, {"PGDATABASE=" + proxy->database()});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_EQ(r.stdout_text.substr(0, r.stdout_text.find('\n') + 1), "V1__users.sql: applied\n") << r.stdout_text;
  // pgjdbc shows the primary message: the statement and the reason.
  EXPECT_NE(r.stdout_text.find("V2__name.sql: 42501 ERROR: ddlgate: schema_change statement \"DROP TABLE users\" is not "
                               "approved: it is approved only as a down (rollback) statement, which only a role named "
                               "in enforcement.deployers may run, and user postgres is not named there (sha256:"),
            std::string::npos)
      << r.stdout_text;
  auto& pg = SharedPgServer::get();
  EXPECT_EQ(pg.admin_sql("select string_agg(attname, ',' order by attnum) from pg_attribute where attrelid = 'users'::regclass and attnum > 0"),
            "id,email\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "outcome=\"executed\""), 2u) << tail;     // create table, grant
  EXPECT_EQ(occurrences(tail, "outcome=\"rolled_back\""), 1u) << tail;  // the alter, with its migration
  EXPECT_NE(tail.find("decision=\"denied\" display_sql=\"DROP TABLE users\""), std::string::npos) << tail;
}

TEST_F(Enforce, Psycopg3PipelineMode) {
  auto proxy = start();
  auto r = run_command({"/usr/bin/python3", std::string(DDLGATE_SOURCE_DIR) + "/tests/integration/clients/psycopg_pipeline.py",
                        std::to_string(proxy->port())},
                       {}, 60s, {"PGDATABASE=" + proxy->database()});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "approved: ok\nunapproved: 42501\nafter: 0\n");
}

// The canonical hash of one statement, by `ddlgate hash`.
std::string hash_of(const std::string& sql) {
  auto r = run_command({ddlgate(), "hash", sql});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  auto at = r.stdout_text.find("hash: ");
  return at == std::string::npos ? std::string() : r.stdout_text.substr(at + 6, 71);
}

// The ledger tail's line that holds `what`, or "" when none does.
// psycopg reads a result in the middle of a pipeline with a Flush: the server
// answers the CREATE before ddlgate has seen the batch's Sync. Each outcome must
// still name its own statement (it used to record the GRANT's tag under the
// CREATE's hash, and lose the CREATE).
TEST_F(Enforce, Psycopg3PipelineInATransactionRecordsEachOutcomeAgainstItsStatement) {
  auto proxy = start();
  auto r = run_command({"/usr/bin/python3",
                        std::string(DDLGATE_SOURCE_DIR) + "/tests/integration/clients/psycopg_pipeline_transaction.py",
                        std::to_string(proxy->port())},
                       {}, 60s, {"PGDATABASE=" + proxy->database()});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "mid-pipeline: 42\ncommitted\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "outcome=\"executed\""), 2u) << tail;
  const std::string create = line_with(tail, "command_tag=\"CREATE TABLE\" outcome=\"executed\"");
  const std::string grant = line_with(tail, "command_tag=\"GRANT\" outcome=\"executed\"");
  EXPECT_NE(create.find(hash_of("create table users (id bigint primary key, email text not null)")), std::string::npos)
      << tail;
  EXPECT_NE(grant.find(hash_of("grant select on users to reporting")), std::string::npos) << tail;
}

// A Query sent inside an extended-protocol batch (before its Sync): the server
// answers the Executes, then the Query, whose ReadyForQuery ends both; when an
// Execute fails, the server skips the Query and answers the Sync. Outcomes follow.
TEST_F(Enforce, AQueryInsideAnUnsyncedBatchKeepsOutcomesInStep) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  // CREATE by Execute, then a Query with the GRANT: both run and commit.
  auto wire = unnamed_execute("create table users (id bigint primary key, email text not null)");
  append(wire, 'Q', std::string("grant select on users to reporting") + '\0');
  append(wire, 'S', "");
  EXPECT_EQ(message_types(raw_session(proxy->port(), wire)), "12CCZZ");
  // A failing statement (1/0 fails when the Bind plans it): the server skips the
  // Execute and the Query (an approved ALTER) and answers the Sync.
  wire = unnamed_execute("select 1/0");
  append(wire, 'Q', std::string("alter table users add column name text default ''") + '\0');
  append(wire, 'S', "");
  EXPECT_EQ(message_types(raw_session(proxy->port(), wire)), "1EZ");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_attribute where attrelid = 'users'::regclass and attname = 'name'"),
            "0\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "outcome=\"executed\""), 2u) << tail;
  EXPECT_NE(line_with(tail, "command_tag=\"CREATE TABLE\" outcome=\"executed\"").find(
                hash_of("create table users (id bigint primary key, email text not null)")),
            std::string::npos)
      << tail;
  EXPECT_NE(line_with(tail, "command_tag=\"GRANT\" outcome=\"executed\"").find(hash_of("grant select on users to reporting")),
            std::string::npos)
      << tail;
  // The skipped ALTER has its decision and no outcome.
  EXPECT_EQ(occurrences(tail, "outcome=\"failed\""), 0u) << tail;
  EXPECT_EQ(occurrences(tail, "outcome=\"rolled_back\""), 0u) << tail;
}

// Random pipelines of simple and extended-protocol messages (Flush, Sync,
// Queries inside batches, failing statements, transaction blocks, savepoints,
// an approved GRANT in both protocols), each sent to PostgreSQL directly and
// through ddlgate: the client gets the same answers, and ddlgate's reading of
// what the server answers never falls out of step (outcomes depend on it).
TEST_F(Enforce, RandomPipelinesGetPostgresqlsAnswersAndKeepOutcomeTrackingInStep) {
  auto proxy = start();
  auto& pg = SharedPgServer::get();
  pg.admin_sql("create table users (id bigint primary key, email text not null)");
  const std::vector<std::string> statements = {
      "select 1", "select 1/0", "grant select on users to reporting", "begin", "commit", "rollback",
      "savepoint s", "rollback to savepoint s", "release savepoint s", "select * from users", ""};
  std::mt19937 rng(20261126);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  for (int round = 0; round < 150; ++round) {
    std::vector<std::uint8_t> wire;
    std::string script;  // for the failure message
    const std::size_t actions = 2 + pick(10);
    for (std::size_t a = 0; a < actions; ++a) {
      switch (pick(5)) {
        case 0: {  // a Query of one to three statements
          std::string sql;
          for (std::size_t k = 0, n = 1 + pick(3); k < n; ++k) sql += (k ? "; " : "") + statements[pick(statements.size())];
          append(wire, 'Q', sql + '\0');
          script += "Q(" + sql + ") ";
          break;
        }
        case 1:
        case 2: {  // Parse, Bind, Describe, Execute of the unnamed statement
          const std::string& sql = statements[pick(statements.size())];
          auto m = unnamed_execute(sql, true);
          wire.insert(wire.end(), m.begin(), m.end());
          script += "PBDE(" + sql + ") ";
          break;
        }
        case 3:
          append(wire, 'H', "");
          script += "H ";
          break;
        default:
          append(wire, 'S', "");
          script += "S ";
          break;
      }
    }
    append(wire, 'S', "");
    script += "S";
    const std::string direct = message_types(raw_session(pg.port(), wire));
    const std::string through = message_types(raw_session(proxy->port(), wire));
    ASSERT_EQ(through, direct) << "round " << round << ": " << script;
    ASSERT_FALSE(HasFailure()) << "round " << round << ": " << script;
  }
  const std::string log = proxy->stderr_log();
  EXPECT_EQ(log.find("out of step"), std::string::npos) << log;
  EXPECT_EQ(log.find("denied"), std::string::npos) << log;
}

// A client sending refused statements in a loop: each refusal is still answered
// and recorded, but at most limits.denials_per_second per user after the burst, so
// the ledger cannot grow as fast as the disk syncs. Many sessions of the user
// refused at once queue up to the time the burst takes to refill (at least 1 s);
// a session whose turn is further off is closed with 53400, and what it sent did
// not run.
TEST_F(Enforce, RefusalsArePacedPerUserAndASessionWhoseTurnIsTooFarOffIsClosed) {
  auto& pg = SharedPgServer::get();
  auto proxy = start("enforce", "[limits]\ndenials_per_second = 10\ndenial_burst = 3\n");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  // One session: 3 at once, then one every 100 ms.
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(command(c.get(), "create table sneaky (id int)"), "ERROR 42501") << i;
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 450ms) << "5 refusals beyond the burst of 3 at 10 per second";
  EXPECT_EQ(command(c.get(), "select 1"), "SELECT 1");  // the session goes on

  // Twenty sessions refused at once: the queue holds about 1 s (10 turns) beyond
  // what the bucket has refilled; the rest are closed.
  std::vector<PgConn> many;
  for (int i = 0; i < 20; ++i) {
    many.push_back(pg_connect(proxy->conninfo()));
    ASSERT_EQ(PQstatus(many.back().get()), CONNECTION_OK) << PQerrorMessage(many.back().get());
  }
  for (auto& m : many) ASSERT_EQ(PQsendQuery(m.get(), "drop table if exists sneaky"), 1);
  int refused = 0, closed = 0;
  for (auto& m : many) {
    PgResult r(PQgetResult(m.get()));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
    const std::string code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    if (code == "42501") {
      ++refused;
    } else {
      ASSERT_EQ(code, "53400") << PQresultErrorMessage(r.get());
      EXPECT_STREQ(PQresultErrorField(r.get(), PG_DIAG_SEVERITY_NONLOCALIZED), "FATAL");
      EXPECT_NE(std::string(PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY)).find("too many refused statements"),
                std::string::npos);
      EXPECT_NE(std::string(PQresultErrorField(r.get(), PG_DIAG_MESSAGE_DETAIL)).find("limits.denials_per_second"),
                std::string::npos);
      ++closed;
    }
    while (PGresult* rest = PQgetResult(m.get())) PQclear(rest);
  }
  EXPECT_GE(refused, 10) << closed << " closed";
  EXPECT_GE(closed, 1) << refused << " refused";
  many.clear();
  EXPECT_NE(proxy->stderr_log().find("is over limits.denials_per_second"), std::string::npos);
  // The other sessions' work still flows, and a new session of the user starts.
  EXPECT_EQ(value(c.get(), "select 41 + 1"), "42");
  auto fresh = pg_connect(proxy->conninfo());
  EXPECT_EQ(value(fresh.get(), "select 7"), "7");
  fresh.reset();
  c.reset();
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'sneaky'"), "0\n");
  // Every answered refusal is on the ledger; the closed sessions' statements are not.
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "decision=\"denied\""), static_cast<std::size_t>(8 + refused)) << tail;
}

// Bytes of the ledger's segment files (the records, not the checkpoints).
std::uintmax_t segment_bytes(const fs::path& ledger) {
  std::uintmax_t n = 0;
  for (const auto& e : fs::directory_iterator(ledger)) {
    if (e.path().filename().string().starts_with("segment-")) n += e.file_size();
  }
  return n;
}

// The value of `key=` on a `ledger tail` line ("" when absent), JSON-quoted as tail prints it;
// for values without spaces (numbers, hashes).
std::string tail_field(const std::string& line, const std::string& key) {
  auto at = line.find(" " + key + "=");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return line.substr(at, line.find(' ', at) - at);
}

// Issue 22, item 6: three 2 MiB refusals once wrote 6.3 MB. A refusal's record keeps the
// first 4 KiB of the display SQL, its whole length and SHA-256, and the canonical hash;
// the client's DETAIL, the log and the ledger tail stay small; the ledger verifies.
TEST_F(Enforce, AHugeRefusedStatementIsRecordedInAFewKiBThatStillVerify) {
  const std::string sql = "create table sneaky (id int, note text default '" + std::string(2 * 1024 * 1024, 'x') + "')";
  write_file(dir_.path() / "huge.sql", sql);
  auto hashed = run_command({ddlgate(), "hash", "--json", "-f", (dir_.path() / "huge.sql").string()});
  ASSERT_EQ(hashed.exit_code, 0) << hashed.stderr_text;
  auto statement = nlohmann::json::parse(hashed.stdout_text).at(0);
  const std::string display = statement.at("sql").get<std::string>();
  ASSERT_GT(display.size(), 2u * 1024 * 1024);

  auto proxy = start();
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  const auto before = segment_bytes(ledger_dir());
  for (int i = 0; i < 3; ++i) {
    Failure f = exec_fail(c.get(), sql);
    EXPECT_EQ(f.sqlstate, "42501");
    EXPECT_LT(f.detail.size(), 8u * 1024);
    EXPECT_EQ(f.detail.rfind(display.substr(0, 1000), 0), 0u) << f.detail.substr(0, 200);
    EXPECT_NE(f.detail.find("of " + std::to_string(display.size()) + " bytes"), std::string::npos)
        << f.detail.substr(f.detail.size() - 200);
  }
  EXPECT_EQ(value(c.get(), "select 1"), "1");
  const auto grown = segment_bytes(ledger_dir()) - before;
  RecordProperty("ledger_bytes_for_three_refusals", std::to_string(grown));
  EXPECT_LT(grown, 3u * 8 * 1024) << "three refusals took " << grown << " bytes of ledger";
  c.reset();
  EXPECT_LT(proxy->stderr_log().size(), 64u * 1024);
  EXPECT_EQ(SharedPgServer::get().admin_sql("select count(*) from pg_class where relname = 'sneaky'"), "0\n");

  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  EXPECT_LT(tail.size(), 64u * 1024);
  EXPECT_EQ(occurrences(tail, "decision=\"denied\""), 3u) << tail.substr(0, 4000);
  const std::string line = line_with(tail, "decision=\"denied\"");
  EXPECT_EQ(tail_field(line, "statement_hash"), "\"" + statement.at("hash").get<std::string>() + "\"");
  EXPECT_EQ(tail_field(line, "display_sql_bytes"), std::to_string(display.size()));
  EXPECT_EQ(tail_field(line, "display_sql_sha256"), "\"sha256:" + ledger::to_hex(ledger::sha256(display)) + "\"");
  // Plain ASCII with no character JSON escapes: the first 4,096 bytes exactly.
  EXPECT_NE(line.find(" display_sql=\"" + display.substr(0, 4096) + "\" "), std::string::npos);
}

// Monitor mode lets everything through, so its would_deny decisions are paced without
// holding or refusing anything: beyond limits.denials_per_second they are counted, not
// recorded, and the session's next recorded would_deny says how many were left out.
TEST_F(Enforce, WouldDenyBeyondThePaceIsCountedNotRecordedAndNeverHeld) {
  auto& pg = SharedPgServer::get();
  auto proxy = start("monitor", "[limits]\ndenials_per_second = 2\ndenial_burst = 3\n");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  pg.admin_sql("drop table if exists sneaky");
  constexpr int kBurst = 30;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kBurst; ++i) {
    EXPECT_EQ(command(c.get(), "create table sneaky (id int)"), "CREATE TABLE") << i;
    EXPECT_EQ(command(c.get(), "drop table sneaky"), "DROP TABLE") << i;
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  // Paced like enforce mode, the 57 decisions beyond the burst would have taken 28 s.
  EXPECT_LT(took, 10s) << "monitor mode held its statements";
  std::this_thread::sleep_for(1600ms);  // the bucket holds a token again
  EXPECT_EQ(command(c.get(), "create table sneaky (id int)"), "CREATE TABLE");
  EXPECT_EQ(value(c.get(), "select 41 + 1"), "42");  // never closed
  c.reset();
  EXPECT_NE(proxy->stderr_log().find("would_deny decisions of this session are counted"), std::string::npos)
      << proxy->stderr_log();
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'sneaky'"), "1\n");
  pg.admin_sql("drop table sneaky");

  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  std::size_t recorded = 0;
  std::uint64_t suppressed = 0;
  std::string last;
  for (std::size_t at = 0; at < tail.size();) {
    auto end = tail.find('\n', at);
    std::string line = tail.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? tail.size() : end + 1;
    if (line.find("decision=\"would_deny\"") == std::string::npos) continue;
    ++recorded;
    last = line;
    if (auto n = tail_field(line, "suppressed"); !n.empty()) suppressed += std::stoull(n);
  }
  const std::size_t decisions = 2 * kBurst + 1;
  // The burst, about 2 a second while the loop ran, and the one after the pause.
  EXPECT_LT(recorded, 3 + 2 * static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::seconds>(took).count()) + 3)
      << tail;
  EXPECT_GE(recorded, 4u) << tail;
  EXPECT_EQ(recorded + suppressed, decisions) << tail;
  EXPECT_NE(tail_field(last, "suppressed"), "") << "the last one carries the count: " << last;
}

// A count still pending when the session ends is written then, on the last of its would_deny
// records: every decision is on the ledger, one by one or counted.
TEST_F(Enforce, WouldDenyCountPendingAtTheSessionsEndIsRecorded) {
  auto& pg = SharedPgServer::get();
  auto proxy = start("monitor", "[limits]\ndenials_per_second = 1\ndenial_burst = 2\n");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  pg.admin_sql("drop table if exists sneaky");
  constexpr int kDecisions = 10;
  for (int i = 0; i < kDecisions / 2; ++i) {
    EXPECT_EQ(command(c.get(), "create table sneaky (id int)"), "CREATE TABLE") << i;
    EXPECT_EQ(command(c.get(), "drop table sneaky"), "DROP TABLE") << i;
  }
  c.reset();  // at once: the bucket has no token for a count-carrying record

  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stderr_text;
  std::size_t recorded = 0;
  std::uint64_t suppressed = 0;
  std::istringstream lines(tail);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("decision=\"would_deny\"") == std::string::npos) continue;
    ++recorded;
    if (auto n = tail_field(line, "suppressed"); !n.empty()) suppressed += std::stoull(n);
  }
  EXPECT_LT(recorded, static_cast<std::size_t>(kDecisions)) << "paced: " << tail;
  EXPECT_EQ(recorded + suppressed, static_cast<std::size_t>(kDecisions)) << tail;
}

TEST_F(Enforce, UnknownUsersAreRefusedAndOnlyDeployersMayChangeTheSchema) {
  auto& pg = SharedPgServer::get();
  // Roles belong to the cluster, which other tests share: "app_superuser", not the
  // "app" (no superuser) of ASuperusersSessionHasEveryStatementDecidedUnlessListed.
  pg.ensure_role("app_superuser", "LOGIN SUPERUSER");
  pg.ensure_role("stranger", "LOGIN");
  auto proxy = start("enforce", "users = [\"postgres\", \"app_superuser\"]\ndeployers = [\"postgres\"]\n");
  auto stranger = pg_connect(proxy->conninfo("stranger"));
  EXPECT_EQ(PQstatus(stranger.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(stranger.get())).find("is not known to ddlgate"), std::string::npos)
      << PQerrorMessage(stranger.get());
  // "app_superuser" may connect and read and write, but not run even an approved change.
  auto app = pg_connect(proxy->conninfo("app_superuser"));
  ASSERT_EQ(PQstatus(app.get()), CONNECTION_OK) << PQerrorMessage(app.get());
  Failure f = exec_fail(app.get(), "create table users (id bigint primary key, email text not null)");
  EXPECT_EQ(f.sqlstate, "42501");
  // The excerpt is cut to 60 bytes; the reason follows it.
  EXPECT_NE(f.message.find("\"CREATE TABLE users (id bigint PRIMARY KEY, email text NOT...\" is not approved: user "
                           "app_superuser is not a deployer (enforcement.deployers)"),
            std::string::npos)
      << f.message;
  auto deploy = pg_connect(proxy->conninfo("postgres"));
  EXPECT_EQ(command(deploy.get(), "create table users (id bigint primary key, email text not null)"), "CREATE TABLE");
}

TEST_F(Enforce, APerDatabaseOverrideCanMonitorInsteadOfEnforce) {
  auto proxy = start("enforce", "[enforcement.database." + SharedPgServer::get().database() + "]\nmode = \"monitor\"\n");
  auto c = pg_connect(proxy->conninfo());
  EXPECT_EQ(command(c.get(), "create table sneaky (x int)"), "CREATE TABLE");
}

TEST_F(Enforce, WithoutALedgerEnforcementDoesNotStart) {
  write_file(dir_.path() / "bad.toml", "[enforcement]\nmode = \"enforce\"\n");
  auto r = run_command({ddlgate(), "check-config", "--config", (dir_.path() / "bad.toml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("ledger"), std::string::npos) << r.stderr_text;
}

// Full-statement logging (enforcement.record_all_statements): every statement of every
// session is in the ledger, durable before the server runs it, in both protocols; the
// controlled ones as their decisions, the others as session_statement records without a
// break-glass token.
TEST_F(Enforce, RecordAllStatementsPutsEveryStatementInTheLedger) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists users, audit_probe cascade");
  pg.admin_sql("create table audit_probe (id int)");
  auto proxy = start("enforce", "record_all_statements = true\n");
  {
    auto c = pg_connect(proxy->conninfo());
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(command(c.get(), "insert into audit_probe values (41); select count(*) from audit_probe"), "SELECT 1");
    const char* params[] = {"42"};
    PgResult r(PQexecParams(c.get(), "insert into audit_probe values ($1::int)", 1, nullptr, params, nullptr, nullptr, 0));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(command(c.get(), "create table users (id bigint primary key, email text not null)"), "CREATE TABLE");
    EXPECT_EQ(command(c.get(), "drop table audit_probe"), "ERROR 42501");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from audit_probe"), "2\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "session_statement"), 3u) << tail;
  EXPECT_NE(line_with(tail, "INSERT INTO audit_probe VALUES (41)").find("token_id=\"\""), std::string::npos) << tail;
  EXPECT_NE(line_with(tail, "SELECT count(*) FROM audit_probe"), "") << tail;
  EXPECT_NE(line_with(tail, "INSERT INTO audit_probe VALUES ($1::int)"), "") << tail;
  EXPECT_NE(line_with(tail, "decision=\"allowed\""), "") << tail;  // the CREATE TABLE
  EXPECT_NE(line_with(tail, "decision=\"denied\""), "") << tail;   // the DROP TABLE
}

// Full-statement logging and prepared statements: a statement's Parse is recorded, and
// each later run of it (a new portal) is recorded at its Execute, durable before the
// Execute goes on, with `execution` counting the runs. A statement parsed anew for each
// run (libpq's unnamed PQexecParams) is recorded at each Parse and nothing more.
TEST_F(Enforce, RecordAllStatementsRecordsEachLaterRunOfAPreparedStatement) {
  auto& pg = SharedPgServer::get();
  auto proxy = start_recording_all();
  {
    auto c = pg_connect(proxy->conninfo());
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    PgResult prepared(PQprepare(c.get(), "ins", "insert into audit_probe values ($1::int)", 0, nullptr));
    ASSERT_EQ(PQresultStatus(prepared.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
    for (const char* v : {"1", "2", "3"}) {
      const char* params[] = {v};
      PgResult r(PQexecPrepared(c.get(), "ins", 1, params, nullptr, nullptr, 0));
      EXPECT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
    }
    // Two runs in one pipeline batch: both Executes arrive in one read.
    ASSERT_EQ(PQenterPipelineMode(c.get()), 1);
    for (const char* v : {"4", "5"}) {
      const char* params[] = {v};
      ASSERT_EQ(PQsendQueryPrepared(c.get(), "ins", 1, params, nullptr, nullptr, 0), 1) << PQerrorMessage(c.get());
    }
    ASSERT_EQ(PQpipelineSync(c.get()), 1);
    for (int i = 0; i < 2; ++i) {
      PgResult r(PQgetResult(c.get()));
      EXPECT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
      PgResult end(PQgetResult(c.get()));
      EXPECT_EQ(end.get(), nullptr);
    }
    PgResult sync(PQgetResult(c.get()));
    EXPECT_EQ(PQresultStatus(sync.get()), PGRES_PIPELINE_SYNC);
    ASSERT_EQ(PQexitPipelineMode(c.get()), 1) << PQerrorMessage(c.get());
    for (const char* v : {"6", "7"}) {
      const char* params[] = {v};
      PgResult r(PQexecParams(c.get(), "select $1::int + 1000", 1, nullptr, params, nullptr, nullptr, 0));
      EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
    }
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from audit_probe"), "5\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  // The prepared insert: its Parse, then runs 2 to 5.
  EXPECT_EQ(occurrences(tail, "INSERT INTO audit_probe VALUES ($1::int)"), 5u) << tail;
  for (int run = 2; run <= 5; ++run) {
    const std::string line = line_with(tail, "execution=" + std::to_string(run));
    EXPECT_NE(line.find("INSERT INTO audit_probe VALUES ($1::int)"), std::string::npos) << run << "\n" << tail;
    EXPECT_NE(line.find("session_statement"), std::string::npos) << line;
  }
  EXPECT_EQ(occurrences(tail, "execution="), 4u) << tail;
  // The unnamed statement: a record per Parse, none at its Executes.
  EXPECT_EQ(occurrences(tail, "SELECT $1::int + 1000"), 2u) << tail;
  pg.admin_sql("drop table audit_probe");
}

// Full-statement logging and Close, DEALLOCATE and DISCARD ALL: a statement is forgotten
// once the server says it is gone, and only that one. A Close the server skips (an error
// earlier in its batch) closes nothing, so later runs of the statement are still
// recorded; a Close or DEALLOCATE ALL pipelined with a new Parse of the same name forgets
// the old statement, not the new one; a Bind of a forgotten statement (the server refuses
// it) records no run. (libpq 15 cannot send Close, so the messages are raw; pgjdbc sends
// them when its statement cache evicts a statement, psycopg sends DEALLOCATE.)
TEST_F(Enforce, RecordAllStatementsFollowsClosedPreparedStatementsAsTheServerDoes) {
  auto& pg = SharedPgServer::get();
  auto proxy = start_recording_all();
  const std::string none(2, '\0');  // an int16 0
  auto parse = [&](std::vector<std::uint8_t>& w, const std::string& name, const std::string& sql) {
    append(w, 'P', name + '\0' + sql + '\0' + none);
  };
  auto run = [&](std::vector<std::uint8_t>& w, const std::string& statement) {
    append(w, 'B', std::string(1, '\0') + statement + '\0' + none + none + none);
    append(w, 'E', std::string(1, '\0') + std::string(4, '\0'));
  };
  auto close = [&](std::vector<std::uint8_t>& w, const std::string& name) { append(w, 'C', "S" + name + '\0'); };
  int fd = tcp_connect(proxy->port());
  ASSERT_GE(fd, 0);
  send_all(fd, startup_packet(0, {{"user", "postgres"}, {"database", SharedPgServer::get().database()}}));
  ASSERT_NE(message_types(read_until_message(fd, 'Z')).find('Z'), std::string::npos);
  // Sends one batch ending in Sync (after `queries` Query messages); returns the answer's
  // message types.
  auto batch = [&](const std::function<void(std::vector<std::uint8_t>&)>& fill, int queries = 0) {
    std::vector<std::uint8_t> w;
    fill(w);
    append(w, 'S', "");
    send_all(fd, w);
    std::string types;
    while (std::count(types.begin(), types.end(), 'Z') < queries + 1) {
      std::string more = message_types(read_until_message(fd, 'Z'));
      if (more.empty()) break;
      types += more;
    }
    return types;
  };
  auto query = [&](std::vector<std::uint8_t>& w, const std::string& sql) { append(w, 'Q', sql + '\0'); };
  const std::string one = "insert into audit_probe values (1)";
  const std::string two = "insert into audit_probe values (2)";
  const std::string three = "insert into audit_probe values (3)";
  EXPECT_EQ(batch([&](auto& w) { parse(w, "s1", one); run(w, "s1"); }), "12CZ");
  EXPECT_EQ(batch([&](auto& w) { run(w, "s1"); }), "2CZ");  // run 2: recorded
  EXPECT_EQ(batch([&](auto& w) { close(w, "s1"); }), "3Z");
  EXPECT_EQ(batch([&](auto& w) { parse(w, "s1", two); run(w, "s1"); }), "12CZ");
  EXPECT_EQ(batch([&](auto& w) { run(w, "s1"); }), "2CZ");  // run 2 of the new one
  // The Bind fails, so the server skips the Close: s1 stays prepared.
  EXPECT_EQ(batch([&](auto& w) { run(w, "no_such_statement"); close(w, "s1"); }), "EZ");
  EXPECT_EQ(batch([&](auto& w) { run(w, "s1"); }), "2CZ");  // run 3: still recorded
  // Closed and prepared anew in one batch: the CloseComplete comes after the new Parse.
  EXPECT_EQ(batch([&](auto& w) { close(w, "s1"); parse(w, "s1", three); run(w, "s1"); }), "312CZ");
  EXPECT_EQ(batch([&](auto& w) { run(w, "s1"); }), "2CZ");  // run 2 of the third
  // DEALLOCATE: a Bind of the name fails, and no run is recorded.
  EXPECT_EQ(batch([&](auto& w) { query(w, "deallocate s1"); }, 1), "CZZ");
  EXPECT_EQ(batch([&](auto& w) { run(w, "s1"); }), "EZ");
  // DEALLOCATE ALL pipelined with a new Parse of the name: the new statement is kept.
  const std::string four = "insert into audit_probe values (4)";
  EXPECT_EQ(batch([&](auto& w) { query(w, "DEALLOCATE ALL"); parse(w, "s1", four); run(w, "s1"); }, 1), "CZ12CZ");
  EXPECT_EQ(batch([&](auto& w) { run(w, "s1"); }), "2CZ");  // run 2 of the fourth
  // DISCARD ALL drops it.
  EXPECT_EQ(batch([&](auto& w) { query(w, "discard all"); }, 1), "CZZ");
  EXPECT_EQ(batch([&](auto& w) { run(w, "s1"); }), "EZ");
  send_all(fd, frontend_message('X', ""));
  ::close(fd);
  EXPECT_EQ(pg.admin_sql("select id, count(*) from audit_probe group by id order by id"),
            "1|2\n2|3\n3|2\n4|2\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "INSERT INTO audit_probe VALUES (1)"), 2u) << tail;  // Parse, run 2
  EXPECT_EQ(occurrences(tail, "INSERT INTO audit_probe VALUES (2)"), 3u) << tail;  // Parse, runs 2 and 3
  EXPECT_EQ(occurrences(tail, "INSERT INTO audit_probe VALUES (3)"), 2u) << tail;  // Parse, run 2
  EXPECT_EQ(occurrences(tail, "INSERT INTO audit_probe VALUES (4)"), 2u) << tail;  // Parse, run 2
  EXPECT_NE(line_with(tail, "execution=3").find("VALUES (2)"), std::string::npos) << tail;
  EXPECT_EQ(occurrences(tail, "execution=3"), 1u) << tail;
  pg.admin_sql("drop table audit_probe");
}

// Full-statement logging with pgjdbc: whatever the driver does (a new Parse per run below
// its prepare threshold, a named statement after it, a Close when its statement cache
// evicts one and a new Parse when it is used again), the ledger holds one record per run.
TEST_F(Enforce, RecordAllStatementsRecordsEveryRunOfAPgjdbcPreparedStatement) {
  const std::string java = "/usr/lib/jvm/default-java/bin/java";
  const std::string jar = "/usr/share/java/postgresql.jar";
  ASSERT_TRUE(fs::exists(java) && fs::exists(jar)) << "scripts/setup.sh installs default-jdk-headless and libpostgresql-jdbc-java";
  auto& pg = SharedPgServer::get();
  auto proxy = start_recording_all();
  auto r = run_command({java, "-cp", jar, std::string(DDLGATE_SOURCE_DIR) + "/tests/integration/clients/JdbcRepeat.java",
                        std::to_string(proxy->port()), "9"},
                       {}, 120s, {"PGDATABASE=" + proxy->database()});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "runs: 54\n");
  EXPECT_EQ(pg.admin_sql("select id, count(*) from audit_probe group by id order by id"), "1|18\n2|18\n3|18\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  for (const std::string id : {"1", "2", "3"}) {
    EXPECT_EQ(occurrences(tail, "INSERT INTO audit_probe VALUES (" + id + " + $1)"), 18u) << id << "\n" << tail;
  }
  // In each round of 9 runs: 4 Parses of the unnamed statement, then a named one (run 5 of
  // the round) run 4 more times. The cache's Close makes the next round prepare it anew, so
  // the count starts again: 5 is the highest, once per statement and round.
  EXPECT_EQ(occurrences(tail, "execution=5"), 6u) << tail;
  EXPECT_EQ(occurrences(tail, "execution=6"), 0u) << tail;
  pg.admin_sql("drop table audit_probe");
}

// The same with psycopg 3, which prepares named statements and evicts them with DEALLOCATE.
TEST_F(Enforce, RecordAllStatementsRecordsEveryRunOfAPsycopgPreparedStatement) {
  auto& pg = SharedPgServer::get();
  auto proxy = start_recording_all();
  auto r = run_command({"/usr/bin/python3", std::string(DDLGATE_SOURCE_DIR) + "/tests/integration/clients/psycopg_prepared.py",
                        std::to_string(proxy->port()), "6"},
                       {}, 60s, {"PGDATABASE=" + proxy->database()});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "runs: 24\n");
  EXPECT_EQ(pg.admin_sql("select id, count(*) from audit_probe group by id order by id"), "1|12\n2|12\n");
  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  for (const std::string id : {"1", "2"}) {
    EXPECT_EQ(occurrences(tail, "INSERT INTO audit_probe VALUES (" + id + " + $1)"), 12u) << id << "\n" << tail;
  }
  // Each round prepares the statement anew (the other one's DEALLOCATEd it): runs 2 to 6.
  EXPECT_EQ(occurrences(tail, "execution=6"), 4u) << tail;
  EXPECT_EQ(occurrences(tail, "execution=7"), 0u) << tail;
  EXPECT_NE(tail.find("DEALLOCATE"), std::string::npos) << tail;
  pg.admin_sql("drop table audit_probe");
}

// Full-statement logging with a full ledger disk: a later run of a prepared statement
// cannot be recorded, so it is refused with 58030 in enforce mode (it does not run) and
// runs, logged, in monitor mode.
TEST_F(Enforce, WithoutALedgerALaterRunOfARecordedPreparedStatementIs58030WhenEnforcing) {
  auto& pg = SharedPgServer::get();
  for (const std::string mode : {"enforce", "monitor"}) {
    SCOPED_TRACE(mode);
    pg.admin_sql("drop table if exists audit_probe cascade; create table audit_probe (id int)");
    SmallDisk disk(ledger_dir(), "2m");  // a fresh, empty ledger for each mode
    if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)";
    auto proxy = start(mode, "record_all_statements = true\n");
    auto c = pg_connect(proxy->conninfo());
    PgResult prepared(PQprepare(c.get(), "ins", "insert into audit_probe values (1)", 0, nullptr));
    ASSERT_EQ(PQresultStatus(prepared.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(prepared.get());
    PgResult first(PQexecPrepared(c.get(), "ins", 0, nullptr, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(first.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(first.get());

    disk.fill();
    // Statements until one finds the ledger failed (see WhenTheLedgerCannotWrite... above).
    const std::string unavailable = "the ledger is unavailable";
    for (int i = 0; i < 200 && proxy->stderr_log().find(unavailable) == std::string::npos; ++i) {
      PgResult r(PQexec(c.get(), "select 1"));
    }
    ASSERT_NE(proxy->stderr_log().find(unavailable), std::string::npos) << "the ledger never failed";

    PgResult again(PQexecPrepared(c.get(), "ins", 0, nullptr, nullptr, nullptr, 0));
    if (mode == "enforce") {
      EXPECT_EQ(PQresultStatus(again.get()), PGRES_FATAL_ERROR);
      const char* state = PQresultErrorField(again.get(), PG_DIAG_SQLSTATE);
      EXPECT_EQ(std::string(state ? state : ""), "58030") << PQresultErrorMessage(again.get());
      EXPECT_EQ(pg.admin_sql("select count(*) from audit_probe"), "1\n");
      EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
    } else {
      EXPECT_EQ(PQresultStatus(again.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(again.get());
      EXPECT_EQ(pg.admin_sql("select count(*) from audit_probe"), "2\n");
      EXPECT_NE(proxy->stderr_log().find("execution of a prepared statement allowed (monitor mode)"),
                std::string::npos)
          << proxy->stderr_log();
    }
    c.reset();
    proxy->terminate(20s);
  }
  pg.admin_sql("drop table audit_probe");
}

}  // namespace
}  // namespace ddlgate::testing

namespace ddlgate::testing {
namespace {

// The peak resident set of a process so far (VmHWM), in bytes; 0 if unreadable.
std::size_t peak_rss_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// "insert into big_stream values (id, '\x<hex of `bytes` bytes>')" and `tail`.
std::string big_insert(int id, std::size_t bytes, const std::string& tail = "") {
  std::string sql = "insert into big_stream values (" + std::to_string(id) + ", '\\x";
  sql.reserve(sql.size() + 2 * bytes + tail.size() + 4);
  for (std::size_t i = 0; i < bytes; ++i) {
    sql += "0123456789abcdef"[(i >> 4) & 0xf];
    sql += "0123456789abcdef"[i & 0xf];
  }
  return sql + "')" + tail;
}

// Issue 22, item 7: over limits.max_inspected_message, a Query that sql::PlainDmlStream
// reads as one plain INSERT streams through as it is scanned, and ddlgate's memory stays far
// below its size. One whose tail turns out to hold a second statement is cut off before its
// end: the server runs none of it (nor the open transaction's work), the client gets FATAL
// 42501, and the ledger has the refusal.
TEST_F(Enforce, LargePlainInsertStreamsAndOneWithAStatementInItsTailIsCutOffUnexecuted) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists big_stream, victim; create table big_stream (id int, b bytea); "
               "create table victim (x int)");
  auto proxy = start("enforce", "[limits]\nmax_inspected_message = 1048576\n");
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  const std::size_t before = peak_rss_of(proxy->pid());
  ASSERT_GT(before, 0u);
  {
    const std::string sql = big_insert(1, 16u * 1024 * 1024);  // a 32 MiB Query, 32 times the cap
    PgResult r(PQexec(c.get(), sql.c_str()));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  }
  const std::size_t peak = peak_rss_of(proxy->pid());
  std::printf("ddlgate peak RSS (enforce): %zu KiB before, %zu KiB after a 32 MiB Query\n", before / 1024, peak / 1024);
  EXPECT_LT(peak, before + 8u * 1024 * 1024);
  EXPECT_EQ(value(c.get(), "select length(b) from big_stream where id = 1"), std::to_string(16u * 1024 * 1024));

  // In a transaction: earlier work, then a large INSERT whose tail drops a table.
  EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
  EXPECT_EQ(command(c.get(), "insert into big_stream values (2, 'x')"), "INSERT 0 1");
  {
    const std::string sql = big_insert(3, 4u * 1024 * 1024, "; drop table victim");
    // PQexec would return libpq's own "server closed the connection" after the FATAL.
    ASSERT_EQ(PQsendQuery(c.get(), sql.c_str()), 1) << PQerrorMessage(c.get());
    PgResult r(PQgetResult(c.get()));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
    const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    EXPECT_STREQ(code ? code : "", "42501") << PQerrorMessage(c.get());
    const char* severity = PQresultErrorField(r.get(), PG_DIAG_SEVERITY_NONLOCALIZED);
    EXPECT_STREQ(severity ? severity : "", "FATAL");
  }
  while (PGresult* more = PQgetResult(c.get())) PQclear(more);
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);  // closed after the FATAL
  c.reset();
  // The server's backend went away mid-message: wait for it, then nothing of it ran.
  for (int i = 0; i < 100 && pg.admin_sql("select count(*) from pg_stat_activity where query like 'insert into big_stream%'") != "0\n"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'victim'"), "1\n");
  EXPECT_EQ(pg.admin_sql("select string_agg(id::text, ',' order by id) from big_stream"), "1\n");

  // A large SELECT that calls a controlled function after a long run of whitespace.
  auto c2 = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c2.get()), CONNECTION_OK);
  {
    const std::string sql = "select length('" + std::string(2u * 1024 * 1024, 'a') + "'), pg_read_file" +
                            std::string(4000, ' ') + "('/etc/hostname')";
    ASSERT_EQ(PQsendQuery(c2.get(), sql.c_str()), 1) << PQerrorMessage(c2.get());
    PgResult r(PQgetResult(c2.get()));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_FATAL_ERROR);
    const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    EXPECT_STREQ(code ? code : "", "42501") << PQerrorMessage(c2.get());
  }
  c2.reset();

  auto [verify, tail] = verify_ledger(proxy);
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  EXPECT_EQ(occurrences(tail, "streamed as plain DML, turned out not to be one"), 2u) << tail;
  EXPECT_EQ(occurrences(tail, "decision=\"denied\""), 2u) << tail;
}

}  // namespace
}  // namespace ddlgate::testing
