// Risk tiers in the signed bundle (issue 28 item 2, docs/bundles.md "Risk tiers"): what
// `bundle build` writes, what verification recomputes and refuses, and which files the trust
// policy's [tiers] leave unapproved.
#include <algorithm>

#include <gtest/gtest.h>

#include "bundle_support.h"
#include "ddlgate/bundle/recorded.h"
#include "ddlgate/bundle/registry.h"
#include "ddlgate/sql/analyze.h"

using namespace bundle_test;

namespace {

// 001 creates two tables and an index on one of them (created in the bundle: not blocking);
// 002 adds a table and drops a column of one the bundle did not create (destructive; the same
// drop on users would not be: users is created by 001); 003 adds a nullable column.
void write_migrations(const fs::path& src) {
  fs::create_directories(src);
  spit(src / "001_create.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"
                               "CREATE TABLE notes (id bigint PRIMARY KEY, body text);\n"
                               "CREATE INDEX notes_body ON notes (body);\n");
  spit(src / "002_drop.sql", "CREATE TABLE audit (id bigint PRIMARY KEY);\nALTER TABLE accounts DROP COLUMN email;\n");
  spit(src / "003_add.sql", "ALTER TABLE notes ADD COLUMN title text;\n");
}

class Tiers : public ::testing::Test {
 protected:
  fs::path src() const { return scratch_.path() / "src"; }
  fs::path out() const { return scratch_.path() / "registry" / "shop-1"; }

  // Builds (format 2 unless told) and returns the manifest.
  Manifest build(std::string_view format = kBundleFormat) {
    write_migrations(src());
    fs::create_directories(out().parent_path());
    BuildOptions o = options(src(), out());
    o.format = format;
    BuildResult r = build_bundle(o);
    EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front().to_string());
    return r.manifest;
  }
  // Rewrites the manifest (and drops every signature: they covered the old bytes).
  void rewrite(const std::function<void(Manifest&)>& change) {
    std::vector<Problem> problems;
    auto m = parse_manifest(slurp(out() / "manifest.json"), &problems);
    ASSERT_TRUE(m.has_value());
    change(*m);
    spit(out() / "manifest.json", serialize_manifest(*m));
    fs::remove_all(out() / "signatures");
  }
  void sign(std::initializer_list<const SigningKey*> approvers) {
    ASSERT_TRUE(sign_bundle(out(), *keys_.registry, "registry"));
    for (const auto* k : approvers) ASSERT_TRUE(sign_bundle(out(), *k, "approver"));
  }
  // 2 of 3 approvers as the base threshold, and [tiers.destructive] approver = 3.
  TrustAnchors tiered(std::uint32_t destructive = 3) const {
    TrustAnchors t = keys_.trust();
    t.tiers.push_back({"destructive", "approver", destructive});
    return t;
  }
  static std::string problems_text(const LoadBundleResult& r) {
    std::string out;
    for (const auto& p : r.problems) out += p.to_string() + "\n";
    return out;
  }

  Scratch scratch_;
  Keys keys_;
};

TEST_F(Tiers, BuildWritesTheAnalysisEachStatementsTierAndRules) {
  Manifest m = build();
  EXPECT_EQ(m.analysis, kTierAnalysis);
  ASSERT_EQ(m.files.size(), 3u);
  ASSERT_EQ(m.files[0].statements.size(), 3u);
  for (const auto& st : m.files[0].statements) EXPECT_EQ(st.tier, "additive") << st.sql;
  // The index is on a table the bundle created: no blocking lock on an existing table.
  ASSERT_EQ(m.files[1].statements.size(), 2u);
  EXPECT_EQ(m.files[1].statements[0].tier, "additive");
  EXPECT_EQ(m.files[1].statements[1].tier, "destructive");
  EXPECT_FALSE(m.files[1].statements[1].rules.empty());
  EXPECT_TRUE(m.files[1].statements[1].risk.empty());  // the old informational field is not written
  // What was written reads back the same.
  std::vector<Problem> problems;
  auto again = parse_manifest(slurp(out() / "manifest.json"), &problems);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->analysis, kTierAnalysis);
  EXPECT_EQ(again->files[1].statements[1].tier, "destructive");
  EXPECT_EQ(again->files[1].statements[1].rules, m.files[1].statements[1].rules);
}

