// Break-glass sessions end to end: ddlgate enforcing in front of a real PostgreSQL, tokens
// issued by `ddlgate breakglass issue` (or signed here with the policy library when a test
// needs odd claims), presented with psql's PGOPTIONS, libpq's options, and SET. Every token
// a test used is then looked for in ddlgate's log and in the ledger export: it must be in
// neither.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/base/ed25519.h"
#include "ddlgate/breakglass/breakglass.h"
#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/raw_wire.h"
#include "ddlgate/testing/signed_bundle.h"
#include "ddlgate/testing/text.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

std::string ddlgate() { return ddlgate_binary().string(); }

// PQcmdStatus of a command that succeeds, or "ERROR <sqlstate>".
std::string command(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PQcmdStatus(r.get());
  const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return std::string("ERROR ") + (code ? code : "?");
}

std::string error_message(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  const char* m = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY);
  return m ? m : "";
}

class BreakGlass : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = SharedPgServer::get();
    pg.admin_sql("drop table if exists victim, bg_made, bg_made2, users cascade");
    pg.admin_sql("create table victim (id int)");
    pg.ensure_role("reporting");
    database_ = pg.database();
    make_signed_bundle(dir_.path(), std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate", "shop", {"breakglass", "stranger"});
  }

  std::unique_ptr<DdlgateProcess> start() { return start(SharedPgServer::get()); }
  std::unique_ptr<DdlgateProcess> start(const PgServer& upstream) {
    write_file(dir_.path() / "ddlgate.toml",
               "[server]\nlog_level = \"debug\"\n[listen]\naddresses = [\"127.0.0.1:0\"]\n[upstream]\naddress = "
               "\"127.0.0.1:" + std::to_string(SharedPgServer::get().port()) + "\"\n[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n[ledger]\ndirectory = \"" +
                   ledger_dir().string() + "\"\ncheckpoint_key_file = \"" + (dir_.path() / "ledger.key").string() +
                   "\"\n[bundles]\nregistry_dir = \"" + (dir_.path() / "registry").string() +
                   "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() +
                   "\"\n[break_glass]\nkeys = [\"breakglass.pub\"]\nmax_lifetime = \"1h\"\nclock_skew = \"0s\"\n");
    auto check = run_command({ddlgate(), "check-config", "--config", (dir_.path() / "ddlgate.toml").string()});
    EXPECT_EQ(check.exit_code, 0) << check.stderr_text;
    database_ = upstream.database();
    return DdlgateProcess::serve(upstream, {"--config", (dir_.path() / "ddlgate.toml").string()});
  }

  fs::path ledger_dir() const { return dir_.path() / "ledger"; }

  // `ddlgate breakglass issue` with the test's break-glass key; extra flags appended.
  std::string issue(std::vector<std::string> extra = {}, const std::string& user = "postgres") {
    std::vector<std::string> argv = {ddlgate(), "breakglass", "issue", "--key", (dir_.path() / "breakglass.key").string(),
                                     "--user", user, "--database", database_, "--environment", "production",
                                     "--lifetime", "10m", "--reason", "orders table locked", "--ticket", "INC-7"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    std::string token = r.stdout_text;
    while (!token.empty() && token.back() == '\n') token.pop_back();
    tokens_.push_back(token);
    return token;
  }

  // A token with claims of the test's choosing, signed with `key` ("breakglass" or "stranger").
  std::string sign(const std::function<void(breakglass::BreakGlassClaims&)>& edit, const std::string& key = "breakglass") {
    auto loaded = base::SigningKey::load(dir_.path() / (key + ".key"));
    EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().reason);
    if (!loaded) return {};
    auto& k = *loaded;
    breakglass::BreakGlassClaims c;
    c.issuer = "test";
    c.subject = "postgres";
    c.databases = {database_};
    c.environment = "production";
    c.issued_at = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    c.not_before = c.issued_at;
    c.expires = c.issued_at + std::chrono::minutes(10);
    c.token_id = breakglass::new_break_glass_token_id();
    c.reason = "test";
    c.ticket = "INC-7";
    edit(c);
    auto token = breakglass::issue_break_glass(*k, c);
    EXPECT_TRUE(token) << (token ? "" : token.error().reason);
    tokens_.push_back(token ? *token : "");
    return tokens_.back();
  }

  // psql through ddlgate with PGOPTIONS; stdout, or "FAILED: <stderr>".
  CommandResult psql(std::uint16_t port, const std::string& pgoptions, const std::vector<std::string>& commands,
                     const std::string& password = "") {
    std::vector<std::string> argv = {(pg_bindir() / "psql").string(), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                                     "127.0.0.1", "-p", std::to_string(port), "-U", "postgres", "-d", database_};
    for (const auto& c : commands) {
      argv.push_back("-c");
      argv.push_back(c);
    }
    std::vector<std::string> env = {"PGOPTIONS=" + pgoptions};
    if (!password.empty()) env.push_back("PGPASSWORD=" + password);
    return run_command(argv, {}, 60s, env);
  }

  // Stops ddlgate and checks that no token used by the test is in its log, in the ledger
  // (JSON lines and CSV exports) or in the server's log; returns `ledger tail -n 200`.
  std::string stop_and_check_secrets(std::unique_ptr<DdlgateProcess>& proxy) {
    std::string log = proxy->stderr_log();
    EXPECT_EQ(proxy->terminate(20s), 0);
    log += proxy->stderr_log();
    proxy.reset();
    auto verify = run_command({ddlgate(), "ledger", "verify", ledger_dir().string(), "--pubkey",
                               (dir_.path() / "ledger.pub").string()});
    EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
    auto jsonl = run_command({ddlgate(), "ledger", "export", ledger_dir().string(), "--format", "jsonl"});
    EXPECT_EQ(jsonl.exit_code, 0) << jsonl.stderr_text;
    auto csv = run_command({ddlgate(), "ledger", "export", ledger_dir().string(), "--format", "csv"});
    EXPECT_EQ(csv.exit_code, 0) << csv.stderr_text;
    std::string server_log = SharedPgServer::get().server_log();
    for (const auto& t : tokens_) {
      if (t.size() < 40) continue;
      // The signed part (payload and signature) is what makes a token; look for a long piece of it.
      std::string piece = t.substr(10, 60);
      EXPECT_EQ(log.find(piece), std::string::npos) << "token in ddlgate's log";
      EXPECT_EQ(jsonl.stdout_text.find(piece), std::string::npos) << "token in the ledger export";
      EXPECT_EQ(csv.stdout_text.find(piece), std::string::npos) << "token in the CSV export";
      EXPECT_EQ(server_log.find(piece), std::string::npos) << "token reached the server";
    }
    EXPECT_NE(jsonl.stdout_text.find("records_exported"), std::string::npos);
    auto tail = run_command({ddlgate(), "ledger", "tail", ledger_dir().string(), "-n", "300"});
    return tail.stdout_text;
  }

  bool table_exists(const std::string& name) {
    return SharedPgServer::get().admin_sql("select count(*) from pg_class where relname = '" + name + "'") == "1\n";
  }

  TempDir dir_{"ddlgate-breakglass"};
  std::vector<std::string> tokens_;
  std::string database_;  // the one tokens name and psql() uses: the last start()'s upstream's database()
};

