// The engine's confirm action (issue 25): what an allowed message asks the database's
// guard to let run, when it cannot be asked (and is refused), and how long each
// confirmation is held: a Query's until its ReadyForQuery, a Parse's with its statement.
#include <gtest/gtest.h>

#include "conversation.h"
#include "ddlgate/engine/sqlstate.h"

namespace ddlgate::engine::testing {
namespace {

namespace be = protocol::be;

constexpr const char* kPath = "\"$user\", public";
constexpr const char* kCreate = "CREATE TABLE t (id int)";
constexpr const char* kAlter = "ALTER TABLE t ADD COLUMN n text";
constexpr const char* kQualified = "CREATE TABLE app.t (id pg_catalog.int4)";

Options guarded() {
  Options o;
  o.guard = true;
  return o;
}

TEST(EngineGuard, AnAllowedQueryIsConfirmedWithItsTagsRoleAndSearchPath) {
  Conversation c(guarded());
  c.approvals.approve(kCreate, "app", false, false, kPath);
  c.approvals.approve(kAlter, "app", false, false, kPath);
  const std::string text = std::string(kCreate) + "; " + kAlter;
  EXPECT_EQ(c.client(query(text)), query(text));
  ASSERT_TRUE(c.refusals.empty());
  ASSERT_EQ(c.confirmations.size(), 1u);
  const Confirmation& k = c.confirmations[0];
  EXPECT_EQ(k.tags, (std::vector<std::string>{"CREATE TABLE", "ALTER TABLE"}));
  EXPECT_EQ(k.role, "deployer");
  EXPECT_EQ(k.search_path, std::optional<std::string>(kPath));
  EXPECT_EQ(k.text_sha256, base::sha256_hex(text)) << "the bytes the server sees, the whole Query";
}

TEST(EngineGuard, AQueryIsConfirmedUntilItsReadyForQuery) {
  Conversation c(guarded());
  c.approvals.approve(kCreate, "app", false, false, kPath);
  c.client(query(kCreate));
  ASSERT_EQ(c.confirmations.size(), 1u);
  c.server(complete("CREATE TABLE"));
  EXPECT_TRUE(c.released->empty()) << "still running: a later command of the message may start";
  c.server(ready('I'));
  EXPECT_EQ(*c.released, (std::vector<std::size_t>{1}));
}

TEST(EngineGuard, PipelinedQueriesAreReleasedEachAtItsOwnReadyForQuery) {
  Conversation c(guarded());
  c.approvals.approve(kCreate, "app", false, false, kPath);
  c.approvals.approve(kAlter, "app", false, false, kPath);
  c.client(cat({query(kCreate), query(kAlter)}));
  ASSERT_EQ(c.confirmations.size(), 2u);
  c.server(cat({complete("CREATE TABLE"), ready('I')}));
  EXPECT_EQ(*c.released, (std::vector<std::size_t>{1}));
  c.server(cat({complete("ALTER TABLE"), ready('I')}));
  EXPECT_EQ(*c.released, (std::vector<std::size_t>{1, 2}));
}

TEST(EngineGuard, AParseIsConfirmedUntilItsStatementIsClosed) {
  Conversation c(guarded());
  c.approvals.approve(kCreate, "app", false, false, kPath);
  c.client(cat({parse("s1", kCreate), bind("", "s1"), execute(""), sync()}));
  ASSERT_EQ(c.confirmations.size(), 1u);
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("CREATE TABLE"), ready('I')}));
  EXPECT_TRUE(c.released->empty()) << "a named statement may be executed again";
  c.client(cat({close('S', "s1"), sync()}));
  EXPECT_TRUE(c.released->empty()) << "the server has not closed it yet";
  c.server(cat({empty(be::kCloseComplete), ready('I')}));
  EXPECT_EQ(*c.released, (std::vector<std::size_t>{1}));
}

