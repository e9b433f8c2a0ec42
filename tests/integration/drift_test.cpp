// `ddlgate drift` against a real PostgreSQL (issue 25 item 5, docs/drift.md): the test's own
// database is "production", migrated by the real dbmate; a second database of the same server
// is the scratch database the signed bundle is replayed into. Out-of-band changes made
// directly in production must each be named; a clean apply must report nothing.
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/text.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

std::string ddlgate() { return ddlgate_binary().string(); }

// The approved schema, in dbmate's layout.
constexpr const char* kInit = R"(-- migrate:up
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  email text NOT NULL,
  name text DEFAULT 'x',
  note text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_email ON accounts (email);
CREATE VIEW active_accounts AS SELECT id, email FROM accounts WHERE name IS NOT NULL;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.created_at := now();
  RETURN NEW;
END
$$;
CREATE TRIGGER accounts_touch BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON accounts USING (id > 0);
COMMENT ON TABLE accounts IS 'customer accounts';
GRANT SELECT ON accounts TO drift_reader;
CREATE SEQUENCE invoice_numbers;

-- migrate:down
DROP TABLE accounts;
)";

constexpr const char* kOrders = R"(-- migrate:up
CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts (id), amount numeric CHECK (amount >= 0));
CREATE TABLE legacy (id int);

-- migrate:down
DROP TABLE orders;
)";

// dbmate sends a file as one Query: CONCURRENTLY only works alone in a file without a transaction.
constexpr const char* kConcurrently = R"(-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY orders_account ON orders (account_id);

-- migrate:down
DROP INDEX orders_account;
)";

class Drift : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = SharedPgServer::get();
    pg.ensure_role("drift_reader");
    scratch_ = "drift_scratch_" + std::to_string(::getpid());
    fresh_scratch();
    fs::create_directories(migrations());
    write_file(migrations() / "20240101000000_init.sql", kInit);
    write_file(migrations() / "20240102000000_orders.sql", kOrders);
    write_file(migrations() / "20240102000001_orders_index.sql", kConcurrently);
    for (const char* k : {"registry", "alice"}) run_ok({ddlgate(), "keygen", "--out", (dir_.path() / k).string()});
    write_file(dir_.path() / "trust.toml", "[roles.registry]\nthreshold = 1\nkeys = [\"registry.pub\"]\n"
                                           "[roles.approver]\nthreshold = 1\nkeys = [\"alice.pub\"]\n");
    fs::create_directories(registry());
    build_bundle("shop-v1", "shop", 1, {"--database", pg.database()});
  }

  void TearDown() override { SharedPgServer::get().psql("DROP DATABASE IF EXISTS " + scratch_ + " WITH (FORCE)", "postgres"); }

  // Drops and makes the scratch database again, empty (template0).
  void fresh_scratch() {
    auto& pg = SharedPgServer::get();
    pg.admin_sql("DROP DATABASE IF EXISTS " + scratch_ + " WITH (FORCE)", "postgres");
    pg.admin_sql("CREATE DATABASE " + scratch_ + " TEMPLATE template0", "postgres");
  }

  static void run_ok(const std::vector<std::string>& argv) {
    auto r = run_command(argv);
    ASSERT_EQ(r.exit_code, 0) << argv[1] << ": " << r.stderr_text << r.stdout_text;
  }

  // A bundle of migrations() in registry()/name, signed by registry and alice.
  void build_bundle(const std::string& name, const std::string& app, int version, const std::vector<std::string>& scope,
                    const std::string& environment = "production", const fs::path& source = {}) {
    const fs::path out = registry() / name;
    std::vector<std::string> argv = {ddlgate(), "bundle", "build", (source.empty() ? migrations() : source).string(),
                                     "--tool", "dbmate", "--out", out.string(), "--app", app, "--version",
                                     std::to_string(version), "--environment", environment};
    argv.insert(argv.end(), scope.begin(), scope.end());
    run_ok(argv);
    run_ok({ddlgate(), "bundle", "sign", out.string(), "--key", (dir_.path() / "registry.key").string(), "--role", "registry"});
    run_ok({ddlgate(), "bundle", "sign", out.string(), "--key", (dir_.path() / "alice.key").string(), "--role", "approver"});
  }

  // `dbmate up` of migrations() straight into production, as a deploy job does.
  static CommandResult dbmate_up(const fs::path& dir) {
    auto& pg = SharedPgServer::get();
    const fs::path dbmate = fs::path(DDLGATE_SOURCE_DIR) / ".tools/npm/node_modules/.bin/dbmate";
    EXPECT_TRUE(fs::exists(dbmate)) << "scripts/setup.sh installs dbmate from npm";
    const std::string url = "DATABASE_URL=postgres://postgres@127.0.0.1:" + std::to_string(pg.port()) + "/" +
                            pg.database() + "?sslmode=disable";
    return run_command({dbmate.string(), "--migrations-dir", dir.string(), "--no-dump-schema", "up"}, {}, 60s, {url});
  }

  std::string scratch_url() const { return SharedPgServer::get().conninfo("postgres", scratch_); }

  CommandResult drift(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {ddlgate(), "drift", "--url", SharedPgServer::get().conninfo(), "--scratch-url",
                                     scratch_url(), "--bundles", registry().string(), "--trust",
                                     (dir_.path() / "trust.toml").string(), "--environment", "production"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, {}, 120s);
  }

  fs::path migrations() const { return dir_.path() / "migrations"; }
  fs::path registry() const { return dir_.path() / "registry"; }

  // The difference lines of drift's output (not the summary or the skipped bundles).
  static std::vector<std::string> differences(const std::string& out) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < out.size()) {
      std::size_t end = out.find('\n', start);
      if (end == std::string::npos) end = out.size();
      std::string line = out.substr(start, end - start);
      if (!line.empty() && !line.starts_with("drift: ") && !line.starts_with("no drift: ") && !line.starts_with("skipped ")) {
        lines.push_back(line);
      }
      start = end + 1;
    }
    return lines;
  }

  TempDir dir_{"drift-test"};
  std::string scratch_;
};

