// `ddlgate explain` through the built binary (issue 26 item 8): a registry of signed bundles as
// `serve` loads it (trust policy, environment), a ledger that spent an approval, and each
// reason a statement is or is not approved, with the exit codes.
#include <gtest/gtest.h>

#include "bundle_support.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/testing/process.h"

using namespace bundle_test;
using ddlgate::testing::CommandResult;
using ddlgate::testing::run_command;

namespace {

CommandResult run_ddlgate(std::vector<std::string> args) {
  args.insert(args.begin(), DDLGATE_BIN);
  return run_command(args);
}

class ExplainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : {"registry", "approver", "ledger"}) {
      auto r = run_ddlgate({"keygen", "--out", (dir() / k).string()});
      ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    }
    spit(dir() / "trust.toml",
         "[roles.registry]\nthreshold = 1\nkeys = [\"registry.pub\"]\n"
         "[roles.approver]\nthreshold = 1\nkeys = [\"approver.pub\"]\n");
    fs::create_directories(dir() / "registry");
    // shop v1 for database shop in prod, in force.
    bundle("shop", "1", "shop-v1", {"--environment", "prod", "--database", "shop"},
           "-- orders\nCREATE TABLE orders (id bigint, status text DEFAULT 'new');\n\n"
           "CREATE INDEX orders_status ON public.orders (status);\n");
    // billing v1 for database billing only.
    bundle("billing", "1", "billing-v1", {"--environment", "prod", "--database", "billing"},
           "CREATE TABLE invoices (id bigint);\n");
    // staging v1: another environment.
    bundle("staging", "1", "staging-v1", {"--environment", "staging", "--any-database"},
           "CREATE TABLE staging_only (id bigint);\n");
    // old v1: expired in 2020.
    bundle("old", "1", "old-v1",
           {"--environment", "prod", "--any-database", "--not-before", "2020-01-01T00:00:00Z", "--valid-for", "1d"},
           "CREATE TABLE old_table (id bigint);\n");
    // A bundle nobody trusted signed approves nothing, not even as a near miss or elsewhere.
    auto r = run_ddlgate({"keygen", "--out", (dir() / "stranger").string()});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    bundle("rogue", "1", "rogue-v1", {"--environment", "prod", "--any-database"}, "DROP TABLE orders;\n", "stranger");
    write_config(false);
  }

  const fs::path& dir() const { return scratch_.path(); }

  void bundle(const std::string& app, const std::string& version, const std::string& name,
              std::vector<std::string> scope, const std::string& sql, const std::string& signer = "") {
    fs::path src = dir() / ("src-" + name);
    fs::create_directories(src);
    spit(src / "001_first.sql", sql);
    fs::path out = dir() / "registry" / name;
    std::vector<std::string> args = {"bundle", "build", src.string(), "--out", out.string(), "--app", app,
                                     "--version", version, "--tool", "plain"};
    args.insert(args.end(), scope.begin(), scope.end());
    auto b = run_ddlgate(args);
    ASSERT_EQ(b.exit_code, 0) << b.stderr_text;
    if (!signer.empty()) {
      ASSERT_EQ(run_ddlgate({"bundle", "sign", out.string(), "--key", (dir() / (signer + ".key")).string(), "--role",
                             "registry"})
                    .exit_code,
                0);
      ASSERT_EQ(run_ddlgate({"bundle", "sign", out.string(), "--key", (dir() / (signer + ".key")).string(), "--role",
                             "approver"})
                    .exit_code,
                0);
      return;
    }
    ASSERT_EQ(run_ddlgate({"bundle", "sign", out.string(), "--key", (dir() / "registry.key").string(), "--role",
                           "registry"})
                  .exit_code,
              0);
    ASSERT_EQ(run_ddlgate({"bundle", "sign", out.string(), "--key", (dir() / "approver.key").string(), "--role",
                           "approver"})
                  .exit_code,
              0);
  }

  void write_config(bool spend_once) {
    spit(dir() / "ddlgate.toml", "listen = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:5432\"\n[enforcement]\nmode = \"enforce\"\n" +
                                     std::string(spend_once ? "spend_approvals_once = true\n" : "") +
                                     "[ledger]\ndirectory = \"" + (dir() / "ledger-dir").string() +
                                     "\"\ncheckpoint_key_file = \"" + (dir() / "ledger.key").string() +
                                     "\"\n[bundles]\nregistry_dir = \"" + (dir() / "registry").string() +
                                     "\"\nenvironment = \"prod\"\ntrust_file = \"" + (dir() / "trust.toml").string() +
                                     "\"\n");
  }

  CommandResult explain(const std::string& statement, const std::string& database = "shop") {
    std::vector<std::string> args = {"explain", statement, "--config", (dir() / "ddlgate.toml").string()};
    if (!database.empty()) {
      args.push_back("--database");
      args.push_back(database);
    }
    return run_ddlgate(args);
  }

  Scratch scratch_;
};

}  // namespace

TEST_F(ExplainCli, ApprovedStatementExitsZeroAndNamesItsApproval) {
  auto r = explain("create index orders_status on public.orders (status)");
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("  approved: approved by shop v1, 001_first.sql:4 (statement 2) for database shop\n"),
            std::string::npos)
      << r.stdout_text;
  // The same by its hash.
  auto h = run_ddlgate({"hash", "--json", "create index orders_status on public.orders (status)"});
  ASSERT_EQ(h.exit_code, 0);
  std::string hash = h.stdout_text.substr(h.stdout_text.find("sha256:"), 71);
  r = explain(hash);
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("approved: approved by shop v1"), std::string::npos) << r.stdout_text;
}

