// The search_path a bundle's statements were reviewed under (format 2, docs/bundles.md
// "search_path"): written by `bundle build` (--search-path, the tool's default, or what a
// recording saw), normalised, verified in normal form, signed, and carried to every Approval.
#include <algorithm>

#include <gtest/gtest.h>

#include "bundle_support.h"
#include "ddlgate/bundle/recorded.h"
#include "ddlgate/bundle/registry.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/search_path.h"

using namespace bundle_test;

namespace {

std::string problems_text(const std::vector<Problem>& ps) {
  std::string s;
  for (const auto& p : ps) s += p.to_string() + "\n";
  return s;
}

bool has(const std::vector<Problem>& ps, const std::string& fragment) {
  return std::any_of(ps.begin(), ps.end(),
                     [&](const Problem& p) { return p.to_string().find(fragment) != std::string::npos; });
}

const Approval* approval_of(const ApprovedSet& set, const Manifest& m, std::size_t file, std::size_t st) {
  return set.find(m.files[file].statements[st].hash, "shop");
}

class SearchPathBundle : public ::testing::Test {
 protected:
  BuildResult build(BuildOptions o) {
    BuildResult r = build_bundle(o);
    if (r.ok()) sign_all(o.out_dir, keys_);
    return r;
  }
  Scratch scratch_;
  Keys keys_;
};

}  // namespace

TEST_F(SearchPathBundle, BuildWritesTheToolsDefaultAndEveryApprovalCarriesIt) {
  const fs::path dir = scratch_.path() / "b";
  BuildResult r = build(options(kMigrations / "dbmate", dir));
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  ASSERT_TRUE(r.manifest.search_path);
  EXPECT_EQ(*r.manifest.search_path, "\"$user\", public");
  const std::string text = slurp(dir / "manifest.json");
  EXPECT_NE(text.find("\"search_path\": \"\\\"$user\\\", public\""), std::string::npos) << text;

  LoadBundleResult loaded = load_bundle(dir, keys_.trust(), verify_options());
  ASSERT_TRUE(loaded.ok()) << problems_text(loaded.problems);
  RegistryLoad reg = Registry::load(scratch_.path(), keys_.trust(), verify_options(), nullptr);
  ASSERT_EQ(reg.accepted.size(), 1u) << (reg.rejected.empty() ? "" : problems_text(reg.rejected[0].reasons));
  const auto& state = reg.snapshot->apps().at("shop");
  ASSERT_TRUE(state.approvals);
  bool down = false, bookkeeping = false;
  for (const Approval& a : *state.approvals) {
    ASSERT_TRUE(a.search_path) << a.file << " " << a.statement_index;
    EXPECT_EQ(*a.search_path, "\"$user\", public");
    down |= a.down;
    bookkeeping |= a.repeatable;
  }
  EXPECT_TRUE(down && bookkeeping);  // down parts and bookkeeping carry it too
}

TEST_F(SearchPathBundle, SearchPathOptionIsNormalisedAndAMalformedOneIsAUsageError) {
  BuildOptions o = options(kMigrations / "dbmate", scratch_.path() / "b");
  o.search_path = " App ,\"$user\",PUBLIC";
  BuildResult r = build(o);
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  EXPECT_EQ(*r.manifest.search_path, "app, \"$user\", public");

  BuildOptions bad = options(kMigrations / "dbmate", scratch_.path() / "c");
  bad.search_path = "app,,public";
  BuildResult b = build_bundle(bad);
  EXPECT_TRUE(has(b.problems, "--search-path: search_path: an empty element at offset 4")) << problems_text(b.problems);
  EXPECT_FALSE(fs::exists(scratch_.path() / "c"));

  BuildOptions one = options(kMigrations / "dbmate", scratch_.path() / "d");
  one.format = kBundleFormat1;
  one.search_path = "public";
  EXPECT_TRUE(has(build_bundle(one).problems, "--search-path: format 1 has no place for a search_path"));
}

TEST_F(SearchPathBundle, EachToolsDefault) {
  EXPECT_EQ(default_search_path(MigrationTool::dbmate), "\"$user\", public");
  EXPECT_EQ(default_search_path(MigrationTool::sqitch), "\"$user\", public");  // deploy scripts run in psql
  EXPECT_EQ(default_search_path(MigrationTool::node_pg_migrate), "public");   // SET search_path TO "public"
  EXPECT_EQ(default_search_path(MigrationTool::node_pg_migrate, {"App", ""}), "\"App\"");
  EXPECT_EQ(default_search_path(MigrationTool::flyway), "public, \"$user\", public");
  EXPECT_EQ(default_search_path(MigrationTool::flyway, {"billing", ""}), "billing, \"$user\", public");
  for (MigrationTool t : all_tools()) {
    const std::string d = default_search_path(t);
    auto n = normalize_search_path(d);
    ASSERT_TRUE(n) << to_string(t);
    EXPECT_EQ(*n, d) << to_string(t);  // written in normal form
  }
}

