// engine::Engine fed with bytes (protocol::append_*), as the proxy feeds it, with no socket:
// outcomes, savepoints, pipelines, errors mid-batch, prepared statements and portals,
// replay protection, denials, break-glass scope and the lexing model.
#include <gtest/gtest.h>

#include "conversation.h"
#include "ddlgate/protocol/codes.h"

namespace ddlgate::engine::testing {
namespace {

namespace be = protocol::be;
using Kind = Outcome::Kind;

constexpr const char* kCreate = "CREATE TABLE t (id int)";
constexpr const char* kCreate2 = "CREATE TABLE u (id int)";
constexpr const char* kDrop = "DROP TABLE accounts";

// Approves kCreate and kCreate2 in database app.
void approve(Conversation& c) {
  c.approvals.approve(kCreate);
  c.approvals.approve(kCreate2);
}

bool has_outcome(const Conversation& c, Kind kind, std::string_view sql, std::string_view detail = {}) {
  const std::string hash = hash_of(sql);
  return std::any_of(c.outcomes.begin(), c.outcomes.end(), [&](const Outcome& o) {
    return o.kind == kind && o.hash == hash && (detail.empty() || o.detail == detail);
  });
}

// ---- Simple Query outcomes. ----

TEST(EngineOutcomes, ImplicitTransactionCommitsAtReadyForQuery) {
  Conversation c(Options{});
  approve(c);
  EXPECT_EQ(c.client(query(kCreate)), query(kCreate));  // allowed: untouched
  EXPECT_EQ(types(c.server(cat({complete("CREATE TABLE")}))), "C");
  EXPECT_TRUE(c.outcomes.empty());  // applied only once its transaction ends
  c.server(ready('I'));
  ASSERT_EQ(c.outcomes.size(), 1u);
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate, "CREATE TABLE"));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EngineOutcomes, BlockCommitExecutes) {
  Conversation c(Options{});
  approve(c);
  c.client(query("BEGIN"));
  c.server(cat({complete("BEGIN"), ready('T')}));
  c.client(query(kCreate));
  c.server(cat({complete("CREATE TABLE"), ready('T')}));
  EXPECT_TRUE(c.outcomes.empty());
  c.client(query("COMMIT"));
  c.server(cat({complete("COMMIT"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EngineOutcomes, BlockRollbackRollsBack) {
  Conversation c(Options{});
  approve(c);
  c.client(query("BEGIN"));
  c.server(cat({complete("BEGIN"), ready('T')}));
  c.client(query(kCreate));
  c.server(cat({complete("CREATE TABLE"), ready('T')}));
  c.client(query("ROLLBACK"));
  c.server(cat({complete("ROLLBACK"), ready('I')}));
  ASSERT_EQ(c.outcomes.size(), 1u);
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate));
}

TEST(EngineOutcomes, CommitOfAFailedBlockRollsBack) {
  Conversation c(Options{});
  approve(c);
  c.client(query("BEGIN"));
  c.server(cat({complete("BEGIN"), ready('T')}));
  c.client(query(kCreate));
  c.server(cat({complete("CREATE TABLE"), ready('T')}));
  c.client(query("SELECT 1/0"));
  c.server(cat({error("22012"), ready('E')}));
  c.client(query("COMMIT"));
  c.server(cat({complete("ROLLBACK"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate));
  EXPECT_FALSE(has_outcome(c, Kind::executed, kCreate));
}

TEST(EngineOutcomes, FailedStatementRecordsItsSqlstate) {
  Conversation c(Options{});
  approve(c);
  c.client(query(kCreate));
  c.server(cat({error("42P07", "relation \"t\" already exists"), ready('I')}));
  ASSERT_EQ(c.outcomes.size(), 1u);
  EXPECT_TRUE(has_outcome(c, Kind::failed, kCreate, "42P07"));
}

TEST(EngineOutcomes, SecondStatementFailingRollsBackTheFirst) {
  Conversation c(Options{});
  approve(c);
  c.client(query(std::string(kCreate) + "; " + kCreate2));
  c.server(cat({complete("CREATE TABLE"), error("42P07"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate));
  EXPECT_TRUE(has_outcome(c, Kind::failed, kCreate2, "42P07"));
  EXPECT_EQ(c.outcomes.size(), 2u);
}

TEST(EngineOutcomes, CommitInsideAMessageSettlesWhatCameBefore) {
  Conversation c(Options{});
  approve(c);
  c.client(query(std::string("BEGIN; ") + kCreate + "; COMMIT; " + kCreate2));
  c.server(cat({complete("BEGIN"), complete("CREATE TABLE"), complete("COMMIT")}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));  // before the message ends
  c.server(cat({error("42P07"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::failed, kCreate2));
  EXPECT_FALSE(has_outcome(c, Kind::rolled_back, kCreate));
}

TEST(EngineOutcomes, PrepareTransactionSettlesAsExecuted) {
  Conversation c(Options{});
  approve(c);
  c.client(query("BEGIN"));
  c.server(cat({complete("BEGIN"), ready('T')}));
  c.client(query(kCreate));
  c.server(cat({complete("CREATE TABLE"), ready('T')}));
  c.client(query("PREPARE TRANSACTION 'x'"));
  c.server(cat({complete("PREPARE TRANSACTION"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
}

TEST(EngineOutcomes, EmptyQueryResponseEndsAStatementThatRanNothing) {
  Conversation c(Options{});
  approve(c);
  c.client(query(std::string(kCreate) + ";;"));
  c.server(cat({complete("CREATE TABLE"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
  c.client(query(""));
  c.server(cat({empty(be::kEmptyQueryResponse), ready('I')}));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EngineOutcomes, UnexpectedCommandCompleteIsOutOfStep) {
  Conversation c(Options{});
  approve(c);
  c.server(complete("CREATE TABLE"));
  ASSERT_EQ(c.out_of_steps.size(), 1u);
  c.server(ready('I'));
  EXPECT_EQ(c.out_of_steps.size(), 2u);
}

TEST(EngineOutcomes, UntrackedStatementsLeaveNoOutcome) {
  Conversation c;
  c.client(query("SELECT 1; INSERT INTO t VALUES (1)"));
  c.server(cat({complete("SELECT 1"), complete("INSERT 0 1"), ready('I')}));
  EXPECT_TRUE(c.outcomes.empty());
  EXPECT_TRUE(c.records.empty());  // reads and writes are not decided
  EXPECT_TRUE(c.out_of_steps.empty());
}

// ---- Savepoints. ----

class EngineSavepoints : public ::testing::Test {
 protected:
  void SetUp() override {
    approve(c);
    c.client(query("BEGIN"));
    c.server(cat({complete("BEGIN"), ready('T')}));
  }
  void run(std::string_view sql, std::string_view tag) {
    c.client(query(sql));
    c.server(cat({complete(tag), ready('T')}));
  }
  Conversation c;
};

TEST_F(EngineSavepoints, RollbackToUndoesWhatRanAfterIt) {
  run("SAVEPOINT s", "SAVEPOINT");
  run(kCreate, "CREATE TABLE");
  run("ROLLBACK TO SAVEPOINT s", "ROLLBACK");
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate));  // at once, not at COMMIT
  run(kCreate2, "CREATE TABLE");
  c.client(query("COMMIT"));
  c.server(cat({complete("COMMIT"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate2));
  EXPECT_FALSE(has_outcome(c, Kind::executed, kCreate));
}

TEST_F(EngineSavepoints, WhatRanBeforeTheSavepointStays) {
  run(kCreate, "CREATE TABLE");
  run("SAVEPOINT s", "SAVEPOINT");
  run("ROLLBACK TO s", "ROLLBACK");
  EXPECT_TRUE(c.outcomes.empty());
  c.client(query("COMMIT"));
  c.server(cat({complete("COMMIT"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
}

TEST_F(EngineSavepoints, ReleaseKeepsStatementsPending) {
  run("SAVEPOINT s", "SAVEPOINT");
  run(kCreate, "CREATE TABLE");
  run("RELEASE SAVEPOINT s", "RELEASE");
  EXPECT_TRUE(c.outcomes.empty());
  c.client(query("COMMIT"));
  c.server(cat({complete("COMMIT"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
}

TEST_F(EngineSavepoints, InnermostOfTwoWithTheSameName) {
  run("SAVEPOINT s", "SAVEPOINT");
  run(kCreate, "CREATE TABLE");
  run("SAVEPOINT s", "SAVEPOINT");
  run(kCreate2, "CREATE TABLE");
  run("ROLLBACK TO s", "ROLLBACK");
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate2));
  EXPECT_FALSE(has_outcome(c, Kind::rolled_back, kCreate));
}

TEST_F(EngineSavepoints, RollbackToAnUnknownNameLeavesOutcomesToTheEnd) {
  run(kCreate, "CREATE TABLE");
  run("ROLLBACK TO never_defined", "ROLLBACK");
  EXPECT_TRUE(c.outcomes.empty());
}

TEST_F(EngineSavepoints, RollbackAndChainRollsBackAndStaysInABlock) {
  run(kCreate, "CREATE TABLE");
  run("ROLLBACK AND CHAIN", "ROLLBACK");
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate));
  run(kCreate2, "CREATE TABLE");
  c.client(query("COMMIT"));
  c.server(cat({complete("COMMIT"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate2));
}

TEST_F(EngineSavepoints, CommitAndChainExecutes) {
  run(kCreate, "CREATE TABLE");
  run("COMMIT AND CHAIN", "COMMIT");
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
}

TEST_F(EngineSavepoints, ReleaseThenRollbackToAnOuterOne) {
  run("SAVEPOINT a", "SAVEPOINT");
  run("SAVEPOINT b", "SAVEPOINT");
  run(kCreate, "CREATE TABLE");
  run("RELEASE b", "RELEASE");
  run("ROLLBACK TO a", "ROLLBACK");
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate));
}

// ---- Denials. ----

TEST(EngineDenials, UnapprovedStatementIsReplacedByTheServersOwnError) {
  Conversation c(Options{});
  approve(c);
  Bytes up = c.client(query(kDrop));
  ASSERT_EQ(types(up), "Q");
  EXPECT_NE(up, query(kDrop));
  const std::string text(up.begin() + 5, up.end() - 1);
  EXPECT_EQ(text.rfind("DO $ddlgate$", 0), 0u);
  EXPECT_EQ(text.find("accounts"), std::string::npos);  // no client text in the Query
  ASSERT_EQ(c.records.size(), 1u);
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_EQ(c.refusals[0].sqlstate, "42501");
}

TEST(EngineDenials, TheServersErrorIsRewrittenToDdlgatesFields) {
  Conversation c(Options{});
  approve(c);
  c.client(query(kDrop));
  const protocol::ErrorSpec& spec = c.refusals.at(0);
  Bytes raised;
  protocol::append_message(raised, be::kErrorResponse, [&] {
    // As PL/pgSQL raises it: the same code and message, and a CONTEXT line.
    Bytes body;
    for (auto [field, value] : {std::pair<char, std::string>{'S', "ERROR"}, {'C', spec.sqlstate},
                                {'M', spec.message}, {'W', "PL/pgSQL function inline_code_block line 1 at RAISE"}}) {
      body.push_back(static_cast<std::uint8_t>(field));
      body.insert(body.end(), value.begin(), value.end());
      body.push_back(0);
    }
    body.push_back(0);
    return body;
  }());
  Bytes down = c.server(cat({raised, ready('I')}));
  EXPECT_EQ(down, cat({protocol::build_error_response(spec), ready('I')}));
}

TEST(EngineDenials, AnotherErrorWithTheSameCodeIsNotRewritten) {
  Conversation c(Options{});
  approve(c);
  c.client(query(kDrop));
  Bytes other = error("42501", "permission denied for table accounts");
  EXPECT_EQ(c.server(other), other);
}

TEST(EngineDenials, ExtendedProtocolDenialDropsTheBatchUpToSync) {
  Conversation c(Options{});
  approve(c);
  Bytes up = c.client(cat({parse("", kDrop), bind("", ""), describe('P', ""), execute(""), sync()}));
  EXPECT_EQ(types(up), "QS");  // the denial's Query, then the client's Sync
  // The server: the denial's error and ReadyForQuery, then the Sync's ReadyForQuery.
  Bytes down = c.server(cat({error("42501", c.refusals.at(0).message), ready('I'), ready('I')}));
  EXPECT_EQ(types(down), "EZ");  // exactly one ReadyForQuery for the one Sync
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EngineDenials, MessagesAfterTheSyncAreNotDropped) {
  Conversation c(Options{});
  approve(c);
  Bytes up = c.client(cat({parse("", kDrop), sync(), query("SELECT 1")}));
  EXPECT_EQ(types(up), "QSQ");
}

TEST(EngineDenials, MonitorModeRecordsWouldDenyAndForwards) {
  Options o;
  o.monitor = true;
  Conversation c(o);
  approve(c);
  EXPECT_EQ(c.client(query(kDrop)), query(kDrop));
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_NE(c.records[0].fields.dump().find("would_deny"), std::string::npos);
}

TEST(EngineDenials, OneUnapprovedStatementRefusesTheWholeMessage) {
  Conversation c(Options{});
  approve(c);
  Bytes up = c.client(query(std::string(kCreate) + "; " + kDrop));
  EXPECT_NE(up, query(std::string(kCreate) + "; " + kDrop));
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_NE(c.records[0].fields.dump().find("another statement of the same message"), std::string::npos);
}

TEST(EngineDenials, NonDeployerIsRefusedAnApprovedStatement) {
  Options o;
  o.may_deploy = false;
  Conversation c(o);
  approve(c);
  c.client(query(kCreate));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_NE(c.refusals[0].message.find("not a deployer"), std::string::npos);
}

// Issue 26 item 6: a down part's statement is a separate approval, for a role that
// enforcement.deployers names; recorded with "part": "down".
TEST(EngineDenials, ADownApprovalIsRefusedToAUserNotNamedAsDeployer) {
  Conversation c(Options{});
  c.approvals.approve(kDrop, "app", false, /*down=*/true);
  c.client(query(kDrop));
  ASSERT_EQ(c.refusals.size(), 1u);
  const auto& r = c.refusals[0];
  EXPECT_EQ(r.sqlstate, "42501");
  EXPECT_EQ(r.message, "ddlgate: schema_change statement \"" + std::string(kDrop) +
                           "\" is not approved: it is approved only as a down (rollback) statement, which only a role "
                           "named in enforcement.deployers may run, and user deployer is not named there (" +
                           hash_of(kDrop) + ")");
  EXPECT_EQ(r.hint, kHowToRollBack);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].fields["decision"], "denied");
  EXPECT_NE(c.records[0].fields["reason"].get<std::string>().find("approved only as a down"), std::string::npos);
}

TEST(EngineDenials, ADownApprovalAppliesForANamedDeployerAndIsRecordedAsDown) {
  Options o;
  o.may_roll_back = true;
  Conversation c(o);
  c.approvals.approve(kDrop, "app", false, /*down=*/true);
  c.approvals.approve(kCreate);
  Bytes up = c.client(query(kDrop));
  EXPECT_EQ(up, query(kDrop));
  EXPECT_TRUE(c.refusals.empty());
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].fields["decision"], "allowed");
  EXPECT_EQ(c.records[0].fields["approval"]["part"], "down");
  // An up approval's record says no part, as before.
  c.server(cat({complete("DROP TABLE"), ready('I')}));
  c.client(query(kCreate));
  ASSERT_GE(c.records.size(), 2u);
  EXPECT_FALSE(c.records.back().fields["approval"].contains("part")) << c.records.back().fields.dump();
}

TEST(EngineDenials, ApprovalForAnotherDatabaseDoesNotCount) {
  Options o;
  o.database = "other";
  Conversation c(o);
  approve(c);
  c.client(query(kCreate));
  ASSERT_EQ(c.refusals.size(), 1u);
}

// Issue 26 item 8: a client that shows only the primary message (lib/pq, node-postgres)
// shows the statement and the reason.
TEST(EngineDenials, PrimaryMessageNamesTheStatementAndTheReason) {
  Conversation c(Options{});
  c.client(query(kDrop));
  ASSERT_EQ(c.refusals.size(), 1u);
  const auto& r = c.refusals[0];
  EXPECT_EQ(r.message, "ddlgate: schema_change statement \"" + std::string(kDrop) +
                           "\" is not approved: no signed bundle approves it for database app (" + hash_of(kDrop) + ")");
  EXPECT_EQ(r.sqlstate, "42501");
  EXPECT_EQ(r.detail, kDrop);
  EXPECT_EQ(r.hint, kHowToApprove);
}

TEST(EngineDenials, PrimaryMessageNamesTheReasonForANonDeployer) {
  Options o;
  o.may_deploy = false;
  Conversation c(o);
  approve(c);
  c.client(query(kCreate));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_NE(c.refusals[0].message.find("\"" + std::string(kCreate) + "\" is not approved: user deployer is not a deployer"),
            std::string::npos)
      << c.refusals[0].message;
}

TEST(EngineDenials, ExcerptIsOneLineCutOnAUtf8Boundary) {
  EXPECT_EQ(statement_excerpt("CREATE TABLE t (\n\tid int\r\n)  "), "CREATE TABLE t ( id int )");
  EXPECT_EQ(statement_excerpt(std::string(kExcerptBytes, 'x')), std::string(kExcerptBytes, 'x'));
  EXPECT_EQ(statement_excerpt(std::string(kExcerptBytes + 1, 'x')), std::string(kExcerptBytes - 3, 'x') + "...");
  // "é" is two bytes: the byte at the cut is the first of one, so the cut goes before it.
  std::string accents = std::string(kExcerptBytes - 4, 'x');
  for (int i = 0; i < 10; ++i) accents += "\xc3\xa9";
  EXPECT_EQ(statement_excerpt(accents), std::string(kExcerptBytes - 4, 'x') + "...");
  EXPECT_EQ(statement_excerpt(std::string(kExcerptBytes - 5, 'x') + "\xc3\xa9" + std::string(10, 'y')),
            std::string(kExcerptBytes - 5, 'x') + "\xc3\xa9" + "...");
  EXPECT_EQ(statement_excerpt(""), "");
}

TEST(EngineDenials, LongStatementIsCutInTheMessageAndWholeInTheDetail) {
  Conversation c(Options{});
  std::string sql = "CREATE TABLE a_rather_long_table_name_for_a_test (\n  first_column integer,\n"
                    "  second_column text NOT NULL\n)";
  c.client(query(sql));
  ASSERT_EQ(c.refusals.size(), 1u);
  const std::string& m = c.refusals[0].message;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_NE(m.find("\"" + statement_excerpt(c.refusals[0].detail) + "\""), std::string::npos) << m;
  EXPECT_NE(m.find("...\" is not approved"), std::string::npos) << m;
  EXPECT_NE(c.refusals[0].detail.find("second_column"), std::string::npos);
}

// The primary message goes to client logs and monitoring: a role's or a user mapping's
// password never appears in it (nor in the DETAIL), since display SQL redacts it.
TEST(EngineDenials, PrimaryMessageHasNoPassword) {
  for (const char* sql : {"CREATE ROLE r LOGIN PASSWORD 'hunter2'", "ALTER USER r WITH PASSWORD 'hunter2'",
                          "CREATE USER MAPPING FOR r SERVER s OPTIONS (user 'r', password 'hunter2')",
                          "ALTER USER MAPPING FOR r SERVER s OPTIONS (SET password 'hunter2')"}) {
    Conversation c(Options{});
    c.client(query(sql));
    ASSERT_EQ(c.refusals.size(), 1u) << sql;
    EXPECT_EQ(c.refusals[0].message.find("hunter2"), std::string::npos) << c.refusals[0].message;
    EXPECT_EQ(c.refusals[0].detail.find("hunter2"), std::string::npos) << c.refusals[0].detail;
    EXPECT_NE(c.refusals[0].message.find(" is not approved: "), std::string::npos) << c.refusals[0].message;
  }
}

TEST(EngineDenials, AnApprovalForEveryDatabaseCounts) {
  Options o;
  o.database = "other";
  Conversation c(o);
  c.approvals.approve(kCreate, "");
  EXPECT_EQ(c.client(query(kCreate)), query(kCreate));
  EXPECT_TRUE(c.refusals.empty());
}

TEST(EngineDenials, UnparseableTextIsRefusedAndItsLogLineHasNoText) {
  std::vector<std::shared_ptr<const sql::Analysis>> readings{
      std::make_shared<const sql::Analysis>(sql::analyze("CREATE TABLE secret_password_x (", sql::Policy{}))};
  Approvals none;
  Facts facts;
  facts.who.database = "app";
  Decision d = decide(readings, none, facts, nullptr);
  ASSERT_TRUE(d.denial);
  EXPECT_TRUE(d.controlled);
  EXPECT_EQ(d.log_denial.find("secret_password_x"), std::string::npos);
  EXPECT_NE(d.log_denial.find("parse error at byte"), std::string::npos);
}

TEST(EngineDenials, ReadsAndWritesAreNotDecided) {
  std::vector<std::shared_ptr<const sql::Analysis>> readings{
      std::make_shared<const sql::Analysis>(sql::analyze("SELECT * FROM t", sql::Policy{}))};
  Approvals none;
  Decision d = decide(readings, none, Facts{}, nullptr);
  EXPECT_FALSE(d.controlled);
  EXPECT_TRUE(d.records.empty());
}

TEST(EngineDenials, AnotherReadingWithAnUnapprovedStatementDecides) {
  // Two readings the server may make; the second holds a statement no bundle approves.
  Conversation c(Options{});
  approve(c);
  std::vector<std::shared_ptr<const sql::Analysis>> readings{
      std::make_shared<const sql::Analysis>(sql::analyze(kCreate, sql::Policy{})),
      std::make_shared<const sql::Analysis>(sql::analyze(kDrop, sql::Policy{}))};
  Facts facts;
  facts.who.database = "app";
  Decision d = decide(readings, c.approvals, facts, nullptr);
  ASSERT_TRUE(d.denial);
  EXPECT_EQ(d.analysis, readings[1]);
}

TEST(EngineDenials, AnotherReadingThatTheServerWouldRefuseDoesNotDecide) {
  Conversation c(Options{});
  approve(c);
  std::vector<std::shared_ptr<const sql::Analysis>> readings{
      std::make_shared<const sql::Analysis>(sql::analyze(kCreate, sql::Policy{})),
      std::make_shared<const sql::Analysis>(sql::analyze("CREATE TABLE (", sql::Policy{}))};
  Facts facts;
  facts.who.database = "app";
  Decision d = decide(readings, c.approvals, facts, nullptr);
  EXPECT_FALSE(d.denial);
  EXPECT_EQ(d.analysis, readings[0]);
}

TEST(EngineDenials, RefusedSqlIsCutForLongStatements) {
  std::string huge = "CREATE TABLE t (" + std::string(100000, 'x') + " int)";
  std::string shown = refused_sql(huge);
  EXPECT_LT(shown.size(), huge.size());
  EXPECT_NE(shown.find("-- (ddlgate: the first"), std::string::npos);
  EXPECT_EQ(refused_sql("DROP TABLE t"), "DROP TABLE t");
}

TEST(EngineDenials, DenialQueryCarriesNoClientTextAndQuotesNothing) {
  std::string q = denial_query({"ERROR", "42501", "it's $ddlgate$ '; DROP TABLE x; --", "d", "h"});
  EXPECT_EQ(q.find("DROP TABLE"), std::string::npos);
  EXPECT_EQ(std::count(q.begin(), q.end(), '$'), 4);  // only the DO block's own quotes
  EXPECT_NE(q.find("ERRCODE = '42501'"), std::string::npos);
}
// The canonical hash ignores layout, case and comments: a reformatted approved statement
// passes untouched; a statement that differs in one name is another statement.
TEST(EngineDenials, AReformattedApprovedStatementPassesAndAnotherNameIsRefused) {
  Conversation c(Options{});
  approve(c);
  const std::string reformatted = "create   TABLE \"t\" (ID INT /* why */) ;";
  EXPECT_EQ(c.client(query(reformatted)), query(reformatted));
  EXPECT_TRUE(c.refusals.empty());
  c.client(query("CREATE TABLE s (id int)"));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_EQ(c.refusals[0].sqlstate, "42501");
}

// A message is refused whole: what goes upstream is the denial's own Query, with nothing of
// the client's text, whether the unapproved statement follows an approved one or a read.
TEST(EngineDenials, AnUnapprovedStatementAfterAnotherSendsNoneOfTheMessageUpstream) {
  for (const std::string& sql : {std::string(kCreate) + "; " + kDrop, std::string("SELECT 1; ") + kDrop}) {
    Conversation c(Options{});
    approve(c);
    Bytes up = c.client(query(sql));
    ASSERT_EQ(types(up), "Q") << sql;
    const std::string text(up.begin() + 5, up.end() - 1);
    EXPECT_EQ(text.rfind("DO $ddlgate$", 0), 0u) << sql;
    EXPECT_EQ(text.find("SELECT 1"), std::string::npos) << sql;
    EXPECT_EQ(text.find("CREATE TABLE"), std::string::npos) << sql;
    EXPECT_EQ(c.refusals.size(), 1u) << sql;
  }
}

// A whole migration file in one Query (as golang-migrate sends it): every statement
// approved, so the message goes through untouched and each statement gets its outcome.
TEST(EngineDenials, AMessageOfApprovedStatementsGoesThroughWhole) {
  Conversation c(Options{});
  approve(c);
  const std::string file = std::string(kCreate) + ";\n" + kCreate2 + ";\n";
  EXPECT_EQ(c.client(query(file)), query(file));
  EXPECT_TRUE(c.refusals.empty());
  c.server(cat({complete("CREATE TABLE"), complete("CREATE TABLE"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate2));
  EXPECT_TRUE(c.out_of_steps.empty());
}


// ---- Replay protection. ----

Options replay() {
  Options o;
  o.replay_protection = true;
  return o;
}

TEST(EngineReplay, ApprovalIsReservedThenSpentOnCommit) {
  Conversation c(replay());
  approve(c);
  c.client(query(kCreate));
  EXPECT_EQ(c.approvals.reserved.size(), 1u);
  c.server(cat({complete("CREATE TABLE"), ready('I')}));
  EXPECT_TRUE(c.approvals.reserved.empty());
  EXPECT_EQ(c.approvals.spent.size(), 1u);
}

TEST(EngineReplay, ASpentApprovalRefusesTheSecondRun) {
  Conversation c(replay());
  approve(c);
  c.client(query(kCreate));
  c.server(cat({complete("CREATE TABLE"), ready('I')}));
  c.client(query(kCreate));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_NE(c.refusals[0].message.find("already used"), std::string::npos);
  EXPECT_EQ(c.refusals[0].hint, kHowToReapply);
}

TEST(EngineReplay, ASpentDownApprovalRefusesTheSecondRun) {
  Options o = replay();
  o.may_roll_back = true;
  Conversation c(o);
  // The same file and index as an up approval: the down one has a key of its own.
  c.approvals.approve(kDrop, "app", false, /*down=*/true);
  c.client(query(kDrop));
  c.server(cat({complete("DROP TABLE"), ready('I')}));
  ASSERT_EQ(c.approvals.spent.size(), 1u);
  EXPECT_EQ(*c.approvals.spent.begin(), approval_key("app", "demo", "1", "001.sql", 1, true));
  EXPECT_NE(*c.approvals.spent.begin(), approval_key("app", "demo", "1", "001.sql", 1, false));
  c.client(query(kDrop));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_NE(c.refusals[0].message.find("already used"), std::string::npos);
  EXPECT_EQ(c.refusals[0].hint, kHowToReapply);
}

TEST(EngineReplay, RollbackReleasesTheApproval) {
  Conversation c(replay());
  approve(c);
  c.client(query("BEGIN"));
  c.server(cat({complete("BEGIN"), ready('T')}));
  c.client(query(kCreate));
  c.server(cat({complete("CREATE TABLE"), ready('T')}));
  c.client(query("ROLLBACK"));
  c.server(cat({complete("ROLLBACK"), ready('I')}));
  EXPECT_TRUE(c.approvals.spent.empty());
  EXPECT_TRUE(c.approvals.reserved.empty());
  c.client(query(kCreate));  // may run again
  EXPECT_TRUE(c.refusals.empty());
}

TEST(EngineReplay, AFailedStatementReleasesItsApprovalAndTheRestOfTheMessage) {
  Conversation c(replay());
  approve(c);
  c.client(query(std::string(kCreate) + "; " + kCreate2));
  EXPECT_EQ(c.approvals.reserved.size(), 2u);
  c.server(cat({error("42P07"), ready('I')}));
  EXPECT_TRUE(c.approvals.reserved.empty());
  EXPECT_TRUE(c.approvals.spent.empty());
}

TEST(EngineReplay, ARefusedMessageReservesNothing) {
  Conversation c(replay());
  approve(c);
  c.client(query(std::string(kCreate) + "; " + kDrop));
  EXPECT_TRUE(c.approvals.reserved.empty());
}

TEST(EngineReplay, AParseSpendsItsApprovalAtOnce) {
  Conversation c(replay());
  approve(c);
  c.client(parse("p", kCreate));
  EXPECT_EQ(c.approvals.spent.size(), 1u);
}

TEST(EngineReplay, ASecondPortalOfAOnceOnlyStatementIsRefused) {
  Conversation c(replay());
  approve(c);
  c.client(cat({parse("p", kCreate), bind("a", "p"), execute("a"), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("CREATE TABLE"), ready('I')}));
  EXPECT_TRUE(c.refusals.empty());
  Bytes up = c.client(cat({bind("b", "p"), execute("b"), sync()}));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_EQ(c.refusals[0].message, "replayed");
  EXPECT_EQ(types(up), "BQS");
}

TEST(EngineReplay, ContinuingASuspendedPortalIsTheSameRun) {
  Conversation c(replay());
  approve(c);
  c.client(cat({parse("p", kCreate), bind("a", "p"), execute("a", 1), flush()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), empty(be::kPortalSuspended)}));
  c.client(cat({execute("a", 1), sync()}));
  EXPECT_TRUE(c.refusals.empty());
}

TEST(EngineReplay, SqlExecuteOfAOnceOnlyStatementIsRefused) {
  Conversation c(replay());
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  for (const char* sql : {"EXECUTE mig", "EXPLAIN ANALYZE EXECUTE MIG", "SELECT 1; EXECUTE mig"}) {
    c.refusals.clear();
    c.client(query(sql));
    ASSERT_EQ(c.refusals.size(), 1u) << sql;
    c.server(cat({error("42501", c.refusals[0].message), ready('I')}));
  }
}

TEST(EngineReplay, ANamedParseReusingAOnceOnlyNameIsRefused) {
  Conversation c(replay());
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(cat({parse("mig", kCreate2), sync()}));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_NE(c.refusals[0].message.find("name of once-only"), std::string::npos);
}

TEST(EngineReplay, ClosingTheOnceOnlyStatementFreesItsName) {
  Conversation c(replay());
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(cat({close('S', "mig"), sync()}));
  c.server(cat({empty(be::kCloseComplete), ready('I')}));
  c.client(cat({parse("mig", kCreate2), sync()}));
  EXPECT_TRUE(c.refusals.empty());
}

TEST(EngineReplay, BookkeepingApprovalsAreNeverReserved) {
  Conversation c(replay());
  c.approvals.approve("CREATE TABLE IF NOT EXISTS schema_migrations (version text)", "app", true);
  c.client(query("CREATE TABLE IF NOT EXISTS schema_migrations (version text)"));
  c.server(cat({complete("CREATE TABLE"), ready('I')}));
  c.client(query("CREATE TABLE IF NOT EXISTS schema_migrations (version text)"));
  EXPECT_TRUE(c.refusals.empty());
  EXPECT_TRUE(c.approvals.spent.empty());
}

TEST(EngineReplay, SessionEndWithAnswersOutstandingSpends) {
  Conversation c(replay());
  approve(c);
  c.client(query(kCreate));
  c.end();  // the server may still run and commit it
  EXPECT_EQ(c.approvals.spent.size(), 1u);
}

TEST(EngineReplay, SessionEndInAnOpenBlockWithNothingInFlightReleases) {
  Conversation c(replay());
  approve(c);
  c.client(query("BEGIN"));
  c.server(cat({complete("BEGIN"), ready('T')}));
  c.client(query(kCreate));
  c.server(cat({complete("CREATE TABLE"), ready('T')}));
  c.end();
  EXPECT_TRUE(c.approvals.spent.empty());
  EXPECT_TRUE(c.approvals.reserved.empty());
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate));
}

TEST(EngineReplay, ApprovalKeysSeparateTheirParts) {
  EXPECT_NE(approval_key("a", "b", "1", "c", 1), approval_key("a\x1f", "b", "1", "c", 1));
  EXPECT_EQ(approval_key("db", "app", "3", "001.sql", 2), "db\x1f" "app\x1f" "3\x1f" "001.sql\x1f" "2");
}
// SQL EXECUTE of a once-only statement pipelined right behind its Parse, before the server
// has answered the Parse, alone and inside a multi-statement Query.
TEST(EngineReplay, SqlExecutePipelinedBehindTheParseIsRefused) {
  Conversation c(replay());
  approve(c);
  Bytes up = c.client(cat({parse("mig", kCreate), sync(), query("execute mig"), query("select 1; execute mig")}));
  EXPECT_EQ(types(up), "PSQQ");
  ASSERT_EQ(c.refusals.size(), 2u);
  const std::string sent(up.begin(), up.end());
  EXPECT_EQ(sent.find("execute mig"), std::string::npos);  // both Queries are the denial's own
}

// After the once-only statement is gone (DEALLOCATE), its approval is still spent: a new
// Parse of the text, named or unnamed, is refused, and so is the text as a Query.
TEST(EngineReplay, AfterItsDeallocateAOnceOnlyStatementIsNotParsedAgain) {
  Conversation c(replay());
  approve(c);
  c.client(cat({parse("mig", kCreate), bind("", "mig"), execute(""), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("CREATE TABLE"), ready('I')}));
  c.client(query("DEALLOCATE mig"));
  c.server(cat({complete("DEALLOCATE"), ready('I')}));
  ASSERT_TRUE(c.refusals.empty());
  for (const char* name : {"mig", ""}) {
    c.refusals.clear();
    Bytes up = c.client(cat({parse(name, kCreate), sync()}));
    EXPECT_EQ(types(up), "QS") << name;
    ASSERT_EQ(c.refusals.size(), 1u) << name;
    EXPECT_NE(c.refusals[0].message.find("already used"), std::string::npos) << c.refusals[0].message;
    c.server(cat({error("42501", c.refusals[0].message), ready('I'), ready('I')}));
  }
  c.refusals.clear();
  c.client(query(kCreate));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_NE(c.refusals[0].message.find("already used"), std::string::npos) << c.refusals[0].message;
}


// ---- The extended protocol and pipelines. ----

TEST(EnginePipeline, ParseBindExecuteSyncExecutesAtReadyForQuery) {
  Conversation c(Options{});
  approve(c);
  Bytes up = c.client(cat({parse("", kCreate), bind("", ""), execute(""), sync()}));
  EXPECT_EQ(types(up), "PBES");
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("CREATE TABLE")}));
  EXPECT_TRUE(c.outcomes.empty());
  c.server(ready('I'));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate, "CREATE TABLE"));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, FlushLeavesOutcomesPendingUntilSync) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("", kCreate), bind("", ""), execute(""), flush()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("CREATE TABLE")}));
  EXPECT_TRUE(c.outcomes.empty());
  c.client(sync());
  c.server(ready('I'));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, AnErrorMidBatchSkipsToSync) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("", "SELECT 1/0"), bind("", ""), execute(""), parse("", kCreate), bind("", ""), execute(""),
                sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), error("22012"), ready('I')}));
  EXPECT_TRUE(c.outcomes.empty());  // the CREATE never ran
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, TheNextBatchIsTrackedAfterAFailedOne) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("", "SELECT 1/0"), bind("", ""), execute(""), sync(), parse("", kCreate), bind("", ""),
                execute(""), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), error("22012"), ready('I')}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("CREATE TABLE"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, QueriesSentWhileTheServerSkipsGetNoEntry) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("", "SELECT 1/0"), bind("", ""), execute(""), flush()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), error("22012")}));
  // The server skips these up to the Sync: no entries, no out-of-step.
  c.client(cat({query(kCreate), sync()}));
  c.server(ready('I'));
  EXPECT_TRUE(c.outcomes.empty());
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, DescribeOfAStatementEndsWithRowDescriptionOrNoData) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("s", "SELECT 1"), describe('S', "s"), parse("", kCreate), describe('S', ""), sync()}));
  Bytes param_description;
  protocol::append_message(param_description, be::kParameterDescription, Bytes{0, 0});
  Bytes row_description;
  protocol::append_message(row_description, be::kRowDescription, Bytes{0, 0});
  c.server(cat({empty(be::kParseComplete), param_description, row_description, empty(be::kParseComplete),
                param_description, empty(be::kNoData), ready('I')}));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, ARowDescriptionInAQuerysAnswerIsNotOutOfStep) {
  Conversation c;
  c.client(query("SELECT 1"));
  Bytes row_description;
  protocol::append_message(row_description, be::kRowDescription, Bytes{0, 0});
  c.server(cat({row_description, complete("SELECT 1"), ready('I')}));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, PortalSuspendedThenTheRestIsOneOutcome) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("", kCreate), bind("", ""), execute("", 1), flush()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), empty(be::kPortalSuspended)}));
  c.client(cat({execute("", 0), sync()}));
  c.server(cat({complete("CREATE TABLE"), ready('I')}));
  EXPECT_EQ(std::count_if(c.outcomes.begin(), c.outcomes.end(), [](const Outcome& o) { return o.kind == Kind::executed; }),
            1);
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, AFunctionCallEndsWithItsReadyForQuery) {
  Conversation c;
  c.client(function_call(952));  // lo_open
  Bytes response;
  protocol::append_message(response, be::kFunctionCallResponse, Bytes{0, 0, 0, 0});
  c.server(cat({response, ready('I')}));
  EXPECT_TRUE(c.out_of_steps.empty());
}