TEST_F(BreakGlass, AValidTokenInPgoptionsLetsPsqlDropATableAndOtherOptionsStay) {
  auto proxy = start();
  std::string token = issue();
  // Without a token: refused as usual.
  auto plain = psql(proxy->port(), "", {"drop table victim"});
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_NE(plain.stderr_text.find("\"DROP TABLE victim\" is not approved"), std::string::npos) << plain.stderr_text;
  EXPECT_TRUE(table_exists("victim"));
  // With it, next to an option for the server that must arrive intact (with an escaped space).
  auto r = psql(proxy->port(), "-c DateStyle=SQL,\\ DMY -c ddlgate.break_glass=" + token + " --work-mem=5MB",
                {"show DateStyle", "show work_mem", "drop table victim", "create table bg_made (id int)"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "SQL, DMY\n5MB\nDROP TABLE\nCREATE TABLE\n");
  EXPECT_FALSE(table_exists("victim"));
  EXPECT_TRUE(table_exists("bg_made"));
  // The --name form, alone in options (the key is then dropped from the startup packet).
  std::string second = issue();
  auto r2 = psql(proxy->port(), "--ddlgate.break-glass=" + second, {"drop table bg_made"});
  EXPECT_EQ(r2.exit_code, 0) << r2.stderr_text;
  EXPECT_FALSE(table_exists("bg_made"));

  auto tail = stop_and_check_secrets(proxy);
  EXPECT_NE(tail.find("break_glass_opened"), std::string::npos) << tail;
  EXPECT_NE(tail.find("decision=\"break_glass\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("display_sql=\"DROP TABLE victim\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("source=\"startup\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("reason=\"session ended\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("ticket=\"INC-7\""), std::string::npos) << tail;
}

TEST_F(BreakGlass, SetWithLibpqOpensRecordsEverythingAndResetEndsIt) {
  auto proxy = start();
  std::string token = issue();
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  EXPECT_EQ(command(c.get(), "create table bg_made (id int)"), "ERROR 42501");
  // The server answers the SET itself: the usual tag and transaction status.
  EXPECT_EQ(command(c.get(), "SET ddlgate.break_glass = '" + token + "'"), "SET");
  EXPECT_EQ(PQtransactionStatus(c.get()), PQTRANS_IDLE);
  EXPECT_EQ(command(c.get(), "create table bg_made (id int)"), "CREATE TABLE");
  EXPECT_EQ(command(c.get(), "select 42 as answer"), "SELECT 1");
  EXPECT_EQ(command(c.get(), "insert into bg_made values (1)"), "INSERT 0 1");
  // The server never saw the token.
  EXPECT_EQ(pg_query_value(c.get(), "show ddlgate.break_glass").value_or("?"), "");
  // A second SET while one is open is refused; the session goes on.
  std::string other = issue();
  EXPECT_NE(error_message(c.get(), "SET SESSION ddlgate.break_glass TO '" + other + "'").find("(already_open)"),
            std::string::npos);
  EXPECT_EQ(command(c.get(), "RESET ddlgate.break_glass"), "RESET");
  EXPECT_EQ(command(c.get(), "create table bg_made2 (id int)"), "ERROR 42501");
  EXPECT_EQ(command(c.get(), "select 43"), "SELECT 1");
  EXPECT_TRUE(table_exists("bg_made"));
  EXPECT_FALSE(table_exists("bg_made2"));
  // RESET ALL ends it too.
  std::string third = issue();
  EXPECT_EQ(command(c.get(), "SET ddlgate.break_glass = '" + third + "'"), "SET");
  EXPECT_EQ(command(c.get(), "RESET ALL"), "RESET");
  EXPECT_EQ(command(c.get(), "create table bg_made2 (id int)"), "ERROR 42501");
  c.reset();

  auto tail = stop_and_check_secrets(proxy);
  EXPECT_NE(tail.find("session_statement"), std::string::npos) << tail;
  EXPECT_NE(tail.find("display_sql=\"SELECT 42 AS answer\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("display_sql=\"INSERT INTO bg_made VALUES (1)\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("reason=\"RESET ddlgate.break_glass\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("reason=\"RESET ALL\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("check=\"already_open\""), std::string::npos) << tail;
  EXPECT_NE(tail.find("source=\"set\""), std::string::npos) << tail;
  // After RESET, reads are not recorded any more.
  EXPECT_EQ(tail.find("SELECT 43"), std::string::npos) << tail;
}

TEST_F(BreakGlass, EveryFailedCheckIsRefusedAtStartupWithItsName) {
  auto proxy = start();
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  struct Case {
    std::string token, check;
  };
  std::vector<Case> cases = {
      {sign([&](auto& c) {
         c.issued_at = now - std::chrono::minutes(20);
         c.not_before = c.issued_at;
         c.expires = now - std::chrono::minutes(10);
       }),
       "expired"},
      {sign([&](auto& c) {
         c.not_before = now + std::chrono::minutes(5);
         c.expires = now + std::chrono::minutes(10);
       }),
       "not_yet_valid"},
      {sign([](auto& c) { c.subject = "oncall"; }), "wrong_user"},
      {sign([](auto& c) { c.databases = {"shop"}; }), "wrong_database"},
      {sign([](auto& c) { c.environment = "staging"; }), "wrong_environment"},
      {sign([](auto& c) { c.expires = c.issued_at + std::chrono::hours(2); }), "lifetime_too_long"},
      {sign([](auto&) {}, "stranger"), "bad_signature"},
      {"v4.public.bm90IGEgdG9rZW4", "malformed"},
  };
  // Tampered claims: one character of the payload changed.
  std::string good = sign([](auto&) {});
  std::string tampered = good;
  tampered[20] = tampered[20] == 'A' ? 'B' : 'A';
  cases.push_back({tampered, "bad_signature"});
  for (const auto& k : cases) {
    auto r = psql(proxy->port(), "-c ddlgate.break_glass=" + k.token, {"drop table victim"});
    EXPECT_NE(r.exit_code, 0) << k.check;
    EXPECT_NE(r.stderr_text.find("FATAL:  ddlgate: break-glass token refused (" + k.check + ")"), std::string::npos)
        << k.check << ": " << r.stderr_text;
    EXPECT_TRUE(table_exists("victim")) << k.check;
  }
  // libpq's options, and the SQLSTATE.
  auto c = pg_connect(proxy->conninfo() + " options='-c ddlgate.break_glass=" + cases[2].token + "'");
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_BAD);
  EXPECT_NE(std::string(PQerrorMessage(c.get())).find("token is for user \"oncall\", not \"postgres\""),
            std::string::npos)
      << PQerrorMessage(c.get());
  c.reset();
  // The same token by SET: an ERROR with 42501, and the session goes on.
  auto s = pg_connect(proxy->conninfo());
  ASSERT_EQ(PQstatus(s.get()), CONNECTION_OK);
  {
    PgResult r(PQexec(s.get(), ("SET ddlgate.break_glass = '" + cases[3].token + "'").c_str()));
    EXPECT_STREQ(PQresultErrorField(r.get(), PG_DIAG_SQLSTATE), "42501");
    EXPECT_STREQ(PQresultErrorField(r.get(), PG_DIAG_SEVERITY_NONLOCALIZED), "ERROR");
    EXPECT_NE(std::string(PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY)).find("(wrong_database)"),
              std::string::npos);
  }
  EXPECT_EQ(command(s.get(), "select 1"), "SELECT 1");
  EXPECT_EQ(command(s.get(), "drop table victim"), "ERROR 42501");
  // Never in a prepared statement, never with other statements.
  std::string valid = issue();
  PgResult prep(PQprepare(s.get(), "p", ("SET ddlgate.break_glass = '" + valid + "'").c_str(), 0, nullptr));
  EXPECT_STREQ(PQresultErrorField(prep.get(), PG_DIAG_SQLSTATE), "42501");
  EXPECT_NE(std::string(PQresultErrorField(prep.get(), PG_DIAG_MESSAGE_PRIMARY)).find("(extended_protocol)"),
            std::string::npos);
  EXPECT_NE(error_message(s.get(), "select 1; SET ddlgate.break_glass = '" + valid + "'").find("(not_alone)"),
            std::string::npos);
  EXPECT_NE(error_message(s.get(), "SET LOCAL ddlgate.break_glass = '" + valid + "'").find("(bad_set)"),
            std::string::npos);
  // set_config() would hand the token to the server as an ordinary setting: refused, and
  // the server never holds it (the refused SETs above left the placeholder empty).
  EXPECT_NE(error_message(s.get(), "select set_config('ddlgate.break_glass', '" + valid + "', false)").find("set_config"),
            std::string::npos);
  {
    PgResult r(PQexec(s.get(), "select coalesce(current_setting('ddlgate.break_glass', true), '')"));
    ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(r.get());
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "");
  }
  EXPECT_EQ(command(s.get(), "drop table victim"), "ERROR 42501");
  s.reset();

  auto tail = stop_and_check_secrets(proxy);
  for (const char* check : {"expired", "not_yet_valid", "wrong_user", "wrong_database", "wrong_environment",
                            "bad_signature", "malformed", "extended_protocol", "not_alone"}) {
    EXPECT_NE(tail.find("check=\"" + std::string(check) + "\""), std::string::npos) << check << "\n" << tail;
  }
  EXPECT_NE(tail.find("break_glass_refused"), std::string::npos);
  EXPECT_EQ(tail.find("break_glass_opened"), std::string::npos) << tail;
}