// Verification holds every search_path to its normal form: what the signers read is what
// the guard compares, byte for byte. A malformed one rejects the bundle.
TEST_F(SearchPathBundle, VerifyRefusesAMalformedOrUnnormalisedSearchPath) {
  const fs::path dir = scratch_.path() / "b";
  ASSERT_TRUE(build(options(kMigrations / "dbmate", dir)).ok());
  std::vector<Problem> problems;
  auto m = parse_manifest(slurp(dir / "manifest.json"), &problems);
  ASSERT_TRUE(m) << problems_text(problems);
  auto verify_with = [&](const Manifest& changed) {
    spit(dir / "manifest.json", serialize_manifest(changed));
    fs::remove_all(dir / "signatures");
    sign_all(dir, keys_);
    return load_bundle(dir, keys_.trust(), verify_options());
  };
  Manifest a = *m;
  a.search_path = "Public";
  auto ra = verify_with(a);
  EXPECT_TRUE(has(ra.problems, "manifest.json: search_path 'Public' is not in normal form (it would be 'public')"))
      << problems_text(ra.problems);
  Manifest b = *m;
  b.files[0].statements[0].search_path = "a,";
  auto rb = verify_with(b);
  EXPECT_TRUE(has(rb.problems, "statement 1: search_path 'a,' is not a valid search_path: search_path: an empty element"))
      << problems_text(rb.problems);
  Manifest c = *m;
  ASSERT_TRUE(c.files[0].down);
  c.files[0].down->statements[0].search_path = "\"\"";
  c.bookkeeping[0].search_path = "x y";
  auto rc = verify_with(c);
  EXPECT_TRUE(has(rc.problems, "down part statement 1: search_path '\"\"' is not a valid search_path"))
      << problems_text(rc.problems);
  EXPECT_TRUE(has(rc.problems, "bookkeeping[0]: search_path 'x y' is not a valid"));
  // A statement's own, in normal form, overrides the manifest's in its approval.
  Manifest d = *m;
  d.files[0].statements[0].search_path = "app, public";
  d.search_path = "";  // an empty path (no schema) is a path
  auto rd = verify_with(d);
  ASSERT_TRUE(rd.ok()) << problems_text(rd.problems);
  RegistryLoad reg = Registry::load(scratch_.path(), keys_.trust(), verify_options(), nullptr);
  const Approval* own = approval_of(*reg.snapshot, d, 0, 0);
  const Approval* other = approval_of(*reg.snapshot, d, 0, 1);
  ASSERT_TRUE(own && other);
  EXPECT_EQ(own->search_path, std::optional<std::string>("app, public"));
  EXPECT_EQ(other->search_path, std::optional<std::string>(""));
}

// The field is signed like every manifest byte: changing it breaks the signatures.
TEST_F(SearchPathBundle, TheSearchPathIsSigned) {
  const fs::path dir = scratch_.path() / "b";
  ASSERT_TRUE(build(options(kMigrations / "dbmate", dir)).ok());
  std::string text = slurp(dir / "manifest.json");
  const std::string from = "\"search_path\": \"\\\"$user\\\", public\"";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "\"search_path\": \"evil, public\"");
  spit(dir / "manifest.json", text);
  auto r = load_bundle(dir, keys_.trust(), verify_options());
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "does not verify against manifest.json")) << problems_text(r.problems);
}

// Format-1 bundles and format-2 bundles without the field load unchanged, with no search_path.
TEST_F(SearchPathBundle, OlderBundlesLoadWithoutOne) {
  BuildOptions o1 = options(kMigrations / "dbmate", scratch_.path() / "v1");
  o1.format = kBundleFormat1;
  ASSERT_TRUE(build(o1).ok());
  const std::string text1 = slurp(scratch_.path() / "v1" / "manifest.json");
  EXPECT_EQ(text1.find("search_path"), std::string::npos);

  const fs::path dir = scratch_.path() / "v2";
  ASSERT_TRUE(build(options(kMigrations / "dbmate", dir, 2)).ok());
  std::vector<Problem> problems;
  auto m = parse_manifest(slurp(dir / "manifest.json"), &problems);
  ASSERT_TRUE(m);
  m->search_path.reset();
  spit(dir / "manifest.json", serialize_manifest(*m));
  EXPECT_EQ(slurp(dir / "manifest.json").find("search_path"), std::string::npos);
  fs::remove_all(dir / "signatures");
  sign_all(dir, keys_);
  for (const char* d : {"v1", "v2"}) {
    auto r = load_bundle(scratch_.path() / d, keys_.trust(), verify_options());
    ASSERT_TRUE(r.ok()) << d << ": " << problems_text(r.problems);
    EXPECT_FALSE(r.bundle->manifest.search_path) << d;
  }
  RegistryLoad reg = Registry::load(scratch_.path(), keys_.trust(), verify_options(), nullptr);
  ASSERT_EQ(reg.rejected.size(), 0u) << problems_text(reg.rejected[0].reasons);
  const auto& state = reg.snapshot->apps().at("shop");
  EXPECT_EQ(state.version, 2u);
  for (const Approval& a : *state.approvals) EXPECT_FALSE(a.search_path);
}