TEST(EnginePipeline, StatementsKeptByNameSurviveTheirBatch) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(cat({bind("", "mig"), execute(""), sync()}));
  c.server(cat({empty(be::kBindComplete), complete("CREATE TABLE"), ready('I')}));
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate));
}

TEST(EnginePipeline, ABindOfAnUnknownStatementForgetsThePortal) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), bind("p", "mig"), bind("p", "other"), execute("p"), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), empty(be::kBindComplete), complete("SELECT 1"),
                ready('I')}));
  EXPECT_TRUE(c.outcomes.empty());  // portal p is no longer the CREATE's
}

TEST(EnginePipeline, NamesAreKeyedByTheirFirst63Bytes) {
  Conversation c(replay());
  approve(c);
  const std::string long_name(70, 'n');
  c.client(cat({parse(long_name, kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  // The server reads another name with the same first 63 bytes as the same statement.
  c.client(cat({parse(std::string(63, 'n') + "zzz", kCreate2), sync()}));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_EQ(Engine::server_name(long_name), std::string(63, 'n'));
}

TEST(EnginePipeline, PortalsAreForgottenWhenTheTransactionEnds) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), bind("p", "mig"), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), ready('I')}));
  EXPECT_FALSE(c.engine().keeps_portals());
}

TEST(EnginePipeline, PortalsStayWhileABlockIsOpen) {
  Conversation c(Options{});
  approve(c);
  c.client(query("BEGIN"));
  c.server(cat({complete("BEGIN"), ready('T')}));
  c.client(cat({parse("mig", kCreate), bind("p", "mig"), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), ready('T')}));
  EXPECT_TRUE(c.engine().keeps_portals());
}

