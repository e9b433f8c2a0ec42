// `ddlgate lint` through the built binary: each output format parsed (not compared as
// strings), the exit codes, bundles and tool layouts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ddlgate/testing/process.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ddlgate::testing::CommandResult;
using ddlgate::testing::run_command;
using ddlgate::testing::TempDir;
using ddlgate::testing::write_file;

CommandResult run_ddlgate(std::vector<std::string> args) {
  args.insert(args.begin(), DDLGATE_BIN);
  return run_command(args);
}

class LintCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() / "migrations";
    fs::create_directories(dir_);
    write_file(dir_ / "001_users.sql",
               "-- the users table\n"
               "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n"
               "CREATE INDEX accounts_email ON accounts (email);\n");
    write_file(dir_ / "002_cleanup.sql",
               "SET lock_timeout = '2s';\n"
               "DROP TABLE users;\n"
               "  GRANT SELECT ON accounts TO PUBLIC;\n"
               "ALTER TABLE orders ADD COLUMN note text;\n"
               "COMMENT ON TABLE orders IS 'x';\n");
    write_file(dir_ / "README.txt", "not SQL\n");
  }
  std::vector<std::string> lint(std::vector<std::string> extra) {
    std::vector<std::string> args = {"lint", dir_.string(), "--source-root", tmp_.path().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  TempDir tmp_{"ddlgate-lint-cli"};
  fs::path dir_;
};

TEST_F(LintCli, TextNamesFileLineColumnRuleAndSeverityAndExitsOneOnAnError) {
  CommandResult r = run_ddlgate(lint({}));
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  EXPECT_EQ(r.stderr_text, "");
  EXPECT_NE(
      r.stdout_text.find("migrations/002_cleanup.sql:2:1: DG-L001 error: DROP TABLE users\n    DROP TABLE users\n"),
      std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("migrations/002_cleanup.sql:3:3: DG-L050 error: GRANT ... TO PUBLIC\n"),
            std::string::npos)
      << r.stdout_text;
  EXPECT_EQ(r.stdout_text.find("001_users.sql"), std::string::npos) << "the new table's index needs nothing";
  EXPECT_EQ(r.stdout_text.find("COMMENT"), std::string::npos) << "a COMMENT needs no lock_timeout";
  EXPECT_NE(r.stdout_text.find("7 statements in 2 files: 2 errors, 0 warnings, 0 notes"), std::string::npos)
      << r.stdout_text;
}

TEST_F(LintCli, JsonHasEveryStatementWithItsLockTierAndFindings) {
  CommandResult r = run_ddlgate(lint({"--format", "json"}));
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  json j = json::parse(r.stdout_text);
  EXPECT_EQ(j["files"], json::array({"migrations/001_users.sql", "migrations/002_cleanup.sql"}));
  ASSERT_EQ(j["statements"].size(), 7u);
  const json& drop = j["statements"][3];
  EXPECT_EQ(drop["file"], "migrations/002_cleanup.sql");
  EXPECT_EQ(drop["line"], 2);
  EXPECT_EQ(drop["sql"], "DROP TABLE users");
  EXPECT_EQ(drop["tier"], "destructive");
  EXPECT_EQ(drop["lock"], "AccessExclusiveLock");
  EXPECT_EQ(drop["blocks_reads"], true);
  ASSERT_EQ(drop["findings"].size(), 1u);
  EXPECT_EQ(drop["findings"][0]["rule"], "DG-L001");
  EXPECT_EQ(drop["findings"][0]["severity"], "error");
  EXPECT_EQ(drop["findings"][0]["docs"], "docs/lint.md#dg-l001");
  EXPECT_FALSE(drop["findings"][0]["safer"].get<std::string>().empty());
  const json& add = j["statements"][5];
  EXPECT_EQ(add["tier"], "blocking");
  EXPECT_EQ(add["findings"].size(), 0u);
  EXPECT_EQ(j["statements"][6]["lock"], "ShareUpdateExclusiveLock");  // COMMENT: blocks nothing
  EXPECT_EQ(j["statements"][6]["blocks_writes"], false);
  EXPECT_EQ(j["statements"][6]["tier"], "additive");
  EXPECT_EQ(j["summary"]["errors"], 2);
  EXPECT_EQ(j["summary"]["statements"], 7);
}

TEST_F(LintCli, SarifHasRulesResultsRelativeLocationsAndFingerprintsThatSurviveAMove) {
  CommandResult r = run_ddlgate(lint({"--format", "sarif"}));
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  json s = json::parse(r.stdout_text);
  EXPECT_EQ(s["version"], "2.1.0");
  ASSERT_EQ(s["runs"].size(), 1u);
  const json& run = s["runs"][0];
  const json& rules = run["tool"]["driver"]["rules"];
  std::set<std::string> ids;
  for (const json& rule : rules) {
    ids.insert(rule["id"].get<std::string>());
    EXPECT_TRUE(rule["defaultConfiguration"]["level"] == "error" ||
                rule["defaultConfiguration"]["level"] == "warning" || rule["defaultConfiguration"]["level"] == "note");
    EXPECT_FALSE(rule["shortDescription"]["text"].get<std::string>().empty());
  }
  EXPECT_GE(ids.size(), 30u);
  EXPECT_EQ(ids.count("DG-L027"), 1u);
  EXPECT_EQ(run["originalUriBaseIds"]["SRCROOT"]["uri"].get<std::string>().rfind("file:///", 0), 0u);
  const json& results = run["results"];
  ASSERT_EQ(results.size(), 2u);
  for (const json& res : results) {
    EXPECT_EQ(rules[res["ruleIndex"].get<std::size_t>()]["id"], res["ruleId"]);
    EXPECT_EQ(res["level"], "error");
    const json& loc = res["locations"][0]["physicalLocation"];
    EXPECT_EQ(loc["artifactLocation"]["uri"], "migrations/002_cleanup.sql");
    EXPECT_EQ(loc["artifactLocation"]["uriBaseId"], "SRCROOT");
    EXPECT_EQ(res["partialFingerprints"]["ddlgateStatement/v1"].get<std::string>().size(), 64u);
  }
  EXPECT_EQ(results[0]["ruleId"], "DG-L001");
  EXPECT_EQ(results[0]["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
  EXPECT_EQ(results[1]["ruleId"], "DG-L050");
  EXPECT_EQ(results[1]["locations"][0]["physicalLocation"]["region"]["startColumn"], 3);

  // The same statements two lines lower and reformatted: same fingerprints, new lines.
  write_file(dir_ / "002_cleanup.sql",
             "SET lock_timeout = '2s';\n\n\nDROP   TABLE\n  users;\nGRANT SELECT ON accounts TO PUBLIC;\n");
  json moved = json::parse(run_ddlgate(lint({"--format", "sarif"})).stdout_text)["runs"][0]["results"];
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_EQ(moved[0]["locations"][0]["physicalLocation"]["region"]["startLine"], 4);
  EXPECT_EQ(moved[0]["partialFingerprints"], results[0]["partialFingerprints"]);
  EXPECT_EQ(moved[1]["partialFingerprints"], results[1]["partialFingerprints"]);
  EXPECT_NE(moved[0]["partialFingerprints"], moved[1]["partialFingerprints"]);
}

TEST_F(LintCli, GithubCommentHasASummaryAndOneTableRowPerFinding) {
  CommandResult r = run_ddlgate(lint({"--format", "github"}));
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  std::istringstream in(r.stdout_text);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "### ddlgate lint: 2 errors, 0 warnings, 0 notes");
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| error |", 0) == 0 || line.rfind("| warning |", 0) == 0) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 2u) << r.stdout_text;
  EXPECT_NE(rows[0].find("[DG-L001](docs/lint.md#dg-l001) drop-table"), std::string::npos) << rows[0];
  EXPECT_NE(rows[0].find("`migrations/002_cleanup.sql:2`"), std::string::npos) << rows[0];
  EXPECT_NE(rows[0].find("| destructive | AccessExclusiveLock |"), std::string::npos) << rows[0];
  EXPECT_NE(r.stdout_text.find("```sql\nGRANT SELECT ON accounts TO PUBLIC\n```"), std::string::npos);
}

TEST_F(LintCli, WarningsAloneExitZeroAndAssumeInTransactionMakesConcurrentlyAnError) {
  fs::remove(dir_ / "002_cleanup.sql");
  write_file(dir_ / "003_index.sql",
             "CREATE INDEX CONCURRENTLY orders_note ON orders (note);\nCREATE INDEX o2 ON orders (x);\n");
  CommandResult r = run_ddlgate(lint({}));
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("DG-L020 warning"), std::string::npos) << r.stdout_text;
  CommandResult t = run_ddlgate(lint({"--assume-in-transaction", "--format", "json"}));
  EXPECT_EQ(t.exit_code, 1);
  json j = json::parse(t.stdout_text);
  EXPECT_EQ(j["statements"][2]["findings"][0]["rule"], "DG-L040");
}

TEST_F(LintCli, UsageAndInputErrorsExitTwoWithOneLine) {
  CommandResult f = run_ddlgate({"lint", dir_.string(), "--format", "xml"});  // CLI11's usage error
  EXPECT_EQ(f.exit_code, 2);
  EXPECT_NE(f.stderr_text.find("--format"), std::string::npos) << f.stderr_text;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"lint", (tmp_.path() / "nope").string()},
           {"lint", dir_.string(), "--source-root", (tmp_.path() / "nope").string()},
       }) {
    CommandResult r = run_ddlgate(args);
    EXPECT_EQ(r.exit_code, 2) << args[1];
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
    EXPECT_EQ(r.stdout_text, "");
  }
  fs::create_directories(tmp_.path() / "bad");
  write_file(tmp_.path() / "bad" / "manifest.json", "{\"format\": 7}");
  CommandResult b = run_ddlgate({"lint", (tmp_.path() / "bad").string()});
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_NE(b.stderr_text.find("ddlgate lint: "), std::string::npos) << b.stderr_text;
  EXPECT_NE(b.stderr_text.find("manifest.json"), std::string::npos) << b.stderr_text;
}

