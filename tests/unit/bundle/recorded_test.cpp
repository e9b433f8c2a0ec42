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
}

Recording sample() {
  Recording r;
  r.statements = {statement("CREATE TABLE IF NOT EXISTS history (id int)"),
                  statement("CREATE TABLE users (id bigint PRIMARY KEY, email text)", 1),
                  statement("CREATE INDEX users_email ON users (email)", 1)};
  r.repeatable = {statement("CREATE TABLE IF NOT EXISTS history (id int)")};
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