TEST(EnginePipeline, CloseSkippedAfterAnErrorClosesNothing) {
  Conversation c(replay());
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(cat({parse("", "SELECT 1/0"), bind("", ""), execute(""), close('S', "mig"), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), error("22012"), ready('I')}));
  EXPECT_NE(c.engine().prepared("mig"), nullptr);  // the server skipped the Close
}

TEST(EnginePipeline, CloseCompleteForgetsTheStatement) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  ASSERT_NE(c.engine().prepared("mig"), nullptr);
  c.client(cat({close('S', "mig"), sync()}));
  c.server(cat({empty(be::kCloseComplete), ready('I')}));
  EXPECT_EQ(c.engine().prepared("mig"), nullptr);
}

TEST(EnginePipeline, ACloseOfANameReusedMeanwhileKeepsTheNewStatement) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(cat({close('S', "mig"), parse("mig", kCreate2), sync()}));
  c.server(cat({empty(be::kCloseComplete), empty(be::kParseComplete), ready('I')}));
  const Prepared* kept = c.engine().prepared("mig");
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->hash, hash_of(kCreate2));
}
// After an extended-protocol error the client sends a Query (the server skips it and gives
// it no ReadyForQuery), then the Sync, then an approved Query: that Query's answer is its
// own, not the skipped one's.
TEST(EnginePipeline, AQueryAfterTheSkippedMessagesAndTheirSyncGetsItsOwnOutcome) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("", "SELECT 1/0"), bind("", ""), execute(""), flush()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), error("22012")}));
  c.client(cat({query("SELECT 1"), sync(), query(kCreate)}));
  c.server(ready('I'));  // the Sync's
  c.server(cat({complete("CREATE TABLE"), ready('I')}));
  ASSERT_EQ(c.outcomes.size(), 1u);
  EXPECT_TRUE(has_outcome(c, Kind::executed, kCreate, "CREATE TABLE"));
  EXPECT_TRUE(c.out_of_steps.empty());
}