TEST_F(BreakGlass, ASingleUseTokenIsSpentAlsoAcrossARestart) {
  auto proxy = start();
  std::string token = issue({"--single-use"});
  auto first = psql(proxy->port(), "-c ddlgate.break_glass=" + token, {"drop table victim"});
  EXPECT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_FALSE(table_exists("victim"));
  SharedPgServer::get().admin_sql("create table victim (id int)");
  auto second = psql(proxy->port(), "-c ddlgate.break_glass=" + token, {"drop table victim"});
  EXPECT_NE(second.stderr_text.find("(already_used)"), std::string::npos) << second.stderr_text;
  // A token that is not single-use may open several sessions.
  std::string reusable = issue();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(psql(proxy->port(), "-c ddlgate.break_glass=" + reusable, {"select 1"}).exit_code, 0);
  }
  EXPECT_EQ(proxy->terminate(20s), 0);
  proxy.reset();

  proxy = start();
  auto third = psql(proxy->port(), "-c ddlgate.break_glass=" + token, {"drop table victim"});
  EXPECT_NE(third.exit_code, 0);
  EXPECT_NE(third.stderr_text.find("(already_used)"), std::string::npos) << third.stderr_text;
  EXPECT_TRUE(table_exists("victim"));
  // By SET as well.
  auto c = pg_connect(proxy->conninfo());
  EXPECT_NE(error_message(c.get(), "SET ddlgate.break_glass = '" + token + "'").find("(already_used)"),
            std::string::npos);
  c.reset();
  auto tail = stop_and_check_secrets(proxy);
  EXPECT_NE(tail.find("check=\"already_used\""), std::string::npos) << tail;
}

