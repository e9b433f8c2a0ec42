// `bundle build --tool recorded`: the source `ddlgate bundle record` writes, and the rule
// that a recorded bundle's repeatable approvals are the statements of its own repeatable.sql.
#include <algorithm>

#include <gtest/gtest.h>

#include "bundle_support.h"
#include "ddlgate/bundle/recorded.h"
#include "ddlgate/sql/analyze.h"

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

RecordedStatement statement(const std::string& sql, std::size_t transaction = 0) {
  Analysis a = analyze(sql, Policy{}, Detail::all);
  EXPECT_TRUE(a.ok() && a.statements.size() == 1) << sql;
  RecordedStatement s;
  s.database = "shop_scratch";
  s.role = "deploy";
  s.session = 1;
  s.transaction = transaction;
  s.search_path = "\"$user\", public";
  s.cls = a.statements[0].cls;
  s.hash = a.statements[0].hash;
  s.sql = a.statements[0].display_sql;
  return s;
}

void write_source(const fs::path& dir, const Recording& r) {
  fs::create_directories(dir);
  spit(dir / kRecordingIndex, recording_index_json(r));
  spit(dir / kRecordedFile, recorded_sql_text(r.statements, "first run"));
  if (!r.repeatable.empty()) spit(dir / kRepeatableFile, recorded_sql_text(r.repeatable, "second run"));
  if (!r.down.empty()) spit(dir / kDownFile, recorded_sql_text(r.down, "the rollback"));
}


Recording sample() {
  Recording r;
  r.statements = {statement("CREATE TABLE IF NOT EXISTS history (id int)"),
                  statement("CREATE TABLE users (id bigint PRIMARY KEY, email text)", 1),
                  statement("CREATE INDEX users_email ON users (email)", 1)};
  r.repeatable = {statement("CREATE TABLE IF NOT EXISTS history (id int)")};
  return r;
}

// sample() with a recorded rollback of its last migration (the index).
Recording with_down() {
  Recording r = sample();
  r.down = {statement("DROP INDEX users_email", 1)};
  r.down[0].search_path = "app, public";
  r.down_undoes_first = 2;
  r.down_undoes_last = 3;
  return r;
}

}  // namespace

TEST(Recorded, IndexRoundTripsAndIsStrict) {
  Recording r = sample();
  r.statements[1].search_path.reset();
  auto back = parse_recording_index(recording_index_json(r));
  ASSERT_TRUE(back) << back.error().reason;
  EXPECT_EQ(recording_index_json(*back), recording_index_json(r));
  EXPECT_FALSE(back->statements[1].search_path);
  EXPECT_EQ(back->statements[2].transaction, 1u);
  std::string extra = recording_index_json(r);
  extra.insert(1, "\"note\": 1,");
  EXPECT_FALSE(parse_recording_index(extra));
  EXPECT_FALSE(parse_recording_index("{\"format\": \"ddlgate-recording/2\", \"statements\": [], \"repeatable\": []}"));
  // Without a rollback the index has no "down" keys (a recording keeps its bytes).
  EXPECT_EQ(recording_index_json(r).find("down"), std::string::npos);
}

TEST(Recorded, IndexWithARollbackRoundTripsAndItsRangeIsChecked) {
  Recording r = with_down();
  auto back = parse_recording_index(recording_index_json(r));
  ASSERT_TRUE(back) << back.error().reason;
  EXPECT_EQ(recording_index_json(*back), recording_index_json(r));
  ASSERT_EQ(back->down.size(), 1u);
  EXPECT_EQ(back->down_undoes_first, 2u);
  EXPECT_EQ(back->down_undoes_last, 3u);
  for (auto [first, last] : {std::pair<std::size_t, std::size_t>{0, 3}, {3, 2}, {2, 4}}) {
    Recording bad = with_down();
    bad.down_undoes_first = first;
    bad.down_undoes_last = last;
    auto p = parse_recording_index(recording_index_json(bad));
    EXPECT_FALSE(p) << first << ".." << last;
    if (!p) {
      EXPECT_NE(p.error().reason.find("is not a range of the 3 recorded statements"), std::string::npos) << p.error().reason;
    }
  }
  // "down" without "down_undoes" (and the reverse) cannot be read.
  std::string text = recording_index_json(r);
  const auto at = text.find(",\n  \"down_undoes\"");
  ASSERT_NE(at, std::string::npos) << text;
  auto p = parse_recording_index(text.substr(0, at) + "\n}\n");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().reason.find("come together"), std::string::npos) << p.error().reason;
}

