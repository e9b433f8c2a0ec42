// The statement export (docs/ledger.md, "Statement export"): decisions joined with their
// outcome, the accepted bundle that approved them and the break-glass token they ran under.
#include "ddlgate/ledger/statements.h"

#include <gtest/gtest.h>

#include <sstream>

#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/report.h"
#include "ddlgate/ledger/verify.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

const SessionInfo kDeployer{"s-1", "deployer", "shop_prod", "10.0.0.5:40122", "migrate"};
const SessionInfo kOther{"s-2", "deployer", "shop_test", "10.0.0.6:40000", "migrate"};
const SessionInfo kDba{"s-3", "dba", "shop_prod", "10.0.0.9:51000", "psql"};

DecisionInfo allowed(const SessionInfo& s, std::string hash, std::string sql, std::uint64_t statement) {
  DecisionInfo d;
  d.decision = Decision::allowed;
  d.session = s;
  d.statement_hash = std::move(hash);
  d.statement_class = "ddl";
  d.display_sql = std::move(sql);
  d.approval = Approval{"shop", "3", "003_note.sql", statement};
  return d;
}

BundleAcceptance shop_v3() {
  BundleAcceptance a;
  a.bundle = "shop";
  a.version = "3";
  a.manifest_sha256 = "ab";
  a.source = "/registry/shop-v3";
  a.repository = "git@example.com:shop/db.git";
  a.commit = "0123abc";
  a.pull_request = "https://example.com/shop/db/pull/12";
  a.ci_run = "https://ci.example.com/runs/99";
  a.signers = {{"ed25519:1111111111111111", {"registry"}, "ci-registry"},
               {"ed25519:2222222222222222", {"approver", "dba"}, "alice"}};
  return a;
}

class StatementExport : public ::testing::Test {
 protected:
  void SetUp() override { keys_ = test::make_keys(tmp_.path() / "cp"); }

  void write(const std::vector<Record>& records) {
    LedgerConfig c;
    c.directory = tmp_.path() / "ledger";
    c.checkpoint_key_file = keys_.private_key;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    for (const auto& r : records) ASSERT_TRUE((*l)->append_durable(r));
    ASSERT_TRUE((*l)->close());
  }

  std::vector<StatementRow> rows(const ExportFilter& f = {}) {
    std::vector<StatementRow> out;
    auto st = join_statements(tmp_.path() / "ledger", f, [&](const StatementRow& r) { out.push_back(r); });
    EXPECT_TRUE(st) << st.error().to_string();
    return out;
  }

  std::string csv(const ExportFilter& f = {}) {
    std::ostringstream out;
    auto st = export_statements(tmp_.path() / "ledger", f, ExportFormat::csv, out);
    EXPECT_TRUE(st) << st.error().to_string();
    return out.str();
  }

  test::TempDir tmp_;
  test::KeyFiles keys_;
};

std::string field(const std::optional<ParsedRecord>& r, const char* name) {
  if (!r) return "(none)";
  return r->fields.value(name, std::string("(absent)"));
}

// Two sessions run the same statement; outcomes carry no user or database and still land on
// their own decision (by session and statement hash, first come first served).
TEST_F(StatementExport, EachOutcomeJoinsTheDecisionOfItsSessionAndStatement) {
  write({bundle_accepted(shop_v3()), session_opened(kDeployer), session_opened(kOther),
         decision(allowed(kDeployer, "h1", "ALTER TABLE a ADD b int", 1)),
         decision(allowed(kOther, "h1", "ALTER TABLE a ADD b int", 1)),
         decision(allowed(kDeployer, "h2", "CREATE INDEX i ON a (b)", 2)),
         outcome_failed("s-2", "h1", "42701"), outcome_executed("s-1", "h1", "ALTER TABLE"),
         outcome_rolled_back("s-1", "h2"), session_closed("s-1", "client terminated"),
         session_closed("s-2", "client terminated")});
  auto r = rows();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(field(r[0].outcome, "outcome"), "executed");
  EXPECT_EQ(field(r[0].outcome, "command_tag"), "ALTER TABLE");
  EXPECT_EQ(r[0].decision.fields["database"], "shop_prod");
  EXPECT_EQ(field(r[1].outcome, "outcome"), "failed");
  EXPECT_EQ(field(r[1].outcome, "sqlstate"), "42701");
  EXPECT_EQ(r[1].decision.fields["database"], "shop_test");
  EXPECT_EQ(field(r[2].outcome, "outcome"), "rolled_back");
  // Each row names the bundle acceptance: source and signers, as the ledger kept them.
  for (const auto& row : r) {
    EXPECT_EQ(field(row.approval, "pull_request"), "https://example.com/shop/db/pull/12");
    ASSERT_TRUE(row.approval);
    EXPECT_EQ(row.approval->fields.at("signers").at(1).at("name"), "alice");
  }
}