// Outcomes of approved statements run by Execute: failed with the server's SQLSTATE, and
// rolled back with their block.
TEST(EnginePipeline, AnExecuteThatFailsOrIsRolledBackRecordsSo) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("", kCreate), bind("", ""), execute(""), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), error("42P07"), ready('I')}));
  ASSERT_EQ(c.outcomes.size(), 1u);
  EXPECT_TRUE(has_outcome(c, Kind::failed, kCreate, "42P07"));
  c.client(query("BEGIN"));
  c.server(cat({complete("BEGIN"), ready('T')}));
  c.client(cat({parse("", kCreate2), bind("", ""), execute(""), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("CREATE TABLE"), ready('T')}));
  c.client(query("ROLLBACK"));
  c.server(cat({complete("ROLLBACK"), ready('I')}));
  ASSERT_EQ(c.outcomes.size(), 2u);
  EXPECT_TRUE(has_outcome(c, Kind::rolled_back, kCreate2));
  EXPECT_TRUE(c.out_of_steps.empty());
}


// ---- DEALLOCATE and DISCARD. ----

TEST(EngineDeallocate, SqlDeallocateForgetsAKeptStatement) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(query("DEALLOCATE mig"));
  c.server(cat({complete("DEALLOCATE"), ready('I')}));
  EXPECT_EQ(c.engine().prepared("mig"), nullptr);
}