// A startup token is checked only once the server has authenticated the client:
// a failed login neither spends a single-use token nor writes to the ledger.
TEST_F(BreakGlass, AStartupTokenIsCheckedOnlyAfterTheServerAuthenticatedTheClient) {
  PgServer pg({.auth = PgAuth::scram_sha_256});
  pg.admin_sql("create table victim (id int)");
  auto proxy = start(pg);
  std::string token = issue({"--single-use"});
  auto wrong = psql(proxy->port(), "-c ddlgate.break_glass=" + token, {"drop table victim"}, "not-the-password");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.stderr_text.find("password authentication failed"), std::string::npos) << wrong.stderr_text;
  auto right = psql(proxy->port(), "-c ddlgate.break_glass=" + token, {"drop table victim"}, pg.superuser_password());
  EXPECT_EQ(right.exit_code, 0) << right.stderr_text;
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'victim'"), "0\n");
  auto tail = stop_and_check_secrets(proxy);
  EXPECT_EQ(tail.find("break_glass_refused"), std::string::npos) << tail;
  EXPECT_NE(tail.find("break_glass_opened"), std::string::npos) << tail;
}

TEST_F(BreakGlass, ExpiryDuringASessionFallsBackToEnforcement) {
  auto proxy = start();
  std::string token = sign([](auto& c) { c.expires = c.issued_at + std::chrono::seconds(3); });
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(command(c.get(), "SET ddlgate.break_glass = '" + token + "'"), "SET");
  EXPECT_EQ(command(c.get(), "create table bg_made (id int)"), "CREATE TABLE");
  std::this_thread::sleep_for(4s);
  // Closed at its deadline by a timer, while the session sends nothing: the log (and the
  // ledger and the webhooks) say so before any next statement.
  const std::string closed = line_with(proxy->stderr_log(), "break-glass closed");
  EXPECT_NE(closed.find(": expired"), std::string::npos) << proxy->stderr_log();
  PgResult r(PQexec(c.get(), "create table bg_made2 (id int)"));
  EXPECT_STREQ(PQresultErrorField(r.get(), PG_DIAG_SQLSTATE), "42501");
  EXPECT_FALSE(table_exists("bg_made2"));
  EXPECT_EQ(command(c.get(), "select 1"), "SELECT 1");
  c.reset();
  auto tail = stop_and_check_secrets(proxy);
  EXPECT_NE(tail.find("break_glass_closed"), std::string::npos) << tail;
  EXPECT_NE(tail.find("reason=\"expired\""), std::string::npos) << tail;
}

