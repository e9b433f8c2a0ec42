// Issue 26 items 6 and 7: down parts (built, verified and approved as down approvals) and
// revocations (signed by the registry role, applied by the registry, kept through the ledger).
#include <algorithm>
#include <tuple>

#include <gtest/gtest.h>

#include "bundle_support.h"
#include "ddlgate/bundle/registry.h"
#include "ddlgate/sql/analyze.h"

using namespace bundle_test;

namespace {

std::string hash_of(std::string_view sql) { return analyze(sql, Policy{}, Detail::all).statements.at(0).hash; }

std::string problems_text(const std::vector<Problem>& ps) {
  std::string out;
  for (const auto& p : ps) out += p.to_string() + "\n";
  return out;
}

bool has(const std::vector<Problem>& ps, std::string_view needle) {
  for (const auto& p : ps) {
    if (p.to_string().find(needle) != std::string::npos) return true;
  }
  return false;
}

// ---- Down parts. ----

struct DownCase {
  const char* layout;
  std::vector<std::pair<std::string, std::string>> downs;  // up file -> its down path ("" for none)
  std::size_t first_down_statements;
};

class DownParts : public ::testing::TestWithParam<DownCase> {};

TEST_P(DownParts, AreBuiltWhereTheLayoutHasThemAndVerify) {
  const DownCase& c = GetParam();
  Scratch s;
  Keys k;
  fs::path out = s.path() / "b";
  BuildOptions o = options(kMigrations / c.layout, out);
  BuildResult r = build_bundle(o);
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  ASSERT_EQ(r.manifest.files.size(), c.downs.size());
  for (std::size_t i = 0; i < c.downs.size(); ++i) {
    const auto& f = r.manifest.files[i];
    EXPECT_EQ(f.path, c.downs[i].first);
    if (c.downs[i].second.empty()) {
      EXPECT_FALSE(f.down) << f.path;
      continue;
    }
    ASSERT_TRUE(f.down) << f.path;
    EXPECT_EQ(f.down->path, c.downs[i].second);
    // The bytes of the file that holds it, as copied into the bundle.
    EXPECT_EQ(f.down->sha256, sha256_hex(slurp(kMigrations / c.layout / f.down->path)));
    EXPECT_EQ(slurp(out / "files" / f.down->path), slurp(kMigrations / c.layout / f.down->path));
  }
  EXPECT_EQ(r.manifest.files[0].down->statements.size(), c.first_down_statements);
  sign_all(out, k);
  LoadBundleResult v = load_bundle(out, k.trust(), verify_options());
  ASSERT_TRUE(v.ok()) << problems_text(v.problems);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, DownParts,
    ::testing::Values(
        DownCase{"dbmate",
                 {{"20240101000000_create_users.sql", "20240101000000_create_users.sql"},
                  {"20240102000000_add_name.sql", "20240102000000_add_name.sql"}},
                 1},
        DownCase{"goose",
                 {{"20240101120000_users.sql", "20240101120000_users.sql"},
                  {"20240102120000_orders.sql", "20240102120000_orders.sql"}},
                 2},
        DownCase{"golang-migrate",
                 {{"1_users.up.sql", "1_users.down.sql"},
                  {"2_orders.up.sql", "2_orders.down.sql"},
                  {"10_audit.up.sql", "10_audit.down.sql"}},
                 1},
        DownCase{"sqitch", {{"deploy/users.sql", "revert/users.sql"}, {"deploy/orders.sql", "revert/orders.sql"}}, 1},
        DownCase{"sql-migrate",
                 {{"1_users.sql", "1_users.sql"}, {"2_orders.sql", "2_orders.sql"}, {"10_audit.sql", ""}},
                 1},
        DownCase{"node-pg-migrate",
                 {{"1700000000001_users.sql", "1700000000001_users.sql"},
                  {"1700000000002_orders.sql", "1700000000002_orders.sql"}},
                 1}),
    [](const auto& param_info) {
      std::string n = param_info.param.layout;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

TEST(DownPart, IsTheTextAfterTheDownMarker) {
  auto d = down_part(MigrationTool::dbmate, "-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, "DROP TABLE a;\n");
  auto none = down_part(MigrationTool::goose, "-- +goose Up\nCREATE TABLE a (x int);\n");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, "");
  EXPECT_FALSE(down_part(MigrationTool::goose, "-- +goose Down\nDROP TABLE a;\n-- +goose Up\n"));
  EXPECT_EQ(down_path(MigrationTool::golang_migrate, "7_x.up.sql").value_or(""), "7_x.down.sql");
  EXPECT_EQ(down_path(MigrationTool::sqitch, "deploy/x.sql").value_or(""), "revert/x.sql");
  EXPECT_FALSE(down_path(MigrationTool::flyway, "V1__x.sql"));
  EXPECT_EQ(down_path(MigrationTool::sql_migrate, "1_x.sql").value_or(""), "1_x.sql");
  EXPECT_EQ(down_path(MigrationTool::node_pg_migrate, "1_x.sql").value_or(""), "1_x.sql");
  EXPECT_FALSE(down_path(MigrationTool::plain, "001.sql"));
}

// sql-migrate (sqlparse.go): the Down section runs to the next Up marker or the end, in
// either order; two Down sections are refused (sql-migrate would join them).
TEST(DownPart, SqlMigrateTakesTheDownSectionInEitherOrder) {
  auto after = down_part(MigrationTool::sql_migrate, "-- +migrate Up\nCREATE TABLE a (x int);\n-- +migrate Down\nDROP TABLE a;\n");
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, "DROP TABLE a;\n");
  auto before = down_part(MigrationTool::sql_migrate,
                          "-- +migrate Down notransaction\nDROP TABLE a;\n-- +migrate Up\nCREATE TABLE a (x int);\n");
  ASSERT_TRUE(before);
  EXPECT_EQ(*before, "DROP TABLE a;\n");
  auto none = down_part(MigrationTool::sql_migrate, "-- +migrate Up\nCREATE TABLE a (x int);\n");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, "");
  // "down" is not "Down" (the command word is compared exactly), so it is part of the up section.
  auto lower = down_part(MigrationTool::sql_migrate, "-- +migrate Up\nCREATE TABLE a (x int);\n-- +migrate down\nDROP TABLE a;\n");
  ASSERT_TRUE(lower);
  EXPECT_EQ(*lower, "");
  auto two = down_part(MigrationTool::sql_migrate,
                       "-- +migrate Down\nDROP TABLE a;\n-- +migrate Up\nCREATE TABLE a (x int);\n-- +migrate Down\nDROP TABLE b;\n");
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().reason, "two '-- +migrate Down' markers");
  EXPECT_FALSE(down_part(MigrationTool::sql_migrate, "DROP TABLE a;\n"));  // no Up marker: no migration
}