TEST_F(LintCli, ADbmateDirectoryAndItsBundleAreLintedOnTheirUpPartsOnly) {
  fs::path dbmate = fs::path(DDLGATE_MIGRATIONS_DIR) / "dbmate";  // down parts drop tables and columns
  CommandResult d = run_ddlgate({"lint", dbmate.string(), "--format", "json"});
  EXPECT_EQ(d.exit_code, 0) << d.stdout_text << d.stderr_text;
  json j = json::parse(d.stdout_text);
  for (const json& s : j["statements"]) EXPECT_EQ(s["sql"].get<std::string>().find("drop"), std::string::npos);
  EXPECT_EQ(j["statements"][0]["line"], 2);  // after "-- migrate:up"

  fs::path out = tmp_.path() / "bundle";
  CommandResult b = run_ddlgate({"bundle", "build", dbmate.string(), "--out", out.string(), "--app", "shop",
                                 "--version", "1", "--environment", "prod", "--database", "shop"});
  ASSERT_EQ(b.exit_code, 0) << b.stderr_text;
  CommandResult l = run_ddlgate({"lint", out.string(), "--format", "json", "--source-root", out.string()});
  EXPECT_EQ(l.exit_code, 0) << l.stderr_text;
  json bj = json::parse(l.stdout_text);
  ASSERT_EQ(bj["files"].size(), 2u);
  EXPECT_EQ(bj["files"][0], "files/20240101000000_create_users.sql");
  EXPECT_EQ(bj["statements"].size(), j["statements"].size());
}

