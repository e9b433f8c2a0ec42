// engine::SpentHistory: which approvals a ledger's records show spent (replay protection).
#include "ddlgate/engine/spent.h"

#include <gtest/gtest.h>

#include "ddlgate/engine/decide.h"

namespace ddlgate::engine {
namespace {

ledger::ParsedRecord parsed(const ledger::Record& r) {
  ledger::ParsedRecord p;
  p.type = r.type;
  p.fields = r.fields;
  return p;
}

ledger::ParsedRecord allowed(const char* session, const char* hash, std::uint64_t statement, const char* spend,
                             ledger::Decision decision = ledger::Decision::allowed) {
  ledger::DecisionInfo d;
  d.decision = decision;
  d.session = {session, "deploy", "shop", "10.0.0.1:5000", "migrate"};
  d.statement_hash = hash;
  d.statement_class = "schema_change";
  d.display_sql = "CREATE TABLE t (id int)";
  if (decision == ledger::Decision::allowed) d.approval = ledger::Approval{"shop", "3", "001.sql", statement};
  d.spend = spend;
  return parsed(ledger::decision(d));
}

ledger::ParsedRecord outcome(const char* session, const char* hash, const char* what) {
  ledger::ParsedRecord p;
  p.type = ledger::RecordType::outcome;
  p.fields = {{"session_id", session}, {"statement_hash", hash}, {"outcome", what}};
  return p;
}

TEST(SpentHistory, DecisionsAndOutcomesSpendApprovals) {
  SpentHistory h;
  h.read(allowed("s1", "sha256:a", 1, "at_decision"));  // spent at once
  h.read(allowed("s1", "sha256:b", 2, "on_commit"));
  h.read(outcome("s1", "sha256:b", "executed"));         // committed: spent
  h.read(allowed("s2", "sha256:c", 3, "on_commit"));
  h.read(outcome("s2", "sha256:c", "rolled_back"));      // did not apply: not spent
  h.read(allowed("s3", "sha256:d", 4, "on_commit"));     // no outcome before the end: spent (fail closed)
  h.read(allowed("s4", "sha256:e", 5, ""));               // replay protection off: nothing to spend
  auto spent = h.take();
  auto key = [](std::uint64_t i) { return approval_key("shop", "shop", "3", "001.sql", i); };
  EXPECT_EQ(spent.count(key(1)), 1u);
  EXPECT_EQ(spent.count(key(2)), 1u);
  EXPECT_EQ(spent.count(key(3)), 0u);
  EXPECT_EQ(spent.count(key(4)), 1u);
  EXPECT_EQ(spent.count(key(5)), 0u);
  EXPECT_EQ(spent.size(), 3u);
  EXPECT_TRUE(h.take().empty());  // handed over
}

// A down approval (issue 26 item 6) is recorded with "part": "down" and read back under its own
// key, so that a restart keeps a spent rollback spent and leaves the up approval alone.
TEST(SpentHistory, ADownApprovalIsSpentUnderItsOwnKey) {
  ledger::DecisionInfo d;
  d.decision = ledger::Decision::allowed;
  d.session = {"s1", "deploy", "shop", "10.0.0.1:5000", "migrate"};
  d.statement_hash = "sha256:d";
  d.statement_class = "schema_change";
  d.display_sql = "DROP TABLE t";
  d.approval = ledger::Approval{"shop", "3", "001.sql", 1, true};
  d.spend = "at_decision";
  SpentHistory h;
  h.read(parsed(ledger::decision(d)));
  auto spent = h.take();
  EXPECT_EQ(spent.size(), 1u);
  EXPECT_EQ(spent.count(approval_key("shop", "shop", "3", "001.sql", 1, true)), 1u);
  EXPECT_EQ(spent.count(approval_key("shop", "shop", "3", "001.sql", 1, false)), 0u);
}

}  // namespace
}  // namespace ddlgate::engine
