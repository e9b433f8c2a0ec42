// Real SQL-file migration tools end to end (issue 26, item 4): for each tool installable
// here (Debian: sqitch, sql-migrate; npm: node-pg-migrate; dbmate is in enforce_test),
// `ddlgate bundle build --tool X` and sign a directory of 3 migrations, then run the
// tool itself, unchanged, through ddlgate in enforce mode:
//   - the 3 migrations apply (the tool's own history table and locks are approved by
//     the bundle's bookkeeping profile, exactly as the tool sends them);
//   - a second run is a no-op and succeeds;
//   - a 4th migration added after signing is refused, and nothing of it is applied;
//   - the tool's own down (rollback, revert) of the last migration, whose down part the bundle
//     approves as a down approval, is refused for a user enforcement.deployers does not name,
//     with nothing of it applied, and applies for the deployer (dbmate too, here).
// The tools come from scripts/packages.txt and scripts/setup.sh (node-pg-migrate in
// .tools/npm, or in $DDLGATE_NPM_TOOLS when set).
#include <cstdlib>

#include <gtest/gtest.h>

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

fs::path npm_tools() {
  const char* e = std::getenv("DDLGATE_NPM_TOOLS");
  return e && *e ? fs::path(e) : fs::path(DDLGATE_SOURCE_DIR) / ".tools/npm";
}

class Tools : public ::testing::Test {
 protected:
  void SetUp() override {
    // Keys, trust policy and ledger key; the dbmate bundle it makes is not this test's.
    make_signed_bundle(dir_.path(), fs::path(DDLGATE_SOURCE_DIR) / "tests/data/migrations/dbmate");
    fs::remove_all(dir_.path() / "registry");
    fs::create_directories(dir_.path() / "registry");
  }

  // `bundle build SRC --tool TOOL` for this test's database, signed by the registry
  // key and the approver, placed in the registry.
  void sign_bundle_of(const fs::path& src, const std::string& tool) {
    const fs::path staging = dir_.path() / "staging";
    auto built = run_command({ddlgate(), "bundle", "build", src.string(), "--tool", tool, "--out", staging.string(),
                              "--app", "tools", "--version", "1", "--environment", "production", "--database",
                              SharedPgServer::get().database()});
    ASSERT_EQ(built.exit_code, 0) << built.stdout_text << built.stderr_text;
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (dir_.path() / "registry.key").string(), "--role",
            "registry"});
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (dir_.path() / "alice.key").string(), "--role",
            "approver"});
    fs::rename(staging, dir_.path() / "registry" / "tools-v1");
  }

  // enforcement: the [enforcement] table's lines after mode.
  std::unique_ptr<DdlgateProcess> start(const std::string& enforcement = "superusers = [\"postgres\"]\n") {
    write_file(dir_.path() / "ddlgate.toml",
               "[enforcement]\nmode = \"enforce\"\n" + enforcement + "[ledger]\ndirectory = \"" +
                   (dir_.path() / "ledger").string() + "\"\ncheckpoint_key_file = \"" +
                   (dir_.path() / "ledger.key").string() + "\"\n[bundles]\nregistry_dir = \"" +
                   (dir_.path() / "registry").string() + "\"\nenvironment = \"production\"\ntrust_file = \"" +
                   (dir_.path() / "trust.toml").string() + "\"\n");
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / "ddlgate.toml").string()});
  }

  // Two login roles, both superusers that ddlgate enforces as anyone: only "deployer" is in
  // enforcement.deployers, so only it may run approved changes, and down parts.
  std::unique_ptr<DdlgateProcess> start_with_deployer() {
    SharedPgServer::get().ensure_role("deployer", "LOGIN SUPERUSER");
    SharedPgServer::get().ensure_role("intern", "LOGIN SUPERUSER");
    return start("superusers = [\"postgres\", \"deployer\", \"intern\"]\ndeployers = [\"deployer\"]\n");
  }
  static std::string index_count() { return count("select count(*) from pg_indexes where indexname = 'orders_user'"); }

  static std::string count(const std::string& sql) { return SharedPgServer::get().admin_sql(sql); }
  static std::string tables(const std::string& names) {
    return count("select count(*) from pg_class where relkind = 'r' and relname in (" + names + ")");
  }

  TempDir dir_{"ddlgate-tools"};
};

