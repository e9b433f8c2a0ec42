// Issue 28 item 2 against a running ddlgate in enforce mode and PostgreSQL 15: the trust policy's
// [tiers.destructive] approver = 2 leaves a migration file with a destructive statement
// unapproved (all of it: its additive statement too) while one approver signed, and the other
// files apply; two approvers' signatures approve it. A manifest that claims `additive` for a
// DROP fails `bundle verify` and is rejected by the running proxy on reload, the version in force
// staying in force.
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

const std::string kCreateNotes = "create table tier_notes (id bigint primary key, body text)";
const std::string kCreateAudit = "create table tier_audit (id bigint primary key)";
const std::string kDropColumn = "alter table tier_users drop column email";
const std::string kNeeds = "destructive statement needs 2 approver signatures, has 1";

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

class Tiers : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : {"registry", "alice", "bob", "ledger"}) run_ok({ddlgate(), "keygen", "--out", (keys_.path() / k).string()});
    // One approver is the base threshold; a destructive statement needs two.
    write_file(trust(), "[roles.registry]\nthreshold = 1\nkeys = [\"" + (keys_.path() / "registry.pub").string() +
                            "\"]\n[roles.approver]\nthreshold = 1\nkeys = [\"" + (keys_.path() / "alice.pub").string() +
                            "\", \"" + (keys_.path() / "bob.pub").string() +
                            "\"]\n[tiers.destructive]\napprover = 2\n");
    fs::create_directories(src());
    write_file(src() / "001_notes.sql", kCreateNotes + ";\n");
    // tier_users is not created by the bundle: dropping its column is destructive.
    write_file(src() / "002_audit.sql", kCreateAudit + ";\n" + kDropColumn + ";\n");
    fs::create_directory(registry());
    SharedPgServer::get().admin_sql("drop table if exists tier_notes, tier_audit, tier_users cascade");
    SharedPgServer::get().admin_sql("create table tier_users (id bigint primary key, email text)");
  }

  fs::path src() const { return dir_.path() / "src"; }
  fs::path registry() const { return dir_.path() / "registry"; }
  fs::path trust() const { return keys_.path() / "trust.toml"; }

  fs::path build(const std::string& name, int version) {
    fs::path staging = dir_.path() / ("staging-" + name);
    run_ok({ddlgate(), "bundle", "build", src().string(), "--tool", "plain", "--out", staging.string(), "--app", "shop",
            "--version", std::to_string(version), "--environment", "production", "--database",
            SharedPgServer::get().database()});
    return staging;
  }
  void sign(const fs::path& bundle, bool both_approvers) {
    run_ok({ddlgate(), "bundle", "sign", bundle.string(), "--key", (keys_.path() / "registry.key").string(), "--role",
            "registry"});
    run_ok({ddlgate(), "bundle", "sign", bundle.string(), "--key", (keys_.path() / "alice.key").string(), "--role",
            "approver"});
    if (both_approvers) {
      run_ok({ddlgate(), "bundle", "sign", bundle.string(), "--key", (keys_.path() / "bob.key").string(), "--role",
              "approver"});
    }
  }
  CommandResult verify(const fs::path& bundle) {
    return run_command({ddlgate(), "bundle", "verify", bundle.string(), "--trust", trust().string(), "--environment",
                        "production"});
  }
  fs::path publish(const fs::path& staging, const std::string& name) {
    fs::path dest = registry() / name;
    fs::rename(staging, dest);
    return dest;
  }
  std::unique_ptr<DdlgateProcess> start() {
    write_file(dir_.path() / "ddlgate.toml", "[bundles]\nregistry_dir = \"" + registry().string() +
                                                 "\"\nenvironment = \"production\"\ntrust_file = \"" + trust().string() +
                                                 "\"\n[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n" +
                                                 "[ledger]\ndirectory = \"" + (dir_.path() / "ledger").string() +
                                                 "\"\ncheckpoint_key_file = \"" +
                                                 (keys_.path() / "ledger.key").string() + "\"\n");
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / "ddlgate.toml").string()});
  }
  static std::string count(const std::string& sql) { return SharedPgServer::get().admin_sql(sql); }

  TempDir keys_{"ddlgate-keys"};
  TempDir dir_{"ddlgate-tiers"};
};