TEST(EngineGuard, AParseIsReleasedWhenItsNameIsReusedOrTheSessionEnds) {
  Conversation c(guarded());
  c.approvals.approve(kCreate, "app", false, false, kPath);
  c.approvals.approve(kAlter, "app", false, false, kPath);
  c.client(cat({parse("", kCreate), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I')}));
  c.client(cat({parse("", "SELECT 1"), sync()}));
  EXPECT_EQ(*c.released, (std::vector<std::size_t>{1})) << "the unnamed statement was replaced";
  c.client(cat({parse("s2", kAlter), sync()}));
  c.server(cat({empty(be::kParseComplete), ready('I'), empty(be::kParseComplete), ready('I')}));
  c.end();
  EXPECT_EQ(*c.released, (std::vector<std::size_t>{1, 2}));
}

TEST(EngineGuard, ADeniedMessageIsNotConfirmed) {
  Conversation c(guarded());
  c.approvals.approve(kCreate, "app", false, false, kPath);
  c.client(query(std::string(kCreate) + "; DROP TABLE accounts"));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_TRUE(c.confirmations.empty());
}

TEST(EngineGuard, AnUnqualifiedStatementOfABundleWithoutSearchPathIsRefused) {
  Conversation c(guarded());
  c.approvals.approve(kCreate);  // no search_path: a bundle older than format 2's field
  c.client(query(kCreate));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_EQ(c.refusals[0].sqlstate, kInsufficientPrivilege);
  EXPECT_NE(c.refusals[0].message.find("does not record the search_path"), std::string::npos) << c.refusals[0].message;
  EXPECT_TRUE(c.confirmations.empty());
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].fields.value("decision", std::string()), "denied");
}

TEST(EngineGuard, AQualifiedStatementIsConfirmedForAnySearchPath) {
  Conversation c(guarded());
  c.approvals.approve(kQualified);  // no search_path, and none needed
  c.client(query(kQualified));
  ASSERT_TRUE(c.refusals.empty()) << c.refusals[0].message;
  ASSERT_EQ(c.confirmations.size(), 1u);
  EXPECT_EQ(c.confirmations[0].search_path, std::nullopt);
}

TEST(EngineGuard, StatementsReviewedUnderDifferentSearchPathsAreRefused) {
  Conversation c(guarded());
  c.approvals.approve(kCreate, "app", false, false, kPath);
  c.approvals.approve(kAlter, "app", false, false, "billing");
  c.client(query(std::string(kCreate) + "; " + kAlter));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_NE(c.refusals[0].message.find("different search_paths"), std::string::npos) << c.refusals[0].message;
}

TEST(EngineGuard, AGuardThatCannotConfirmRefusesWith58000AndReleasesTheReservation) {
  Options o = guarded();
  o.replay_protection = true;
  o.guard_unavailable = "no control connection to database app: connection refused";
  Conversation c(o);
  c.approvals.approve(kCreate, "app", false, false, kPath);
  c.client(query(kCreate));
  ASSERT_EQ(c.refusals.size(), 1u);
  EXPECT_EQ(c.refusals[0].sqlstate, kGuardUnavailable);
  EXPECT_NE(c.refusals[0].message.find("connection refused"), std::string::npos);
  EXPECT_TRUE(c.approvals.reserved.empty());
  EXPECT_TRUE(c.approvals.spent.empty());
}

TEST(EngineGuard, WithoutTheGuardNothingIsConfirmed) {
  Conversation c;
  c.approvals.approve(kCreate);
  c.client(query(kCreate));
  EXPECT_TRUE(c.refusals.empty());
  EXPECT_TRUE(c.confirmations.empty());
}

// Issue 28 item 3: enforcement.lock_timeout_for_blocking travels with the confirmation of a
// message that blocks reads or writes of an existing table (lint's lock analysis), only then.
Options locking(std::uint32_t ms = 1000) {
  Options o = guarded();
  o.lock_timeout_for_blocking_ms = ms;
  return o;
}

std::uint32_t confirmed_lock_timeout(const Options& o, const std::vector<std::string>& approved, const std::string& text,
                                     bool extended = false) {
  Conversation c(o);
  for (const auto& a : approved) c.approvals.approve(a, "app", false, false, kPath);
  if (extended) c.client(cat({parse("", text), bind("", ""), execute(""), sync()}));
  else c.client(query(text));
  EXPECT_TRUE(c.refusals.empty()) << text;
  EXPECT_EQ(c.confirmations.size(), 1u) << text;
  return c.confirmations.empty() ? 0xffffffffu : c.confirmations[0].lock_timeout_ms;
}

TEST(EngineGuardLockTimeout, ABlockingStatementCarriesTheConfiguredTimeout) {
  EXPECT_EQ(confirmed_lock_timeout(locking(), {kAlter}, kAlter), 1000u) << "ADD COLUMN: AccessExclusiveLock";
  EXPECT_EQ(confirmed_lock_timeout(locking(2500), {kAlter}, kAlter, true), 2500u) << "a Parse too";
  const std::string index = "CREATE INDEX t_n ON t (n)";
  EXPECT_EQ(confirmed_lock_timeout(locking(), {index}, index), 1000u) << "ShareLock blocks writes";
  const std::string fk = "ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (id) REFERENCES u (id)";
  EXPECT_EQ(confirmed_lock_timeout(locking(), {fk}, fk), 1000u);
  // One blocking statement in the message is enough (the setting lasts for its transaction).
  const std::string other = "CREATE TABLE u (id int)";
  EXPECT_EQ(confirmed_lock_timeout(locking(), {other, kAlter}, other + "; " + kAlter), 1000u);
  // ... but t made by the same message is no existing table.
  EXPECT_EQ(confirmed_lock_timeout(locking(), {kCreate, kAlter}, std::string(kCreate) + "; " + kAlter), 0u);
}

TEST(EngineGuardLockTimeout, ANonBlockingStatementCarriesNone) {
  EXPECT_EQ(confirmed_lock_timeout(locking(), {kCreate}, kCreate), 0u) << "a new table";
  const std::string concurrently = "CREATE INDEX CONCURRENTLY t_n ON t (n)";
  EXPECT_EQ(confirmed_lock_timeout(locking(), {concurrently}, concurrently), 0u) << "ShareUpdateExclusiveLock";
  const std::string comment = "COMMENT ON COLUMN t.n IS 'why'";
  EXPECT_EQ(confirmed_lock_timeout(locking(), {comment}, comment), 0u);
  // A table created earlier in the same message is not an existing one.
  const std::string index = "CREATE INDEX t2_n ON t2 (n)";
  const std::string create = "CREATE TABLE t2 (n int)";
  EXPECT_EQ(confirmed_lock_timeout(locking(), {create, index}, create + "; " + index), 0u);
  // Off: the same blocking statement carries none.
  EXPECT_EQ(confirmed_lock_timeout(locking(0), {kAlter}, kAlter), 0u);
}

TEST(EngineGuardLockTimeout, WhatLintCannotReadCountsAsBlocking) {
  EXPECT_FALSE(blocks_existing_tables({}));
  sql::Statement unreadable;
  unreadable.display_sql = "ALTER TABLE t ADD COLUMN";
  EXPECT_TRUE(blocks_existing_tables({&unreadable}));
  sql::Statement none;  // no display SQL
  EXPECT_TRUE(blocks_existing_tables({&none}));
  sql::Statement create;
  create.display_sql = kCreate;
  EXPECT_FALSE(blocks_existing_tables({&create}));
  sql::Statement two;  // two statements where one was expected
  two.display_sql = std::string(kCreate) + "; " + kAlter;
  EXPECT_TRUE(blocks_existing_tables({&two}));
}

// A statement ddlgate does not control that the server fires event triggers for (an
// application's REFRESH MATERIALIZED VIEW): confirmed too, or an enforcing guard refuses it.
TEST(EngineGuard, ARefreshIsConfirmedThoughNothingApprovesIt) {
  Conversation c(guarded());
  const std::string refresh = "REFRESH MATERIALIZED VIEW m";
  EXPECT_EQ(c.client(query(refresh)), query(refresh));
  ASSERT_TRUE(c.refusals.empty()) << c.refusals[0].message;
  EXPECT_TRUE(c.records.empty()) << "nothing controlled: nothing to record";
  ASSERT_EQ(c.confirmations.size(), 1u);
  EXPECT_EQ(c.confirmations[0].tags, (std::vector<std::string>{"REFRESH MATERIALIZED VIEW"}));
  EXPECT_EQ(c.confirmations[0].search_path, std::nullopt);
  EXPECT_EQ(c.confirmations[0].text_sha256, base::sha256_hex(refresh));
  c.server(cat({complete("REFRESH MATERIALIZED VIEW"), ready('I')}));
  EXPECT_EQ(*c.released, (std::vector<std::size_t>{1}));
  // Maintenance the server fires no event trigger for, and reads, are not confirmed.
  c.client(query("VACUUM t; SELECT 1"));
  EXPECT_EQ(c.confirmations.size(), 1u);
}

TEST(EngineGuard, APreparedRefreshKeepsItsConfirmationUntilClosed) {
  Conversation c(guarded());
  c.client(cat({parse("r", "REFRESH MATERIALIZED VIEW CONCURRENTLY m"), bind("", "r"), execute(""), sync()}));
  ASSERT_EQ(c.confirmations.size(), 1u);
  // CONCURRENTLY: the server builds, alters and drops a temporary diff table inside it.
  EXPECT_EQ(c.confirmations[0].tags, (std::vector<std::string>{"REFRESH MATERIALIZED VIEW", "CREATE TABLE",
                                                                "ALTER TABLE", "DROP TABLE"}));
  c.server(cat({empty(be::kParseComplete), empty(be::kBindComplete), complete("REFRESH MATERIALIZED VIEW"),
                ready('I')}));
  EXPECT_TRUE(c.released->empty()) << "the named statement may run again";
  c.client(cat({close('S', "r"), sync()}));
  c.server(cat({empty(be::kCloseComplete), ready('I')}));
  EXPECT_EQ(*c.released, (std::vector<std::size_t>{1}));
}

TEST(EngineGuard, AnApprovedChangeAndARefreshAreConfirmedTogetherInOrder) {
  Conversation c(guarded());
  c.approvals.approve(kCreate, "app", false, false, kPath);
  const std::string text = std::string("REFRESH MATERIALIZED VIEW m; ") + kCreate;
  EXPECT_EQ(c.client(query(text)), query(text));
  ASSERT_EQ(c.confirmations.size(), 1u);
  EXPECT_EQ(c.confirmations[0].tags, (std::vector<std::string>{"REFRESH MATERIALIZED VIEW", "CREATE TABLE"}));
  EXPECT_EQ(c.confirmations[0].search_path, std::optional<std::string>(kPath));
  // Without a guard, nothing is confirmed and the REFRESH is not decided at all.
  Conversation plain;
  plain.client(query("REFRESH MATERIALIZED VIEW m"));
  EXPECT_TRUE(plain.confirmations.empty());
  EXPECT_TRUE(plain.records.empty());
}

}  // namespace
}  // namespace ddlgate::engine::testing
