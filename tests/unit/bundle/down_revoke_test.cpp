// Issue 26 item 6: down parts (built, verified and approved as down approvals).
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
        DownCase{"sqitch", {{"deploy/users.sql", "revert/users.sql"}, {"deploy/orders.sql", "revert/orders.sql"}}, 1}),
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
  EXPECT_FALSE(down_path(MigrationTool::plain, "001.sql"));
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
                                         "DROP TABLE customers", {}, {}, {}});
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

}  // namespace