// node-pg-migrate (sqlMigration.ts getActions): from the first down marker to the up marker
// after it, or the end; none: the migration has no down.
TEST(DownPart, NodePgMigrateTakesTheTextFromTheDownMarker) {
  auto after = down_part(MigrationTool::node_pg_migrate, "-- Up Migration\nCREATE TABLE a (x int);\n-- Down Migration\nDROP TABLE a;\n");
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, "-- Down Migration\nDROP TABLE a;\n");
  auto before = down_part(MigrationTool::node_pg_migrate,
                          "--- down migration\nDROP TABLE a;\n-- up migration\nCREATE TABLE a (x int);\n");
  ASSERT_TRUE(before);
  EXPECT_EQ(*before, "--- down migration\nDROP TABLE a;\n");
  auto none = down_part(MigrationTool::node_pg_migrate, "-- Up Migration\nCREATE TABLE a (x int);\n");
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, "");
}

class SignedDown : public ::testing::Test {
 protected:
  void build(const char* layout) {
    dir_ = scratch_.path() / "bundle";
    BuildResult r = build_bundle(options(kMigrations / layout, dir_));
    ASSERT_TRUE(r.ok()) << problems_text(r.problems);
    sign_all(dir_, keys_);
  }
  LoadBundleResult verify() { return load_bundle(dir_, keys_.trust(), verify_options()); }
  void resign(const Manifest& m) {
    spit(dir_ / "manifest.json", serialize_manifest(m));
    fs::remove_all(dir_ / "signatures");
    sign_all(dir_, keys_);
  }
  Manifest manifest() {
    std::vector<Problem> ps;
    auto m = parse_manifest(slurp(dir_ / "manifest.json"), &ps);
    EXPECT_TRUE(m) << problems_text(ps);
    return m ? *m : Manifest{};
  }
  Scratch scratch_;
  Keys keys_;
  fs::path dir_;
};

