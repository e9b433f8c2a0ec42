#include <gtest/gtest.h>

#include "bundle_support.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/bundle/registry.h"

using namespace bundle_test;

namespace {

std::string hash_of(std::string_view sql) { return analyze(sql, Policy{}, Detail::all).statements.at(0).hash; }

class RegistryTest : public ::testing::Test {
 protected:
  fs::path add(const std::string& name, const char* layout, std::uint64_t version, bool sign = true) {
    fs::path out = scratch_.path() / name;
    BuildResult r = build_bundle(options(kMigrations / layout, out, version));
    EXPECT_TRUE(r.ok());
    if (sign) sign_all(out, keys_);
    return out;
  }
  RegistryLoad load(const ApprovedSet* previous, VerifyOptions o = verify_options()) {
    return Registry::load(scratch_.path(), keys_.trust(), o, previous);
  }
  Scratch scratch_;
  Keys keys_;
};

const std::string kUsers = "create table users (id bigint primary key, email text not null)";

}  // namespace

TEST_F(RegistryTest, FindsApprovedStatementsByHashAndDatabase) {
  add("shop-1", "dbmate", 1);
  RegistryLoad r = load(nullptr);
  ASSERT_TRUE(r.rejected.empty());
  ASSERT_EQ(r.accepted.size(), 1u);
  const Approval* a = r.snapshot->find(hash_of(kUsers), "shop");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->app, "shop");
  EXPECT_EQ(a->version, 1u);
  EXPECT_EQ(a->file, "20240101000000_create_users.sql");
  EXPECT_EQ(a->statement_index, 1u);
  EXPECT_FALSE(a->repeatable);
  EXPECT_EQ(r.snapshot->find(hash_of(kUsers), "other_db"), nullptr);
  EXPECT_EQ(r.snapshot->find(hash_of("drop table accounts"), "shop"), nullptr);
  const Approval* bk = r.snapshot->find(hash_of("insert into public.schema_migrations (version) values ($1)"), "shop");
  ASSERT_NE(bk, nullptr);
  EXPECT_TRUE(bk->repeatable);
}

TEST_F(RegistryTest, ARejectedBundleKeepsThePreviousApprovals) {
  add("shop-1", "dbmate", 1);
  RegistryLoad first = load(nullptr);
  ASSERT_EQ(first.accepted.size(), 1u);
  // The registry is replaced by a tampered version 2.
  fs::remove_all(scratch_.path() / "shop-1");
  fs::path v2 = add("shop-2", "goose", 2);
  spit(v2 / "files" / "20240102120000_orders.sql", "-- +goose Up\nDROP TABLE accounts;\n");
  RegistryLoad second = load(first.snapshot.get());
  ASSERT_EQ(second.rejected.size(), 1u);
  EXPECT_EQ(second.rejected[0].path, v2);
  EXPECT_NE(second.snapshot->find(hash_of(kUsers), "shop"), nullptr);
  EXPECT_EQ(second.snapshot->find(hash_of("DROP TABLE accounts"), "shop"), nullptr);
}

TEST_F(RegistryTest, RefusesALowerVersion) {
  add("shop-5", "dbmate", 5);
  RegistryLoad first = load(nullptr);
  ASSERT_EQ(first.accepted.size(), 1u);
  fs::remove_all(scratch_.path() / "shop-5");
  add("shop-4", "goose", 4);
  RegistryLoad second = load(first.snapshot.get());
  ASSERT_EQ(second.rejected.size(), 1u);
  EXPECT_EQ(second.rejected[0].reasons.at(0).to_string(),
            "manifest.json: version 4 of app 'shop' is lower than version 5 already accepted");
  EXPECT_EQ(second.snapshot->accepted_version("shop"), 5u);
  EXPECT_NE(second.snapshot->find(hash_of(kUsers), "shop"), nullptr);  // version 5 stays in force
}

TEST_F(RegistryTest, AHigherVersionReplacesTheOlder) {
  add("shop-1", "dbmate", 1);
  add("shop-2", "flyway", 2);
  RegistryLoad r = load(nullptr);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.snapshot->accepted_version("shop"), 2u);
  EXPECT_EQ(r.snapshot->find(hash_of("grant select on users to reporting"), "shop"), nullptr);  // only in version 1
  EXPECT_NE(r.snapshot->find(hash_of("CREATE TABLE orders (id bigint PRIMARY KEY)"), "shop"), nullptr);
}