TEST(EngineDeallocate, DeallocateAllForgetsEveryStatement) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("a", kCreate), parse("b", kCreate2), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kParseComplete), ready('I')}));
  c.client(query("DEALLOCATE ALL"));
  c.server(cat({complete("DEALLOCATE ALL"), ready('I')}));
  EXPECT_EQ(c.engine().prepared("a"), nullptr);
  EXPECT_EQ(c.engine().prepared("b"), nullptr);
}

TEST(EngineDeallocate, DiscardAllForgetsEveryStatement) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("a", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(query("DISCARD ALL"));
  c.server(cat({complete("DISCARD ALL"), ready('I')}));
  EXPECT_EQ(c.engine().prepared("a"), nullptr);
}

TEST(EngineDeallocate, AStatementPreparedAfterTheDeallocateWasSentStays) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  // Pipelined: DEALLOCATE mig, then a new Parse of the name, before any answer.
  c.client(query("DEALLOCATE mig"));
  c.client(cat({parse("mig", kCreate2), sync()}));
  c.server(cat({complete("DEALLOCATE"), ready('I'), empty(be::kParseComplete), ready('I')}));
  const Prepared* kept = c.engine().prepared("mig");
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->hash, hash_of(kCreate2));
}

TEST(EngineDeallocate, AFailedDeallocateForgetsNothing) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(query("DEALLOCATE mig"));
  c.server(cat({error("26000"), ready('I')}));
  EXPECT_NE(c.engine().prepared("mig"), nullptr);
}