// A token allows what runs while it is open. An unnamed Parse runs under it, with its
// outcome recorded; an Execute of it after the token has expired is refused. A named Parse
// or SQL PREPARE of a controlled statement could run later by SQL EXECUTE: no token allows it.
TEST_F(BreakGlass, StatementsPreparedUnderATokenDoNotRunAfterIt) {
  SharedPgServer::get().admin_sql("drop table if exists bg_now, bg_later, bg_after cascade");
  auto proxy = start();
  std::string token = sign([](auto& c) { c.expires = c.issued_at + std::chrono::seconds(3); });
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(command(c.get(), "SET ddlgate.break_glass = '" + token + "'"), "SET");
  auto state = [](const PgResult& r) {
    const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    return std::string(PQresultStatus(r.get()) == PGRES_COMMAND_OK ? "OK" : code ? code : "?");
  };
  {
    PgResult p(PQprepare(c.get(), "", "create table bg_now (id int)", 0, nullptr));
    ASSERT_EQ(state(p), "OK") << PQerrorMessage(c.get());
    PgResult e(PQexecPrepared(c.get(), "", 0, nullptr, nullptr, nullptr, 0));
    EXPECT_EQ(state(e), "OK") << PQerrorMessage(c.get());
  }
  EXPECT_TRUE(table_exists("bg_now"));
  {
    PgResult p(PQprepare(c.get(), "later", "create table bg_later (id int)", 0, nullptr));
    EXPECT_EQ(state(p), "42501");
  }
  // PostgreSQL would keep this, and create the table at any later EXECUTE.
  EXPECT_EQ(command(c.get(), "prepare later2 as select 1 as id into bg_later"), "ERROR 42501");
  {
    PgResult p(PQprepare(c.get(), "", "create table bg_after (id int)", 0, nullptr));
    ASSERT_EQ(state(p), "OK") << PQerrorMessage(c.get());
  }
  std::this_thread::sleep_for(4s);  // the token expires; no statement in between notices it
  {
    PgResult e(PQexecPrepared(c.get(), "", 0, nullptr, nullptr, nullptr, 0));
    EXPECT_EQ(state(e), "42501");
    const char* m = PQresultErrorField(e.get(), PG_DIAG_MESSAGE_PRIMARY);
    EXPECT_NE(std::string(m ? m : "").find("prepared under a break-glass token that has ended"), std::string::npos)
        << (m ? m : "");
  }
  EXPECT_EQ(command(c.get(), "select 1"), "SELECT 1");
  c.reset();
  EXPECT_FALSE(table_exists("bg_later"));
  EXPECT_FALSE(table_exists("bg_after"));
  auto tail = stop_and_check_secrets(proxy);
  EXPECT_NE(tail.find("outcome=\"executed\""), std::string::npos) << tail;  // bg_now's Execute
  EXPECT_NE(tail.find("reason=\"expired\""), std::string::npos) << tail;    // noticed at the Execute
  EXPECT_NE(tail.find("which has ended"), std::string::npos) << tail;       // the refusal's reason
}

