// `ddlgate bundle record` end to end (issue 26, item 3): a migration tool runs through the
// recording proxy in front of a scratch database; the recorded source is built into a bundle,
// signed, and the same tool, unchanged, then migrates the production database through an
// enforcing ddlgate. Plus the recorder's own promises: the same run gives the same bytes, a
// statement that changes between runs is reported, and a role's password is never recorded.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

std::string ddlgate() { return ddlgate_binary().string(); }

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Where scripts/setup.sh installs the npm tools; DDLGATE_NPM_TOOLS overrides it.
fs::path npm_tools() {
  if (const char* e = std::getenv("DDLGATE_NPM_TOOLS"); e != nullptr && *e != '\0') return e;
  return fs::path(DDLGATE_SOURCE_DIR) / ".tools/npm";
}

std::string psql() { return (pg_bindir() / "psql").string(); }

// One ORM or migration tool, driven through its own command line.
struct Tool {
  std::string name;
  // Writes the project (config and the first three migrations) into dir.
  std::function<void(const fs::path& dir)> write_project;
  // Adds the fourth migration, which nobody signs.
  std::function<void(const fs::path& dir)> add_fourth;
  // The migrate command, run in dir with DATABASE_URL / PG* set.
  std::function<std::vector<std::string>(const fs::path& dir)> migrate;
  // The tool's own rollback of its last migration (the third: the email index), run the same way.
  std::function<std::vector<std::string>(const fs::path& dir)> rollback;
  std::string history_count_sql;  // how many migrations the tool has applied
};