TEST_F(Drift, ACleanApplyReportsNoDriftAndOneChangeIsDrift) {
  auto up = dbmate_up(migrations());
  ASSERT_EQ(up.exit_code, 0) << up.stderr_text << up.stdout_text;
  auto r = drift();
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text << r.stdout_text;
  EXPECT_EQ(differences(r.stdout_text), std::vector<std::string>{}) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("no drift: database '" + SharedPgServer::get().database() + "'"), std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("bundles shop v1"), std::string::npos) << r.stdout_text;
  EXPECT_EQ(r.stderr_text, "");

  // The same comparison sees one change: the clean result above is not a blind one.
  SharedPgServer::get().admin_sql("CREATE TABLE sneaky (id int)");
  fresh_scratch();
  r = drift();
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text << r.stdout_text;
  EXPECT_EQ(differences(r.stdout_text), std::vector<std::string>{"table public.sneaky: in production, not approved"})
      << r.stdout_text;
}

TEST_F(Drift, EachKindOfOutOfBandChangeIsNamed) {
  auto up = dbmate_up(migrations());
  ASSERT_EQ(up.exit_code, 0) << up.stderr_text << up.stdout_text;
  auto& pg = SharedPgServer::get();
  // Made directly in production, none of them in a bundle.
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"ALTER TABLE accounts ADD COLUMN nickname text", "column public.accounts.nickname: in production, not approved"},
      {"ALTER TABLE orders DROP COLUMN amount", "column public.orders.amount: approved, missing in production"},
      {"ALTER TABLE accounts ALTER COLUMN note TYPE varchar(200)",
       "column public.accounts.note: type character varying(200) in production, text approved"},
      {"ALTER TABLE accounts ALTER COLUMN name SET DEFAULT 'y'",
       "column public.accounts.name: default 'y'::text in production, 'x'::text approved"},
      {"ALTER TABLE accounts ALTER COLUMN name SET NOT NULL",
       "column public.accounts.name: not null true in production, false approved"},
      {"CREATE INDEX accounts_name ON accounts (name)", "index public.accounts_name: in production, not approved"},
      {"DROP INDEX accounts_email", "index public.accounts_email: approved, missing in production"},
      {"CREATE OR REPLACE VIEW active_accounts AS SELECT id, email FROM accounts WHERE name IS NULL",
       "view public.active_accounts: definition differs at line 4: \"  WHERE (accounts.name IS NULL);\" in production, "
       "\"  WHERE (accounts.name IS NOT NULL);\" approved"},
      {"CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN NEW;\nEND\n$$",
       "function public.touch(): definition differs at line 6: \"  RETURN NEW;\" in production, "
       "\"  NEW.created_at := now();\" approved"},
      {"ALTER TABLE accounts DISABLE TRIGGER accounts_touch",
       "trigger public.accounts.accounts_touch: enabled disabled in production, origin approved"},
      {"ALTER POLICY own_rows ON accounts USING (true)",
       "policy public.accounts.own_rows: using true in production, (id > 0) approved"},
      {"GRANT INSERT ON accounts TO drift_reader",
       "table public.accounts: grant to drift_reader INSERT, SELECT in production, SELECT approved"},
      {"ALTER TABLE legacy OWNER TO drift_reader", "table public.legacy: owner drift_reader in production, (migrator) approved"},
      {"COMMENT ON TABLE accounts IS 'changed by hand'",
       "table public.accounts: comment changed by hand in production, customer accounts approved"},
      {"CREATE EXTENSION citext", "extension citext: in production, not approved"},
      {"ALTER SEQUENCE invoice_numbers INCREMENT 10", "sequence public.invoice_numbers: increment 10 in production, 1 approved"},
      {"ALTER TABLE orders ADD CONSTRAINT orders_id_positive CHECK (id > 0)",
       "constraint public.orders.orders_id_positive: in production, not approved"},
      {"CREATE TABLE sneaky (id int)", "table public.sneaky: in production, not approved"},
      {"CREATE SCHEMA side_door", "schema side_door: in production, not approved"},
      {"CREATE TYPE mood AS ENUM ('ok')", "type public.mood: in production, not approved"},
      {"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO drift_reader",
       "default privileges for (migrator) in schema public on tables: in production, not approved"},
  };
  for (const auto& [sql, expected] : changes) pg.admin_sql(sql);
  auto r = drift();
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text << r.stdout_text;
  const auto lines = differences(r.stdout_text);
  for (const auto& [sql, expected] : changes) {
    EXPECT_NE(std::find(lines.begin(), lines.end(), expected), lines.end())
        << "after: " << sql << "\nexpected: " << expected << "\ndrift said:\n" << r.stdout_text;
  }
  // Nothing else: what the changes themselves imply, and no line about the tool's history rows.
  std::vector<std::string> all;
  for (const auto& [sql, expected] : changes) all.push_back(expected);
  all.push_back("constraint public.orders.orders_amount_check: approved, missing in production");  // dropped with amount
  // The new owner holds the owner's privileges, and the old one no longer does.
  all.push_back("table public.legacy: grant to (migrator) none in production, DELETE, INSERT, REFERENCES, SELECT, "
                "TRIGGER, TRUNCATE, UPDATE approved");
  all.push_back("table public.legacy: grant to drift_reader DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, "
                "UPDATE in production, none approved");
  std::sort(all.begin(), all.end());
  EXPECT_EQ(lines, all) << r.stdout_text;
}

