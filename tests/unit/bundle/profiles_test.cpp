// Tool profiles (bundle/src/profiles.cpp) against what the tools send.
//
// tests/data/tools/<tool>[-schema].wire holds one tool run's messages: captured from a
// real run (log_statement = 'all') for the tools installable here, written from the
// tool's source for the others (each file's header says which). A bundle built for the
// tool, signed and loaded through the registry, must approve every controlled statement
// of those messages; the same messages with a statement smuggled in must not be.
#include <set>

#include "bundle_support.h"
#include "ddlgate/bundle/registry.h"
#include "ddlgate/sql/analyze.h"

namespace bundle_test {
namespace {

const fs::path kWire = DDLGATE_TOOLS_WIRE_DIR;

struct Wire {
  MigrationTool tool = MigrationTool::plain;
  HistoryTable history;
  std::vector<std::string> messages;
};

// "---- message" starts a message; "# history: default|SCHEMA.TABLE|.TABLE" names the table.
Wire read_wire(const fs::path& file) {
  Wire w;
  std::string name = file.stem().string();
  if (name.size() > 7 && name.substr(name.size() - 7) == "-schema") name.resize(name.size() - 7);
  auto tool = tool_from_string(name);
  EXPECT_TRUE(tool) << file;
  if (tool) w.tool = *tool;
  std::istringstream in(slurp(file));
  std::string line;
  bool in_message = false;
  while (std::getline(in, line)) {
    if (line == "---- message") {
      w.messages.emplace_back();
      in_message = true;
    } else if (!in_message && line.rfind("# history: ", 0) == 0) {
      std::string h = line.substr(11);
      if (h != "default") {
        auto dot = h.find('.');
        w.history.schema = h.substr(0, dot);
        w.history.table = h.substr(dot + 1);
      }
    } else if (in_message) {
      if (!w.messages.back().empty()) w.messages.back() += '\n';
      w.messages.back() += line;
    }
  }
  return w;
}

// A source directory in the tool's layout (the ORMs': plain SQL files).
fs::path layout_dir(MigrationTool tool) {
  switch (tool) {
    case MigrationTool::alembic:
    case MigrationTool::django:
    case MigrationTool::rails:
    case MigrationTool::knex:
    case MigrationTool::sequelize:
    case MigrationTool::typeorm:
      return kMigrations / "plain";
    default:
      return kMigrations / std::string(to_string(tool));
  }
}

class ToolProfile : public ::testing::TestWithParam<std::string> {
 protected:
  // The approvals of a signed bundle built for the wire's tool and history table.
  std::shared_ptr<const ddlgate::bundle::ApprovedSet> approvals(const Wire& w) {
    fs::path registry = scratch_.path() / "registry";
    fs::create_directories(registry);
    BuildOptions o = options(layout_dir(w.tool), registry / "b1");
    o.tool = w.tool;
    o.history = w.history;
    BuildResult r = build_bundle(o);
    EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems[0].to_string());
    sign_all(registry / "b1", keys_);
    auto load = ddlgate::bundle::Registry::load(registry, keys_.trust(), verify_options(), nullptr);
    EXPECT_EQ(load.accepted.size(), 1u);
    for (const auto& rej : load.rejected) {
      for (const auto& why : rej.reasons) ADD_FAILURE() << why.to_string();
    }
    return load.snapshot;
  }