// argv as one /bin/sh command line (what `bundle record --down` takes).
std::string shell_line(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    out += out.empty() ? "'" : " '";
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

class Record : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& db : scratch_) SharedPgServer::get().psql("drop database if exists " + db + " with (force)", "postgres");
  }

  // A fresh, empty database beside the test's own (which plays production), made again for each
  // recording: the scratch database a recording runs against, as `pg_dump --schema-only` of
  // production would make it. The same name each time, as a recording names its database.
  std::string scratch_database() {
    auto& pg = SharedPgServer::get();
    // Test databases' names are long already: a name of its own, within NAMEDATALEN.
    const std::string name = "record_scratch_" + std::to_string(::getpid());
    pg.admin_sql("drop database if exists " + name + " with (force)", "postgres");
    pg.admin_sql("create database " + name + " template " + kTestTemplateDatabase, "postgres");
    if (scratch_.empty()) scratch_.push_back(name);
    return name;
  }

  // `ddlgate bundle record` of command against a fresh scratch database into out.
  CommandResult record(const fs::path& out, const std::vector<std::string>& command,
                       const std::vector<std::string>& options = {}) {
    auto& pg = SharedPgServer::get();
    std::vector<std::string> argv = {ddlgate(), "bundle", "record", "--upstream", "127.0.0.1:" + std::to_string(pg.port()),
                                     "--out", out.string(), "--database", scratch_database(), "--user", "postgres"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    return run_command(argv, {}, 120s);
  }

  // Keys, trust policy and an empty registry (make_signed_bundle's, without its bundle).
  void make_trust() {
    make_signed_bundle(dir_.path(), fs::path(DDLGATE_SOURCE_DIR) / "tests/data/migrations/dbmate", "unused");
    fs::remove_all(dir_.path() / "registry" / "unused-v1");
  }

  // Builds the recorded source into a bundle for the test's database, signs it as registry and
  // approver, and puts it in the registry.
  void build_and_sign(const fs::path& src, const std::string& app) {
    const fs::path staging = dir_.path() / ("staging-" + app);
    run_ok({ddlgate(), "bundle", "build", src.string(), "--tool", "recorded", "--out", staging.string(), "--app", app,
            "--version", "1", "--environment", "production", "--database", SharedPgServer::get().database()});
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (dir_.path() / "registry.key").string(), "--role",
            "registry"});
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (dir_.path() / "alice.key").string(), "--role",
            "approver"});
    fs::rename(staging, dir_.path() / "registry" / (app + "-v1"));
  }

  // An enforcing ddlgate with replay protection in front of the test's database. Two more
  // login roles, superusers that ddlgate enforces as anyone: only "deployer" is in
  // enforcement.deployers, so only it may run approved changes, and down parts.
  std::unique_ptr<DdlgateProcess> enforce() {
    SharedPgServer::get().ensure_role("deployer", "LOGIN SUPERUSER");
    SharedPgServer::get().ensure_role("intern", "LOGIN SUPERUSER");
    write_file(dir_.path() / "ddlgate.toml",
               "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\", \"deployer\", \"intern\"]\n"
               "deployers = [\"deployer\"]\nspend_approvals_once = true\n"
               "[ledger]\ndirectory = \"" + (dir_.path() / "ledger").string() + "\"\ncheckpoint_key_file = \"" +
                   (dir_.path() / "ledger.key").string() + "\"\n[bundles]\nregistry_dir = \"" +
                   (dir_.path() / "registry").string() + "\"\nenvironment = \"production\"\ntrust_file = \"" +
                   (dir_.path() / "trust.toml").string() + "\"\n");
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / "ddlgate.toml").string()});
  }

  std::vector<std::string> through(const DdlgateProcess& proxy, const std::string& user = "deployer") const {
    const std::string port = std::to_string(proxy.port());
    const std::string db = SharedPgServer::get().database();
    return {"PGHOST=127.0.0.1", "PGPORT=" + port, "PGUSER=" + user, "PGDATABASE=" + db,
            "DATABASE_URL=postgres://" + user + "@127.0.0.1:" + port + "/" + db + "?sslmode=disable"};
  }

  // The ledger's decision records (`ddlgate ledger export`).
  std::vector<nlohmann::json> decisions() {
    auto r = run_command({ddlgate(), "ledger", "export", (dir_.path() / "ledger").string(), "--format", "jsonl"});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    std::vector<nlohmann::json> out;
    std::istringstream lines(r.stdout_text);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || j.value("kind", "") != "record" || !j["payload"].is_string()) continue;
      auto payload = nlohmann::json::parse(j["payload"].get<std::string>(), nullptr, false);
      if (payload.is_object() && payload.value("type", "") == "decision") out.push_back(payload["fields"]);
    }
    return out;
  }

  std::string production(const std::string& sql) { return SharedPgServer::get().admin_sql(sql); }

  // record (up and the rollback) -> build -> sign -> apply through enforce as the deployer,
  // unchanged: three migrations apply, a second run is a no-op, an unsigned fourth is refused
  // with nothing of it applied; then the tool's own rollback of the third migration is refused
  // for a user who is not a deployer, with nothing of it applied, and applies for the deployer
  // as `down` approvals of the ledger.
  void end_to_end(const Tool& tool) {
    make_trust();
    const fs::path dir = dir_.path();
    const fs::path project = dir / tool.name;
    tool.write_project(project);
    const fs::path recorded = dir / (tool.name + "-recorded");
    auto r = record(recorded, tool.migrate(project), {"--down", shell_line(tool.rollback(project))});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text << r.stdout_text;
    // The recorder leaves the scratch database at the head: the index is back.
    EXPECT_EQ(SharedPgServer::get().admin_sql("select count(*) from pg_indexes where indexname = 'users_email_idx'",
                                              scratch_.front()),
              "1\n");
    auto j = nlohmann::json::parse(read_text(recorded / "recording.json"));
    ASSERT_TRUE(j.contains("down")) << j.dump(2);
    EXPECT_NE(read_text(recorded / "down.sql").find("users_email_idx"), std::string::npos) << read_text(recorded / "down.sql");
    build_and_sign(recorded, tool.name);
    auto inspect = run_command({ddlgate(), "bundle", "verify", (dir / "registry" / (tool.name + "-v1")).string(),
                                "--trust", (dir / "trust.toml").string()});
    EXPECT_EQ(inspect.exit_code, 0) << inspect.stdout_text << inspect.stderr_text;
    auto proxy = enforce();
    auto first = run_command(tool.migrate(project), {}, 120s, through(*proxy, "deployer"));
    ASSERT_EQ(first.exit_code, 0) << first.stderr_text << first.stdout_text << proxy->stderr_log();
    EXPECT_EQ(production("select string_agg(column_name, ',' order by column_name) from information_schema.columns "
                   "where table_schema = 'public' and table_name = 'users'"),
              "email,id,name\n");
    EXPECT_EQ(production("select count(*) from pg_indexes where indexname = 'users_email_idx'"), "1\n");
    EXPECT_EQ(production(tool.history_count_sql), "3\n");
    auto second = run_command(tool.migrate(project), {}, 120s, through(*proxy, "deployer"));
    EXPECT_EQ(second.exit_code, 0) << second.stderr_text << second.stdout_text;
    EXPECT_EQ(production(tool.history_count_sql), "3\n");
    tool.add_fourth(project);
    auto fourth = run_command(tool.migrate(project), {}, 120s, through(*proxy, "deployer"));
    EXPECT_NE(fourth.exit_code, 0) << fourth.stdout_text;
    // Refused by ddlgate (docs/enforcement.md), not failed for a reason of its own.
    EXPECT_NE((fourth.stderr_text + fourth.stdout_text).find("is not approved"), std::string::npos)
        << fourth.stderr_text << fourth.stdout_text;
    EXPECT_EQ(production("select count(*) from information_schema.tables where table_name = 'audit'"), "0\n");
    EXPECT_EQ(production(tool.history_count_sql), "3\n");

    auto intern = run_command(tool.rollback(project), {}, 120s, through(*proxy, "intern"));
    EXPECT_NE(intern.exit_code, 0) << intern.stdout_text;
    EXPECT_NE((intern.stdout_text + intern.stderr_text).find("is not a deployer"), std::string::npos)
        << intern.stderr_text << intern.stdout_text;
    EXPECT_EQ(production("select count(*) from pg_indexes where indexname = 'users_email_idx'"), "1\n");
    EXPECT_EQ(production(tool.history_count_sql), "3\n");
    auto down = run_command(tool.rollback(project), {}, 120s, through(*proxy, "deployer"));
    EXPECT_EQ(down.exit_code, 0) << down.stderr_text << down.stdout_text << proxy->stderr_log();
    EXPECT_EQ(production("select count(*) from pg_indexes where indexname = 'users_email_idx'"), "0\n");
    EXPECT_EQ(production(tool.history_count_sql), "2\n");
    EXPECT_EQ(production("select string_agg(column_name, ',' order by column_name) from information_schema.columns "
                         "where table_schema = 'public' and table_name = 'users'"),
              "email,id,name\n");
    EXPECT_EQ(proxy->terminate(20s), 0);
    std::size_t downs = 0;
    for (const auto& d : decisions()) {
      if (!d["approval"].is_object() || d["approval"].value("part", "") != "down") continue;
      ++downs;
      EXPECT_EQ(d.value("decision", ""), "allowed") << d.dump();
      EXPECT_EQ(d.value("user", ""), "deployer") << d.dump();
      EXPECT_EQ(d["approval"].value("file", ""), "down.sql") << d.dump();
    }
    EXPECT_EQ(downs, j["down"].size()) << j["down"].dump(2);
  }

  TempDir dir_{"ddlgate-record"};
  std::vector<std::string> scratch_;
};