TEST_F(SearchPathBundle, DiffShowsAChangedSearchPath) {
  ASSERT_TRUE(build(options(kMigrations / "dbmate", scratch_.path() / "a")).ok());
  BuildOptions o = options(kMigrations / "dbmate", scratch_.path() / "b", 2);
  o.search_path = "app";
  ASSERT_TRUE(build(o).ok());
  InspectResult a = inspect_bundle(scratch_.path() / "a");
  InspectResult b = inspect_bundle(scratch_.path() / "b");
  ASSERT_TRUE(a.manifest && b.manifest);
  ManifestDiff d = diff_manifests(*a.manifest, a.lines, *b.manifest, b.lines);
  EXPECT_NE(std::find(d.header.begin(), d.header.end(), "search_path: \"$user\", public -> app"), d.header.end());
  ASSERT_FALSE(d.changed.empty());  // the same text under another search_path is another approval
  EXPECT_EQ(d.changed[0].first.hash, d.changed[0].second.hash);
  EXPECT_EQ(d.changed[0].second.search_path, std::optional<std::string>("app"));
}

// A recording knows what the tool ran each statement under: the manifest's search_path is
// the one most statements ran under, and a statement under another carries its own.
TEST_F(SearchPathBundle, ARecordedStatementCarriesTheSearchPathItRanUnder) {
  auto statement = [](const std::string& sql, std::optional<std::string> sp) {
    Analysis a = analyze(sql, Policy{}, Detail::all);
    EXPECT_TRUE(a.ok() && a.statements.size() == 1) << sql;
    RecordedStatement s;
    s.database = "shop_scratch";
    s.role = "deploy";
    s.session = 1;
    s.transaction = 1;
    s.search_path = std::move(sp);
    s.cls = a.statements[0].cls;
    s.hash = a.statements[0].hash;
    s.sql = a.statements[0].display_sql;
    return s;
  };
  Recording rec;
  rec.statements = {statement("CREATE TABLE users (id bigint)", "\"$user\", public"),
                    statement("CREATE TABLE audit_log (id bigint)", "Audit,public"),
                    statement("CREATE INDEX users_id ON users (id)", "\"$user\",public"),
                    statement("CREATE ROLE reporting", std::nullopt)};
  rec.repeatable = {statement("CREATE TABLE IF NOT EXISTS history (id int)", "meta")};
  const fs::path src = scratch_.path() / "src";
  fs::create_directories(src);
  spit(src / kRecordingIndex, recording_index_json(rec));
  spit(src / kRecordedFile, recorded_sql_text(rec.statements, "first run"));
  spit(src / kRepeatableFile, recorded_sql_text(rec.repeatable, "second run"));
  BuildOptions o = options(src, scratch_.path() / "b");
  o.tool = MigrationTool::recorded;
  BuildResult r = build(o);
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  const Manifest& m = r.manifest;
  EXPECT_EQ(m.search_path, std::optional<std::string>("\"$user\", public"));
  ASSERT_EQ(m.files.size(), 2u);
  EXPECT_FALSE(m.files[0].statements[0].search_path);
  EXPECT_EQ(m.files[0].statements[1].search_path, std::optional<std::string>("audit, public"));
  EXPECT_FALSE(m.files[0].statements[2].search_path);
  EXPECT_FALSE(m.files[0].statements[3].search_path);  // the trigger never saw it: the manifest's
  EXPECT_EQ(m.files[1].statements[0].search_path, std::optional<std::string>("meta"));
  ASSERT_EQ(m.bookkeeping.size(), 1u);
  EXPECT_EQ(m.bookkeeping[0].search_path, std::optional<std::string>("meta"));
  auto loaded = load_bundle(scratch_.path() / "b", keys_.trust(), verify_options());
  ASSERT_TRUE(loaded.ok()) << problems_text(loaded.problems);
  EXPECT_EQ(statement_search_path(m, m.files[0].statements[1]), std::optional<std::string>("audit, public"));
  EXPECT_EQ(statement_search_path(m, m.files[0].statements[3]), std::optional<std::string>("\"$user\", public"));
}
