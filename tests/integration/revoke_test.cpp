// Issue 26 items 6 and 7 against a running ddlgate and PostgreSQL: a migration's down part is
// a separate approval that applies for a role named in enforcement.deployers only, once; a
// revocation signed by the registry role takes a version out of force on the next reload,
// with no older version taking its place, and stays in force after a restart and after its
// directory is deleted (the ledger keeps it). `ddlgate explain` says "revoked".
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/log_wait.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

std::string ddlgate() { return ddlgate_binary().string(); }

const std::string kUsers = "create table users (id bigint primary key, email text not null)";

struct Result {
  std::string status;  // the command tag, or the SQLSTATE of the error
  std::string message;
};

Result run(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {PQcmdStatus(r.get()), ""};
  const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  const char* msg = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY);
  return {code ? code : "?", msg ? msg : ""};
}

class Revoke : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : {"registry", "alice", "bob", "ledger"}) {
      run_ok({ddlgate(), "keygen", "--out", (keys_.path() / k).string()});
    }
    write_file(keys_.path() / "trust.toml",
               "[roles.registry]\nthreshold = 1\nkeys = [\"" + (keys_.path() / "registry.pub").string() +
                   "\"]\n[roles.approver]\nthreshold = 2\nkeys = [\"" + (keys_.path() / "alice.pub").string() +
                   "\", \"" + (keys_.path() / "bob.pub").string() + "\"]\n");
    fs::create_directory(registry());
    SharedPgServer::get().admin_sql("drop table if exists users, orders cascade");
  }

  fs::path registry() const { return dir_.path() / "registry"; }
  fs::path ledger_dir() const { return dir_.path() / "ledger"; }

  // The dbmate sample (its down parts too), signed by the registry and both approvers,
  // published in one rename.
  fs::path publish(const std::string& name, int version) {
    fs::path staging = dir_.path() / ("staging-" + name);
    run_ok({ddlgate(), "bundle", "build", std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate", "--tool",
            "dbmate", "--out", staging.string(), "--app", "shop", "--version", std::to_string(version),
            "--environment", "production", "--database", SharedPgServer::get().database()});
    for (const auto& [k, role] : {std::pair{"registry", "registry"}, {"alice", "approver"}, {"bob", "approver"}}) {
      run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (keys_.path() / (std::string(k) + ".key")).string(),
              "--role", role});
    }
    fs::path dest = registry() / name;
    fs::rename(staging, dest);
    return dest;
  }

  // `ddlgate bundle revoke` + `bundle sign --role registry`, published in one rename.
  fs::path publish_revocation(const std::string& name, int version) {
    fs::path staging = dir_.path() / ("staging-" + name);
    run_ok({ddlgate(), "bundle", "revoke", "--out", staging.string(), "--app", "shop", "--environment", "production",
            "--version", std::to_string(version), "--reason", "the migration locks orders for minutes"});
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (keys_.path() / "registry.key").string(), "--role",
            "registry"});
    auto verified = run_command({ddlgate(), "bundle", "verify", staging.string(), "--trust",
                                 (keys_.path() / "trust.toml").string(), "--environment", "production"});
    EXPECT_EQ(verified.exit_code, 0) << verified.stdout_text << verified.stderr_text;
    fs::path dest = registry() / name;
    fs::rename(staging, dest);
    return dest;
  }

  std::string config_text(const std::string& enforcement) const {
    return "[bundles]\nregistry_dir = \"" + registry().string() + "\"\nenvironment = \"production\"\ntrust_file = \"" +
           (keys_.path() / "trust.toml").string() + "\"\n[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n" +
           "spend_approvals_once = true\n" + enforcement + "[ledger]\ndirectory = \"" + ledger_dir().string() +
           "\"\ncheckpoint_key_file = \"" + (keys_.path() / "ledger.key").string() + "\"\n";
  }

  std::unique_ptr<DdlgateProcess> start(const std::string& enforcement = "") {
    write_file(config(), config_text(enforcement));
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", config().string()});
  }
  fs::path config() const { return dir_.path() / "ddlgate.toml"; }

  // The ledger's records of one type, their fields.
  std::vector<nlohmann::json> records(const std::string& type) {
    auto r = run_command({ddlgate(), "ledger", "export", ledger_dir().string(), "--format", "jsonl"});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    std::vector<nlohmann::json> out;
    std::istringstream lines(r.stdout_text);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || j.value("kind", "") != "record" || !j["payload"].is_string()) continue;
      auto payload = nlohmann::json::parse(j["payload"].get<std::string>(), nullptr, false);
      if (payload.is_object() && payload.value("type", "") == type) out.push_back(payload["fields"]);
    }
    return out;
  }

  TempDir keys_{"ddlgate-keys"};
  TempDir dir_{"ddlgate-revoke"};
};