// Older versions stay in the registry as newer ones are published: on a reload
// they are superseded, neither in force nor refused as a rollback, and their
// statements are not parsed again.
TEST_F(RegistryTest, AnOlderVersionAcceptedBeforeIsSupersededOnReload) {
  add("shop-1", "dbmate", 1);
  add("shop-2", "flyway", 2);
  RegistryLoad first = load(nullptr);
  EXPECT_TRUE(first.rejected.empty());
  ASSERT_EQ(first.accepted.size(), 2u);
  EXPECT_NE(first.accepted[0].manifest_sha256, first.accepted[1].manifest_sha256);
  RegistryLoad second = load(first.snapshot.get());
  EXPECT_TRUE(second.rejected.empty());
  ASSERT_EQ(second.superseded.size(), 1u);
  EXPECT_EQ(second.superseded[0].version, 1u);
  EXPECT_EQ(second.superseded[0].manifest_sha256, first.accepted[0].manifest_sha256);
  ASSERT_EQ(second.accepted.size(), 1u);
  EXPECT_EQ(second.accepted[0].version, 2u);
  EXPECT_EQ(second.snapshot->accepted_version("shop"), 2u);
  EXPECT_EQ(second.snapshot->find(hash_of("grant select on users to reporting"), "shop"), nullptr);  // only in v1
  // A version 1 this process never accepted is still refused.
  fs::remove_all(scratch_.path() / "shop-1");
  add("shop-1b", "goose", 1);
  RegistryLoad third = load(second.snapshot.get());
  ASSERT_EQ(third.rejected.size(), 1u);
  EXPECT_EQ(third.rejected[0].reasons.at(0).to_string(),
            "manifest.json: version 1 of app 'shop' is lower than version 2 already accepted");
}

// After a restart the ledger's bundle_accepted records stand in for the previous process:
// an older version is never put in force again: it is superseded while the
// highest version is in force and refused otherwise; the highest version with another
// manifest is refused; nothing counts as verified.
TEST_F(RegistryTest, TheLedgersHistoryRefusesARollbackAfterARestart) {
  add("shop-1", "dbmate", 1);
  add("shop-2", "flyway", 2);
  RegistryLoad first = load(nullptr);
  ASSERT_EQ(first.accepted.size(), 2u);
  std::vector<AcceptedBefore> history;
  for (const auto& a : first.accepted) history.push_back({a.app, a.version, a.manifest_sha256});
  auto restarted = ApprovedSet::with_history(history);
  EXPECT_EQ(restarted->size(), 0u);
  EXPECT_EQ(restarted->accepted_version("shop"), 2u);

  // Both still in the registry: version 2 in force, version 1 superseded, as on a reload.
  RegistryLoad same = load(restarted.get());
  EXPECT_TRUE(same.rejected.empty());
  ASSERT_EQ(same.accepted.size(), 1u);
  EXPECT_EQ(same.accepted[0].version, 2u);
  ASSERT_EQ(same.superseded.size(), 1u);
  EXPECT_EQ(same.superseded[0].version, 1u);

  // Version 2 gone: version 1 is a rollback, and nothing of it is in force.
  const fs::path v2 = scratch_.path() / "shop-2";
  fs::rename(v2, scratch_.path().parent_path() / (scratch_.path().filename().string() + "-shop-2"));
  RegistryLoad rolled_back = load(restarted.get());
  EXPECT_TRUE(rolled_back.accepted.empty());
  ASSERT_EQ(rolled_back.rejected.size(), 1u);
  EXPECT_EQ(rolled_back.rejected[0].reasons.at(0).to_string(),
            "manifest.json: version 1 of app 'shop' is lower than version 2, which an earlier start accepted and "
            "which is not in force");
  EXPECT_EQ(rolled_back.snapshot->find(hash_of("grant select on users to reporting"), "shop"), nullptr);
  EXPECT_EQ(rolled_back.snapshot->find(hash_of(kUsers), "shop"), nullptr);

  // Version 2 again, but another manifest: refused.
  fs::remove_all(scratch_.path() / "shop-1");
  add("shop-2b", "dbmate", 2);
  RegistryLoad other = load(restarted.get());
  EXPECT_TRUE(other.accepted.empty());
  ASSERT_EQ(other.rejected.size(), 1u);
  EXPECT_EQ(other.rejected[0].reasons.at(0).to_string(),
            "manifest.json: version 2 of app 'shop' was already accepted with a different manifest");
  fs::remove_all(scratch_.path().parent_path() / (scratch_.path().filename().string() + "-shop-2"));
}

TEST_F(RegistryTest, CarriedApprovalsEndWithTheirWindow) {
  add("shop-1", "dbmate", 1);
  RegistryLoad first = load(nullptr);
  VerifyOptions later = verify_options();
  later.now = t0() + std::chrono::hours(24 * 40);
  RegistryLoad second = load(first.snapshot.get(), later);
  EXPECT_EQ(second.rejected.size(), 1u);  // expired
  EXPECT_EQ(second.snapshot->find(hash_of(kUsers), "shop"), nullptr);
  EXPECT_EQ(second.snapshot->accepted_version("shop"), 1u);
}