// While a token is open every statement is recorded, also each later run of a statement
// prepared under it (at its Execute, with the token and `execution`); after RESET the
// session's runs are not recorded any more.
TEST_F(BreakGlass, EachRunOfAStatementPreparedUnderATokenIsRecordedWhileItIsOpen) {
  auto proxy = start();
  std::string token = issue();
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(command(c.get(), "SET ddlgate.break_glass = '" + token + "'"), "SET");
  PgResult p(PQprepare(c.get(), "probe", "select $1::int * 7 as seven_times", 0, nullptr));
  ASSERT_EQ(PQresultStatus(p.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  auto run = [&](const char* v) {
    const char* params[] = {v};
    PgResult r(PQexecPrepared(c.get(), "probe", 1, params, nullptr, nullptr, 0));
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
  };
  run("1");
  run("2");
  run("3");
  EXPECT_EQ(command(c.get(), "RESET ddlgate.break_glass"), "RESET");
  run("4");
  c.reset();
  auto tail = stop_and_check_secrets(proxy);
  EXPECT_EQ(occurrences(tail, "SELECT $1::int * 7 AS seven_times"), 3u) << tail;  // the Parse, runs 2 and 3
  for (const std::string run_no : {"2", "3"}) {
    const std::string line = line_with(tail, "execution=" + run_no);
    ASSERT_NE(line, "") << tail;
    EXPECT_NE(line.find("session_statement"), std::string::npos) << line;
    EXPECT_EQ(line.find("token_id=\"\""), std::string::npos) << line;  // the token's jti
  }
  EXPECT_EQ(tail.find("execution=4"), std::string::npos) << tail;
}

// The server drops every portal when a transaction ends, and so does ddlgate: an Execute
// of a portal bound under a token, sent after the transaction and the token ended, gets
// the server's own error (34000: no such portal), not a refusal of a run that cannot
// happen. (Raw messages: libpq binds only the unnamed portal, and always before an Execute.)
TEST_F(BreakGlass, PortalsAreForgottenWhenTheirTransactionEnds) {
  auto proxy = start();
  std::string token = issue();
  int fd = tcp_connect(proxy->port());
  ASSERT_GE(fd, 0);
  send_all(fd, startup_packet(0, {{"user", "postgres"}, {"database", SharedPgServer::get().database()}}));
  ASSERT_NE(message_types(read_until_message(fd, 'Z')).find('Z'), std::string::npos);
  auto send = [&](std::initializer_list<std::pair<char, std::string>> messages) {
    std::vector<std::uint8_t> wire;
    for (const auto& [type, body] : messages) {
      auto m = frontend_message(type, body);
      wire.insert(wire.end(), m.begin(), m.end());
    }
    send_all(fd, wire);
    return read_until_message(fd, 'Z');
  };
  const std::string none(2, '\0');  // an int16 0
  EXPECT_EQ(message_types(send({{'Q', "SET ddlgate.break_glass = '" + token + "'" + '\0'}})), "CZ");
  // An unnamed statement allowed under the token, bound to portal p; the Sync ends the
  // implicit transaction, and p with it.
  EXPECT_EQ(message_types(send({{'P', std::string(1, '\0') + "create table bg_portal (id int)" + '\0' + none},
                                {'B', std::string("p") + '\0' + '\0' + none + none + none},
                                {'S', ""}})),
            "12Z");
  EXPECT_EQ(message_types(send({{'Q', std::string("RESET ddlgate.break_glass") + '\0'}})), "CZ");
  const std::string answer = send({{'E', std::string("p") + '\0' + std::string(4, '\0')}, {'S', ""}});
  EXPECT_EQ(message_types(answer), "EZ");
  EXPECT_EQ(error_field(answer, 'C'), "34000") << error_field(answer, 'M');
  send_all(fd, frontend_message('X', ""));
  ::close(fd);
  EXPECT_FALSE(table_exists("bg_portal"));
  auto tail = stop_and_check_secrets(proxy);
  EXPECT_EQ(tail.find("which has ended"), std::string::npos) << tail;  // no refusal recorded
}

TEST_F(BreakGlass, AStatementListLimitsTheSession) {
  auto proxy = start();
  auto hash = run_command({ddlgate(), "hash", "--json", "drop table victim"});
  ASSERT_EQ(hash.exit_code, 0) << hash.stderr_text;
  auto at = hash.stdout_text.find("sha256:");
  ASSERT_NE(at, std::string::npos) << hash.stdout_text;
  std::string h = hash.stdout_text.substr(at, 71);
  std::string token = issue({"--statement", h});
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(command(c.get(), "SET ddlgate.break_glass = '" + token + "'"), "SET");
  EXPECT_EQ(command(c.get(), "create table bg_made (id int)"), "ERROR 42501");
  EXPECT_EQ(command(c.get(), "DROP TABLE   victim"), "DROP TABLE");
  c.reset();
  stop_and_check_secrets(proxy);
}

// A token limited to some statements allows no other, however the text is written: a
// backslash quote under standard_conforming_strings = off must not hide a DROP from the
// token's list (or from the session's record) while the server runs it.
TEST_F(BreakGlass, BackslashQuotesCannotHideAStatementFromATokensList) {
  SharedPgServer::get().admin_sql("create table users (id bigint primary key, email text not null)");
  auto proxy = start();
  auto hash = run_command({ddlgate(), "hash", "--json", "drop table victim"});
  ASSERT_EQ(hash.exit_code, 0) << hash.stderr_text;
  auto at = hash.stdout_text.find("sha256:");
  ASSERT_NE(at, std::string::npos) << hash.stdout_text;
  std::string token = issue({"--statement", hash.stdout_text.substr(at, 71)});
  auto c = pg_connect(proxy->conninfo());
  ASSERT_EQ(command(c.get(), "SET ddlgate.break_glass = '" + token + "'"), "SET");
  EXPECT_EQ(command(c.get(), "set standard_conforming_strings = off"), "SET");
  EXPECT_EQ(command(c.get(), R"(select 'a\' || ' ; drop table users; --')"), "ERROR 42501");
  EXPECT_TRUE(table_exists("users"));
  EXPECT_EQ(command(c.get(), "drop table victim"), "DROP TABLE");  // what the token allows
  c.reset();
  stop_and_check_secrets(proxy);
}

// A bare frontend: enough of the protocol to pipeline two simple Queries in one write,
// which libpq does not do outside pipeline mode (and there only with the extended protocol).
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }

  static void put32(std::string& out, std::uint32_t v) {
    v = htonl(v);
    out.append(reinterpret_cast<const char*>(&v), 4);
  }
  static std::string query(const std::string& sql) {
    std::string m = "Q";
    put32(m, static_cast<std::uint32_t>(sql.size() + 5));
    return m + sql + std::string(1, '\0');
  }
  bool send(const std::string& bytes) {
    return ::write(fd_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  }
  bool startup() {
    std::string body;
    put32(body, 196608);
    for (const std::string& s : {std::string("user"), std::string("postgres"), std::string("database"),
                                 SharedPgServer::get().database()}) {
      body += s + '\0';
    }
    body += '\0';
    std::string m;
    put32(m, static_cast<std::uint32_t>(body.size() + 4));
    return send(m + body);
  }
  // Reads one message: its type and body ("" type on EOF).
  std::pair<char, std::string> read() {
    char head[5];
    if (!read_exact(head, 5)) return {'\0', ""};
    std::uint32_t len;
    std::memcpy(&len, head + 1, 4);
    len = ntohl(len);
    std::string body(len - 4, '\0');
    if (!read_exact(body.data(), body.size())) return {'\0', ""};
    return {head[0], body};
  }
  // Reads until `count` ReadyForQuery; returns the ErrorResponses' SQLSTATE and message.
  std::vector<std::pair<std::string, std::string>> until_ready(int count) {
    std::vector<std::pair<std::string, std::string>> errors;
    while (count > 0) {
      auto [type, body] = read();
      if (type == '\0') break;
      if (type == 'Z') --count;
      if (type != 'E') continue;
      std::string code, message;
      for (std::size_t i = 0; i < body.size() && body[i] != '\0';) {
        char f = body[i++];
        std::string v(body.c_str() + i);
        i += v.size() + 1;
        if (f == 'C') code = v;
        if (f == 'M') message = v;
      }
      errors.emplace_back(code, message);
    }
    return errors;
  }

 private:
  bool read_exact(char* p, std::size_t n) {
    while (n > 0) {
      ssize_t r = ::read(fd_, p, n);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
};

TEST_F(BreakGlass, ASetPipelinedBehindAnotherCommandIsRefused) {
  auto proxy = start();
  std::string token = issue();
  auto c_owner = std::make_unique<RawClient>(proxy->port());
  RawClient& c = *c_owner;
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.startup());
  EXPECT_TRUE(c.until_ready(1).empty());
  ASSERT_TRUE(c.send(RawClient::query("select pg_sleep(0.2)") +
                     RawClient::query("SET ddlgate.break_glass = '" + token + "'")));
  auto errors = c.until_ready(2);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].first, "42501");
  EXPECT_NE(errors[0].second.find("(pipelined)"), std::string::npos) << errors[0].second;
  // Nothing was opened; on its own, the same SET works.
  ASSERT_TRUE(c.send(RawClient::query("create table bg_made (id int)")));
  errors = c.until_ready(1);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].first, "42501");
  ASSERT_TRUE(c.send(RawClient::query("SET ddlgate.break_glass = '" + token + "'")));
  EXPECT_TRUE(c.until_ready(1).empty());
  ASSERT_TRUE(c.send(RawClient::query("create table bg_made (id int)")));
  EXPECT_TRUE(c.until_ready(1).empty());
  EXPECT_TRUE(table_exists("bg_made"));
  c_owner.reset();  // disconnect, so that ddlgate's shutdown need not wait for the session
  stop_and_check_secrets(proxy);
}