// A denial never reaches the server: no outcome, and it takes none from a later allowed run of
// the same statement in the same session.
TEST_F(StatementExport, ADenialGetsNoOutcomeAndTakesNone) {
  DecisionInfo denied = allowed(kDeployer, "h1", "DROP TABLE a", 0);
  denied.decision = Decision::denied;
  denied.approval.reset();
  denied.reason = "no signed bundle approves this statement";
  write({session_opened(kDeployer), decision(denied), decision(allowed(kDeployer, "h1", "DROP TABLE a", 1)),
         outcome_executed("s-1", "h1", "DROP TABLE")});
  auto r = rows();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].decision.fields["decision"], "denied");
  EXPECT_FALSE(r[0].outcome);
  EXPECT_EQ(field(r[1].outcome, "outcome"), "executed");
  // No bundle_accepted record in this ledger: the approval's columns are empty, not invented.
  EXPECT_FALSE(r[1].approval);
}

// Filters pick decisions and keep each row whole: --database keeps the outcome (which has no
// database), and a decision the filter drops still takes its own outcome.
TEST_F(StatementExport, FiltersKeepJoinedRowsWhole) {
  write({session_opened(kDeployer), session_opened(kOther), decision(allowed(kOther, "h1", "ALTER TABLE a ADD b int", 1)),
         decision(allowed(kDeployer, "h1", "ALTER TABLE a ADD b int", 1)),
         outcome_rolled_back("s-2", "h1"), outcome_executed("s-1", "h1", "ALTER TABLE")});
  ExportFilter f;
  f.database = "shop_prod";
  auto r = rows(f);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].decision.fields["session_id"], "s-1");
  EXPECT_EQ(field(r[0].outcome, "outcome"), "executed");
  f = {};
  f.session = "s-2";
  r = rows(f);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(field(r[0].outcome, "outcome"), "rolled_back");
  f = {};
  f.type = RecordType::outcome;
  std::ostringstream out;
  EXPECT_FALSE(export_statements(tmp_.path() / "ledger", f, ExportFormat::csv, out));
}

// A prepared statement run twice: one decision, two outcomes, two rows.
TEST_F(StatementExport, ARepeatedExecutionGetsARowOfItsOwn) {
  write({session_opened(kDeployer), decision(allowed(kDeployer, "h1", "ALTER TABLE a ADD b int", 1)),
         outcome_executed("s-1", "h1", "ALTER TABLE"), outcome_failed("s-1", "h1", "42701")});
  auto r = rows();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].decision.seq, r[1].decision.seq);
  EXPECT_EQ(field(r[0].outcome, "outcome"), "executed");
  EXPECT_EQ(field(r[1].outcome, "sqlstate"), "42701");
}

// A process that died with a session open: its statement waits for an outcome that never comes.
// The next start ends the wait, so an outcome of the new process (which may reuse the session
// id) joins its own decision, and the rows before it are not held back until the end.
TEST_F(StatementExport, ARestartEndsTheWaitOfTheSessionsOfTheProcessBefore) {
  ConfigChange start;
  start.event = "start";
  start.mode = "enforce";
  write({config_reloaded(start), session_opened(kDeployer), decision(allowed(kDeployer, "h1", "ALTER TABLE a ADD b int", 1)),
         config_reloaded(start), session_opened(kDeployer), decision(allowed(kDeployer, "h1", "ALTER TABLE a ADD b int", 1)),
         outcome_executed("s-1", "h1", "ALTER TABLE")});
  auto r = rows();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_FALSE(r[0].outcome);
  EXPECT_EQ(field(r[1].outcome, "outcome"), "executed");
  EXPECT_LT(r[0].decision.seq, r[1].decision.seq);
}