// What an approver reads of a down part is what is approved, as for up parts.
TEST_F(SignedDown, ADownStatementWhoseSqlIsNotTheFilesIsRejected) {
  build("dbmate");
  Manifest m = manifest();
  ASSERT_TRUE(m.files[0].down);
  m.files[0].down->statements[0].sql = "DROP TABLE harmless";
  resign(m);
  auto r = verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "files/20240101000000_create_users.sql: down part statement 1: the manifest's sql is not "
                              "the display SQL of the file's statement"))
      << problems_text(r.problems);
}

TEST_F(SignedDown, ADownStatementAddedToTheManifestIsRejected) {
  build("dbmate");
  Manifest m = manifest();
  m.files[1].down->statements.push_back({2, StatementClass::schema_change, hash_of("DROP TABLE customers"),
                                         "DROP TABLE customers", {}, {}, {}, {}});
  resign(m);
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "down part has 1 statements, the manifest lists 2")) << problems_text(r.problems);
}

TEST_F(SignedDown, AnEditedDownFileIsRejected) {
  build("golang-migrate");
  spit(dir_ / "files" / "1_users.down.sql", "DROP TABLE users CASCADE;\n");
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "files/1_users.down.sql: down: SHA-256")) << problems_text(r.problems);
}

TEST_F(SignedDown, ADownPartElsewhereThanTheLayoutSaysIsRejected) {
  build("golang-migrate");
  Manifest m = manifest();
  m.files[0].down->path = "2_orders.down.sql";
  resign(m);
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "down: path '2_orders.down.sql' is not where golang-migrate keeps this migration's down "
                              "part ('1_users.down.sql')"))
      << problems_text(r.problems);
}

TEST_F(SignedDown, AMissingDownFileIsRejected) {
  build("sqitch");
  fs::remove(dir_ / "files" / "revert" / "users.sql");
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "files/revert/users.sql: listed in the manifest as a down part but missing"))
      << problems_text(r.problems);
}

TEST_F(SignedDown, TheRegistryApprovesDownStatementsAsDownApprovals) {
  build("dbmate");
  RegistryLoad r = Registry::load(scratch_.path(), keys_.trust(), verify_options(), nullptr);
  ASSERT_TRUE(r.rejected.empty()) << problems_text(r.rejected.at(0).reasons);
  const Approval* down = r.snapshot->find(hash_of("drop table users"), "shop");
  ASSERT_NE(down, nullptr);
  EXPECT_TRUE(down->down);
  EXPECT_EQ(down->file, "20240101000000_create_users.sql");
  EXPECT_EQ(down->statement_index, 1u);
  const Approval* up = r.snapshot->find(hash_of("create table users (id bigint primary key, email text not null)"), "shop");
  ASSERT_NE(up, nullptr);
  EXPECT_FALSE(up->down);
  EXPECT_EQ(up->statement_index, 1u);  // the same file and index: only `down` tells them apart
}

// ---- Revocation. ----

const std::string kUsers = "create table users (id bigint primary key, email text not null)";

class RevocationTest : public ::testing::Test {
 protected:
  fs::path add(const std::string& name, std::uint64_t version) {
    fs::path out = scratch_.path() / name;
    BuildResult r = build_bundle(options(kMigrations / "dbmate", out, version));
    EXPECT_TRUE(r.ok()) << problems_text(r.problems);
    sign_all(out, keys_);
    return out;
  }
  // A revocation directory, signed by the registry key.
  fs::path revoke(const std::string& name, std::uint64_t version, std::uint64_t below) {
    RevocationFile rv;
    rv.app = "shop";
    rv.environment = "prod";
    rv.what.version = version;
    rv.what.below = below;
    rv.reason = "CVE-2026-0001 in the migration";
    rv.issued_at = t0();
    fs::path dir = scratch_.path() / name;
    fs::create_directories(dir);
    spit(dir / "revocation.json", serialize_revocation(rv));
    auto s = sign_bundle(dir, *keys_.registry, "registry");
    EXPECT_TRUE(s) << s.error().reason;
    return dir;
  }
  RegistryLoad load(const ApprovedSet* previous) {
    return Registry::load(scratch_.path(), keys_.trust(), verify_options(), previous);
  }
  static const RejectedBundle* rejected(const RegistryLoad& r, const fs::path& p) {
    for (const auto& x : r.rejected) {
      if (x.path == p) return &x;
    }
    return nullptr;
  }
  Scratch scratch_;
  Keys keys_;
};