TEST_F(Record, TwiceGivesIdenticalBytesWithSessionTransactionAndSearchPath) {
  const std::vector<std::string> command = {
      psql(), "-X", "-v", "ON_ERROR_STOP=1", "-c", "create table if not exists items (id int)", "-c",
      "begin; create index if not exists items_id on items (id); comment on index items_id is 'by id'; commit", "-c",
      "set search_path = audit_x, public", "-c", "comment on table items is 'kept'"};
  const fs::path a = dir_.path() / "a", b = dir_.path() / "b";
  auto r1 = record(a, command);
  ASSERT_EQ(r1.exit_code, 0) << r1.stderr_text << r1.stdout_text;
  auto r2 = record(b, command);
  ASSERT_EQ(r2.exit_code, 0) << r2.stderr_text << r2.stdout_text;
  for (const char* f : {"recording.json", "recorded.sql", "repeatable.sql"}) {
    ASSERT_TRUE(fs::exists(a / f)) << f;
    EXPECT_EQ(read_text(a / f), read_text(b / f)) << f;
  }
  // A third run into the same directory checks itself against it.
  auto r3 = record(a, command);
  EXPECT_EQ(r3.exit_code, 0) << r3.stderr_text;
  EXPECT_NE(r3.stdout_text.find("identical"), std::string::npos) << r3.stdout_text;

  auto j = nlohmann::json::parse(read_text(a / "recording.json"));
  ASSERT_EQ(j["statements"].size(), 4u) << j.dump(2);
  const auto& s = j["statements"];
  EXPECT_EQ(s[0]["sql"], "CREATE TABLE IF NOT EXISTS items (id int)");
  EXPECT_EQ(s[0]["search_path"], "\"$user\", public");
  EXPECT_EQ(s[3]["search_path"], "audit_x, public");
  // One number per transaction: the two statements of BEGIN ... COMMIT share theirs.
  EXPECT_EQ(s[0]["transaction"], 1);
  EXPECT_EQ(s[1]["transaction"], 2);
  EXPECT_EQ(s[2]["transaction"], 2);
  EXPECT_EQ(s[3]["transaction"], 3);
  // psql opens a single session; the role and database are the scratch database's.
  EXPECT_EQ(s[3]["session"], 1);
  EXPECT_EQ(s[0]["role"], "postgres");
  EXPECT_EQ(s[0]["database"], scratch_.front());
  // A second run of the command sends all of them again: they are its per-run statements.
  EXPECT_EQ(j["repeatable"].size(), 4u);
  // The event trigger is gone from the scratch database.
  EXPECT_EQ(SharedPgServer::get().admin_sql("select count(*) from pg_event_trigger", scratch_.front()), "0\n");
}

TEST_F(Record, ReportsAStatementThatDiffersBetweenRunsAndWritesNothing) {
  // A migration whose statement depends on the time it runs.
  const std::vector<std::string> command = {"sh", "-c",
                                            "exec " + psql() + " -X -v ON_ERROR_STOP=1 -c \"create table t_$(date +%s%N) (id int)\""};
  const fs::path out = dir_.path() / "out";
  auto r1 = record(out, command);
  ASSERT_EQ(r1.exit_code, 0) << r1.stderr_text;
  const std::string before = read_text(out / "recording.json");
  auto r2 = record(out, command);
  EXPECT_EQ(r2.exit_code, 1) << r2.stdout_text;
  EXPECT_NE(r2.stderr_text.find("non-deterministic: statement 1: earlier run: CREATE TABLE t_"), std::string::npos)
      << r2.stderr_text;
  EXPECT_EQ(read_text(out / "recording.json"), before);
}