// Sessions that never settle (no outcome, never closed: a proxy killed mid-deploy, many times)
// must not make the join hold more and more: past the outcome window each row goes out with its
// outcome unknown, and what the join holds stays within a few windows however long the ledger.
TEST_F(StatementExport, ANeverSettledSessionIsLetGoAfterTheOutcomeWindow) {
  constexpr int kSessions = 300;
  constexpr std::uint64_t kWindow = 40;
  std::vector<Record> records;
  for (int i = 0; i < kSessions; ++i) {
    SessionInfo s = kDeployer;
    s.session_id = "never-" + std::to_string(i);
    records.push_back(session_opened(s));
    records.push_back(decision(allowed(s, "h1", "ALTER TABLE a ADD b int", 1)));
  }
  write(records);
  auto join = [&](std::uint64_t window, std::size_t* peak) {
    std::vector<StatementRow> out;
    JoinOptions o;
    o.outcome_window = window;
    o.peak_held = peak;
    auto st = join_statements(tmp_.path() / "ledger", {}, [&](const StatementRow& r) { out.push_back(r); }, o);
    EXPECT_TRUE(st) << st.error().to_string();
    return out;
  };
  std::size_t bounded = 0, unbounded = 0;
  auto r = join(kWindow, &bounded);
  ASSERT_EQ(r.size(), std::size_t{kSessions});
  EXPECT_TRUE(r.front().outcome_unknown);
  EXPECT_FALSE(r.front().outcome);
  EXPECT_LE(bounded, 4 * kWindow);
  // Without a window every decision is held to the end: the count grows with the ledger.
  auto all = join(0, &unbounded);
  ASSERT_EQ(all.size(), std::size_t{kSessions});
  EXPECT_FALSE(all.front().outcome_unknown);
  EXPECT_GE(unbounded, std::size_t{kSessions});
  // The CSV says so in the outcome column.
  std::ostringstream text;
  JoinOptions o;
  o.outcome_window = kWindow;
  ASSERT_TRUE(export_statements(tmp_.path() / "ledger", {}, ExportFormat::csv, text, o));
  EXPECT_NE(text.str().find(",unknown,,,,,,,,,\r\n"), std::string::npos) << text.str();
  std::ostringstream lines;
  ASSERT_TRUE(export_statements(tmp_.path() / "ledger", {}, ExportFormat::jsonl, lines, o));
  EXPECT_NE(lines.str().find("\"outcome\":\"unknown\""), std::string::npos);
}

// An outcome that comes after the window is dropped with its decision's unknown row; it does not
// land on the next decision of the same session and statement, which gets its own outcome.
TEST_F(StatementExport, AnOutcomePastTheWindowIsNotTakenByALaterDecision) {
  std::vector<Record> records{session_opened(kDeployer), decision(allowed(kDeployer, "h1", "ALTER TABLE a ADD b int", 1))};
  for (int i = 0; i < 30; ++i) {
    SessionInfo s = kOther;
    s.session_id = "busy-" + std::to_string(i);
    records.push_back(session_opened(s));
  }
  records.push_back(outcome_failed("s-1", "h1", "42701"));  // too late: 31 records on
  records.push_back(decision(allowed(kDeployer, "h1", "ALTER TABLE a ADD b int", 1)));
  records.push_back(outcome_executed("s-1", "h1", "ALTER TABLE"));
  write(records);
  std::vector<StatementRow> r;
  JoinOptions o;
  o.outcome_window = 20;
  ASSERT_TRUE(join_statements(tmp_.path() / "ledger", {}, [&](const StatementRow& row) { r.push_back(row); }, o));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].outcome_unknown);
  EXPECT_FALSE(r[0].outcome);
  EXPECT_FALSE(r[1].outcome_unknown);
  EXPECT_EQ(field(r[1].outcome, "outcome"), "executed");
  // With the default window the late outcome is within reach and joins the first decision.
  auto d = rows();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(field(d[0].outcome, "outcome"), "failed");
  EXPECT_EQ(field(d[1].outcome, "outcome"), "executed");
}