TEST_F(Tiers, ADestructiveFileNeedsTwoApproversAndAClaimedLowerTierIsRejected) {
  // v1: one approver. The bundle verifies, and says which file is not approved and why.
  fs::path v1 = build("shop-v1", 1);
  sign(v1, /*both_approvers=*/false);
  auto checked = verify(v1);
  EXPECT_EQ(checked.exit_code, 1) << checked.stdout_text << checked.stderr_text;
  EXPECT_NE(checked.stdout_text.find("files/002_audit.sql: NOT APPROVED: statement 2 (destructive): " + kNeeds),
            std::string::npos)
      << checked.stdout_text;
  EXPECT_EQ(checked.stdout_text.find("001_notes.sql"), std::string::npos) << checked.stdout_text;
  publish(v1, "shop-v1");

  auto proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v1]; 1 accepted, 0 rejected")) << proxy->stderr_log();
  EXPECT_NE(proxy->stderr_log().find("files/002_audit.sql is not approved: statement 2 (destructive): " + kNeeds),
            std::string::npos)
      << proxy->stderr_log();
  {
    auto c = pg_connect(proxy->conninfo("postgres"));
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(run(c.get(), kCreateNotes).status, "CREATE TABLE");  // the additive file applies
    // Nothing of the destructive file does: its additive CREATE TABLE neither.
    Result audit = run(c.get(), kCreateAudit);
    EXPECT_EQ(audit.status, "42501");
    EXPECT_NE(audit.message.find("bundle shop version 1 lists it, but 002_audit.sql is not approved: statement 2 "
                                 "(destructive): " + kNeeds),
              std::string::npos)
        << audit.message;
    Result drop = run(c.get(), kDropColumn);
    EXPECT_EQ(drop.status, "42501");
    EXPECT_NE(drop.message.find(kNeeds), std::string::npos) << drop.message;
  }
  EXPECT_EQ(count("select count(*) from pg_class where relname = 'tier_notes'"), "1\n");
  EXPECT_EQ(count("select count(*) from pg_class where relname = 'tier_audit'"), "0\n");
  EXPECT_EQ(count("select count(*) from information_schema.columns where table_name = 'tier_users' and "
                  "column_name = 'email'"),
            "1\n");

  // v2: the same files, two approvers. It verifies clean and the destructive file applies.
  fs::path v2 = build("shop-v2", 2);
  sign(v2, /*both_approvers=*/true);
  checked = verify(v2);
  EXPECT_EQ(checked.exit_code, 0) << checked.stdout_text << checked.stderr_text;
  std::size_t mark = proxy->stderr_log().size();
  publish(v2, "shop-v2");
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v2]", mark)) << proxy->stderr_log();
  {
    auto c = pg_connect(proxy->conninfo("postgres"));
    EXPECT_EQ(run(c.get(), kCreateAudit).status, "CREATE TABLE");
    Result drop = run(c.get(), kDropColumn);
    EXPECT_EQ(drop.status, "ALTER TABLE") << drop.message;
  }
  EXPECT_EQ(count("select count(*) from information_schema.columns where table_name = 'tier_users' and "
                  "column_name = 'email'"),
            "0\n");

  // v3 claims `additive` for the DROP, signed by both approvers: verify fails, the proxy rejects
  // it on reload and v2 stays in force.
  fs::path v3 = build("shop-v3", 3);
  {
    auto manifest = nlohmann::json::parse(read_file(v3 / "manifest.json"));
    auto& st = manifest["files"][1]["statements"][1];
    ASSERT_EQ(st["tier"], "destructive") << manifest.dump();
    st["tier"] = "additive";
    write_file(v3 / "manifest.json", manifest.dump());
  }
  sign(v3, /*both_approvers=*/true);
  checked = verify(v3);
  EXPECT_EQ(checked.exit_code, 1) << checked.stdout_text << checked.stderr_text;
  const std::string claim = "files/002_audit.sql: statement 2: the manifest claims tier additive, the analysis gives "
                            "destructive";
  EXPECT_NE(checked.stderr_text.find(claim), std::string::npos) << checked.stderr_text;
  mark = proxy->stderr_log().size();
  fs::path published = publish(v3, "shop-v3");
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (the registry directory changed)", mark)) << proxy->stderr_log();
  std::string log = proxy->stderr_log().substr(mark);
  EXPECT_NE(log.find("bundle rejected: " + published.string()), std::string::npos) << log;
  EXPECT_NE(log.find(claim), std::string::npos) << log;
  EXPECT_NE(log.find("from [shop v2]"), std::string::npos) << log;
  EXPECT_EQ(proxy->terminate(20s), 0);
}

}  // namespace
}  // namespace ddlgate::testing