TEST_F(Drift, RefusesAScratchDatabaseThatIsNotEmpty) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("CREATE TABLE leftover (id int)", scratch_);
  auto r = drift();
  EXPECT_EQ(r.exit_code, 2) << r.stdout_text;
  EXPECT_EQ(r.stderr_text, "ddlgate drift: scratch database '" + scratch_ +
                               "' is not empty (relation public.leftover): drift replays the approved migrations into "
                               "an empty database (CREATE DATABASE ... TEMPLATE template0)\n");
  EXPECT_EQ(r.stdout_text, "");
  // Nothing was replayed into it.
  EXPECT_EQ(pg.admin_sql("SELECT count(*) FROM pg_class WHERE relname = 'accounts'", scratch_), "0\n");
}

TEST_F(Drift, RefusesABundleWithABadSignature) {
  // alice's signature file, with one byte of its signature changed.
  const fs::path bundle = registry() / "shop-v1";
  fs::path alice_sig;
  for (const auto& e : fs::directory_iterator(bundle / "signatures")) {
    if (read_file(e.path()).find("\"approver\"") != std::string::npos) alice_sig = e.path();
  }
  ASSERT_FALSE(alice_sig.empty());
  std::string sig = read_file(alice_sig);
  const std::size_t at = sig.find("\"signature\"");
  ASSERT_NE(at, std::string::npos);
  const std::size_t v = sig.find('"', at + 12) + 1;
  sig[v] = sig[v] == 'A' ? 'B' : 'A';
  write_file(alice_sig, sig);
  auto r = drift();
  EXPECT_EQ(r.exit_code, 2) << r.stdout_text;
  EXPECT_EQ(occurrences(r.stderr_text, "\n"), 1u) << r.stderr_text;
  EXPECT_TRUE(r.stderr_text.starts_with("ddlgate drift: bundle " + bundle.string() + " refused: ")) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("does not verify"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "");
  auto& pg = SharedPgServer::get();
  EXPECT_EQ(pg.admin_sql("SELECT count(*) FROM pg_class WHERE relname = 'accounts'", scratch_), "0\n");
}