TEST_F(Record, RefusesARolePasswordAndNeverWritesIt) {
  auto& pg = SharedPgServer::get();
  const std::string role = "record_pw_" + pg.database();
  const std::vector<std::string> command = {psql(), "-X", "-v", "ON_ERROR_STOP=1", "-c", "drop role if exists " + role,
                                            "-c", "create role " + role + " login password 'hunter2-secret'"};
  const fs::path out = dir_.path() / "out";
  auto r = record(out, command);
  pg.psql("drop role if exists " + role, "postgres");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text;
  EXPECT_NE(r.stderr_text.find("holds a password"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(r.stderr_text.find("hunter2"), std::string::npos) << r.stderr_text;
  EXPECT_FALSE(fs::exists(out));
}

// What a tool sends on every run is recorded as repeatable: with replay protection on, later
// runs through enforce mode still pass; what the recording did not see is refused.
TEST_F(Record, RepeatableStatementsStayApprovableUnderReplayProtection) {
  const std::vector<std::string> command = {psql(), "-X", "-v", "ON_ERROR_STOP=1", "-c",
                                            "create table if not exists kept (id int)", "-c",
                                            "comment on table kept is 'per run'"};
  auto r = record(dir_.path() / "rec", command);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  make_trust();
  build_and_sign(dir_.path() / "rec", "psql");
  auto inspect = run_command({ddlgate(), "bundle", "inspect", (dir_.path() / "registry/psql-v1").string()});
  EXPECT_NE(inspect.stdout_text.find("bookkeeping: 2 statements"), std::string::npos) << inspect.stdout_text;
  auto proxy = enforce();
  for (int run = 1; run <= 3; ++run) {
    auto c = run_command(command, {}, 60s, through(*proxy));
    EXPECT_EQ(c.exit_code, 0) << "run " << run << ": " << c.stderr_text;
  }
  auto other = run_command({psql(), "-X", "-c", "create table kept2 (id int)"}, {}, 60s, through(*proxy));
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.stderr_text.find("is not approved"), std::string::npos) << other.stderr_text;
  EXPECT_EQ(production("select count(*) from pg_class where relname = 'kept2'"), "0\n");
}

// node-postgres sends a named query with Parse/Bind/Execute (the extended protocol), an unnamed
// one without values as a simple Query: both are recorded, in order.
TEST_F(Record, CapturesTheSimpleAndTheExtendedProtocol) {
  const fs::path pg = npm_tools() / "node_modules/pg";
  ASSERT_TRUE(fs::exists(pg)) << "scripts/setup.sh installs pg (node-postgres) from npm";
  const std::string script =
      "const { Client } = require('" + pg.string() + "');\n"
      "(async () => {\n"
      "  const c = new Client({ connectionString: process.env.DATABASE_URL });\n"
      "  await c.connect();\n"
      "  await c.query({ name: 'ddl', text: 'CREATE TABLE IF NOT EXISTS prepared_t (id int)' });\n"
      "  await c.query('COMMENT ON TABLE prepared_t IS \\'simple\\'');\n"
      "  await c.end();\n"
      "})().catch((e) => { console.error(e.message); process.exit(1); });\n";
  write_file(dir_.path() / "ddl.js", script);
  auto r = record(dir_.path() / "rec", {"node", (dir_.path() / "ddl.js").string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  auto j = nlohmann::json::parse(read_text(dir_.path() / "rec" / "recording.json"));
  ASSERT_EQ(j["statements"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["statements"][0]["sql"], "CREATE TABLE IF NOT EXISTS prepared_t (id int)");
  EXPECT_EQ(j["statements"][0]["search_path"], "\"$user\", public");
  EXPECT_EQ(j["statements"][1]["sql"], "COMMENT ON TABLE prepared_t IS 'simple'");
  EXPECT_EQ(j["statements"][1]["session"], 1);
}

// A command that cannot run twice (a plain script) fails the second run; --once records it
// with nothing repeatable.
TEST_F(Record, OnceRunsTheCommandOnlyOnce) {
  const std::vector<std::string> command = {psql(), "-X", "-v", "ON_ERROR_STOP=1", "-c", "create table once_t (id int)"};
  auto twice = record(dir_.path() / "twice", command);
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_NE(twice.stderr_text.find("the command's second run exited with "), std::string::npos) << twice.stderr_text;
  EXPECT_FALSE(fs::exists(dir_.path() / "twice"));
  auto r = record(dir_.path() / "once", command, {"--once"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_FALSE(fs::exists(dir_.path() / "once" / "repeatable.sql"));
  auto j = nlohmann::json::parse(read_text(dir_.path() / "once" / "recording.json"));
  EXPECT_EQ(j["statements"].size(), 1u);
  EXPECT_EQ(j["repeatable"].size(), 0u);
}

// `--down`: a tool-like script (it applies what is missing, in order) and its rollback. The
// rollback is the down part of the migration the script applies again after it, which must be
// the last one recorded; the rollback must send the same statements on its two runs, and
// something to approve; the scratch database is left at the head.
TEST_F(Record, RecordsTheRollbackOfTheLastMigrationOrRefusesIt) {
  const std::string psql_line = "'" + psql() + "' -X -q -v ON_ERROR_STOP=1";
  std::string up;
  for (const char* m : {"a", "b", "c"}) {
    up += psql_line + " -tAc \"select 1 from pg_class where relname = 'rb_" + m + "'\" | grep -q 1 || " + psql_line +
          " -c 'create table rb_" + m + " (id int)' && ";
  }
  const std::vector<std::string> command = {"sh", "-c", up + "true"};
  auto down = [&](const std::string& sql) { return std::vector<std::string>{"--down", psql_line + " -c \"" + sql + "\""}; };

  const fs::path out = dir_.path() / "ok";
  auto r = record(out, command, down("drop table rb_c"));
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("1 down statements, undoing statements 3 to 3"), std::string::npos) << r.stdout_text;
  EXPECT_EQ(SharedPgServer::get().admin_sql("select count(*) from pg_class where relname = 'rb_c'", scratch_.front()),
            "1\n");
  auto j = nlohmann::json::parse(read_text(out / "recording.json"));
  ASSERT_EQ(j["down"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["down"][0]["sql"], "DROP TABLE rb_c");
  EXPECT_EQ(j["down_undoes"], nlohmann::json::parse("{\"first\": 3, \"last\": 3}"));
  EXPECT_NE(read_text(out / "down.sql").find("DROP TABLE rb_c;"), std::string::npos);
  // Recorded again into the same directory: the same bytes, rollback included.
  auto again = record(out, command, down("drop table rb_c"));
  EXPECT_EQ(again.exit_code, 0) << again.stderr_text;
  EXPECT_NE(again.stdout_text.find("identical to the earlier recording (3 statements, 0 repeatable, 1 down)"),
            std::string::npos)
      << again.stdout_text;

  // The rollback of a migration that is not the last cannot be attributed.
  auto middle = record(dir_.path() / "middle", command, down("drop table rb_b"));
  EXPECT_EQ(middle.exit_code, 1);
  EXPECT_NE(middle.stderr_text.find("not the last ones of the recording (statement 1 applied again: CREATE TABLE rb_b"),
            std::string::npos)
      << middle.stderr_text;
  EXPECT_FALSE(fs::exists(dir_.path() / "middle"));
  // A rollback that sends other statements on its second run.
  auto clock = record(dir_.path() / "clock", command,
                      down("drop table rb_c; comment on table rb_a is '$(date +%s%N)'"));
  EXPECT_EQ(clock.exit_code, 1);
  EXPECT_NE(clock.stderr_text.find("non-deterministic (second rollback): rollback statement 2: earlier run: COMMENT ON "
                                   "TABLE rb_a IS '"),
            std::string::npos)
      << clock.stderr_text;
  EXPECT_FALSE(fs::exists(dir_.path() / "clock"));
  // A rollback that sets a password: refused, and the secret written nowhere.
  auto& pg = SharedPgServer::get();
  const std::string role = "record_down_pw_" + pg.database();
  pg.psql("drop role if exists " + role + "; create role " + role, "postgres");
  auto secret = record(dir_.path() / "secret", command,
                       down("drop table rb_c; alter role " + role + " password 'hunter3-secret'"));
  pg.psql("drop role if exists " + role, "postgres");
  EXPECT_EQ(secret.exit_code, 1);
  EXPECT_NE(secret.stderr_text.find("refused (the rollback command (--down)): statement 2: "), std::string::npos)
      << secret.stderr_text;
  EXPECT_NE(secret.stderr_text.find("holds a password"), std::string::npos) << secret.stderr_text;
  EXPECT_EQ(secret.stderr_text.find("hunter3"), std::string::npos) << secret.stderr_text;
  EXPECT_FALSE(fs::exists(dir_.path() / "secret"));
  // A rollback that rolls nothing back.
  auto nothing = record(dir_.path() / "nothing", command, down("select 1"));
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.stderr_text.find("the rollback command sent no controlled statement"), std::string::npos)
      << nothing.stderr_text;
  // --once cannot apply the migration again after the rollback.
  auto once = record(dir_.path() / "once", command, {"--once", "--down", "true"});
  EXPECT_EQ(once.exit_code, 2) << once.stderr_text;
}

TEST_F(Record, KnexAppliesThroughEnforceAndRollsBackForADeployerOnly) {
  ASSERT_TRUE(fs::exists(npm_tools() / "node_modules/.bin/knex")) << "scripts/setup.sh installs knex from npm (or set DDLGATE_NPM_TOOLS)";
  Tool tool;
  tool.name = "knex";
  tool.write_project = [](const fs::path& d) {
    fs::create_directories(d / "migrations");
    fs::create_directory_symlink(npm_tools() / "node_modules", d / "node_modules");  // the project's own install
    write_file(d / "knexfile.js",
               "module.exports = { client: 'pg', connection: process.env.DATABASE_URL,\n"
               "  migrations: { directory: __dirname + '/migrations' } };\n");
    write_file(d / "migrations/20240101000001_users.js",
               "exports.up = (knex) => knex.schema.createTable('users', (t) => {\n"
               "  t.increments('id');\n  t.string('email').notNullable();\n});\n"
               "exports.down = (knex) => knex.schema.dropTable('users');\n");
    write_file(d / "migrations/20240101000002_name.js",
               "exports.up = (knex) => knex.schema.alterTable('users', (t) => { t.text('name'); });\n"
               "exports.down = (knex) => knex.schema.alterTable('users', (t) => { t.dropColumn('name'); });\n");
    write_file(d / "migrations/20240101000003_email_index.js",
               "exports.up = (knex) => knex.schema.alterTable('users', (t) => { t.index(['email'], 'users_email_idx'); });\n"
               "exports.down = (knex) => knex.schema.alterTable('users', (t) => { t.dropIndex(['email'], 'users_email_idx'); });\n");
  };
  tool.add_fourth = [](const fs::path& d) {
    write_file(d / "migrations/20240101000004_audit.js",
               "exports.up = (knex) => knex.schema.createTable('audit', (t) => { t.increments('id'); })\n"
               "  .then(() => knex.schema.alterTable('users', (t) => { t.text('unsigned_column'); }));\n"
               "exports.down = (knex) => knex.schema.dropTable('audit');\n");
  };
  tool.migrate = [](const fs::path& d) {
    return std::vector<std::string>{"node", (d / "node_modules/.bin/knex").string(), "--knexfile",
                                    (d / "knexfile.js").string(), "migrate:latest"};
  };
  // migrate:down undoes the last migration (migrate:rollback would undo the last batch: all three).
  tool.rollback = [](const fs::path& d) {
    return std::vector<std::string>{"node", (d / "node_modules/.bin/knex").string(), "--knexfile",
                                    (d / "knexfile.js").string(), "migrate:down"};
  };
  tool.history_count_sql = "select count(*) from knex_migrations";
  end_to_end(tool);
  EXPECT_EQ(production("select count(*) from information_schema.columns where column_name = 'unsigned_column'"), "0\n");
}

TEST_F(Record, SequelizeAppliesThroughEnforceAndRollsBackForADeployerOnly) {
  ASSERT_TRUE(fs::exists(npm_tools() / "node_modules/.bin/sequelize-cli")) << "scripts/setup.sh installs sequelize-cli from npm (or set DDLGATE_NPM_TOOLS)";
  auto migration = [](const std::string& up, const std::string& down) {
    return "'use strict';\nmodule.exports = {\n  async up(qi, Sequelize) {\n" + up + "  },\n  async down(qi, Sequelize) {\n" +
           down + "  },\n};\n";
  };
  Tool tool;
  tool.name = "sequelize";
  tool.write_project = [migration](const fs::path& d) {
    fs::create_directories(d / "migrations");
    fs::create_directory_symlink(npm_tools() / "node_modules", d / "node_modules");  // the project's own install
    write_file(d / "migrations/20240101000001-users.js",
               migration("    await qi.createTable('users', {\n"
                         "      id: { type: Sequelize.INTEGER, primaryKey: true, autoIncrement: true },\n"
                         "      email: { type: Sequelize.STRING, allowNull: false },\n    });\n",
                         "    await qi.dropTable('users');\n"));
    write_file(d / "migrations/20240101000002-name.js",
               migration("    await qi.addColumn('users', 'name', { type: Sequelize.TEXT });\n",
                         "    await qi.removeColumn('users', 'name');\n"));
    write_file(d / "migrations/20240101000003-email-index.js",
               migration("    await qi.addIndex('users', ['email'], { name: 'users_email_idx' });\n",
                         "    await qi.removeIndex('users', 'users_email_idx');\n"));
  };
  tool.add_fourth = [migration](const fs::path& d) {
    write_file(d / "migrations/20240101000004-audit.js",
               migration("    await qi.createTable('audit', { id: { type: Sequelize.INTEGER, primaryKey: true } });\n"
                         "    await qi.addColumn('users', 'unsigned_column', { type: Sequelize.TEXT });\n",
                         "    await qi.dropTable('audit');\n"));
  };
  // sequelize-cli finds the sequelize package from its working directory.
  tool.migrate = [](const fs::path& d) {
    return std::vector<std::string>{"sh", "-c",
                                    "cd '" + d.string() +
                                        "' && exec node node_modules/.bin/sequelize-cli db:migrate --url \"$DATABASE_URL\""
                                        " --migrations-path migrations"};
  };
  tool.rollback = [](const fs::path& d) {
    return std::vector<std::string>{"sh", "-c",
                                    "cd '" + d.string() +
                                        "' && exec node node_modules/.bin/sequelize-cli db:migrate:undo --url \"$DATABASE_URL\""
                                        " --migrations-path migrations"};
  };
  tool.history_count_sql = "select count(*) from \"SequelizeMeta\"";
  end_to_end(tool);
  EXPECT_EQ(production("select count(*) from information_schema.columns where column_name = 'unsigned_column'"), "0\n");
}

// TypeORM quotes its history table's constraint name ("PK_..."), which the deparser gives back
// unquoted: the recording keeps that statement as the tool sent it (from the event trigger).
TEST_F(Record, TypeormAppliesThroughEnforceAndRollsBackForADeployerOnly) {
  ASSERT_TRUE(fs::exists(npm_tools() / "node_modules/.bin/typeorm"))
      << "scripts/setup.sh installs typeorm from npm (or set DDLGATE_NPM_TOOLS)";
  auto migration = [](const fs::path& d, const std::string& name, const std::string& stamp,
                      const std::vector<std::string>& up, const std::string& down) {
    std::string body;
    for (const auto& q : up) body += "    await qr.query('" + q + "');\n";
    write_file(d / "migrations" / (stamp + "-" + name + ".js"),
               "module.exports = class " + name + stamp + " {\n  async up(qr) {\n" + body +
                   "  }\n  async down(qr) {\n    await qr.query('" + down + "');\n  }\n};\n");
  };
  Tool tool;
  tool.name = "typeorm";
  tool.write_project = [migration](const fs::path& d) {
    fs::create_directories(d / "migrations");
    fs::create_directory_symlink(npm_tools() / "node_modules", d / "node_modules");  // the project's own install
    write_file(d / "data-source.js",
               "const { DataSource } = require('typeorm');\n"
               "module.exports = new DataSource({ type: 'postgres', url: process.env.DATABASE_URL,\n"
               "  migrations: [__dirname + '/migrations/*.js'] });\n");
    migration(d, "Users", "1704067200001", {"CREATE TABLE users (id serial PRIMARY KEY, email varchar(255) NOT NULL)"},
              "DROP TABLE users");
    migration(d, "Name", "1704067200002", {"ALTER TABLE users ADD COLUMN name text"}, "ALTER TABLE users DROP COLUMN name");
    migration(d, "EmailIndex", "1704067200003", {"CREATE INDEX users_email_idx ON users (email)"},
              "DROP INDEX users_email_idx");
  };
  tool.add_fourth = [migration](const fs::path& d) {
    migration(d, "Audit", "1704067200004",
              {"CREATE TABLE audit (id int)", "ALTER TABLE users ADD COLUMN unsigned_column text"}, "DROP TABLE audit");
  };
  tool.migrate = [](const fs::path& d) {
    return std::vector<std::string>{"sh", "-c",
                                    "cd '" + d.string() + "' && exec node node_modules/.bin/typeorm migration:run -d data-source.js"};
  };
  tool.rollback = [](const fs::path& d) {
    return std::vector<std::string>{"sh", "-c",
                                    "cd '" + d.string() + "' && exec node node_modules/.bin/typeorm migration:revert -d data-source.js"};
  };
  tool.history_count_sql = "select count(*) from migrations";
  end_to_end(tool);
  EXPECT_EQ(production("select count(*) from information_schema.columns where column_name = 'unsigned_column'"), "0\n");
  const std::string recorded = read_text(dir_.path() / "typeorm-recorded" / "recorded.sql");
  EXPECT_NE(recorded.find("CONSTRAINT \"PK_"), std::string::npos) << recorded;
}

// Django (Debian python3-django 3.2 with python3-psycopg2, so Debian's /usr/bin/python3):
// `manage.py migrate` as a project runs it.
TEST_F(Record, DjangoAppliesThroughEnforceAndRollsBackForADeployerOnly) {
  auto migration = [](const fs::path& d, const std::string& name, const std::string& depends,
                      const std::string& operations) {
    write_file(d / "shop/migrations" / (name + ".py"),
               "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n"
               "    dependencies = [" + (depends.empty() ? std::string() : "('shop', '" + depends + "')") + "]\n"
               "    operations = [\n" + operations + "    ]\n");
  };
  Tool tool;
  tool.name = "django";
  tool.write_project = [migration](const fs::path& d) {
    fs::create_directories(d / "shop/migrations");
    write_file(d / "shop/__init__.py", "");
    write_file(d / "shop/migrations/__init__.py", "");
    write_file(d / "settings.py",
               "import os\nSECRET_KEY = 'record-test'\nINSTALLED_APPS = ['shop']\nUSE_TZ = True\n"
               "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': os.environ['PGDATABASE'],\n"
               "    'USER': os.environ['PGUSER'], 'HOST': os.environ['PGHOST'], 'PORT': os.environ['PGPORT']}}\n");
    migration(d, "0001_users", "",
              "        migrations.CreateModel(name='User', fields=[('id', models.AutoField(primary_key=True)),\n"
              "            ('email', models.CharField(max_length=255))], options={'db_table': 'users'}),\n");
    migration(d, "0002_name", "0001_users",
              "        migrations.AddField(model_name='user', name='name', field=models.TextField(null=True)),\n");
    migration(d, "0003_email_index", "0002_name",
              "        migrations.AddIndex(model_name='user', index=models.Index(fields=['email'], name='users_email_idx')),\n");
  };
  tool.add_fourth = [migration](const fs::path& d) {
    migration(d, "0004_audit", "0003_email_index",
              "        migrations.CreateModel(name='Audit', fields=[('id', models.AutoField(primary_key=True))],\n"
              "            options={'db_table': 'audit'}),\n"
              "        migrations.AddField(model_name='user', name='unsigned_column', field=models.TextField(null=True)),\n");
  };
  tool.migrate = [](const fs::path& d) {
    return std::vector<std::string>{"sh", "-c", "cd '" + d.string() + "' && exec /usr/bin/python3 -m django migrate --settings=settings"};
  };
  // Migrating to the second migration unapplies the third (AddIndex's reverse, RemoveIndex).
  tool.rollback = [](const fs::path& d) {
    return std::vector<std::string>{"sh", "-c", "cd '" + d.string() +
                                                    "' && exec /usr/bin/python3 -m django migrate shop 0002_name --settings=settings"};
  };
  tool.history_count_sql = "select count(*) from django_migrations";
  end_to_end(tool);
  EXPECT_EQ(production("select count(*) from information_schema.columns where column_name = 'unsigned_column'"), "0\n");
}

// ActiveRecord (Debian ruby-activerecord 6.1 with ruby-pg, prepared statements: the extended
// protocol): its migrator, as `rails db:migrate` runs it, without the rest of Rails.
TEST_F(Record, ActiverecordAppliesThroughEnforceAndRollsBackForADeployerOnly) {
  auto migration = [](const fs::path& d, const std::string& version, const std::string& name,
                      const std::string& change) {
    std::string file = name;
    for (std::size_t i = 1; i < file.size(); ++i) {
      if (std::isupper(static_cast<unsigned char>(file[i]))) file.insert(i++, "_");
    }
    for (char& c : file) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    write_file(d / "migrate" / (version + "_" + file + ".rb"),
               "class " + name + " < ActiveRecord::Migration[6.1]\n  def change\n" + change + "  end\nend\n");
  };
  Tool tool;
  tool.name = "activerecord";
  tool.write_project = [migration](const fs::path& d) {
    fs::create_directories(d / "migrate");
    write_file(d / "migrate.rb",
               "require 'active_record'\n"
               "ActiveRecord::Base.establish_connection(ENV.fetch('DATABASE_URL'))\n"
               "context = ActiveRecord::MigrationContext.new(File.join(__dir__, 'migrate'), ActiveRecord::SchemaMigration)\n"
               "ARGV.first == 'rollback' ? context.rollback(1) : context.migrate\n");
    migration(d, "20240101000001", "CreateUsers", "    create_table :users do |t|\n      t.string :email, null: false\n    end\n");
    migration(d, "20240101000002", "AddName", "    add_column :users, :name, :text\n");
    migration(d, "20240101000003", "AddEmailIndex", "    add_index :users, :email, name: 'users_email_idx'\n");
  };
  tool.add_fourth = [migration](const fs::path& d) {
    migration(d, "20240101000004", "CreateAudit",
              "    create_table :audit\n    add_column :users, :unsigned_column, :text\n");
  };
  tool.migrate = [](const fs::path& d) {
    return std::vector<std::string>{"/usr/bin/ruby", (d / "migrate.rb").string()};
  };
  // `rails db:rollback`'s migrator call: the last migration's change, reversed (remove_index).
  tool.rollback = [](const fs::path& d) {
    return std::vector<std::string>{"/usr/bin/ruby", (d / "migrate.rb").string(), "rollback"};
  };
  tool.history_count_sql = "select count(*) from schema_migrations";
  end_to_end(tool);
  EXPECT_EQ(production("select count(*) from information_schema.columns where column_name = 'unsigned_column'"), "0\n");
}

// alembic online (Debian python3-alembic 1.8 with SQLAlchemy 1.4 and psycopg2): `alembic upgrade
// head` runs every pending revision in one transaction.
TEST_F(Record, AlembicAppliesThroughEnforceAndRollsBackForADeployerOnly) {
  auto revision = [](const fs::path& d, int n, const std::string& upgrade, const std::string& downgrade) {
    const std::string id = "000" + std::to_string(n);
    const std::string down = n == 1 ? "None" : "'000" + std::to_string(n - 1) + "'";
    write_file(d / "migrations/versions" / (id + ".py"),
               "from alembic import op\nimport sqlalchemy as sa\n\nrevision = '" + id + "'\ndown_revision = " + down +
                   "\n\n\ndef upgrade():\n" + upgrade + "\n\ndef downgrade():\n" + downgrade + "\n");
  };
  Tool tool;
  tool.name = "alembic";
  tool.write_project = [revision](const fs::path& d) {
    fs::create_directories(d / "migrations/versions");
    write_file(d / "alembic.ini", "[alembic]\nscript_location = %(here)s/migrations\n");
    write_file(d / "migrations/env.py",
               "import os\nfrom alembic import context\nfrom sqlalchemy import create_engine\n\n"
               "url = os.environ['DATABASE_URL'].replace('postgres://', 'postgresql://', 1)\n"
               "with create_engine(url).connect() as connection:\n"
               "    context.configure(connection=connection, target_metadata=None)\n"
               "    with context.begin_transaction():\n"
               "        context.run_migrations()\n");
    revision(d, 1,
             "    op.create_table('users', sa.Column('id', sa.Integer, primary_key=True),\n"
             "                    sa.Column('email', sa.String(255), nullable=False))",
             "    op.drop_table('users')");
    revision(d, 2, "    op.add_column('users', sa.Column('name', sa.Text))", "    op.drop_column('users', 'name')");
    revision(d, 3, "    op.create_index('users_email_idx', 'users', ['email'])",
             "    op.drop_index('users_email_idx', 'users')");
  };
  tool.add_fourth = [revision](const fs::path& d) {
    revision(d, 4,
             "    op.create_table('audit', sa.Column('id', sa.Integer, primary_key=True))\n"
             "    op.add_column('users', sa.Column('unsigned_column', sa.Text))",
             "    op.drop_table('audit')");
  };
  tool.migrate = [](const fs::path& d) {
    return std::vector<std::string>{"/usr/bin/python3", "-m", "alembic", "-c", (d / "alembic.ini").string(), "upgrade",
                                    "head"};
  };
  tool.rollback = [](const fs::path& d) {
    return std::vector<std::string>{"/usr/bin/python3", "-m", "alembic", "-c", (d / "alembic.ini").string(), "downgrade",
                                    "-1"};
  };
  // alembic keeps the current revision only ("0003": three applied).
  tool.history_count_sql = "select right(version_num, 1) from alembic_version";
  end_to_end(tool);
  EXPECT_EQ(production("select count(*) from information_schema.columns where column_name = 'unsigned_column'"), "0\n");
}

}  // namespace
}  // namespace ddlgate::testing
