// The lint module: the corpus of tests/data/lint (every case's findings), positions,
// state across statements and files, tiers, and input that must not crash it.
#include "ddlgate/lint/lint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ddlgate/sql/analyze.h"

// libpg_query 15-4.0.0 leaks the one-byte buffer pg_query_raw_parse strdup()s when
// pg_query_parse_plpgsql fails (a body its parser cannot read); nothing the caller can free.
extern "C" const char* __lsan_default_suppressions() { return "leak:pg_query_raw_parse\n"; }

namespace ddlgate::lint {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct Case {
  std::string file, name, text;
  std::vector<std::string> expect;
  bool in_transaction = false;
  bool has_expect = false;
};

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<Case> load_corpus() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(DDLGATE_LINT_CORPUS_DIR)) {
    if (e.path().extension() == ".sql") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Case> cases;
  for (const fs::path& f : files) {
    std::istringstream in(read_file(f));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("-- case:", 0) == 0) {
        cases.push_back({f.filename().string(), line.substr(8), "", {}, false, false});
        continue;
      }
      if (cases.empty() || cases.back().file != f.filename().string()) continue;
      Case& c = cases.back();
      if (line.rfind("-- expect:", 0) == 0) {
        c.has_expect = true;
        for (const std::string& w : words(line.substr(10))) {
          if (w != "none") c.expect.push_back(w);
        }
        std::sort(c.expect.begin(), c.expect.end());
      } else if (line.rfind("-- options:", 0) == 0) {
        c.in_transaction = line.find("in-transaction") != std::string::npos;
      } else {
        c.text += line + "\n";
      }
    }
  }
  return cases;
}