// The three migrations every tool applies, and the fourth that nobody signed.
constexpr const char* kUsers = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n";
constexpr const char* kOrders = "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));\n";
constexpr const char* kIndex = "CREATE INDEX orders_user ON orders (user_id);\n";
constexpr const char* kSneaky = "CREATE TABLE sneaky (id bigint);\nDROP TABLE orders;\n";

// sqitch (Debian sqitch 1.3): its registry schema "sqitch" with its tables and comments,
// created through psql, and its advisory lock and LOCK TABLE.
TEST_F(Tools, SqitchDeploysASignedBundleAndRefusesAChangeAddedAfterSigning) {
  const fs::path src = dir_.path() / "sqitch";
  fs::create_directories(src / "deploy");
  fs::create_directories(src / "revert");
  write_file(src / "sqitch.conf", "[core]\n\tengine = pg\n");
  std::string plan = "%syntax-version=1.0.0\n%project=tools\n\n";
  const char* names[] = {"users", "orders", "orders_index"};
  const char* bodies[] = {kUsers, kOrders, kIndex};
  for (int i = 0; i < 3; ++i) {
    plan += std::string(names[i]) + " 2026-01-0" + std::to_string(i + 1) + "T00:00:00Z CI <ci@example.com> # " +
            names[i] + "\n";
    write_file(src / "deploy" / (std::string(names[i]) + ".sql"), std::string("BEGIN;\n") + bodies[i] + "COMMIT;\n");
    write_file(src / "revert" / (std::string(names[i]) + ".sql"), "SELECT 1;\n");
  }
  write_file(src / "sqitch.plan", plan);
  sign_bundle_of(src, "sqitch");
  auto proxy = start();

  const std::string target = "db:pg://postgres@127.0.0.1:" + std::to_string(proxy->port()) + "/" + proxy->database();
  const std::vector<std::string> env = {"SQITCH_FULLNAME=CI", "SQITCH_EMAIL=ci@example.com", "PGPASSWORD=",
                                        "HOME=" + dir_.path().string()};
  auto deploy = [&] { return run_command({"sqitch", "--chdir", src.string(), "deploy", target}, {}, 120s, env); };

  auto first = deploy();
  ASSERT_EQ(first.exit_code, 0) << first.stdout_text << first.stderr_text;
  EXPECT_EQ(tables("'users', 'orders'"), "2\n");
  EXPECT_EQ(count("select count(*) from sqitch.changes"), "3\n");

  auto again = deploy();
  EXPECT_EQ(again.exit_code, 0) << again.stdout_text << again.stderr_text;
  EXPECT_NE(again.stdout_text.find("Nothing to deploy"), std::string::npos) << again.stdout_text;
  EXPECT_EQ(count("select count(*) from sqitch.changes"), "3\n");

  write_file(src / "sqitch.plan", plan + "sneaky 2026-01-04T00:00:00Z CI <ci@example.com> # after signing\n");
  write_file(src / "deploy" / "sneaky.sql", std::string("BEGIN;\n") + kSneaky + "COMMIT;\n");
  write_file(src / "revert" / "sneaky.sql", "SELECT 1;\n");
  auto sneaky = deploy();
  EXPECT_NE(sneaky.exit_code, 0) << sneaky.stdout_text;
  EXPECT_NE((sneaky.stdout_text + sneaky.stderr_text).find("not approved"), std::string::npos) << sneaky.stderr_text;
  EXPECT_EQ(tables("'sneaky'"), "0\n");
  EXPECT_EQ(tables("'orders'"), "1\n");
  EXPECT_EQ(count("select count(*) from sqitch.changes"), "3\n");
}