  Scratch scratch_;
  Keys keys_;
};

TEST_P(ToolProfile, EveryControlledStatementTheToolSendsIsApproved) {
  Wire w = read_wire(kWire / GetParam());
  ASSERT_FALSE(w.messages.empty());
  auto set = approvals(w);
  const Policy policy;
  std::size_t controlled = 0;
  for (const auto& msg : w.messages) {
    Analysis a = analyze(msg, policy, Detail::hashes);
    ASSERT_TRUE(a.ok()) << msg;
    for (const auto& st : a.statements) {
      if (!policy.controlled(st.cls)) continue;
      ++controlled;
      EXPECT_NE(set->find(st.hash, "shop"), nullptr) << GetParam() << ": not approved: " << msg;
      // Scope: the bundle's database only.
      EXPECT_EQ(set->find(st.hash, "billing"), nullptr) << msg;
    }
  }
  // Every fixture holds at least the history table's creation.
  EXPECT_GT(controlled, 0u) << GetParam();
}

TEST_P(ToolProfile, AStatementSmuggledIntoTheToolsTrafficIsNotApproved) {
  Wire w = read_wire(kWire / GetParam());
  auto set = approvals(w);
  const Policy policy;
  // Appended to each controlled message, and a near miss of each: the same statement
  // on another table, as a tool told about another history table would send it.
  for (const auto& msg : w.messages) {
    Analysis a = analyze(msg, policy, Detail::hashes);
    ASSERT_TRUE(a.ok());
    bool any_controlled = false;
    for (const auto& st : a.statements) any_controlled = any_controlled || policy.controlled(st.cls);
    if (!any_controlled) continue;
    // (Not `users`: the sample migrations' down parts approve DROP TABLE users, for deployers.)
    Analysis smuggled = analyze(msg + ";\nDROP TABLE payments", policy, Detail::hashes);
    ASSERT_TRUE(smuggled.ok());
    ASSERT_GE(smuggled.statements.size(), 2u);
    EXPECT_EQ(set->find(smuggled.statements.back().hash, "shop"), nullptr) << msg;
  }
  for (const char* extra : {"DROP TABLE payments", "TRUNCATE users", "CREATE TABLE users_copy (LIKE users)",
                            "ALTER TABLE users ADD COLUMN admin boolean"}) {
    Analysis a = analyze(extra, policy, Detail::hashes);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(set->find(a.statements[0].hash, "shop"), nullptr) << extra;
  }
}

// The fixtures sent for a history table named at build time (<tool>-schema.wire): a
// bundle built with the tool's default names must not approve their controlled statements.
TEST_P(ToolProfile, OnlyTheHistoryTableNamedAtBuildTimeIsApproved) {
  Wire w = read_wire(kWire / GetParam());
  Wire other = w;
  other.history = w.history.empty() ? HistoryTable{"", "other_history"} : HistoryTable{};
  if (!check_history_table(w.tool, other.history).ok()) other.history = {"other_schema", ""};
  if (!check_history_table(w.tool, other.history).ok()) GTEST_SKIP() << "the tool's names are fixed";
  auto set = approvals(other);
  const Policy policy;
  std::size_t refused = 0;
  for (const auto& msg : w.messages) {
    Analysis a = analyze(msg, policy, Detail::hashes);
    for (const auto& st : a.statements) {
      if (policy.controlled(st.cls) && set->find(st.hash, "shop") == nullptr) ++refused;
    }
  }
  EXPECT_GT(refused, 0u) << GetParam();
}

std::vector<std::string> wire_files() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kWire)) {
    if (e.path().extension() == ".wire") names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Wire, ToolProfile, ::testing::ValuesIn(wire_files()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string n = param.param.substr(0, param.param.size() - 5);
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

// Every tool has a profile, and the sixteen named in issue 26 are all there.
TEST(ToolProfiles, EveryToolButPlainHasBookkeepingStatementsThatHash) {
  std::set<std::string> named;
  for (MigrationTool t : all_tools()) {
    auto sqls = bookkeeping_sql(t);
    if (t == MigrationTool::plain) {
      EXPECT_TRUE(sqls.empty());
      continue;
    }
    named.insert(std::string(to_string(t)));
    EXPECT_FALSE(sqls.empty()) << to_string(t);
    std::set<std::string> hashes;
    for (const auto& s : sqls) {
      Analysis a = analyze(s, Policy{}, Detail::hashes);
      ASSERT_TRUE(a.ok()) << s;
      ASSERT_EQ(a.statements.size(), 1u) << s;
      EXPECT_TRUE(hashes.insert(a.statements[0].hash).second) << "listed twice: " << s;
    }
    EXPECT_EQ(tool_from_string(to_string(t)), t);
  }
  EXPECT_EQ(named.size(), 16u);
  for (const char* n : {"dbmate", "golang-migrate", "goose", "flyway", "liquibase", "sqitch", "atlas", "alembic",
                        "django", "rails", "knex", "sequelize", "typeorm", "node-pg-migrate", "sql-migrate", "prisma"}) {
    EXPECT_TRUE(named.count(n)) << n;
  }
}

// Profile 1 is frozen: bundles built with it keep loading with exactly its statements.
TEST(ToolProfiles, ProfileOneIsTheDefaultTablesOfThreeTools) {
  EXPECT_EQ(bookkeeping_sql(MigrationTool::dbmate, {}, 1).size(), 11u);
  EXPECT_EQ(bookkeeping_sql(MigrationTool::golang_migrate, {}, 1).size(), 7u);
  EXPECT_EQ(bookkeeping_sql(MigrationTool::goose, {}, 1).size(), 7u);
  EXPECT_TRUE(bookkeeping_sql(MigrationTool::sqitch, {}, 1).empty());
  EXPECT_TRUE(bookkeeping_sql(MigrationTool::dbmate, {"meta", "hist"}, 1).empty());
  EXPECT_TRUE(bookkeeping_sql(MigrationTool::dbmate, {}, 3).empty());
  // The default names in profile 2 give profile 1's dbmate statements and more.
  auto p1 = bookkeeping_sql(MigrationTool::dbmate, {}, 1);
  auto p2 = bookkeeping_sql(MigrationTool::dbmate, {}, 2);
  for (const auto& s : p1) EXPECT_NE(std::find(p2.begin(), p2.end(), s), p2.end()) << s;
}

TEST(ToolProfiles, HistoryNamesAreEachToolsOwnForm) {
  auto has = [](const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  auto golang = bookkeeping_sql(MigrationTool::golang_migrate, {"meta", "hist"});
  EXPECT_TRUE(has(golang, "TRUNCATE \"meta\".\"hist\""));
  auto dbm = bookkeeping_sql(MigrationTool::dbmate, {"meta", "hist"});
  EXPECT_TRUE(has(dbm, "insert into meta.hist (version) values ($1)"));
  auto sm = bookkeeping_sql(MigrationTool::sql_migrate, {"", "hist"});
  EXPECT_TRUE(has(sm, "SELECT * FROM \"hist\""));
  auto sq = bookkeeping_sql(MigrationTool::sqitch, {"registry", ""});
  EXPECT_TRUE(has(sq, "CREATE SCHEMA IF NOT EXISTS \"registry\""));
  // Only names that read the same quoted and unquoted; only parts the tool lets you choose.
  EXPECT_FALSE(check_history_table(MigrationTool::dbmate, {"Meta", "hist"}).ok());
  EXPECT_FALSE(check_history_table(MigrationTool::dbmate, {"meta", "hi\"st"}).ok());
  EXPECT_FALSE(check_history_table(MigrationTool::dbmate, {"meta", "1hist"}).ok());
  EXPECT_FALSE(check_history_table(MigrationTool::sqitch, {"", "changes"}).ok());
  EXPECT_FALSE(check_history_table(MigrationTool::django, {"", "migs"}).ok());
  // TypeORM names the primary key after the table (SHA-1 of "<table>_id"), as observed.
  auto torm = bookkeeping_sql(MigrationTool::typeorm, {"", "hist"});
  ASSERT_EQ(torm.size(), 1u);
  EXPECT_NE(torm[0].find("CONSTRAINT \"PK_2988b0077426d2ca15fdea02377\""), std::string::npos) << torm[0];
  EXPECT_NE(bookkeeping_sql(MigrationTool::typeorm)[0].find("\"PK_8c82d7f526340ab734260ea46be\""), std::string::npos);
  EXPECT_FALSE(check_history_table(MigrationTool::plain, {"", "migs"}).ok());
  EXPECT_TRUE(check_history_table(MigrationTool::plain, {}).ok());
  EXPECT_TRUE(bookkeeping_sql(MigrationTool::dbmate, {"Meta", "hist"}).empty());
}

}  // namespace
}  // namespace bundle_test

namespace bundle_test {
namespace {

// --- layouts of the SQL-file tools added with the profiles ---

TEST(ToolLayout, SqlMigrateUpIsBetweenUpAndTheNextDownInEitherOrder) {
  auto up = up_part(MigrationTool::sql_migrate, "-- +migrate Up\nCREATE TABLE a (x int);\n-- +migrate Down\nDROP TABLE a;\n");
  ASSERT_TRUE(up);
  EXPECT_EQ(*up, "CREATE TABLE a (x int);\n");
  up = up_part(MigrationTool::sql_migrate, "-- +migrate Down\nDROP TABLE a;\n-- +migrate Up notransaction\nCREATE TABLE a (x int);\n");
  ASSERT_TRUE(up);
  EXPECT_EQ(*up, "CREATE TABLE a (x int);\n");
  EXPECT_FALSE(up_part(MigrationTool::sql_migrate, "CREATE TABLE a (x int);\n"));
  EXPECT_FALSE(up_part(MigrationTool::sql_migrate, "-- +migrate Up\n-- +migrate Up\n"));
  // sql-migrate compares the command word exactly: "up" is not "Up".
  EXPECT_FALSE(up_part(MigrationTool::sql_migrate, "-- +migrate up\nCREATE TABLE a (x int);\n"));
}

TEST(ToolLayout, NodePgMigrateRunsTheWholeFileWithoutAnUpMarker) {
  auto up = up_part(MigrationTool::node_pg_migrate, "-- Up Migration\nCREATE TABLE a (x int);\n-- Down Migration\nDROP TABLE a;\n");
  ASSERT_TRUE(up);
  EXPECT_EQ(*up, "-- Up Migration\nCREATE TABLE a (x int);\n");
  // Case-insensitive, dashes allowed, as its regular expression reads.
  up = up_part(MigrationTool::node_pg_migrate, "---- up   migration\nCREATE TABLE a (x int);\n--- DOWN MIGRATION\nDROP TABLE a;\n");
  ASSERT_TRUE(up);
  EXPECT_EQ(*up, "---- up   migration\nCREATE TABLE a (x int);\n");
  // No up marker: node-pg-migrate runs all of it, its down part too; so does the bundle.
  const std::string whole = "CREATE TABLE a (x int);\n-- Down Migration\nDROP TABLE a;\n";
  up = up_part(MigrationTool::node_pg_migrate, whole);
  ASSERT_TRUE(up);
  EXPECT_EQ(*up, whole);
}

TEST(ToolLayout, DetectsEachNewLayoutAndBuildsItInTheToolsOrder) {
  EXPECT_EQ(detect_tool(kMigrations / "sql-migrate"), MigrationTool::sql_migrate);
  EXPECT_EQ(detect_tool(kMigrations / "node-pg-migrate"), MigrationTool::node_pg_migrate);
  EXPECT_EQ(detect_tool(kMigrations / "liquibase"), MigrationTool::liquibase);
  EXPECT_EQ(detect_tool(kMigrations / "prisma"), MigrationTool::prisma);
  // The older layouts are still told apart.
  for (const char* t : {"atlas", "golang-migrate", "goose", "flyway", "dbmate", "sqitch"}) {
    EXPECT_EQ(detect_tools(kMigrations / t).size(), 1u) << t;
  }
  EXPECT_TRUE(detect_tools(kMigrations / "plain").empty());

  struct Case {
    const char* tool;
    std::vector<std::string> files;
    std::size_t statements;
  };
  for (const Case& c : {Case{"sql-migrate", {"1_users.sql", "2_orders.sql", "10_audit.sql"}, 4},
                        Case{"node-pg-migrate", {"1700000000001_users.sql", "1700000000002_orders.sql"}, 2},
                        Case{"liquibase", {"001_users.sql", "002_orders.sql"}, 3},
                        Case{"prisma", {"20240101000000_users/migration.sql", "20240102000000_orders/migration.sql"}, 3}}) {
    Scratch s;
    BuildOptions o = options(kMigrations / c.tool, s.path() / "b");
    BuildResult r = build_bundle(o);  // --tool auto
    ASSERT_TRUE(r.ok()) << c.tool << ": " << (r.problems.empty() ? "" : r.problems[0].to_string());
    EXPECT_EQ(r.manifest.tool, *tool_from_string(c.tool));
    std::vector<std::string> files;
    std::size_t n = 0;
    for (const auto& f : r.manifest.files) {
      files.push_back(f.path);
      n += f.statements.size();
    }
    EXPECT_EQ(files, c.files) << c.tool;
    EXPECT_EQ(n, c.statements) << c.tool;
    Keys k;
    sign_all(s.path() / "b", k);
    auto loaded = load_bundle(s.path() / "b", k.trust(), verify_options());
    EXPECT_TRUE(loaded.ok()) << c.tool << ": " << (loaded.problems.empty() ? "" : loaded.problems[0].to_string());
  }
}

TEST(ToolLayout, NodePgMigrateRefusesADirectoryWithAJavaScriptMigration) {
  Scratch s;
  fs::create_directories(s.path() / "src");
  spit(s.path() / "src" / "1700000000001_users.sql", "-- Up Migration\nCREATE TABLE a (x int);\n");
  spit(s.path() / "src" / "1700000000002_more.js", "exports.up = (pgm) => pgm.sql('DROP TABLE a');\n");
  spit(s.path() / "src" / ".eslintrc", "{}\n");  // dotfiles: ignored, as node-pg-migrate ignores them
  BuildOptions o = options(s.path() / "src", s.path() / "b");
  o.tool = MigrationTool::node_pg_migrate;
  BuildResult r = build_bundle(o);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].where, "1700000000002_more.js");
  EXPECT_FALSE(fs::exists(s.path() / "b"));
}

TEST(ToolLayout, LiquibaseRefusesAFileThatIsNotFormattedSql) {
  Scratch s;
  fs::create_directories(s.path() / "src");
  spit(s.path() / "src" / "001.sql", "--liquibase formatted sql\n--changeset a:1\nCREATE TABLE a (x int);\n");
  spit(s.path() / "src" / "002.sql", "CREATE TABLE b (x int);\n");
  BuildOptions o = options(s.path() / "src", s.path() / "b");
  o.tool = MigrationTool::liquibase;
  BuildResult r = build_bundle(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].where, "002.sql");
  EXPECT_FALSE(fs::exists(s.path() / "b"));
}