std::vector<std::string> found_ids(const Report& r) {
  std::vector<std::string> ids;
  for (const auto& s : r.statements) {
    for (const auto& f : s.findings) ids.push_back(f.rule_id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s.empty() ? "none" : s;
}

TEST(LintCorpus, EveryCaseGivesExactlyItsExpectedFindings) {
  std::vector<Case> cases = load_corpus();
  ASSERT_GE(cases.size(), 150u);
  std::size_t statements = 0;
  for (const Case& c : cases) {
    ASSERT_TRUE(c.has_expect) << c.file << ":" << c.name << " has no -- expect: line";
    Options o;
    o.assume_in_transaction = c.in_transaction;
    Report r = lint({{"case.sql", c.text}}, o);
    statements += r.statements.size();
    EXPECT_EQ(joined(found_ids(r)), joined(c.expect)) << c.file << ":" << c.name << "\n" << c.text;
  }
  EXPECT_GE(statements, 200u) << "the corpus must hold at least 200 statements";
}

TEST(LintCorpus, EveryRuleHasAPositiveCaseAndTheCorpusHasNegativeCases) {
  std::set<std::string> positive;
  std::size_t negative = 0;
  for (const Case& c : load_corpus()) {
    positive.insert(c.expect.begin(), c.expect.end());
    if (c.expect.empty()) ++negative;
  }
  for (const Rule& r : rules()) {
    if (r.category == "policy") continue;  // custom rules need a policy: LintPolicy.*
    EXPECT_EQ(positive.count(std::string(r.id)), 1u) << r.id << " has no positive case";
  }
  EXPECT_GE(negative, 50u);
}

TEST(LintRules, IdsAreUniqueSortedAndDocumented) {
  std::string doc = read_file(DDLGATE_LINT_DOC);
  std::set<std::string> names;
  std::string_view previous;
  for (const Rule& r : rules()) {
    EXPECT_LT(previous, r.id);
    previous = r.id;
    EXPECT_TRUE(names.insert(std::string(r.name)).second) << r.name;
    EXPECT_EQ(find_rule(r.id), &r);
    EXPECT_FALSE(r.summary.empty());
    EXPECT_FALSE(r.safer.empty());
    std::string id(r.id);
    // docs/lint.md has a heading "### DG-L001 drop-table" (anchor dg-l001-drop-table is
    // GitHub's; the explicit <a id> gives the short one the links use).
    EXPECT_NE(doc.find("<a id=\"" + docs_link(id).substr(13) + "\"></a>"), std::string::npos) << id;
    EXPECT_NE(doc.find("### " + id + " " + std::string(r.name)), std::string::npos) << id;
  }
  EXPECT_EQ(find_rule("DG-L999"), nullptr);
  EXPECT_EQ(docs_link("DG-L001"), "docs/lint.md#dg-l001");
}

TEST(Lint, FindingsCarryTheLineAndColumnOfTheStatementAfterItsComments) {
  std::string text =
      "-- migration 7\n"
      "SET lock_timeout = '1s';\n"
      "\n"
      "/* drop the old table\n   /* nested */ */\n"
      "  DROP TABLE old_users; -- gone\n"
      "ALTER TABLE users\n"
      "  DROP COLUMN née;\n";
  Report r = lint({{"m.sql", text}});
  ASSERT_EQ(r.statements.size(), 3u);
  EXPECT_EQ(r.statements[1].line, 6u);
  EXPECT_EQ(r.statements[1].column, 3u);
  EXPECT_EQ(r.statements[1].text, "DROP TABLE old_users");
  EXPECT_EQ(r.statements[2].line, 7u);
  EXPECT_EQ(r.statements[2].column, 1u);
  EXPECT_EQ(r.statements[2].text, "ALTER TABLE users\n  DROP COLUMN née");
  ASSERT_EQ(r.statements[2].findings.size(), 1u);
  EXPECT_EQ(r.statements[2].findings[0].rule_id, "DG-L002");
  EXPECT_EQ(r.statements[2].findings[0].message, "DROP COLUMN users.née");
  EXPECT_EQ(r.errors, 2u);
}

TEST(Lint, AParseErrorIsAFindingAtItsLineAndColumn) {
  Report r = lint({{"ok.sql", "CREATE TABLE a (id int);"}, {"bad.sql", "SELECT 1;\n-- é\nSELECT * FORM t;\n"}});
  ASSERT_EQ(r.statements.size(), 2u);
  const StatementReport& e = r.statements[1];
  EXPECT_EQ(e.file_index, 1u);
  ASSERT_EQ(e.findings.size(), 1u);
  EXPECT_EQ(e.findings[0].rule_id, "DG-L000");
  EXPECT_NE(e.findings[0].message.find("syntax error"), std::string::npos) << e.findings[0].message;
  EXPECT_EQ(e.line, 3u);
  EXPECT_EQ(e.column, 10u);  // "FORM" ("*" takes no alias; the multibyte character earlier does not shift it)
  EXPECT_EQ(r.errors, 1u);
}

TEST(Lint, ATableCreatedInAnEarlierFileIsNotExistingButLockTimeoutIsPerFile) {
  Report r = lint(
      {{"1.sql", "SET lock_timeout = '1s';\nCREATE TABLE orders (id bigint, customer bigint);\n"},
       {"2.sql", "CREATE INDEX orders_customer_idx ON orders (customer);\nALTER TABLE users ADD COLUMN x int;\n"}});
  ASSERT_EQ(r.statements.size(), 4u);
  EXPECT_TRUE(r.statements[2].findings.empty());
  ASSERT_EQ(r.statements[3].findings.size(), 1u);
  EXPECT_EQ(r.statements[3].findings[0].rule_id, "DG-L027");  // 1.sql's SET does not reach 2.sql
  EXPECT_EQ(r.statements[3].file_index, 1u);
}

TEST(Lint, EachStatementHasATierAndTheLockItTakes) {
  Report r = lint({{"t.sql",
                    "SET lock_timeout = '1s';\n"
                    "CREATE TABLE t (id int);\n"
                    "ALTER TABLE users ADD COLUMN c int;\n"
                    "DROP TABLE old;\n"
                    "GRANT SELECT ON users TO reporting;\n"
                    "INSERT INTO users (id) VALUES (1);\n"
                    "CREATE INDEX CONCURRENTLY i ON users (c);\n"
                    "ALTER TABLE orders ADD FOREIGN KEY (u) REFERENCES users (id) NOT VALID;\n"}});
  ASSERT_EQ(r.statements.size(), 8u);
  std::vector<std::string> tiers;
  for (const auto& s : r.statements) tiers.push_back(s.tier);
  EXPECT_EQ(tiers, (std::vector<std::string>{"additive", "additive", "blocking", "destructive", "privilege", "data",
                                             "additive", "blocking"}));
  EXPECT_EQ(r.statements[2].strongest, LockMode::access_exclusive);
  EXPECT_EQ(r.statements[6].strongest, LockMode::share_update_exclusive);
  const auto& fk = r.statements[7].locks;
  ASSERT_EQ(fk.size(), 2u);
  EXPECT_EQ(fk[0].relation, "orders");
  EXPECT_EQ(fk[0].mode, LockMode::share_row_exclusive);
  EXPECT_EQ(fk[1].relation, "users");
  EXPECT_EQ(fk[1].mode, LockMode::share_row_exclusive);
  EXPECT_TRUE(blocks_writes(LockMode::share));
  EXPECT_FALSE(blocks_writes(LockMode::share_update_exclusive));
  EXPECT_TRUE(blocks_reads(LockMode::access_exclusive));
  EXPECT_FALSE(blocks_reads(LockMode::exclusive));
  EXPECT_EQ(lock_mode_name(LockMode::share_row_exclusive), "ShareRowExclusiveLock");
}

TEST(Lint, ADeeplyNestedStatementIsAParseErrorNotACrash) {
  std::string deep = "SELECT " + std::string(20000, '(') + "1" + std::string(20000, ')') + ";";
  Report r = lint({{"deep.sql", deep}});
  ASSERT_EQ(r.statements.size(), 1u);
  ASSERT_EQ(r.statements[0].findings.size(), 1u);
  EXPECT_EQ(r.statements[0].findings[0].rule_id, "DG-L000");
}

TEST(Lint, ALargeFileIsReadWhole) {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "ALTER TABLE t" + std::to_string(i) + " ADD COLUMN c int;\n";
  text += "DROP TABLE last_one;\n";
  Report r = lint({{"big.sql", text}});  // above 16 KiB: parsed on a thread with a bigger stack
  ASSERT_EQ(r.statements.size(), 3001u);
  EXPECT_EQ(r.statements.back().line, 3001u);
  EXPECT_EQ(r.statements.back().findings[0].rule_id, "DG-L001");
  EXPECT_EQ(r.errors, 1u);
  EXPECT_EQ(r.warnings, 3001u);  // DG-L027 on each, no lock_timeout
}

TEST(Lint, AnEmptyOrCommentOnlyFileHasNoStatements) {
  Report r = lint({{"a.sql", ""}, {"b.sql", "-- nothing here\n/* nor here */\n"}});
  EXPECT_TRUE(r.statements.empty());
  EXPECT_EQ(r.errors + r.warnings + r.infos, 0u);
}

Policy team_policy() {
  Policy p;
  p.require_primary_key = true;
  p.require_not_null_or_default = true;
  p.foreign_key_index = true;
  p.forbidden_types = {"json", "timestamp", "varchar"};
  p.naming.push_back({"table", "^[a-z][a-z0-9_]*$", std::regex("^[a-z][a-z0-9_]*$")});
  p.naming.push_back({"index", "^[a-z0-9_]+_idx$", std::regex("^[a-z0-9_]+_idx$")});
  p.naming.push_back({"column", "^[a-z][a-z0-9_]*$", std::regex("^[a-z][a-z0-9_]*$")});
  return p;
}

std::vector<std::string> ids_of(const StatementReport& s) {
  std::vector<std::string> ids;
  for (const auto& f : s.findings) ids.push_back(f.rule_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(LintPolicy, CustomRulesFireOnlyWhereThePolicyAsksAndOnlyOnNewObjects) {
  Policy p = team_policy();
  Options o;
  o.policy = &p;
  Report r = lint({{"p.sql",
                    "CREATE TABLE \"Orders\" (id bigint, note varchar(20), payload json NOT NULL, "
                    "customer_id bigint NOT NULL REFERENCES customers (id));\n"  // 0
                    "CREATE TABLE items (id bigint PRIMARY KEY, order_id bigint NOT NULL DEFAULT 0, "
                    "CONSTRAINT items_order_fk FOREIGN KEY (order_id) REFERENCES \"Orders\" (id));\n"  // 1
                    "CREATE INDEX items_order_idx ON items (order_id);\n"                              // 2
                    "CREATE INDEX ItemsById ON items (id);\n"                                          // 3
                    "CREATE TABLE events (id bigint PRIMARY KEY, at timestamp NOT NULL);\n"            // 4
                    "CREATE TABLE p1 PARTITION OF parts FOR VALUES IN (1);\n"}},                       // 5
                  o);
  ASSERT_EQ(r.statements.size(), 6u);
  // "Orders": no primary key, a name the pattern refuses, a nullable column without default, two forbidden
  // types, a foreign key with no index, and the existing-table lock on customers (no lock_timeout).
  EXPECT_EQ(ids_of(r.statements[0]), (std::vector<std::string>{"DG-L027", "DG-P001", "DG-P002", "DG-P003", "DG-P003",
                                                               "DG-P004", "DG-P005", "DG-P005"}));
  EXPECT_TRUE(r.statements[1].findings.empty()) << r.statements[1].findings[0].message;  // its FK has an index
  EXPECT_TRUE(r.statements[2].findings.empty());
  EXPECT_EQ(ids_of(r.statements[3]), (std::vector<std::string>{"DG-P002"}));  // "itemsbyid" (folded) ends in no _idx
  EXPECT_EQ(ids_of(r.statements[4]), (std::vector<std::string>{"DG-P005"}));
  EXPECT_EQ(ids_of(r.statements[5]), (std::vector<std::string>{"DG-L027"}));  // a partition needs no key of its own
  EXPECT_EQ(r.statements[4].tier, "additive");  // custom findings do not raise or lower tiers
  EXPECT_EQ(r.statements[0].tier, "blocking");  // SHARE ROW EXCLUSIVE on customers does
}

TEST(LintPolicy, SeverityOverridesAndExemptionsWaiveFindingsButNeverLowerTheTier) {
  Policy p;
  p.severity["DG-L027"] = Severity::error;
  p.severity["DG-L013"] = std::nullopt;
  p.exemptions.push_back({"legacy/*.sql", "", {}});
  // The canonical hash of "DROP TABLE users" (`ddlgate hash`), for DG-L001 only; any spelling matches.
  sql::Analysis a = sql::analyze("drop   table USERS", sql::Policy{}, sql::Detail::hashes);
  ASSERT_TRUE(a.ok());
  p.exemptions.push_back({"", a.statements[0].hash, {"DG-L001"}});
  p.exemptions.push_back({"", "sha256:0000", {}});  // matches nothing
  Options o;
  o.policy = &p;
  Report r = lint({{"legacy/001.sql", "DROP TABLE a;\n"},
                   {"new/002.sql", "ALTER TABLE users ALTER COLUMN name TYPE varchar(10);\nDROP TABLE users;\n"}},
                  o);
  ASSERT_EQ(r.statements.size(), 3u);
  EXPECT_TRUE(r.statements[0].findings.empty());   // the whole legacy file is exempt
  EXPECT_EQ(r.statements[0].tier, "destructive");  // but its tier stays
  EXPECT_EQ(ids_of(r.statements[1]), (std::vector<std::string>{"DG-L012", "DG-L027"}));  // DG-L013 is off
  EXPECT_EQ(r.statements[1].findings[1].severity, Severity::error);
  EXPECT_EQ(ids_of(r.statements[2]), (std::vector<std::string>{"DG-L027"}));  // DG-L001 waived by hash
  EXPECT_EQ(r.statements[2].tier, "destructive");
  EXPECT_EQ(r.exempted, 4u);  // DROP TABLE a's DG-L001 and DG-L027, DG-L013, DG-L001 of users
  EXPECT_EQ(r.errors, 3u);    // DG-L012 and both DG-L027, raised to error
}

}  // namespace
}  // namespace ddlgate::lint