// sql-migrate (Debian): gorp's history table "gorp_migrations", Up/Down sections in
// either order, and a notransaction migration.
TEST_F(Tools, SqlMigrateAppliesASignedBundleAndRefusesAMigrationAddedAfterSigning) {
  const fs::path src = dir_.path() / "sql-migrate";
  fs::create_directories(src);
  write_file(src / "1_users.sql", std::string("-- +migrate Up\n") + kUsers + "\n-- +migrate Down\nDROP TABLE users;\n");
  write_file(src / "2_orders.sql", std::string("-- +migrate Down\nDROP TABLE orders;\n\n-- +migrate Up\n") + kOrders);
  write_file(src / "10_index.sql", std::string("-- +migrate Up notransaction\n") + kIndex);
  sign_bundle_of(src, "sql-migrate");
  auto proxy = start();

  write_file(dir_.path() / "dbconfig.yml",
             "production:\n  dialect: postgres\n  datasource: host=127.0.0.1 port=" + std::to_string(proxy->port()) +
                 " user=postgres dbname=" + proxy->database() + " sslmode=disable\n  dir: " + src.string() + "\n");
  auto up = [&] {
    return run_command({"sql-migrate", "up", "-config", (dir_.path() / "dbconfig.yml").string(), "-env", "production"},
                       {}, 60s);
  };
  auto first = up();
  ASSERT_EQ(first.exit_code, 0) << first.stdout_text << first.stderr_text;
  EXPECT_NE(first.stdout_text.find("Applied 3 migrations"), std::string::npos) << first.stdout_text;
  EXPECT_EQ(tables("'users', 'orders'"), "2\n");
  EXPECT_EQ(count("select count(*) from pg_indexes where indexname = 'orders_user'"), "1\n");

  auto again = up();
  EXPECT_EQ(again.exit_code, 0) << again.stdout_text << again.stderr_text;
  EXPECT_NE(again.stdout_text.find("Applied 0 migrations"), std::string::npos) << again.stdout_text;

  write_file(src / "11_sneaky.sql", std::string("-- +migrate Up\n") + kSneaky);
  auto sneaky = up();
  EXPECT_NE(sneaky.exit_code, 0) << sneaky.stdout_text;
  EXPECT_NE((sneaky.stdout_text + sneaky.stderr_text).find("not approved"), std::string::npos) << sneaky.stderr_text;
  EXPECT_EQ(tables("'sneaky'"), "0\n");
  EXPECT_EQ(tables("'orders'"), "1\n");
  EXPECT_EQ(count("select count(*) from gorp_migrations"), "3\n");
}

// node-pg-migrate (npm): SQL migrations with "-- Up Migration" / "-- Down Migration"; its
// history table "public"."pgmigrations" and advisory lock.
TEST_F(Tools, NodePgMigrateAppliesASignedBundleAndRefusesAMigrationAddedAfterSigning) {
  const fs::path bin = npm_tools() / "node_modules/.bin/node-pg-migrate";
  ASSERT_TRUE(fs::exists(bin)) << "scripts/setup.sh installs node-pg-migrate from npm into .tools/npm";
  const fs::path src = dir_.path() / "node-pg-migrate";
  fs::create_directories(src);
  write_file(src / "1700000000001_users.sql", std::string("-- Up Migration\n") + kUsers + "\n-- Down Migration\nDROP TABLE users;\n");
  write_file(src / "1700000000002_orders.sql", std::string("-- Up Migration\n") + kOrders + "\n-- Down Migration\nDROP TABLE orders;\n");
  write_file(src / "1700000000003_index.sql", std::string("-- Up Migration\n") + kIndex + "\n-- Down Migration\nDROP INDEX orders_user;\n");
  sign_bundle_of(src, "node-pg-migrate");
  auto proxy = start();

  const std::vector<std::string> env = {"DATABASE_URL=postgres://postgres@127.0.0.1:" + std::to_string(proxy->port()) +
                                        "/" + proxy->database()};
  auto up = [&] { return run_command({bin.string(), "up", "-m", src.string()}, {}, 60s, env); };
  auto first = up();
  ASSERT_EQ(first.exit_code, 0) << first.stdout_text << first.stderr_text;
  EXPECT_EQ(tables("'users', 'orders'"), "2\n");
  EXPECT_EQ(count("select count(*) from pgmigrations"), "3\n");

  auto again = up();
  EXPECT_EQ(again.exit_code, 0) << again.stdout_text << again.stderr_text;
  EXPECT_NE(again.stdout_text.find("No migrations to run"), std::string::npos) << again.stdout_text;

  write_file(src / "1700000000004_sneaky.sql", std::string("-- Up Migration\n") + kSneaky);
  auto sneaky = up();
  EXPECT_NE(sneaky.exit_code, 0) << sneaky.stdout_text;
  EXPECT_NE((sneaky.stdout_text + sneaky.stderr_text).find("not approved"), std::string::npos) << sneaky.stderr_text;
  EXPECT_EQ(tables("'sneaky'"), "0\n");
  EXPECT_EQ(tables("'orders'"), "1\n");
  EXPECT_EQ(count("select count(*) from pgmigrations"), "3\n");
}