TEST_F(Tiers, ATrustPolicyWithoutTiersApprovesEveryFileAsBefore) {
  build();
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto r = load_bundle(out(), keys_.trust(), verify_options());
  ASSERT_TRUE(r.ok()) << problems_text(r);
  for (const auto& u : r.bundle->unapproved_up) EXPECT_EQ(u, "");
}

TEST_F(Tiers, AClaimedLowerTierIsRefused) {
  build();
  rewrite([](Manifest& m) { m.files[1].statements[1].tier = "additive"; });
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto r = load_bundle(out(), keys_.trust(), verify_options());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(problems_text(r).find("files/002_drop.sql: statement 2: the manifest claims tier additive, the analysis "
                                  "gives destructive"),
            std::string::npos)
      << problems_text(r);
  // Lower by rank, not only "not the same": privilege is below destructive.
  rewrite([](Manifest& m) { m.files[1].statements[1].tier = "privilege"; });
  sign({keys_.approver1.get(), keys_.approver2.get()});
  EXPECT_FALSE(load_bundle(out(), keys_.trust(), verify_options()).ok());
}

TEST_F(Tiers, AClaimedHigherTierIsAcceptedAndAsksForItsSignatures) {
  build();
  rewrite([](Manifest& m) { m.files[2].statements[0].tier = "destructive"; });
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto plain = load_bundle(out(), keys_.trust(), verify_options());
  ASSERT_TRUE(plain.ok()) << problems_text(plain);
  auto r = load_bundle(out(), tiered(), verify_options());
  ASSERT_TRUE(r.ok()) << problems_text(r);
  EXPECT_EQ(r.bundle->unapproved_up[2], "statement 1 (destructive): destructive statement needs 3 approver signatures, has 2");
}

TEST_F(Tiers, RulesOtherThanTheAnalysisFindsAreRefused) {
  build();
  rewrite([](Manifest& m) { m.files[1].statements[1].rules.clear(); });
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto r = load_bundle(out(), keys_.trust(), verify_options());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(problems_text(r).find("statement 2: the manifest lists rules none, the analysis finds DG-"), std::string::npos)
      << problems_text(r);
}

TEST_F(Tiers, AnUnknownAnalysisAndTiersWithoutAnAnalysisAreRefused) {
  build();
  rewrite([](Manifest& m) { m.analysis = "ddlgate-lint/0"; });
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto r = load_bundle(out(), keys_.trust(), verify_options());
  EXPECT_NE(problems_text(r).find("analysis 'ddlgate-lint/0' is not the one this ddlgate computes"), std::string::npos)
      << problems_text(r);
  rewrite([](Manifest& m) { m.analysis.clear(); });
  sign({keys_.approver1.get(), keys_.approver2.get()});
  r = load_bundle(out(), keys_.trust(), verify_options());
  EXPECT_NE(problems_text(r).find("has a tier, and the manifest names no analysis"), std::string::npos)
      << problems_text(r);
  rewrite([](Manifest& m) {
    m.analysis = std::string(kTierAnalysis);
    m.files[0].statements[1].tier.clear();
  });
  sign({keys_.approver1.get(), keys_.approver2.get()});
  r = load_bundle(out(), keys_.trust(), verify_options());
  EXPECT_NE(problems_text(r).find("statement 2: has no tier, and the manifest names analysis"), std::string::npos)
      << problems_text(r);
  // A tier that is no tier does not even parse.
  std::vector<Problem> problems;
  std::string text = slurp(out() / "manifest.json");
  auto at = text.find("\"additive\"");  // only a tier says that
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 10, "\"harmless\"");
  EXPECT_FALSE(parse_manifest(text, &problems).has_value());
}

