// engine::decide and risk tiers (issue 28): a statement whose bundle file lacks its tiers'
// signatures is refused like any unapproved one, and the refusal and the ledger say why.
#include <gtest/gtest.h>

#include "conversation.h"

namespace ddlgate::engine {
namespace {

using testing::hash_of;

// No approval in force; one statement withheld for its tier.
class Withheld final : public ApprovalSource {
 public:
  explicit Withheld(std::string_view sql) {
    a_.hash = hash_of(sql);
    a_.app = "shop";
    a_.version = 3;
    a_.file = "002_drop.sql";
    a_.statement_index = 1;
    a_.databases = std::make_shared<const std::vector<std::string>>(1, "app");
    a_.unapproved = "002_drop.sql is not approved: statement 1 (destructive): destructive statement needs 2 approver "
                    "signatures, has 1";
  }
  const bundle::Approval* find_if(std::string_view, std::string_view,
                                  const std::function<bool(const bundle::Approval&)>&) const override {
    return nullptr;
  }
  const bundle::Approval* find_unapproved(std::string_view hash, std::string_view database) const override {
    return hash == a_.hash && bundle::ApprovedSet::covers(a_, database) ? &a_ : nullptr;
  }

 private:
  bundle::Approval a_;
};

Decision decide_one(std::string_view sql, const ApprovalSource& approved, std::string database) {
  Facts facts;
  facts.who.user = "deploy";
  facts.who.database = std::move(database);
  auto reading = std::make_shared<const sql::Analysis>(sql::analyze(sql, sql::Policy{}, sql::Detail::all));
  return decide({reading}, approved, facts, nullptr);
}

TEST(DecideTiers, ARefusalNamesTheTierAndTheMissingSignatures) {
  Withheld approved("DROP TABLE users");
  Decision d = decide_one("DROP TABLE users", approved, "app");
  ASSERT_TRUE(d.denial.has_value());
  EXPECT_EQ(d.denial->sqlstate, "42501");
  EXPECT_NE(d.denial->message.find("is not approved: bundle shop version 3 lists it, but 002_drop.sql is not approved: "
                                   "statement 1 (destructive): destructive statement needs 2 approver signatures, has 1"),
            std::string::npos)
      << d.denial->message;
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_NE(d.records[0].fields.dump().find("destructive statement needs 2 approver signatures, has 1"),
            std::string::npos)
      << d.records[0].fields.dump();
}

TEST(DecideTiers, OtherDatabasesAndStatementsKeepTheUsualReason) {
  Withheld approved("DROP TABLE users");
  Decision other_db = decide_one("DROP TABLE users", approved, "billing");
  ASSERT_TRUE(other_db.denial.has_value());
  EXPECT_NE(other_db.denial->message.find("no signed bundle approves it for database billing"), std::string::npos)
      << other_db.denial->message;
  Decision other = decide_one("DROP TABLE orders", approved, "app");
  ASSERT_TRUE(other.denial.has_value());
  EXPECT_EQ(other.denial->message.find("signatures"), std::string::npos) << other.denial->message;
}

}  // namespace
}  // namespace ddlgate::engine