TEST_F(Drift, RefusesTheProductionDatabaseAsScratchHoweverItIsSpelled) {
  // Production is still empty, so the emptiness check alone would let the replay run there.
  auto& pg = SharedPgServer::get();
  auto r = run_command({ddlgate(), "drift", "--url", pg.conninfo(), "--scratch-url", pg.socket_conninfo(), "--bundles",
                        registry().string(), "--trust", (dir_.path() / "trust.toml").string(), "--environment",
                        "production"});
  EXPECT_EQ(r.exit_code, 2) << r.stdout_text;
  EXPECT_EQ(r.stderr_text, "ddlgate drift: --scratch-url names the production database itself (database '" +
                               pg.database() + "' of the same server): the replay would run there\n");
  EXPECT_EQ(pg.admin_sql("SELECT count(*) FROM pg_class WHERE relname = 'accounts'"), "0\n");
}

TEST_F(Drift, RefusesTwoManifestsForOneVersion) {
  // Another bundle claims version 1 of shop with other files: which one is approved is unknown.
  write_file(migrations() / "20240103000000_audit.sql", "-- migrate:up\nCREATE TABLE audit (at timestamptz);\n-- migrate:down\n");
  build_bundle("shop-v1-again", "shop", 1, {"--database", SharedPgServer::get().database()});
  auto r = drift();
  EXPECT_EQ(r.exit_code, 2) << r.stdout_text;
  EXPECT_EQ(r.stderr_text, "ddlgate drift: bundles " + (registry() / "shop-v1").string() + " and " +
                               (registry() / "shop-v1-again").string() +
                               ": version 1 of app 'shop' with two different manifests\n");
}

TEST_F(Drift, AMigrationThatFailsInTheScratchDatabaseIsAnErrorThatNamesIt) {
  // Approved and signed, but it cannot run on an empty database (it assumes a table that a
  // baseline would have made).
  write_file(migrations() / "20240103000000_alter.sql",
             "-- migrate:up\nALTER TABLE accounts ADD COLUMN x int;\nALTER TABLE predates_bundles ADD COLUMN y int;\n"
             "-- migrate:down\n");
  build_bundle("shop-v2", "shop", 2, {"--database", SharedPgServer::get().database()});
  auto r = drift();
  EXPECT_EQ(r.exit_code, 2) << r.stdout_text;
  EXPECT_EQ(r.stderr_text, "ddlgate drift: app shop version 2 (" + (registry() / "shop-v2").string() +
                               "): files/20240103000000_alter.sql statement 2 failed in the scratch database: "
                               "ERROR:  relation \"predates_bundles\" does not exist\n");
  EXPECT_EQ(r.stdout_text, "");
}