// Item 6: "drop table users" is the down part of the sample's first migration.
TEST_F(Revoke, ADownStatementAppliesForANamedDeployerOnlyAndOnlyOnce) {
  auto& pg = SharedPgServer::get();
  pg.ensure_role("app_dev", "LOGIN");
  publish("shop-v1", 1);
  auto proxy = start("deployers = [\"postgres\"]\n");
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v1]; 1 accepted, 0 rejected")) << proxy->stderr_log();
  pg.admin_sql(kUsers);

  {
    auto dev = pg_connect(proxy->conninfo("app_dev"));
    ASSERT_EQ(PQstatus(dev.get()), CONNECTION_OK) << PQerrorMessage(dev.get());
    Result r = run(dev.get(), "drop table users");
    EXPECT_EQ(r.status, "42501");
    // Not a deployer at all; WithoutDeployersNoDownStatementApplies shows the down reason.
    EXPECT_NE(r.message.find("\"DROP TABLE users\" is not approved: user app_dev is not a deployer "
                             "(enforcement.deployers)"),
              std::string::npos)
        << r.message;
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");

  auto deploy = pg_connect(proxy->conninfo("postgres"));
  EXPECT_EQ(run(deploy.get(), "drop table users").status, "DROP TABLE");
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "0\n");

  // Replay protection: the down approval is spent in this database.
  pg.admin_sql(kUsers);
  Result again = run(deploy.get(), "drop table users");
  EXPECT_EQ(again.status, "42501");
  EXPECT_NE(again.message.find("its approval was already used in database"), std::string::npos) << again.message;
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");
  deploy.reset();
  EXPECT_EQ(proxy->terminate(20s), 0);

  // The ledger says which decision applied a down approval.
  std::size_t down = 0;
  for (const auto& d : records("decision")) {
    if (d.value("decision", "") != "allowed" || !d["approval"].is_object()) continue;
    if (d["approval"].value("part", "") == "down") {
      ++down;
      EXPECT_EQ(d["approval"]["file"], "20240101000000_create_users.sql");
      EXPECT_EQ(d["approval"]["statement"], 1);
      EXPECT_EQ(d["user"], "postgres");
    }
  }
  EXPECT_EQ(down, 1u);

  // A restart reads the spent down approval back from the ledger.
  proxy = start("deployers = [\"postgres\"]\n");
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v1]")) << proxy->stderr_log();
  deploy = pg_connect(proxy->conninfo("postgres"));
  EXPECT_EQ(run(deploy.get(), "drop table users").status, "42501");
  deploy.reset();
  EXPECT_EQ(proxy->terminate(20s), 0);
}

// With no enforcement.deployers, everyone may deploy up parts, and nobody may roll back.
TEST_F(Revoke, WithoutDeployersNoDownStatementApplies) {
  auto& pg = SharedPgServer::get();
  publish("shop-v1", 1);
  auto proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v1]")) << proxy->stderr_log();
  auto c = pg_connect(proxy->conninfo("postgres"));
  EXPECT_EQ(run(c.get(), kUsers).status, "CREATE TABLE");
  Result r = run(c.get(), "drop table users");
  EXPECT_EQ(r.status, "42501");
  EXPECT_NE(r.message.find("approved only as a down (rollback) statement"), std::string::npos) << r.message;
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");
  c.reset();
  EXPECT_EQ(proxy->terminate(20s), 0);
}