// The approval named carries the search_path it was reviewed under (plain: the server's default;
// billing's bundle was built with --search-path).
TEST_F(ExplainCli, SaysWhichSearchPathTheApprovalWasReviewedUnder) {
  auto r = explain("create index orders_status on public.orders (status)");
  EXPECT_NE(r.stdout_text.find("for database shop\n  reviewed under search_path: \"$user\", public\n"),
            std::string::npos)
      << r.stdout_text;
  bundle("audit", "1", "audit-v1", {"--environment", "prod", "--database", "shop", "--search-path", " Audit , public"},
         "CREATE TABLE audit_log (id bigint);\n");
  r = explain("CREATE TABLE audit_log (id bigint)");
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("  reviewed under search_path: audit, public\n"), std::string::npos) << r.stdout_text;
}

TEST_F(ExplainCli, UnknownExitsOne) {
  // DROP TABLE orders is in the rogue bundle, which no trusted key signed: unknown.
  auto r = explain("DROP TABLE orders");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("statement 1 (schema_change) sha256:"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("\"DROP TABLE orders\"\n  unknown: no bundle in the registry approves it"),
            std::string::npos)
      << r.stdout_text;
}

TEST_F(ExplainCli, ApprovedForAnotherDatabase) {
  auto r = explain("CREATE TABLE invoices (id bigint)");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("other_database: approved by billing v1, 001_first.sql:1 (statement 1) for database "
                               "billing only, not database shop"),
            std::string::npos)
      << r.stdout_text;
  EXPECT_EQ(explain("CREATE TABLE invoices (id bigint)", "billing").exit_code, 0);
}

TEST_F(ExplainCli, ApprovedForAnotherEnvironment) {
  auto r = explain("CREATE TABLE staging_only (id bigint)");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("other_environment: approved by staging v1, 001_first.sql:1 (statement 1) for "
                               "environment staging"),
            std::string::npos)
      << r.stdout_text;
}

TEST_F(ExplainCli, Expired) {
  auto r = explain("CREATE TABLE old_table (id bigint)");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("expired: approved by old v1, 001_first.sql:1 (statement 1), which expired at "
                               "2020-01-02T00:00:00Z"),
            std::string::npos)
      << r.stdout_text;
}

TEST_F(ExplainCli, NearMissesNameTheNearestApprovedStatement) {
  auto r = explain("CREATE INDEX orders_status ON orders (status)");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("near_miss: no bundle approves it; the nearest approved statement, shop v1, "
                               "001_first.sql:4 (statement 2) for database shop, differs from it only in schema "
                               "qualification"),
            std::string::npos)
      << r.stdout_text;
  r = explain("CREATE TABLE orders (id bigint, status text DEFAULT 'open')");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("near_miss: no bundle approves it; the nearest approved statement, shop v1, "
                               "001_first.sql:2 (statement 1) for database shop, differs from it only in a literal"),
            std::string::npos)
      << r.stdout_text;
}

// Each statement of the text, in order; one not approved makes the exit 1.
TEST_F(ExplainCli, EveryStatementOfTheText) {
  auto r = explain("SELECT 1; CREATE INDEX orders_status ON public.orders (status); DROP TABLE orders");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("statement 1 (read)"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("not controlled"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("statement 2 (schema_change)"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("statement 3 (schema_change)"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("  unknown: "), std::string::npos) << r.stdout_text;
  r = explain("SELECT 1; CREATE INDEX orders_status ON public.orders (status)");
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text;
  EXPECT_EQ(explain("CREATE TABLE (").exit_code, 1);  // unparseable: never approved
}

TEST_F(ExplainCli, SpentWhenTheLedgerShowsIt) {
  write_config(true);
  {
    ddlgate::ledger::LedgerConfig c;
    c.directory = dir() / "ledger-dir";
    c.checkpoint_key_file = dir() / "ledger.key";
    auto l = ddlgate::ledger::Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    ddlgate::ledger::DecisionInfo d;
    d.decision = ddlgate::ledger::Decision::allowed;
    d.session = {"s1", "deployer", "shop", "10.0.0.1:5000", "migrate"};
    d.statement_class = "schema_change";
    d.display_sql = "CREATE INDEX orders_status ON public.orders USING btree (status)";
    d.approval = ddlgate::ledger::Approval{"shop", "1", "001_first.sql", 2};
    d.spend = "at_decision";
    ASSERT_TRUE((*l)->append_durable(ddlgate::ledger::decision(d)));
    ASSERT_TRUE((*l)->close());
  }
  auto r = explain("CREATE INDEX orders_status ON public.orders (status)");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_text << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("spent: approved by shop v1, 001_first.sql:4 (statement 2), but that approval was "
                               "already used in database shop"),
            std::string::npos)
      << r.stdout_text;
  // Spent in shop only; without replay protection nothing is spent.
  write_config(false);
  EXPECT_EQ(explain("CREATE INDEX orders_status ON public.orders (status)").exit_code, 0);
}

TEST_F(ExplainCli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_ddlgate({"explain", "DROP TABLE t"}).exit_code, 2);  // no --config
  EXPECT_EQ(run_ddlgate({"explain", "DROP TABLE t", "--config", (dir() / "missing.toml").string()}).exit_code, 2);
  spit(dir() / "nobundles.toml", "listen = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:5432\"\n");
  auto r = run_ddlgate({"explain", "DROP TABLE t", "--config", (dir() / "nobundles.toml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("no [bundles] section"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(explain("").exit_code, 2);  // no statement
}