// ---- The down of the last migration applies for a deployer only (issue 26's done-when). ----
// Each test applies the three migrations as the deployer, then runs the tool's own down
// command for the last one as "intern" (refused, nothing of it applied: the index and the
// history row stay) and as "deployer" (the index is dropped, the history row goes).

constexpr const char* kDropIndex = "DROP INDEX orders_user;\n";

TEST_F(Tools, DbmateRollsBackTheLastMigrationForADeployerOnly) {
  const fs::path bin = npm_tools() / "node_modules/.bin/dbmate";
  ASSERT_TRUE(fs::exists(bin)) << "scripts/setup.sh installs dbmate from npm into .tools/npm";
  const fs::path src = dir_.path() / "dbmate";
  fs::create_directories(src);
  write_file(src / "20260101000001_users.sql",
             std::string("-- migrate:up\n") + kUsers + "\n-- migrate:down\nDROP TABLE users;\n");
  write_file(src / "20260101000002_orders.sql",
             std::string("-- migrate:up\n") + kOrders + "\n-- migrate:down\nDROP TABLE orders;\n");
  write_file(src / "20260101000003_index.sql", std::string("-- migrate:up\n") + kIndex + "\n-- migrate:down\n" + kDropIndex);
  sign_bundle_of(src, "dbmate");
  auto proxy = start_with_deployer();
  auto dbmate = [&](const std::string& user, const std::string& command) {
    const std::string url = "DATABASE_URL=postgres://" + user + "@127.0.0.1:" + std::to_string(proxy->port()) + "/" +
                            proxy->database() + "?sslmode=disable";
    return run_command({bin.string(), "--migrations-dir", src.string(), "--no-dump-schema", command}, {}, 60s, {url});
  };
  auto up = dbmate("deployer", "up");
  ASSERT_EQ(up.exit_code, 0) << up.stdout_text << up.stderr_text;
  ASSERT_EQ(index_count(), "1\n");
  ASSERT_EQ(count("select count(*) from schema_migrations"), "3\n");

  auto intern = dbmate("intern", "rollback");
  EXPECT_NE(intern.exit_code, 0) << intern.stdout_text;
  EXPECT_NE((intern.stdout_text + intern.stderr_text).find("is not a deployer"), std::string::npos) << intern.stderr_text;
  EXPECT_EQ(index_count(), "1\n");
  EXPECT_EQ(count("select count(*) from schema_migrations"), "3\n");

  auto down = dbmate("deployer", "rollback");
  EXPECT_EQ(down.exit_code, 0) << down.stdout_text << down.stderr_text;
  EXPECT_EQ(index_count(), "0\n");
  EXPECT_EQ(count("select count(*) from schema_migrations"), "2\n");
  EXPECT_EQ(tables("'users', 'orders'"), "2\n");
}