TEST_F(Drift, PasswordsAreNeverPrinted) {
  // Nothing listens on port 1: the connection fails and the message names it, redacted.
  auto r = run_command({ddlgate(), "drift", "--url", "host=127.0.0.1 port=1 user=deploy password=hunter2 dbname=shop",
                        "--scratch-url", "postgresql://deploy:hunter3@127.0.0.1:1/scratch", "--bundles",
                        registry().string(), "--trust", (dir_.path() / "trust.toml").string(), "--environment",
                        "production"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(occurrences(r.stderr_text, "\n"), 1u) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("production: cannot connect ("), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("password=********"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(r.stderr_text.find("hunter2"), std::string::npos) << r.stderr_text;
  // The scratch side, given as a URI, once production is reachable.
  r = run_command({ddlgate(), "drift", "--url", SharedPgServer::get().conninfo(), "--scratch-url",
                   "postgresql://deploy:hunter3@127.0.0.1:1/scratch", "--bundles", registry().string(), "--trust",
                   (dir_.path() / "trust.toml").string(), "--environment", "production"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("scratch: cannot connect ("), std::string::npos) << r.stderr_text;
  EXPECT_EQ(r.stderr_text.find("hunter3"), std::string::npos) << r.stderr_text;
}

TEST_F(Drift, OnlyTheHighestVersionThatCoversTheDatabaseIsReplayed) {
  // Version 2 adds a table; version 1 stays in the registry. A second app is scoped to
  // another database: its table must not be expected here.
  write_file(migrations() / "20240103000000_audit.sql", "-- migrate:up\nCREATE TABLE audit (at timestamptz);\n-- migrate:down\nDROP TABLE audit;\n");
  build_bundle("shop-v2", "shop", 2, {"--database", SharedPgServer::get().database()});
  const fs::path other = dir_.path() / "other";
  fs::create_directories(other);
  write_file(other / "001_billing.sql", "-- migrate:up\nCREATE TABLE invoices (id int);\n-- migrate:down\nDROP TABLE invoices;\n");
  {
    const fs::path out = registry() / "billing-v1";
    run_ok({ddlgate(), "bundle", "build", other.string(), "--tool", "dbmate", "--out", out.string(), "--app", "billing",
            "--version", "1", "--environment", "production", "--database", "billing"});
    run_ok({ddlgate(), "bundle", "sign", out.string(), "--key", (dir_.path() / "registry.key").string(), "--role", "registry"});
    run_ok({ddlgate(), "bundle", "sign", out.string(), "--key", (dir_.path() / "alice.key").string(), "--role", "approver"});
  }
  auto up = dbmate_up(migrations());
  ASSERT_EQ(up.exit_code, 0) << up.stderr_text << up.stdout_text;
  auto r = drift();
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("bundles shop v2;"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("skipped " + (registry() / "billing-v1").string() +
                               ": its scope does not cover database '" + SharedPgServer::get().database() + "'"),
            std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("skipped " + (registry() / "shop-v1").string() + ": version 1 of app 'shop' is below version 2"),
            std::string::npos)
      << r.stdout_text;
}

TEST_F(Drift, AnExpiredBundleStillCountsAndOneOfAnotherEnvironmentDoesNot) {
  // Version 2 adds a table and expired long ago: what it made is still the approved schema.
  write_file(migrations() / "20240103000000_audit.sql", "-- migrate:up\nCREATE TABLE audit (at timestamptz);\n-- migrate:down\n");
  build_bundle("shop-v2", "shop", 2, {"--database", SharedPgServer::get().database(), "--not-before",
                                      "2025-01-01T00:00:00Z", "--valid-for", "1d"});
  // Version 3, for staging only, adds another: it must not be expected in production.
  const fs::path staging = dir_.path() / "staging";
  fs::create_directories(staging);
  for (const auto& e : fs::directory_iterator(migrations())) fs::copy_file(e.path(), staging / e.path().filename());
  write_file(staging / "20240104000000_trial.sql", "-- migrate:up\nCREATE TABLE trial (id int);\n-- migrate:down\n");
  build_bundle("shop-v3-staging", "shop", 3, {"--any-database"}, "staging", staging);
  auto up = dbmate_up(migrations());
  ASSERT_EQ(up.exit_code, 0) << up.stderr_text << up.stdout_text;
  auto r = drift();
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("bundles shop v2;"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("skipped " + (registry() / "shop-v3-staging").string() +
                               ": environment is 'staging', expected 'production'\n"),
            std::string::npos)
      << r.stdout_text;
  // The staging table made out of band in production is drift.
  SharedPgServer::get().admin_sql("CREATE TABLE trial (id int)");
  fresh_scratch();
  r = drift();
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text << r.stdout_text;
  EXPECT_EQ(differences(r.stdout_text), std::vector<std::string>{"table public.trial: in production, not approved"})
      << r.stdout_text;
}

TEST_F(Drift, ABaselineIsAppliedBeforeTheBundles) {
  // Production predates its bundles: a table made before the first migration.
  auto& pg = SharedPgServer::get();
  pg.admin_sql("CREATE TABLE old_customers (id int PRIMARY KEY, since date)");
  auto up = dbmate_up(migrations());
  ASSERT_EQ(up.exit_code, 0) << up.stderr_text << up.stdout_text;
  auto without = drift();
  EXPECT_EQ(without.exit_code, 1) << without.stderr_text << without.stdout_text;
  EXPECT_EQ(differences(without.stdout_text),
            std::vector<std::string>{"table public.old_customers: in production, not approved"})
      << without.stdout_text;

  // The baseline: a schema-only dump of what was there before, as pg_dump writes it.
  const fs::path baseline = dir_.path() / "baseline.sql";
  auto dump = run_command({(pg_bindir() / "pg_dump").string(), "--schema-only", "--no-owner", "--table", "old_customers",
                           "-d", pg.conninfo(), "-f", baseline.string()});
  ASSERT_EQ(dump.exit_code, 0) << dump.stderr_text;
  fresh_scratch();
  auto with = drift({"--baseline", baseline.string()});
  EXPECT_EQ(with.exit_code, 0) << with.stderr_text << with.stdout_text;
  EXPECT_EQ(differences(with.stdout_text), std::vector<std::string>{}) << with.stdout_text;
}

}  // namespace
}  // namespace ddlgate::testing