// --- the history table in the manifest ---

TEST(ToolHistory, RecordedInTheToolObjectSignedAndCheckedOnLoad) {
  Scratch s;
  BuildOptions o = options(kMigrations / "dbmate", s.path() / "b");
  o.tool = MigrationTool::dbmate;
  o.history = {"meta", "hist"};
  BuildResult r = build_bundle(o);
  ASSERT_TRUE(r.ok()) << r.problems[0].to_string();
  const std::string manifest = slurp(s.path() / "b" / "manifest.json");
  EXPECT_NE(manifest.find("\"tool\": {\n    \"name\": \"dbmate\",\n    \"profile\": 2,\n    \"history\": {\n      "
                          "\"schema\": \"meta\",\n      \"table\": \"hist\"\n    }\n  }"),
            std::string::npos)
      << manifest;
  EXPECT_NE(manifest.find("insert into meta.hist (version) values ($1)"), std::string::npos);
  std::vector<Problem> problems;
  auto parsed = parse_manifest(manifest, &problems);
  ASSERT_TRUE(parsed) << problems[0].to_string();
  EXPECT_EQ(parsed->history, (HistoryTable{"meta", "hist"}));
  Keys k;
  sign_all(s.path() / "b", k);
  EXPECT_TRUE(load_bundle(s.path() / "b", k.trust(), verify_options()).ok());

  // A bookkeeping entry of another table, signed: refused (it is not the profile's).
  std::string other = manifest;
  for (std::size_t at; (at = other.find("meta.hist")) != std::string::npos;) other.replace(at, 9, "public.hist");
  auto reparsed = parse_manifest(other, &problems);
  ASSERT_TRUE(reparsed);
  spit(s.path() / "b" / "manifest.json", other);
  sign_all(s.path() / "b", k);
  auto bad = load_bundle(s.path() / "b", k.trust(), verify_options());
  ASSERT_FALSE(bad.ok());
  bool found = false;
  for (const auto& p : bad.problems) found = found || p.message.find("not a bookkeeping statement of dbmate") != std::string::npos;
  EXPECT_TRUE(found);
}