TEST(EngineDeallocate, ADeallocateInAPreparedStatementRunsAtItsExecute) {
  Conversation c(Options{});
  approve(c);
  c.client(cat({parse("mig", kCreate), parse("d", "DEALLOCATE mig"), sync()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kParseComplete), ready('I')}));
  ASSERT_NE(c.engine().prepared("mig"), nullptr);
  c.client(cat({bind("", "d"), execute(""), sync()}));
  c.server(cat({empty(be::kBindComplete), complete("DEALLOCATE"), ready('I')}));
  EXPECT_EQ(c.engine().prepared("mig"), nullptr);
}

// ---- The lexing model. ----

TEST(EngineLexing, ClientMessagesWidenAndReadyForQueryNarrows) {
  Conversation c;
  c.engine().lexing() = protocol::LexingState({.standard_strings_pinned = true});
  c.server(cat({parameter_status("standard_conforming_strings", "on"), parameter_status("client_encoding", "UTF8"),
                ready('I')}));
  EXPECT_FALSE(c.engine().lexing().possible_standard_strings().wide());
  c.client(query("SET standard_conforming_strings = off"));
  EXPECT_TRUE(c.engine().lexing().possible_standard_strings().wide());  // in flight: either value
  c.server(cat({complete("SET"), parameter_status("standard_conforming_strings", "off"), ready('I')}));
  EXPECT_FALSE(c.engine().lexing().possible_standard_strings().wide());
  EXPECT_FALSE(c.engine().lexing().reported_standard_strings());
}