// Break-glass: the decision names its token; the row carries the token's issuer, ticket and expiry.
TEST_F(StatementExport, ABreakGlassStatementNamesItsToken) {
  BreakGlassOpening o;
  o.session = kDba;
  o.token_id = "tok-7";
  o.issuer = "oncall-lead";
  o.ticket = "INC-42";
  o.expires = "2026-12-01T01:00:00Z";
  o.reason = "hotfix";
  DecisionInfo d = allowed(kDba, "h9", "DROP INDEX i", 0);
  d.decision = Decision::break_glass;
  d.approval.reset();
  d.token_id = "tok-7";
  write({session_opened(kDba), break_glass_opened(o), decision(d), outcome_executed("s-3", "h9", "DROP INDEX"),
         break_glass_closed("s-3", "tok-7", "session ended"), session_closed("s-3", "client terminated")});
  std::string text = csv();
  auto end_of_header = text.find("\r\n");
  ASSERT_NE(end_of_header, std::string::npos);
  EXPECT_TRUE(text.substr(0, end_of_header).ends_with(",token_id,token_issuer,token_ticket,token_expires,token_reason"))
      << text;
  EXPECT_NE(text.find(",break_glass,dba,shop_prod,"), std::string::npos) << text;
  EXPECT_NE(text.find(",executed,"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with(",tok-7,oncall-lead,INC-42,2026-12-01T01:00:00Z,hotfix\r\n")) << text;
  // The statements of the session that needed no decision: rows only when asked for (the report).
  write({session_statement(kDba, "tok-7", "h10", "read", "SELECT 1")});
  EXPECT_EQ(rows().size(), 1u);
  std::vector<StatementRow> all;
  JoinOptions with_statements;
  with_statements.break_glass_statements = true;
  ASSERT_TRUE(join_statements(tmp_.path() / "ledger", {}, [&](const StatementRow& r) { all.push_back(r); },
                              with_statements));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].decision.type, RecordType::session_statement);
  EXPECT_FALSE(all[1].token);  // its session was closed (and its token record let go) before
}

// Cells a spreadsheet would run as a formula (= + - @, a tab or a carriage return first) are
// prefixed with a quote; the statement text and user are the client's to choose.
TEST_F(StatementExport, CsvCellsCannotStartAFormula) {
  const char* starts[] = {"=", "+", "-", "@", "\t", "\r"};
  std::vector<Record> records;
  for (int i = 0; i < 6; ++i) {
    DecisionInfo d = allowed(kDeployer, "h" + std::to_string(i), std::string(starts[i]) + "HYPERLINK(\"x\")", 1);
    d.decision = Decision::denied;
    d.session.user = std::string(starts[i]) + "1+1";
    records.push_back(decision(d));
  }
  write(records);
  std::string text = csv();
  for (const char* s : starts) {
    std::string user = std::string(s) + "1+1";
    EXPECT_EQ(text.find("," + user), std::string::npos) << "unguarded user " << s;
    bool quoted = user.find_first_of("\r") != std::string::npos;
    EXPECT_NE(text.find(quoted ? ",\"'" + user + "\"," : ",'" + user + ","), std::string::npos) << text;
  }
}