TEST_F(RevocationTest, RoundTripsStrictly) {
  RevocationFile rv;
  rv.app = "shop";
  rv.environment = "prod";
  rv.what.below = 4;
  rv.reason = "why";
  rv.issued_at = t0();
  const std::string text = serialize_revocation(rv);
  std::vector<Problem> ps;
  auto back = parse_revocation(text, &ps);
  ASSERT_TRUE(back) << problems_text(ps);
  EXPECT_EQ(back->what.below, 4u);
  EXPECT_EQ(serialize_revocation(*back), text);
  for (const auto& [from, to, why] :
       {std::tuple{"\"below\": 4", "\"below\": 4, \"version\": 2", "exactly one of the two"},
        std::tuple{"\"below\": 4", "\"below\": 0", "must be a positive integer"},
        std::tuple{"\"below\": 4", "\"below\": 4, \"extra\": 1", "\"extra\" unknown key"},
        std::tuple{"\"reason\": \"why\"", "\"reason\": \"\"", "\"reason\" must say why"},
        std::tuple{"ddlgate-revocation/1", "ddlgate-revocation/2", "this ddlgate reads ddlgate-revocation/1"}}) {
    std::string bad = text;
    ASSERT_NE(bad.find(from), std::string::npos) << from;
    bad.replace(bad.find(from), std::string_view(from).size(), to);
    ps.clear();
    EXPECT_FALSE(parse_revocation(bad, &ps)) << bad;
    EXPECT_TRUE(has(ps, why)) << problems_text(ps);
  }
}

TEST_F(RevocationTest, WithdrawsTheVersionInForceAndNoOlderVersionTakesOver) {
  add("shop-1", 1);
  fs::path v2 = add("shop-2", 2);
  RegistryLoad first = load(nullptr);
  ASSERT_EQ(first.snapshot->apps().at("shop").version, 2u);
  ASSERT_NE(first.snapshot->find(hash_of(kUsers), "shop"), nullptr);

  revoke("revoke-shop-2", 2, 0);
  RegistryLoad second = load(first.snapshot.get());
  ASSERT_EQ(second.revocations.size(), 1u);
  EXPECT_TRUE(second.revocations[0].is_new);
  EXPECT_EQ(second.revocations[0].withdrew, 2u);
  EXPECT_EQ(second.revocations[0].reason, "CVE-2026-0001 in the migration");
  ASSERT_EQ(second.revocations[0].signers.size(), 1u);
  const RejectedBundle* r = rejected(second, v2);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->reasons.at(0).to_string(), "manifest.json: version 2 of app 'shop' is revoked");
  const auto& state = second.snapshot->apps().at("shop");
  EXPECT_EQ(state.version, 0u);      // nothing in force: version 1 does not come back
  EXPECT_EQ(state.high_water, 2u);
  EXPECT_EQ(second.snapshot->find(hash_of(kUsers), "shop"), nullptr);
  EXPECT_TRUE(second.accepted.empty());

  // Judged again on the next reload, but not new any more (recorded once).
  RegistryLoad third = load(second.snapshot.get());
  ASSERT_EQ(third.revocations.size(), 1u);
  EXPECT_FALSE(third.revocations[0].is_new);
  EXPECT_EQ(third.snapshot->find(hash_of(kUsers), "shop"), nullptr);
}