TEST_F(Tiers, AFileIsApprovedWholeOrNotAtAll) {
  Manifest m = build();
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto r = load_bundle(out(), tiered(), verify_options());
  ASSERT_TRUE(r.ok()) << problems_text(r);
  EXPECT_EQ(r.bundle->unapproved_up[0], "");
  EXPECT_EQ(r.bundle->unapproved_up[1], "statement 2 (destructive): destructive statement needs 3 approver signatures, has 2");
  EXPECT_EQ(r.bundle->unapproved_up[2], "");

  // In the registry: the additive CREATE TABLE of 002 is not approved either, and says why.
  VerifyOptions o = verify_options();
  RegistryLoad load = Registry::load(out().parent_path(), tiered(), o, nullptr);
  ASSERT_EQ(load.accepted.size(), 1u);
  ASSERT_EQ(load.accepted[0].unapproved.size(), 1u);
  EXPECT_EQ(load.accepted[0].unapproved[0].where, "files/002_drop.sql");
  const auto& set = *load.snapshot;
  EXPECT_NE(set.find(m.files[0].statements[0].hash, "shop"), nullptr);
  EXPECT_NE(set.find(m.files[2].statements[0].hash, "shop"), nullptr);
  for (const auto& st : m.files[1].statements) {
    EXPECT_EQ(set.find(st.hash, "shop"), nullptr) << st.sql;
    const Approval* u = set.find_unapproved(st.hash, "shop");
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->unapproved, "002_drop.sql is not approved: statement 2 (destructive): destructive statement needs 3 "
                             "approver signatures, has 2");
    EXPECT_EQ(set.find_unapproved(st.hash, "billing"), nullptr);  // the bundle's scope still holds
  }
  EXPECT_EQ(set.size(), 4u);  // 001's three and 003's one

  // The third approver's signature approves the whole bundle.
  sign({keys_.approver3.get()});
  auto all = load_bundle(out(), tiered(), verify_options());
  ASSERT_TRUE(all.ok()) << problems_text(all);
  for (const auto& u : all.bundle->unapproved_up) EXPECT_EQ(u, "");
}

TEST_F(Tiers, ATierRequirementBelowTheBaseThresholdChangesNothing) {
  build();
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto r = load_bundle(out(), tiered(1), verify_options());
  ASSERT_TRUE(r.ok()) << problems_text(r);
  for (const auto& u : r.bundle->unapproved_up) EXPECT_EQ(u, "");
}

TEST_F(Tiers, FormatOneBundlesLoadAndAreTieredByTheVerifiersAnalysis) {
  Manifest m = build(kBundleFormat1);
  EXPECT_TRUE(m.analysis.empty());
  for (const auto& f : m.files) {
    for (const auto& st : f.statements) EXPECT_TRUE(st.tier.empty());
  }
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto plain = load_bundle(out(), keys_.trust(), verify_options());
  ASSERT_TRUE(plain.ok()) << problems_text(plain);
  for (const auto& u : plain.bundle->unapproved_up) EXPECT_EQ(u, "");
  // It claims nothing, so nothing is refused; the policy's [tiers] apply to what the analysis finds.
  auto r = load_bundle(out(), tiered(), verify_options());
  ASSERT_TRUE(r.ok()) << problems_text(r);
  EXPECT_EQ(r.bundle->unapproved_up[1], "statement 2 (destructive): destructive statement needs 3 approver signatures, has 2");
}

TEST_F(Tiers, AReloadOfAnAcceptedBundleStillCountsTiers) {
  build();
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto first = load_bundle(out(), tiered(), verify_options());
  ASSERT_TRUE(first.ok()) << problems_text(first);
  std::vector<std::string> verified{first.bundle->manifest_sha256};
  VerifyOptions o = verify_options();
  o.statements_verified_for = &verified;
  auto again = load_bundle(out(), tiered(), o);
  ASSERT_TRUE(again.ok()) << problems_text(again);
  EXPECT_EQ(again.bundle->unapproved_up, first.bundle->unapproved_up);
}

// A down part is tiered on its own (every table it does not create is existing) and approved
// apart from its up part: the dbmate sample's downs drop a table and a column.
TEST_F(Tiers, ADownPartCountsApartFromItsUpPart) {
  fs::create_directories(out().parent_path());
  BuildOptions o = options(kMigrations / "dbmate", out());
  o.tool = MigrationTool::dbmate;
  BuildResult built = build_bundle(o);
  ASSERT_TRUE(built.ok()) << built.problems.front().to_string();
  const Manifest& m = built.manifest;
  ASSERT_TRUE(m.files[0].down.has_value());
  EXPECT_EQ(m.files[0].down->statements[0].tier, "destructive");  // drop table users
  EXPECT_NE(m.files[0].statements[0].tier, "destructive");         // create table users
  sign({keys_.approver1.get(), keys_.approver2.get()});
  auto r = load_bundle(out(), tiered(), verify_options());
  ASSERT_TRUE(r.ok()) << problems_text(r);
  EXPECT_EQ(r.bundle->unapproved_up[0], "");
  EXPECT_EQ(r.bundle->unapproved_down[0],
            "statement 1 (destructive): destructive statement needs 3 approver signatures, has 2");
  RegistryLoad load = Registry::load(out().parent_path(), tiered(), verify_options(), nullptr);
  ASSERT_EQ(load.accepted.size(), 1u);
  const auto& set = *load.snapshot;
  EXPECT_NE(set.find(m.files[0].statements[0].hash, "shop"), nullptr);
  EXPECT_EQ(set.find(m.files[0].down->statements[0].hash, "shop"), nullptr);
  const Approval* u = set.find_unapproved(m.files[0].down->statements[0].hash, "shop");
  ASSERT_NE(u, nullptr);
  EXPECT_TRUE(u->down);
  EXPECT_EQ(u->unapproved.rfind(m.files[0].down->path + " (down part) is not approved: statement 1 (destructive)", 0), 0u)
      << u->unapproved;
}