TEST_F(RegistryTest, UnsignedBundleIsRejectedWithItsReason) {
  add("shop-1", "dbmate", 1, /*sign=*/false);
  RegistryLoad r = load(nullptr);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].reasons.at(0).to_string(), "signatures/: missing: the bundle is not signed");
  EXPECT_EQ(r.snapshot->size(), 0u);
}

TEST(ApprovalStore, PublishesSnapshotsAtomically) {
  ApprovalStore store;
  auto first = store.current();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->size(), 0u);
  auto next = std::make_shared<const ApprovedSet>();
  store.publish(next);
  EXPECT_EQ(store.current(), next);
  EXPECT_EQ(first->size(), 0u);  // an old snapshot stays usable
}

TEST(VerifyOptions, ComeFromTheBundlesSection) {
  ddlgate::config::Bundles b;
  b.environment = "prod";
  b.max_manifest_bytes = 4096;
  b.max_signatures = 3;
  VerifyOptions o = VerifyOptions::from_config(b, t0());
  EXPECT_EQ(o.environment, "prod");
  EXPECT_EQ(o.max_manifest_bytes, 4096u);
  EXPECT_EQ(o.max_signatures, 3u);
  EXPECT_EQ(o.now, t0());
}

TEST_F(RegistryTest, ReloadOfAnUnchangedBundleStillChecksFileDigests) {
  fs::path b = add("shop-1", "dbmate", 1);
  RegistryLoad first = load(nullptr);
  ASSERT_EQ(first.accepted.size(), 1u);
  RegistryLoad again = load(first.snapshot.get());
  EXPECT_EQ(again.accepted.size(), 1u);
  EXPECT_TRUE(again.rejected.empty());
  spit(b / "files" / "20240101000000_create_users.sql", "-- migrate:up\ndrop table users;\n");
  RegistryLoad tampered = load(first.snapshot.get());
  ASSERT_EQ(tampered.rejected.size(), 1u);
  EXPECT_NE(tampered.rejected[0].reasons.at(0).to_string().find("SHA-256"), std::string::npos);
  EXPECT_NE(tampered.snapshot->find(hash_of(kUsers), "shop"), nullptr);  // still in force
}

// Scope: a bundle for "shop" approves nothing in "billing"; one that says any_database
// approves everywhere; a format-1 bundle that named no database keeps meaning any.
TEST_F(RegistryTest, TheScopeDecidesWhichDatabasesAreCovered) {
  BuildOptions any = options(kMigrations / "goose", scratch_.path() / "audit-1", 1);
  any.app = "audit";
  any.databases.clear();
  any.any_database = true;
  ASSERT_TRUE(build_bundle(any).ok());
  sign_all(scratch_.path() / "audit-1", keys_);
  BuildOptions old = options(kMigrations / "plain", scratch_.path() / "legacy-1", 1);
  old.app = "legacy";
  old.databases.clear();
  old.any_database = true;
  old.format = kBundleFormat1;
  ASSERT_TRUE(build_bundle(old).ok());
  EXPECT_NE(slurp(scratch_.path() / "legacy-1" / "manifest.json").find("\"databases\": []"), std::string::npos);
  sign_all(scratch_.path() / "legacy-1", keys_);
  add("shop-1", "dbmate", 1);
  RegistryLoad r = load(nullptr);
  ASSERT_TRUE(r.rejected.empty()) << r.rejected[0].reasons[0].to_string();
  ASSERT_EQ(r.accepted.size(), 3u);
  // accepted is in app order: audit, legacy, shop.
  EXPECT_EQ(r.accepted[0].scope, "any database");
  EXPECT_FALSE(r.accepted[0].format1_any_database);
  EXPECT_EQ(r.accepted[1].scope, "any database (format 1)");
  EXPECT_TRUE(r.accepted[1].format1_any_database);
  EXPECT_EQ(r.accepted[2].scope, "shop");
  const std::string add_name = "alter table users add column name text default ''";  // shop-1's only
  EXPECT_NE(r.snapshot->find(hash_of(add_name), "shop"), nullptr);
  EXPECT_EQ(r.snapshot->find(hash_of(add_name), "billing"), nullptr);
  const std::string goose_insert = "INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, $2)";
  ASSERT_NE(r.snapshot->find(hash_of(goose_insert), "billing"), nullptr);
  EXPECT_EQ(r.snapshot->find(hash_of(goose_insert), "billing")->app, "audit");
  const Approval* legacy = nullptr;
  r.snapshot->find_if(hash_of("CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id), total numeric(12,2) DEFAULT 0)"), "anything",
                      [&](const Approval& a) { return (legacy = a.app == "legacy" ? &a : nullptr) != nullptr; });
  EXPECT_NE(legacy, nullptr);
}