// The ledger's bundle_revoked records (RevokedBefore) keep a revocation after a restart even
// when its directory is gone.
TEST_F(RevocationTest, OutlivesItsDirectoryThroughTheLedgersHistory) {
  add("shop-1", 1);
  fs::path v2 = add("shop-2", 2);
  RegistryLoad first = load(nullptr);
  fs::path rv = revoke("revoke-shop-2", 2, 0);
  RegistryLoad second = load(first.snapshot.get());
  ASSERT_EQ(second.revocations.size(), 1u);

  std::vector<AcceptedBefore> accepted;
  for (const auto& a : first.accepted) accepted.push_back({a.app, a.version, a.manifest_sha256});
  std::vector<RevokedBefore> revoked;
  for (const auto& r : second.revocations) revoked.push_back({r.app, r.version, r.below, r.sha256});
  fs::remove_all(rv);

  // Without the history, version 2 would be in force again.
  RegistryLoad forgetful = load(ApprovedSet::with_history(accepted).get());
  EXPECT_EQ(forgetful.snapshot->apps().at("shop").version, 2u);

  RegistryLoad restarted = load(ApprovedSet::with_history(accepted, revoked).get());
  EXPECT_TRUE(restarted.revocations.empty());
  ASSERT_NE(rejected(restarted, v2), nullptr);
  EXPECT_EQ(rejected(restarted, v2)->reasons.at(0).to_string(), "manifest.json: version 2 of app 'shop' is revoked");
  EXPECT_NE(rejected(restarted, scratch_.path() / "shop-1"), nullptr);  // below the high-water mark, not in force
  EXPECT_EQ(restarted.snapshot->apps().at("shop").version, 0u);
  EXPECT_EQ(restarted.snapshot->find(hash_of(kUsers), "shop"), nullptr);

  // A file brought back is known: not new, nothing to record again.
  revoke("revoke-shop-2-again", 2, 0);  // the same bytes
  RegistryLoad again = load(ApprovedSet::with_history(accepted, revoked).get());
  ASSERT_EQ(again.revocations.size(), 1u);
  EXPECT_FALSE(again.revocations[0].is_new);
}

TEST_F(RevocationTest, BelowRevokesEveryLowerVersionButNotTheNextOne) {
  fs::path v1 = add("shop-1", 1);
  fs::path v2 = add("shop-2", 2);
  revoke("revoke-below-3", 0, 3);
  RegistryLoad r = load(nullptr);
  EXPECT_NE(rejected(r, v1), nullptr);
  EXPECT_NE(rejected(r, v2), nullptr);
  EXPECT_EQ(r.snapshot->find(hash_of(kUsers), "shop"), nullptr);
  add("shop-3", 3);
  RegistryLoad next = load(r.snapshot.get());
  EXPECT_EQ(next.snapshot->apps().at("shop").version, 3u);
  EXPECT_NE(next.snapshot->find(hash_of(kUsers), "shop"), nullptr);
}

// Only the registry role revokes; a revocation that fails a check is rejected with its reason
// and holds back every bundle of the app it names, while what is in force stays.
TEST_F(RevocationTest, ARevocationNotSignedByTheRegistryIsRejectedAndHoldsTheAppBack) {
  add("shop-1", 1);
  RegistryLoad first = load(nullptr);
  fs::path rv = revoke("revoke-shop-1", 1, 0);
  // Re-signed by an approver key claiming the registry role.
  fs::remove_all(rv / "signatures");
  ASSERT_TRUE(sign_bundle(rv, *keys_.approver1, "registry"));
  fs::path v2 = add("shop-2", 2);
  RegistryLoad second = load(first.snapshot.get());
  EXPECT_TRUE(second.revocations.empty());
  const RejectedBundle* r = rejected(second, rv);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(has(r->reasons, "only keys the trust policy lists under the registry role sign revocations"))
      << problems_text(r->reasons);
  EXPECT_TRUE(has(r->reasons, "role registry: 0 of 1 required signatures")) << problems_text(r->reasons);
  const RejectedBundle* held = rejected(second, v2);
  ASSERT_NE(held, nullptr);
  EXPECT_TRUE(has(held->reasons, "app 'shop' has an invalid revocation in the registry")) << problems_text(held->reasons);
  EXPECT_EQ(second.snapshot->apps().at("shop").version, 1u);  // what was in force stays
}

TEST_F(RevocationTest, AnEditedRevocationIsRejected) {
  fs::path rv = revoke("revoke-shop-1", 1, 0);
  std::string text = slurp(rv / "revocation.json");
  text.replace(text.find("\"version\": 1"), 12, "\"version\": 7");
  spit(rv / "revocation.json", text);
  RegistryLoad r = load(nullptr);
  const RejectedBundle* x = rejected(r, rv);
  ASSERT_NE(x, nullptr);
  EXPECT_TRUE(has(x->reasons, "does not verify against revocation.json")) << problems_text(x->reasons);
  EXPECT_TRUE(r.revocations.empty());
}

TEST_F(RevocationTest, OnlyTheRegistryRoleSignsOne) {
  fs::path rv = revoke("revoke-shop-1", 1, 0);
  auto as_approver = sign_bundle(rv, *keys_.approver1, "approver");
  ASSERT_FALSE(as_approver);
  EXPECT_EQ(as_approver.error().reason, "role 'approver': only the registry role signs a revocation");
}

}  // namespace