// docs/ledger.md, "How the format evolves": a ledger written by the record version before the
// statement export (bundle_accepted without source or signers; tests/data/ledger/
// before-statement-export, made with main's code) still verifies, and both exports read it.
TEST(StatementExportFixture, ALedgerOfThePreviousRecordVersionVerifiesAndExports) {
  const std::filesystem::path fixture = DDLGATE_LEDGER_FIXTURES "/before-statement-export";
  test::TempDir tmp;
  // Verification and export read only; a copy keeps the source tree clean all the same.
  std::filesystem::copy(fixture / "ledger", tmp.path() / "ledger");
  auto key = NoteVerifier::load_pem(fixture / "checkpoint.pub");
  ASSERT_TRUE(key) << key.error().to_string();
  VerifyOptions o;
  o.origin = "fixture.example/ddlgate/00000000000000a5";
  auto rep = verify_directory(tmp.path() / "ledger", *key, o);
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.records, 16u);
  EXPECT_EQ(rep.covered, 16u);

  std::ostringstream records;
  ASSERT_TRUE(export_ledger(tmp.path() / "ledger", {}, ExportFormat::jsonl, records));
  EXPECT_NE(records.str().find("\"records_exported\":16"), std::string::npos) << records.str().substr(0, 300);

  std::vector<StatementRow> rows;
  ASSERT_TRUE(join_statements(tmp.path() / "ledger", {}, [&](const StatementRow& r) { rows.push_back(r); }));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(field(rows[0].outcome, "command_tag"), "ALTER TABLE");
  ASSERT_TRUE(rows[0].approval);
  EXPECT_EQ(rows[0].approval->fields["manifest_sha256"].get<std::string>().substr(0, 8), "5d41402a");
  EXPECT_FALSE(rows[0].approval->fields.contains("signers"));  // the old record has none
  EXPECT_EQ(rows[1].decision.fields["decision"], "denied");
  EXPECT_FALSE(rows[1].outcome);
  EXPECT_EQ(field(rows[2].outcome, "outcome"), "rolled_back");
  EXPECT_EQ(rows[3].decision.fields["decision"], "break_glass");
  EXPECT_EQ(field(rows[3].outcome, "sqlstate"), "42704");
  EXPECT_EQ(field(rows[3].token, "ticket"), "INC-42");

  // JSON lines: the header, then one line per row with whole records (null where nothing joined).
  std::ostringstream lines;
  ASSERT_TRUE(export_statements(tmp.path() / "ledger", {}, ExportFormat::jsonl, lines));
  std::istringstream in(lines.str());
  std::vector<nlohmann::json> parsed;
  for (std::string line; std::getline(in, line);) parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 5u) << lines.str();
  EXPECT_EQ(parsed[0], (nlohmann::json{{"format", 1}, {"kind", "statement_export"}}));
  EXPECT_EQ(parsed[2]["decision"]["fields"]["decision"], "denied");
  EXPECT_TRUE(parsed[2]["outcome"].is_null());
  EXPECT_TRUE(parsed[2]["bundle_accepted"].is_null());
  EXPECT_EQ(parsed[4]["break_glass_opened"]["fields"]["issuer"], "oncall-lead");
  EXPECT_EQ(parsed[4]["outcome"]["seq"], 12);
  EXPECT_EQ(parsed[1]["bundle_accepted"]["seq"], 1);

  std::ostringstream text;
  ASSERT_TRUE(export_statements(tmp.path() / "ledger", {}, ExportFormat::csv, text));
  // Old bundle_accepted: the source and signer cells are empty; the rest is filled.
  EXPECT_NE(text.str().find(",shop,3,003_note.sql,1,5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,,,,,,,,"
                            "executed,"),
            std::string::npos)
      << text.str();
}

// The report is a function of the records (no time of its own making): the same ledger gives
// the same bytes, which is what lets another tool recompute it from the records and compare.
TEST(Report, TheSameRecordsMakeTheSameBytesAndTheOldLedgerReports) {
  const std::filesystem::path fixture = DDLGATE_LEDGER_FIXTURES "/before-statement-export";
  test::TempDir tmp;
  std::filesystem::copy(fixture / "ledger", tmp.path() / "ledger");
  auto key = NoteVerifier::load_pem(fixture / "checkpoint.pub");
  ASSERT_TRUE(key) << key.error().to_string();
  ReportOptions o;
  o.ledgers = {tmp.path() / "ledger"};
  o.key = &*key;
  std::ostringstream first, second;
  auto r = write_report(o, first);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(*r);
  ASSERT_TRUE(write_report(o, second));
  EXPECT_EQ(first.str(), second.str());
  EXPECT_NE(first.str().find("issued by oncall-lead, ticket INC-42"), std::string::npos) << first.str();
  EXPECT_NE(first.str().find("<code>SELECT 1</code></td><td>(read, no decision)</td>"), std::string::npos);
  // A window before the ledger: no decision, and the page says so by its empty tables.
  o.filter.to = "2000-01-01T00:00:00.000000Z";
  std::ostringstream none;
  ASSERT_TRUE(write_report(o, none));
  EXPECT_EQ(none.str().find("oncall-lead"), std::string::npos);
}

}  // namespace
}  // namespace ddlgate::ledger