TEST_F(BreakGlass, TheDocumentedPsqlVariableFromAFileWorks) {
  auto proxy = start();
  write_file(dir_.path() / "bg.token", issue() + "\n");
  auto r = run_command({(pg_bindir() / "psql").string(), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", proxy->conninfo()},
                       "\\set t `cat " + (dir_.path() / "bg.token").string() +
                           "`\nSET ddlgate.break_glass = :'t';\ndrop table victim;\nRESET ddlgate.break_glass;\n");
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "SET\nDROP TABLE\nRESET\n");
  EXPECT_FALSE(table_exists("victim"));
  stop_and_check_secrets(proxy);
}

TEST_F(BreakGlass, CheckConfigNamesABadKey) {
  write_file(dir_.path() / "bad.toml",
             "[listen]\naddresses = [\"127.0.0.1:0\"]\n[upstream]\naddress = \"127.0.0.1:5432\"\n[enforcement]\n"
             "mode = \"enforce\"\n[ledger]\ndirectory = \"" + ledger_dir().string() + "\"\ncheckpoint_key_file = \"" +
                 (dir_.path() / "ledger.key").string() +
                 "\"\n[break_glass]\nkeys = [\"breakglass.pub\", \"missing.pub\"]\nenvironment = \"production\"\n");
  auto r = run_command({ddlgate(), "check-config", "--config", (dir_.path() / "bad.toml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("break_glass.keys[1]"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(r.stderr_text.find("keys[0]"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace ddlgate::testing
