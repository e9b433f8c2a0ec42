// Every statement node type of PG15's parse tree has a rule chosen on purpose:
// the list comes from libpg_query's own pg_query.proto, read at test time.
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "classify.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::sql {
namespace {

// The message names of the members of `message Node { oneof node { ... } }`.
std::vector<std::string> node_oneof_members() {
  std::ifstream in(DDLGATE_PG_QUERY_PROTO);
  EXPECT_TRUE(in) << "cannot open " << DDLGATE_PG_QUERY_PROTO;
  std::vector<std::string> out;
  std::string line;
  bool in_node = false;
  bool in_oneof = false;
  const std::regex member(R"(^\s*([A-Za-z_0-9]+)\s+[a-z_0-9]+\s*=\s*\d+)");
  while (std::getline(in, line)) {
    if (!in_node) {
      in_node = line.rfind("message Node", 0) == 0;
      continue;
    }
    if (!in_oneof) {
      in_oneof = line.find("oneof node") != std::string::npos;
      continue;
    }
    if (line.find('}') != std::string::npos) break;
    std::smatch m;
    if (std::regex_search(line, m, member)) out.push_back(m[1]);
  }
  return out;
}

bool ends_with_stmt(const std::string& s) { return s.size() > 4 && s.compare(s.size() - 4, 4, "Stmt") == 0; }

TEST(PolicyNodeTable, EveryStatementNodeOfPg15HasAnExplicitRule) {
  auto members = node_oneof_members();
  ASSERT_GT(members.size(), 200u) << "the Node oneof was not found in the .proto";
  std::size_t statements = 0;
  for (const auto& name : members) {
    if (!ends_with_stmt(name)) continue;
    ++statements;
    auto rule = node_rule(name);
    EXPECT_TRUE(rule.has_value()) << name << " has no classification rule";
    if (rule) {
      EXPECT_FALSE(rule->why.empty()) << name;
    }
  }
  EXPECT_EQ(statements, 117u) << "PG15's Node oneof has 117 *Stmt members; a new libpg_query needs a review";
}

TEST(PolicyNodeTable, NonStatementNodesHaveNoRule) {
  EXPECT_FALSE(node_rule("A_Const").has_value());
  EXPECT_FALSE(node_rule("AlterTableCmd").has_value());
  EXPECT_FALSE(node_rule("NoSuchStmt").has_value());
}

TEST(PolicyNodeTable, FixedRulesMatchTheDesign) {
  EXPECT_EQ(node_rule("TruncateStmt")->fixed, StatementClass::destructive);
  EXPECT_EQ(node_rule("DoStmt")->fixed, StatementClass::code);
  EXPECT_EQ(node_rule("AlterSystemStmt")->fixed, StatementClass::privilege);
  EXPECT_EQ(node_rule("LockStmt")->fixed, StatementClass::write);
  EXPECT_EQ(node_rule("VariableSetStmt")->fixed, StatementClass::session);
  EXPECT_EQ(node_rule("RawStmt")->fixed, StatementClass::unknown);
  EXPECT_FALSE(node_rule("SelectStmt")->fixed.has_value());  // inspected
  EXPECT_FALSE(node_rule("CopyStmt")->fixed.has_value());
}

TEST(PolicyNodeTable, ANodeWithoutARuleIsUnknownAndControlled) {
  PgQuery__Integer integer;
  pg_query__integer__init(&integer);
  PgQuery__Node node;
  pg_query__node__init(&node);
  node.node_case = PG_QUERY__NODE__NODE_INTEGER;
  node.integer = &integer;
  EXPECT_EQ(detail::classify_node(&node).cls, StatementClass::unknown);
  EXPECT_EQ(detail::classify_node(nullptr).cls, StatementClass::unknown);
  Policy lax;
  lax.set_controlled(StatementClass::unknown, false);
  EXPECT_TRUE(lax.controlled(StatementClass::unknown));
}

}  // namespace
}  // namespace ddlgate::sql