// The rollback's statements become recorded.sql's down part: down approvals, verified as any
// layout's, with their own search_path when it is not the bundle's.
TEST(Recorded, BuildsTheRecordedRollbackAsTheDownPartOfRecordedSql) {
  Scratch s;
  write_source(s.path() / "src", with_down());
  BuildOptions o = options(s.path() / "src", s.path() / "out");
  o.tool = MigrationTool::recorded;
  BuildResult r = build_bundle(o);
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  ASSERT_EQ(r.manifest.files.size(), 2u);  // recorded.sql, repeatable.sql: down.sql is a down part
  ASSERT_TRUE(r.manifest.files[0].down);
  EXPECT_FALSE(r.manifest.files[1].down);
  const DownPart& d = *r.manifest.files[0].down;
  EXPECT_EQ(d.path, "down.sql");
  ASSERT_EQ(d.statements.size(), 1u);
  EXPECT_EQ(d.statements[0].hash, with_down().down[0].hash);
  EXPECT_EQ(d.statements[0].search_path, "app, public");
  EXPECT_TRUE(fs::exists(s.path() / "out" / "files" / "down.sql"));
  Keys keys;
  sign_all(s.path() / "out", keys);
  auto v = load_bundle(s.path() / "out", keys.trust(), verify_options());
  ASSERT_TRUE(v.ok()) << problems_text(v.problems);

  // A down.sql that is not the recording, or one the index does not name, fails the build.
  Recording r2 = with_down();
  write_source(s.path() / "src2", r2);
  spit(s.path() / "src2" / kDownFile, slurp(s.path() / "src2" / kDownFile) + "DROP TABLE users;\n");
  BuildResult b2 = build_bundle(options(s.path() / "src2", s.path() / "out2"));
  EXPECT_TRUE(has(b2.problems, "down.sql: holds 2 statements, recording.json names 1")) << problems_text(b2.problems);
  write_source(s.path() / "src3", sample());
  spit(s.path() / "src3" / kDownFile, "DROP TABLE users;\n");
  BuildResult b3 = build_bundle(options(s.path() / "src3", s.path() / "out3"));
  EXPECT_TRUE(has(b3.problems, "down.sql: recording.json records no rollback")) << problems_text(b3.problems);
}

TEST(Recorded, BuildsAndApprovesRepeatableStatementsAsBookkeeping) {
  Scratch s;
  write_source(s.path() / "src", sample());
  BuildOptions o = options(s.path() / "src", s.path() / "out");
  BuildResult r = build_bundle(o);  // --tool auto: recording.json is the recorded layout's mark
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  EXPECT_EQ(r.manifest.tool, MigrationTool::recorded);
  ASSERT_EQ(r.manifest.files.size(), 2u);
  EXPECT_EQ(r.manifest.files[0].path, "recorded.sql");
  EXPECT_EQ(r.manifest.files[0].statements.size(), 3u);
  ASSERT_EQ(r.manifest.bookkeeping.size(), 1u);
  EXPECT_EQ(r.manifest.bookkeeping[0].tool, "recorded");
  EXPECT_EQ(r.manifest.bookkeeping[0].hash, sample().repeatable[0].hash);
  Keys keys;
  sign_all(s.path() / "out", keys);
  auto v = load_bundle(s.path() / "out", keys.trust(), verify_options());
  EXPECT_TRUE(v.ok()) << problems_text(v.problems);
}

TEST(Recorded, RefusesSqlFilesThatAreNotTheRecording) {
  Scratch s;
  write_source(s.path() / "src", sample());
  spit(s.path() / "src" / kRecordedFile, slurp(s.path() / "src" / kRecordedFile) + "DROP TABLE users;\n");
  BuildResult r = build_bundle(options(s.path() / "src", s.path() / "out"));
  EXPECT_TRUE(has(r.problems, "recorded.sql: holds 4 statements, recording.json names 3")) << problems_text(r.problems);
  EXPECT_FALSE(fs::exists(s.path() / "out"));

  write_source(s.path() / "src2", sample());
  spit(s.path() / "src2" / kRepeatableFile, "CREATE TABLE IF NOT EXISTS history (id bigint);\n");
  BuildOptions o = options(s.path() / "src2", s.path() / "out2");
  o.tool = MigrationTool::recorded;
  r = build_bundle(o);
  EXPECT_TRUE(has(r.problems, "repeatable.sql: statement 1 is not the one recording.json recorded"))
      << problems_text(r.problems);

  r = build_bundle([&] {
    BuildOptions x = options(s.path() / "missing", s.path() / "out3");
    fs::create_directories(s.path() / "missing");
    x.tool = MigrationTool::recorded;
    return x;
  }());
  EXPECT_TRUE(has(r.problems, "recording.json")) << problems_text(r.problems);
}