// A recorded bundle's repeatable statement is a file statement of repeatable.sql too; when that
// file lacks its tier's signatures, its bookkeeping approval is withheld with it, so a
// repeatable DROP cannot slip past [tiers.destructive].
TEST_F(Tiers, ABookkeepingStatementOfAnUnapprovedRecordedFileIsWithheld) {
  auto statement = [](const std::string& text) {
    Analysis a = analyze(text, Policy{}, Detail::all);
    EXPECT_TRUE(a.ok() && a.statements.size() == 1) << text;
    RecordedStatement st;
    st.database = "shop_scratch";
    st.role = "deploy";
    st.session = 1;
    st.search_path = "\"$user\", public";
    st.cls = a.statements[0].cls;
    st.hash = a.statements[0].hash;
    st.sql = a.statements[0].display_sql;
    return st;
  };
  Recording rec;
  rec.statements = {statement("CREATE TABLE IF NOT EXISTS history (id int)"), statement("DROP TABLE legacy")};
  rec.repeatable = rec.statements;
  fs::create_directories(src());
  spit(src() / kRecordingIndex, recording_index_json(rec));
  spit(src() / kRecordedFile, recorded_sql_text(rec.statements, "first run"));
  spit(src() / kRepeatableFile, recorded_sql_text(rec.repeatable, "second run"));
  fs::create_directories(out().parent_path());
  BuildResult built = build_bundle(options(src(), out()));
  ASSERT_TRUE(built.ok()) << built.problems.front().to_string();
  ASSERT_EQ(built.manifest.tool, MigrationTool::recorded);
  ASSERT_EQ(built.manifest.bookkeeping.size(), 2u);
  sign({keys_.approver1.get(), keys_.approver2.get()});
  RegistryLoad load = Registry::load(out().parent_path(), tiered(), verify_options(), nullptr);
  ASSERT_EQ(load.accepted.size(), 1u);
  EXPECT_EQ(load.accepted[0].unapproved.size(), 2u);  // recorded.sql and repeatable.sql
  const std::string drop = built.manifest.bookkeeping[1].hash;
  EXPECT_EQ(load.snapshot->find(drop, "shop"), nullptr);
  const Approval* u = load.snapshot->find_unapproved(drop, "shop");
  ASSERT_NE(u, nullptr);
  EXPECT_NE(u->unapproved.find("destructive statement needs 3 approver signatures, has 2"), std::string::npos)
      << u->unapproved;
  // The history table's CREATE ... IF NOT EXISTS is in the same unapproved files: withheld too.
  EXPECT_EQ(load.snapshot->find(built.manifest.bookkeeping[0].hash, "shop"), nullptr);
  // Without [tiers], both are approved as before.
  RegistryLoad plain = Registry::load(out().parent_path(), keys_.trust(), verify_options(), nullptr);
  EXPECT_NE(plain.snapshot->find(drop, "shop"), nullptr);
  EXPECT_NE(plain.snapshot->find(built.manifest.bookkeeping[0].hash, "shop"), nullptr);
}

TEST_F(Tiers, TrustAnchorsRefuseATierTheirKeysCannotMeet) {
  ddlgate::config::TrustPolicy policy;
  policy.roles.push_back({"approver", 1, {"not a key", base64_encode(std::string_view(
                                                           reinterpret_cast<const char*>(keys_.approver1->public_key().data()), 32))}});
  policy.tiers.push_back({"destructive", "approver", 2});
  std::vector<Problem> problems;
  TrustAnchors::from_config(policy, &problems);
  EXPECT_TRUE(std::any_of(problems.begin(), problems.end(), [](const Problem& p) {
    return p.where == "tiers.destructive.approver" && p.message == "2 signatures cannot be met by 1 usable keys";
  }));
}

}  // namespace