TEST(EngineLexing, DroppedMessagesDoNotWidenTheModel) {
  Conversation c(Options{});
  approve(c);
  c.engine().lexing() = protocol::LexingState({.standard_strings_pinned = true});
  c.server(cat({parameter_status("standard_conforming_strings", "on"), ready('I')}));
  c.client(cat({parse("", kDrop), sync()}));
  c.server(cat({error("42501", c.refusals.at(0).message), ready('I'), ready('I')}));
  EXPECT_FALSE(c.engine().lexing().possible_standard_strings().wide());
}

// The #9 cases where the server's settings may differ from the last report: the model stays
// wide until a ReadyForQuery answers everything sent.
class EngineLexingPinned : public ::testing::Test {
 protected:
  void SetUp() override {
    approve(c);
    c.engine().lexing() = protocol::LexingState({.standard_strings_pinned = true, .client_encoding_pinned = true});
    c.server(cat({parameter_status("standard_conforming_strings", "on"), parameter_status("client_encoding", "UTF8"),
                  ready('I')}));
  }
  bool narrow() {
    return !c.engine().lexing().possible_standard_strings().wide() && !c.engine().lexing().possible_encodings().wide;
  }
  Conversation c;
};

TEST_F(EngineLexingPinned, NarrowAfterTheStartupReports) { EXPECT_TRUE(narrow()); }

TEST_F(EngineLexingPinned, AnExecuteAndFlushKeepItWideUntilSyncIsAnswered) {
  c.client(cat({parse("", "SELECT set_config('standard_conforming_strings', 'off', false)"), bind("", ""),
                execute(""), flush()}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("SELECT 1")}));
  EXPECT_FALSE(narrow());  // no ReadyForQuery yet: the server may read the next text either way
  c.client(sync());
  c.server(cat({parameter_status("standard_conforming_strings", "off"), ready('I')}));
  EXPECT_FALSE(c.engine().lexing().possible_standard_strings().wide());
  EXPECT_FALSE(c.engine().lexing().reported_standard_strings());
}

TEST_F(EngineLexingPinned, APipelinedQueryKeepsItWideUntilItsOwnReadyForQuery) {
  c.client(query("SET client_encoding = 'SJIS'"));
  c.client(query("SELECT 1"));
  c.server(cat({complete("SET"), parameter_status("client_encoding", "SJIS"), ready('I')}));
  EXPECT_FALSE(narrow());  // the second Query is unanswered
  c.server(cat({complete("SELECT 1"), ready('I')}));
  EXPECT_TRUE(narrow());
  EXPECT_EQ(c.engine().lexing().possible_encodings().reported, "SJIS");
}

TEST_F(EngineLexingPinned, AFunctionCallWidensIt) {
  c.client(function_call(952));
  EXPECT_FALSE(narrow());
  Bytes response;
  protocol::append_message(response, be::kFunctionCallResponse, Bytes{0, 0, 0, 0});
  c.server(cat({response, ready('I')}));
  EXPECT_TRUE(narrow());
}