TEST_F(LintCli, APolicyFileAddsRulesChangesSeveritiesAndWaivesAndIsCheckedFirst) {
  write_file(dir_ / "003_nopk.sql", "CREATE TABLE nopk (a int NOT NULL);\n");
  write_file(tmp_.path() / "policy.toml",
             "[rules]\nrequire_primary_key = true\n"
             "[severity]\n\"DG-L050\" = \"warning\"\n"
             "[[exempt]]\nfile = \"migrations/002_*\"\nrules = [\"DG-L001\"]\nreason = \"emptied in release 41\"\n");
  CommandResult r = run_ddlgate(lint({"--policy", (tmp_.path() / "policy.toml").string(), "--format", "json"}));
  EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
  json j = json::parse(r.stdout_text);
  std::vector<std::string> found;
  for (const json& s : j["statements"]) {
    for (const json& f : s["findings"])
      found.push_back(f["rule"].get<std::string>() + " " + f["severity"].get<std::string>());
  }
  EXPECT_EQ(found, (std::vector<std::string>{"DG-L050 warning", "DG-P001 error"}));
  EXPECT_EQ(j["summary"]["waived"], 1);
  EXPECT_EQ(j["statements"][3]["tier"], "destructive");  // the waived DROP TABLE keeps its tier

  // Without the primary-key rule the same run exits 0: only a warning is left.
  write_file(tmp_.path() / "policy.toml", "[severity]\n\"DG-L050\" = \"warning\"\n\"DG-L001\" = \"off\"\n");
  EXPECT_EQ(run_ddlgate(lint({"--policy", (tmp_.path() / "policy.toml").string()})).exit_code, 0);

  for (const std::string& bad :
       {std::string("[rules]\nrequire_pk = true\n"), std::string("[naming]\ntable = \"([\"\n"),
        std::string("[severity]\n\"DG-L999\" = \"error\"\n"), std::string("[[exempt]]\nfile = \"x\"\n")}) {
    write_file(tmp_.path() / "policy.toml", bad);
    CommandResult b = run_ddlgate(lint({"--policy", (tmp_.path() / "policy.toml").string()}));
    EXPECT_EQ(b.exit_code, 2) << bad;
    EXPECT_EQ(b.stdout_text, "") << bad;
    EXPECT_EQ(std::count(b.stderr_text.begin(), b.stderr_text.end(), '\n'), 1) << b.stderr_text;
    EXPECT_NE(b.stderr_text.find("ddlgate lint: --policy "), std::string::npos) << b.stderr_text;
  }
}

}  // namespace