TEST(ToolHistory, BadNamesAndUnknownKeysAreRefused) {
  Scratch s;
  BuildOptions o = options(kMigrations / "sqitch", s.path() / "b");
  o.tool = MigrationTool::sqitch;
  o.history = {"", "changes"};  // sqitch has a registry schema, no table to name
  BuildResult r = build_bundle(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].where, "--history-table");
  o.history = {"Registry", ""};
  r = build_bundle(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].where, "--history-schema");

  o.history = {"registry", ""};
  r = build_bundle(o);
  ASSERT_TRUE(r.ok());
  std::string manifest = slurp(s.path() / "b" / "manifest.json");
  std::vector<Problem> problems;
  auto with = [&](std::string_view from, std::string_view to) {
    std::string m = manifest;
    auto at = m.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) m.replace(at, from.size(), to);
    problems.clear();
    return parse_manifest(m, &problems);
  };
  const std::string h = "\"history\": {\n      \"schema\": \"registry\"\n    }";
  EXPECT_TRUE(with(h, h));
  EXPECT_FALSE(with(h, "\"history\": {\"schema\": \"registry\", \"x\": 1}"));
  EXPECT_FALSE(with(h, "\"history\": {\"schema\": \"\"}"));
  EXPECT_FALSE(with(h, "\"history\": {}"));
  EXPECT_FALSE(with(h, "\"history\": \"registry\""));

  // Profile 1 has no history names: a signed manifest claiming both is refused.
  Keys k;
  std::string p1 = manifest;
  p1.replace(p1.find("\"profile\": 2"), 12, "\"profile\": 1");
  spit(s.path() / "b" / "manifest.json", p1);
  sign_all(s.path() / "b", k);
  auto loaded = load_bundle(s.path() / "b", k.trust(), verify_options());
  ASSERT_FALSE(loaded.ok());
  bool found = false;
  for (const auto& p : loaded.problems) found = found || p.message.find("need profile 2") != std::string::npos;
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace bundle_test