TEST_F(EngineLexingPinned, ARefusedParseCountsAsTheDenialsQuery) {
  // The refused Parse becomes a Query upstream; with the batch's Sync the server answers two
  // ReadyForQuery, and only when both have come is the model narrow again.
  c.client(cat({parse("", kDrop), bind("", ""), execute(""), sync()}));
  c.server(cat({error("42501", c.refusals.at(0).message), ready('I')}));
  EXPECT_FALSE(narrow());
  c.server(ready('I'));
  EXPECT_TRUE(narrow());
}

TEST_F(EngineLexingPinned, AnUnpinnedSettingStaysWideForAReload) {
  Conversation d;
  d.engine().lexing() = protocol::LexingState({.standard_strings_pinned = true});
  d.server(cat({parameter_status("standard_conforming_strings", "on"), parameter_status("client_encoding", "UTF8"),
                ready('I')}));
  EXPECT_TRUE(d.engine().lexing().possible_encodings().wide);  // SIGHUP may change it while idle
  EXPECT_FALSE(d.engine().lexing().possible_standard_strings().wide());
}

// ---- Break-glass scope. ----

struct TokenReading : ::testing::Test {
  std::shared_ptr<const sql::Analysis> read(std::string_view sql) {
    return std::make_shared<const sql::Analysis>(sql::analyze(sql, sql::Policy{}, sql::Detail::all));
  }
  ledger::SessionInfo who{"s-1", "oncall", "app", "127.0.0.1", "psql"};
};

TEST_F(TokenReading, StatementsInTheTokensListAreAllowed) {
  auto a = read(std::string(kDrop) + "; SELECT 1");
  auto r = read_under_token(*a, {a}, {hash_of(kDrop)}, "tok-1", false, false, who);
  EXPECT_TRUE(r.in_scope);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_NE(r.records[0].fields.dump().find("break_glass"), std::string::npos);
}

TEST_F(TokenReading, AnEmptyListAllowsEveryStatement) {
  auto a = read(kDrop);
  EXPECT_TRUE(read_under_token(*a, {a}, {}, "tok-1", false, false, who).in_scope);
}

TEST_F(TokenReading, AStatementOutsideTheListIsNotInScope) {
  auto a = read(std::string(kDrop) + "; " + kCreate);
  auto r = read_under_token(*a, {a}, {hash_of(kDrop)}, "tok-1", false, false, who);
  EXPECT_FALSE(r.in_scope);
  EXPECT_TRUE(r.records.empty());  // controlled ones are left to normal enforcement's records
}

TEST_F(TokenReading, UncontrolledStatementsAreRecordedEitherWay) {
  auto a = read(std::string(kCreate) + "; SELECT 1");
  auto r = read_under_token(*a, {a}, {hash_of(kDrop)}, "tok-1", false, false, who);
  EXPECT_FALSE(r.in_scope);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].type, ledger::RecordType::session_statement);
}

TEST_F(TokenReading, ANamedParseIsNotInScope) {
  auto a = read(kDrop);
  EXPECT_FALSE(read_under_token(*a, {a}, {}, "tok-1", true, false, who).in_scope);
}

TEST_F(TokenReading, AnotherReadingWithAControlledStatementIsNotInScope) {
  // Under standard_conforming_strings = off the backslash escapes the quote and the text is
  // one literal; under on the literal ends at the backslash and the DROP is a statement.
  const char* text = "SELECT 'a\\'; DROP TABLE accounts; --'";
  auto a = std::make_shared<const sql::Analysis>(sql::analyze(
      text, sql::Policy{}, sql::Detail::all, sql::ParseOptions{.standard_conforming_strings = false}));
  auto b = read(text);
  ASSERT_TRUE(a->ok() && !a->any_controlled());
  ASSERT_TRUE(b->ok() && b->any_controlled());
  EXPECT_TRUE(read_under_token(*a, {a}, {}, "tok-1", false, false, who).in_scope);
  EXPECT_FALSE(read_under_token(*a, {a, b}, {}, "tok-1", false, false, who).in_scope);
}

TEST_F(TokenReading, AnExecuteOfAOnceOnlyStatementIsNotInScope) {
  auto a = read("EXECUTE mig");
  EXPECT_FALSE(read_under_token(*a, {a}, {}, "tok-1", false, true, who).in_scope);
}

TEST(EngineBreakGlass, AStatementPreparedUnderATokenRunsOnlyWhileItIsOpen) {
  Conversation c(replay());
  c.open_token = "tok-1";
  auto analysis = sql::analyze(kDrop, sql::Policy{}, sql::Detail::all);
  // As the session does for an in-scope unnamed Parse under a token.
  c.engine().begin_client_message(protocol::fe::kParse);
  stage_break_glass(analysis, true, "tok-1", c.engine().staged());
  Bytes p = parse("", kDrop);
  protocol::FrameScanner s(1 << 20);
  s.inspect(protocol::fe::kParse);
  auto step = s.next(p);
  ASSERT_EQ(step.kind, protocol::ScanStep::Kind::message);
  c.engine().allowed(step);
  c.engine().forward(step);
  c.client(cat({bind("", ""), execute(""), flush()}));
  EXPECT_TRUE(c.refusals.empty());
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), empty(be::kPortalSuspended)}));
  c.open_token.clear();  // reset or expired
  c.client(cat({execute(""), sync()}));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_EQ(c.refusals[0].message, "break-glass ended");
}

TEST(EngineBreakGlass, AnotherTokenDoesNotRunIt) {
  Conversation c(replay());
  auto analysis = sql::analyze(kDrop, sql::Policy{}, sql::Detail::all);
  c.engine().begin_client_message(protocol::fe::kParse);
  stage_break_glass(analysis, true, "tok-1", c.engine().staged());
  Bytes p = parse("", kDrop);
  protocol::FrameScanner s(1 << 20);
  s.inspect(protocol::fe::kParse);
  auto step = s.next(p);
  c.engine().allowed(step);
  c.engine().forward(step);
  c.client(bind("", ""));
  c.open_token = "tok-2";
  c.client(cat({execute(""), sync()}));
  ASSERT_EQ(c.refusals.size(), 1u);
}

TEST(EngineBreakGlass, AQueryUnderATokenIsTrackedByPosition) {
  auto analysis = sql::analyze(std::string("SELECT 1; ") + kDrop, sql::Policy{}, sql::Detail::all);
  Staged staged;
  stage_break_glass(analysis, false, "tok-1", staged);
  ASSERT_EQ(staged.hashes.size(), 2u);
  EXPECT_EQ(staged.hashes[0], "");
  EXPECT_EQ(staged.hashes[1], hash_of(kDrop));
  EXPECT_FALSE(staged.parse);
}

TEST(EngineBreakGlass, AnUncontrolledParseUnderATokenIsRecordedAtItsExecutes) {
  auto analysis = sql::analyze("SELECT 1", sql::Policy{}, sql::Detail::all);
  Staged staged;
  stage_break_glass(analysis, true, "tok-1", staged);
  ASSERT_TRUE(staged.recorded);
  EXPECT_FALSE(staged.parse);
}

}  // namespace
}  // namespace ddlgate::engine::testing