TEST_F(Tools, SqitchRevertsTheLastChangeForADeployerOnly) {
  const fs::path src = dir_.path() / "sqitch";
  fs::create_directories(src / "deploy");
  fs::create_directories(src / "revert");
  write_file(src / "sqitch.conf", "[core]\n\tengine = pg\n");
  std::string plan = "%syntax-version=1.0.0\n%project=tools\n\n";
  const char* names[] = {"users", "orders", "orders_index"};
  const char* bodies[] = {kUsers, kOrders, kIndex};
  const char* reverts[] = {"DROP TABLE users;\n", "DROP TABLE orders;\n", kDropIndex};
  for (int i = 0; i < 3; ++i) {
    plan += std::string(names[i]) + " 2026-01-0" + std::to_string(i + 1) + "T00:00:00Z CI <ci@example.com> # " +
            names[i] + "\n";
    write_file(src / "deploy" / (std::string(names[i]) + ".sql"), std::string("BEGIN;\n") + bodies[i] + "COMMIT;\n");
    write_file(src / "revert" / (std::string(names[i]) + ".sql"), std::string("BEGIN;\n") + reverts[i] + "COMMIT;\n");
  }
  write_file(src / "sqitch.plan", plan);
  sign_bundle_of(src, "sqitch");
  auto proxy = start_with_deployer();
  const std::vector<std::string> env = {"SQITCH_FULLNAME=CI", "SQITCH_EMAIL=ci@example.com", "PGPASSWORD=",
                                        "HOME=" + dir_.path().string()};
  auto sqitch = [&](const std::string& user, std::vector<std::string> args) {
    std::vector<std::string> argv = {"sqitch", "--chdir", src.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("db:pg://" + user + "@127.0.0.1:" + std::to_string(proxy->port()) + "/" + proxy->database());
    return run_command(argv, {}, 120s, env);
  };
  auto deploy = sqitch("deployer", {"deploy"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.stdout_text << deploy.stderr_text;
  ASSERT_EQ(index_count(), "1\n");
  ASSERT_EQ(count("select count(*) from sqitch.changes"), "3\n");

  auto intern = sqitch("intern", {"revert", "-y", "--to", "@HEAD^"});
  EXPECT_NE(intern.exit_code, 0) << intern.stdout_text;
  EXPECT_NE((intern.stdout_text + intern.stderr_text).find("is not a deployer"), std::string::npos) << intern.stderr_text;
  EXPECT_EQ(index_count(), "1\n");
  EXPECT_EQ(count("select count(*) from sqitch.changes"), "3\n");

  auto revert = sqitch("deployer", {"revert", "-y", "--to", "@HEAD^"});
  EXPECT_EQ(revert.exit_code, 0) << revert.stdout_text << revert.stderr_text;
  EXPECT_EQ(index_count(), "0\n");
  EXPECT_EQ(count("select count(*) from sqitch.changes"), "2\n");
  EXPECT_EQ(tables("'users', 'orders'"), "2\n");
}

TEST_F(Tools, SqlMigrateMigratesTheLastOneDownForADeployerOnly) {
  const fs::path src = dir_.path() / "sql-migrate";
  fs::create_directories(src);
  write_file(src / "1_users.sql", std::string("-- +migrate Up\n") + kUsers + "\n-- +migrate Down\nDROP TABLE users;\n");
  write_file(src / "2_orders.sql", std::string("-- +migrate Down\nDROP TABLE orders;\n\n-- +migrate Up\n") + kOrders);
  write_file(src / "10_index.sql", std::string("-- +migrate Up notransaction\n") + kIndex + "\n-- +migrate Down\n" + kDropIndex);
  sign_bundle_of(src, "sql-migrate");
  auto proxy = start_with_deployer();
  auto migrate = [&](const std::string& user, const std::string& command) {
    const fs::path config = dir_.path() / (user + ".yml");
    write_file(config, "production:\n  dialect: postgres\n  datasource: host=127.0.0.1 port=" +
                           std::to_string(proxy->port()) + " user=" + user + " dbname=" + proxy->database() +
                           " sslmode=disable\n  dir: " + src.string() + "\n");
    std::vector<std::string> argv = {"sql-migrate", command, "-config", config.string(), "-env", "production"};
    if (command == "down") argv.insert(argv.end(), {"-limit", "1"});
    return run_command(argv, {}, 60s);
  };
  auto up = migrate("deployer", "up");
  ASSERT_EQ(up.exit_code, 0) << up.stdout_text << up.stderr_text;
  ASSERT_EQ(index_count(), "1\n");
  ASSERT_EQ(count("select count(*) from gorp_migrations"), "3\n");

  auto intern = migrate("intern", "down");
  EXPECT_NE(intern.exit_code, 0) << intern.stdout_text;
  EXPECT_NE((intern.stdout_text + intern.stderr_text).find("is not a deployer"), std::string::npos) << intern.stderr_text;
  EXPECT_EQ(index_count(), "1\n");
  EXPECT_EQ(count("select count(*) from gorp_migrations"), "3\n");

  auto down = migrate("deployer", "down");
  EXPECT_EQ(down.exit_code, 0) << down.stdout_text << down.stderr_text;
  EXPECT_NE(down.stdout_text.find("Applied 1 migration"), std::string::npos) << down.stdout_text;
  EXPECT_EQ(index_count(), "0\n");
  EXPECT_EQ(count("select count(*) from gorp_migrations"), "2\n");
  EXPECT_EQ(tables("'users', 'orders'"), "2\n");
}

TEST_F(Tools, NodePgMigrateMigratesTheLastOneDownForADeployerOnly) {
  const fs::path bin = npm_tools() / "node_modules/.bin/node-pg-migrate";
  ASSERT_TRUE(fs::exists(bin)) << "scripts/setup.sh installs node-pg-migrate from npm into .tools/npm";
  const fs::path src = dir_.path() / "node-pg-migrate";
  fs::create_directories(src);
  write_file(src / "1700000000001_users.sql", std::string("-- Up Migration\n") + kUsers + "\n-- Down Migration\nDROP TABLE users;\n");
  write_file(src / "1700000000002_orders.sql", std::string("-- Up Migration\n") + kOrders + "\n-- Down Migration\nDROP TABLE orders;\n");
  write_file(src / "1700000000003_index.sql", std::string("-- Up Migration\n") + kIndex + "\n-- Down Migration\n" + kDropIndex);
  sign_bundle_of(src, "node-pg-migrate");
  auto proxy = start_with_deployer();
  auto migrate = [&](const std::string& user, const std::string& command) {
    const std::vector<std::string> env = {"DATABASE_URL=postgres://" + user + "@127.0.0.1:" +
                                          std::to_string(proxy->port()) + "/" + proxy->database()};
    return run_command({bin.string(), command, "-m", src.string()}, {}, 60s, env);
  };
  auto up = migrate("deployer", "up");
  ASSERT_EQ(up.exit_code, 0) << up.stdout_text << up.stderr_text;
  ASSERT_EQ(index_count(), "1\n");
  ASSERT_EQ(count("select count(*) from pgmigrations"), "3\n");

  auto intern = migrate("intern", "down");
  EXPECT_NE(intern.exit_code, 0) << intern.stdout_text;
  EXPECT_NE((intern.stdout_text + intern.stderr_text).find("is not a deployer"), std::string::npos) << intern.stderr_text;
  EXPECT_EQ(index_count(), "1\n");
  EXPECT_EQ(count("select count(*) from pgmigrations"), "3\n");

  auto down = migrate("deployer", "down");
  EXPECT_EQ(down.exit_code, 0) << down.stdout_text << down.stderr_text;
  EXPECT_EQ(index_count(), "0\n");
  EXPECT_EQ(count("select count(*) from pgmigrations"), "2\n");
  EXPECT_EQ(tables("'users', 'orders'"), "2\n");
}

}  // namespace
}  // namespace ddlgate::testing