// A signed recorded manifest cannot approve a repeatable statement that is in no file.
TEST(Recorded, RejectsBookkeepingThatIsNotInItsRepeatableFile) {
  Scratch s;
  write_source(s.path() / "src", sample());
  ASSERT_TRUE(build_bundle(options(s.path() / "src", s.path() / "out")).ok());
  std::vector<Problem> parse_problems;
  auto m = parse_manifest(slurp(s.path() / "out" / "manifest.json"), &parse_problems);
  ASSERT_TRUE(m);
  Analysis a = analyze("DROP TABLE users", Policy{}, Detail::all);
  m->bookkeeping.push_back({"recorded", a.statements[0].cls, a.statements[0].hash, "DROP TABLE users", std::nullopt});
  // And one of recorded.sql's statements, which is approved once, not as repeatable.
  const auto& once = m->files[0].statements[1];
  m->bookkeeping.push_back({"recorded", once.cls, once.hash, once.sql, std::nullopt});
  spit(s.path() / "out" / "manifest.json", serialize_manifest(*m));
  Keys keys;
  sign_all(s.path() / "out", keys);
  auto v = load_bundle(s.path() / "out", keys.trust(), verify_options());
  EXPECT_FALSE(v.bundle);
  EXPECT_TRUE(has(v.problems, "bookkeeping[1]: sql is not a bookkeeping statement of recorded")) << problems_text(v.problems);
  EXPECT_TRUE(has(v.problems, "bookkeeping[2]: sql is not a bookkeeping statement of recorded")) << problems_text(v.problems);
}

// `bundle diff` shows a rollback that changed, or went, as it shows an up statement.
TEST(Recorded, DiffShowsTheDownPart) {
  Scratch s;
  write_source(s.path() / "v1", with_down());
  Recording changed = with_down();
  changed.down = {statement("DROP INDEX IF EXISTS users_email", 1)};
  write_source(s.path() / "v2", changed);
  write_source(s.path() / "v3", sample());
  BuildResult v1 = build_bundle(options(s.path() / "v1", s.path() / "b1"));
  BuildResult v2 = build_bundle(options(s.path() / "v2", s.path() / "b2", 2));
  BuildResult v3 = build_bundle(options(s.path() / "v3", s.path() / "b3", 3));
  ASSERT_TRUE(v1.ok() && v2.ok() && v3.ok()) << problems_text(v1.problems) << problems_text(v2.problems)
                                             << problems_text(v3.problems);
  ManifestDiff d = diff_manifests(v1.manifest, {}, v2.manifest, {});
  EXPECT_TRUE(d.added.empty() && d.removed.empty());
  ASSERT_EQ(d.changed.size(), 1u);
  EXPECT_TRUE(d.changed[0].second.down);
  EXPECT_EQ(d.changed[0].second.file, "down.sql");
  EXPECT_EQ(d.changed[0].first.sql, "DROP INDEX users_email");
  EXPECT_EQ(d.changed[0].second.sql, "DROP INDEX IF EXISTS users_email");
  ManifestDiff gone = diff_manifests(v1.manifest, {}, v3.manifest, {});
  ASSERT_EQ(gone.removed.size(), 1u);
  EXPECT_TRUE(gone.removed[0].down);
  EXPECT_TRUE(gone.changed.empty() && gone.added.empty());
}

// A signed recorded manifest cannot hang a down part anywhere but on recorded.sql, from down.sql.
TEST(Recorded, RejectsADownPartThatIsNotRecordedSqlsDownSql) {
  Scratch s;
  write_source(s.path() / "src", with_down());
  ASSERT_TRUE(build_bundle(options(s.path() / "src", s.path() / "out")).ok());
  std::vector<Problem> parse_problems;
  auto m = parse_manifest(slurp(s.path() / "out" / "manifest.json"), &parse_problems);
  ASSERT_TRUE(m && m->files.size() == 2 && m->files[0].down);
  m->files[1].down = m->files[0].down;  // repeatable.sql "rolled back" by down.sql
  m->files[0].down.reset();
  spit(s.path() / "out" / "manifest.json", serialize_manifest(*m));
  Keys keys;
  sign_all(s.path() / "out", keys);
  auto v = load_bundle(s.path() / "out", keys.trust(), verify_options());
  EXPECT_FALSE(v.bundle);
  EXPECT_TRUE(has(v.problems, "down: path 'down.sql' is not where recorded keeps this migration's down part (it has none)"))
      << problems_text(v.problems);
}