// Item 7, and `explain` naming "revoked".
TEST_F(Revoke, ARevocationWithdrawsAVersionForGood) {
  publish("shop-v1", 1);
  fs::path v2 = publish("shop-v2", 2);
  auto proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v2]; 2 accepted, 0 rejected")) << proxy->stderr_log();

  std::size_t mark = proxy->stderr_log().size();
  fs::path rv = publish_revocation("revoke-shop-2", 2);
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (the registry directory changed)", mark)) << proxy->stderr_log();
  std::string log = proxy->stderr_log().substr(mark);
  EXPECT_NE(log.find("bundle revoked: " + rv.string() + " app=shop version 2 (the migration locks orders for "
                     "minutes): version 2 is out of force and no older version takes its place"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("bundle rejected: " + v2.string() + ": manifest.json: version 2 of app 'shop' is revoked"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("0 statement(s) in force"), std::string::npos) << log;
  {
    auto c = pg_connect(proxy->conninfo("postgres"));
    Result r = run(c.get(), kUsers);  // version 1 approves it too, and is not in force
    EXPECT_EQ(r.status, "42501") << r.message;
  }
  EXPECT_EQ(SharedPgServer::get().admin_sql("select count(*) from pg_class where relname = 'users'"), "0\n");

  auto explained = run_command({ddlgate(), "explain", kUsers, "--config", config().string()});
  EXPECT_EQ(explained.exit_code, 1) << explained.stdout_text << explained.stderr_text;
  EXPECT_NE(explained.stdout_text.find("revoked: approved by shop v2, 20240101000000_create_users.sql:2 (statement 1), "
                                       "which is revoked by " + rv.string()),
            std::string::npos)
      << explained.stdout_text;
  EXPECT_EQ(proxy->terminate(20s), 0);

  // Recorded once, with what and why.
  auto revoked = records("bundle_revoked");
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_EQ(revoked[0]["bundle"], "shop");
  EXPECT_EQ(revoked[0]["version"], "2");
  EXPECT_EQ(revoked[0]["reason"], "the migration locks orders for minutes");
  EXPECT_EQ(revoked[0]["signers"].size(), 1u);

  // The revocation's directory is deleted while ddlgate is down: the ledger keeps it.
  fs::remove_all(rv);
  proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (start)")) << proxy->stderr_log();
  log = proxy->stderr_log();
  EXPECT_NE(log.find("1 revocation(s) in the ledger stay in force"), std::string::npos) << log;
  EXPECT_NE(log.find("bundle rejected: " + v2.string() + ": manifest.json: version 2 of app 'shop' is revoked"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("0 statement(s) in force"), std::string::npos) << log;
  {
    auto c = pg_connect(proxy->conninfo("postgres"));
    EXPECT_EQ(run(c.get(), kUsers).status, "42501");
  }
  explained = run_command({ddlgate(), "explain", kUsers, "--config", config().string()});
  EXPECT_EQ(explained.exit_code, 1);
  EXPECT_NE(explained.stdout_text.find("which is revoked by a revocation the ledger records"), std::string::npos)
      << explained.stdout_text;

  // A new version is the way forward.
  mark = proxy->stderr_log().size();
  publish("shop-v3", 3);
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v3]", mark)) << proxy->stderr_log();
  {
    auto c = pg_connect(proxy->conninfo("postgres"));
    EXPECT_EQ(run(c.get(), kUsers).status, "CREATE TABLE");
  }
  EXPECT_EQ(proxy->terminate(20s), 0);
  EXPECT_EQ(records("bundle_revoked").size(), 1u);  // not recorded again by the restart
}

// A revocation that fails a check stops the reload of that app's bundles, with the reason;
// what is in force stays.
TEST_F(Revoke, AMalformedRevocationIsRejectedWithItsReason) {
  publish("shop-v1", 1);
  auto proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v1]")) << proxy->stderr_log();
  std::size_t mark = proxy->stderr_log().size();
  fs::path bad = dir_.path() / "staging-bad";
  fs::create_directories(bad);
  write_file(bad / "revocation.json",
             "{\"format\": \"ddlgate-revocation/1\", \"app\": \"shop\", \"environment\": \"production\", "
             "\"version\": 1, \"version\": 2, \"reason\": \"x\", \"issued_at\": \"2026-01-01T00:00:00Z\"}\n");
  run_ok({ddlgate(), "bundle", "sign", bad.string(), "--key", (keys_.path() / "registry.key").string(), "--role",
          "registry"});
  fs::rename(bad, registry() / "revoke-bad");
  publish("shop-v2", 2);
  // The watcher may judge the revocation alone first; then version 2 joins it.
  const std::string held = "bundle rejected: " + (registry() / "shop-v2").string() +
                           ": manifest.json: app 'shop' has an invalid revocation in the registry";
  ASSERT_TRUE(wait_for_log(*proxy, held, mark)) << proxy->stderr_log();
  const std::size_t at = proxy->stderr_log().find(held, mark);
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (the registry directory changed)", at)) << proxy->stderr_log();
  std::string log = proxy->stderr_log().substr(mark);
  EXPECT_NE(log.find("bundle rejected: " + (registry() / "revoke-bad").string() + ": revocation.json: duplicate key"),
            std::string::npos)
      << log;
  EXPECT_NE(proxy->stderr_log().find("from [shop v1]", at), std::string::npos) << log;
  EXPECT_EQ(proxy->terminate(20s), 0);
}

}  // namespace
}  // namespace ddlgate::testing
