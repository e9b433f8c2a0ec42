#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/server_admin.h"

namespace ddlgate::sql {
namespace {

TEST(PolicyClass, NamesAreStableAndRoundTrip) {
  EXPECT_EQ(to_string(StatementClass::schema_change), "schema_change");
  EXPECT_EQ(to_string(StatementClass::server_file_access), "server_file_access");
  EXPECT_EQ(to_string(StatementClass::transaction), "transaction");
  for (StatementClass cls : kAllStatementClasses) EXPECT_EQ(class_from_string(to_string(cls)), cls);
  EXPECT_FALSE(class_from_string("ddl").has_value());
  EXPECT_FALSE(class_from_string("").has_value());
}

TEST(PolicyClass, DefaultPolicyControlsEverythingButTheEverydayClasses) {
  Policy p;
  for (StatementClass cls : kAllStatementClasses) {
    bool everyday = cls == StatementClass::read || cls == StatementClass::write || cls == StatementClass::transaction ||
                    cls == StatementClass::session || cls == StatementClass::maintenance;
    EXPECT_EQ(p.controlled(cls), !everyday) << to_string(cls);
  }
}

TEST(PolicyClass, UnparseableAndUnknownCannotBeReleased) {
  Policy p;
  p.set_controlled(StatementClass::unparseable, false);
  p.set_controlled(StatementClass::unknown, false);
  p.set_controlled(StatementClass::maintenance, true);
  p.set_controlled(StatementClass::destructive, false);
  EXPECT_TRUE(p.controlled(StatementClass::unparseable));
  EXPECT_TRUE(p.controlled(StatementClass::unknown));
  EXPECT_TRUE(p.controlled(StatementClass::maintenance));
  EXPECT_FALSE(p.controlled(StatementClass::destructive));
}

TEST(PolicyAnalyze, PolicyDecidesControlled) {
  Policy p;
  p.set_controlled(StatementClass::maintenance, true);
  auto a = analyze("VACUUM t; TRUNCATE t", p);
  ASSERT_EQ(a.statements.size(), 2u);
  EXPECT_TRUE(a.statements[0].controlled);
  EXPECT_FALSE(a.statements[0].hash.empty());
}

TEST(PolicyAnalyze, TemporaryObjectsAreControlledUnlessThePolicyAllowsThem) {
  Policy strict;
  Policy lax;
  lax.set_allow_temporary_objects(true);
  for (const char* sql : {"CREATE TEMP TABLE t (a int)", "SELECT 1 INTO TEMP t", "CREATE TEMP VIEW v AS SELECT 1"}) {
    SCOPED_TRACE(sql);
    auto a = analyze(sql, strict);
    ASSERT_EQ(a.statements.size(), 1u);
    EXPECT_TRUE(a.statements[0].temporary);
    EXPECT_TRUE(a.statements[0].controlled);
    EXPECT_FALSE(analyze(sql, lax).statements[0].controlled);
  }
  // Only the explicit TEMP keyword counts; everything else stays controlled.
  EXPECT_TRUE(analyze("CREATE TABLE pg_temp.t (a int)", lax).statements[0].controlled);
  EXPECT_TRUE(analyze("CREATE INDEX ON tmp (a)", lax).statements[0].controlled);
}

TEST(PolicyAnalyze, ParseErrorCarriesPostgresMessageAndPosition) {
  auto a = analyze("CREATE TABL t (a int)");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error->message, "syntax error at or near \"TABL\"");
  EXPECT_EQ(a.error->position, 8u);
  EXPECT_TRUE(a.statements.empty());
  EXPECT_TRUE(a.any_controlled());
}

TEST(PolicyAnalyze, ErrorInALaterStatementRefusesTheWholeString) {
  auto a = analyze("SELECT 1; SELEC 2");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error->position, 11u);
}

TEST(PolicyAnalyze, EmbeddedNulIsAParseError) {
  std::string sql("SELECT 1;\0DROP TABLE t", 22);
  auto a = analyze(sql);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error->position, 10u);
}

TEST(PolicyAnalyze, EmptyAndCommentOnlyInputHaveNoStatements) {
  EXPECT_TRUE(analyze("").ok());
  EXPECT_TRUE(analyze("").statements.empty());
  EXPECT_TRUE(analyze("  -- nothing\n/* here */ ;").statements.empty());
  EXPECT_FALSE(analyze("").any_controlled());
}

TEST(PolicyAnalyze, StatementsPointAtTheirSourceText) {
  std::string sql = "SELECT 1; CREATE TABLE t (a int);\nDROP TABLE u";
  auto a = analyze(sql);
  ASSERT_EQ(a.statements.size(), 3u);
  EXPECT_EQ(sql.substr(a.statements[0].offset, a.statements[0].length), "SELECT 1");
  EXPECT_EQ(sql.substr(a.statements[1].offset, a.statements[1].length), " CREATE TABLE t (a int)");
  EXPECT_EQ(sql.substr(a.statements[2].offset, a.statements[2].length), "\nDROP TABLE u");
}

TEST(PolicyAnalyze, HotPathSkipsHashAndDisplayForReads) {
  auto a = analyze("SELECT 1; DROP TABLE t");
  ASSERT_EQ(a.statements.size(), 2u);
  EXPECT_TRUE(a.statements[0].hash.empty());
  EXPECT_TRUE(a.statements[0].display_sql.empty());
  EXPECT_EQ(a.statements[1].display_sql, "DROP TABLE t");
  auto full = analyze("SELECT 1; DROP TABLE t", Policy{}, Detail::all);
  EXPECT_EQ(full.statements[0].display_sql, "SELECT 1");
}

TEST(PolicyRedaction, PasswordsNeverReachTheDisplay) {
  struct Case {
    const char* sql;
    const char* secret;
  } cases[] = {
      {"CREATE ROLE bob LOGIN PASSWORD 'hunter2'", "hunter2"},
      {"CREATE USER bob WITH ENCRYPTED PASSWORD 'hunter2'", "hunter2"},
      {"ALTER ROLE bob PASSWORD 'hunter2' VALID UNTIL 'infinity'", "hunter2"},
      {"ALTER USER bob WITH PASSWORD $$hunter2$$", "hunter2"},
      {"CREATE SUBSCRIPTION s CONNECTION 'host=db password=hunter2' PUBLICATION p", "hunter2"},
      {"ALTER SUBSCRIPTION s CONNECTION 'host=db password=hunter2'", "hunter2"},
      {"CREATE USER MAPPING FOR bob SERVER srv OPTIONS (user 'remote_bob', password 'hunter2')", "hunter2"},
      {"CREATE USER MAPPING FOR bob SERVER srv OPTIONS (user 'remote_bob', password 'hunter2')", "remote_bob"},
      {"ALTER USER MAPPING FOR bob SERVER srv OPTIONS (SET password 'hunter2')", "hunter2"},
      {"CREATE SERVER srv FOREIGN DATA WRAPPER dblink_fdw OPTIONS (host 'h', password 'hunter2')", "hunter2"},
      {"SET ddlgate.break_glass = 'v4.public.hunter2'", "hunter2"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sql);
    auto a = analyze(c.sql, Policy{}, Detail::all);
    ASSERT_EQ(a.statements.size(), 1u);
    const auto& display = a.statements[0].display_sql;
    EXPECT_EQ(display.find(c.secret), std::string::npos) << display;
    EXPECT_NE(display.find("********"), std::string::npos) << display;
  }
  // Non-secret options stay visible.
  auto srv = analyze("CREATE SERVER srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db1')", Policy{}, Detail::all);
  EXPECT_NE(srv.statements[0].display_sql.find("db1"), std::string::npos);
}

TEST(PolicyRedaction, HashCoversTheRealSecret) {
  auto a = analyze("ALTER ROLE bob PASSWORD 'one'; ALTER ROLE bob PASSWORD 'two'", Policy{}, Detail::all);
  ASSERT_EQ(a.statements.size(), 2u);
  EXPECT_EQ(a.statements[0].display_sql, a.statements[1].display_sql);
  EXPECT_NE(a.statements[0].hash, a.statements[1].hash);
  // And the hash is the one of the unredacted statement, not of the placeholder.
  auto placeholder = analyze("ALTER ROLE bob PASSWORD '********'", Policy{}, Detail::all);
  EXPECT_NE(placeholder.statements[0].hash, a.statements[0].hash);
}

}  // namespace
}  // namespace ddlgate::sql

namespace ddlgate::sql {
namespace {

std::string operator_chain(int n) {
  std::string sql = "SELECT ";
  for (int i = 0; i < n; ++i) sql += "1+";
  return sql + "1";
}

TEST(PolicyAnalyze, ModeratelyNestedStatementsAreAnalysed) {
  auto a = analyze(operator_chain(500), Policy{}, Detail::all);
  ASSERT_TRUE(a.ok()) << a.error->message;
  EXPECT_EQ(a.statements[0].cls, StatementClass::read);
  EXPECT_EQ(a.statements[0].hash.size(), 71u);
}

// libpg_query and protobuf-c recurse once per tree level: a deep tree must be
// refused as a value, on the caller's stack (small input) or the helper thread's.
TEST(PolicyAnalyze, DeeplyNestedStatementsAreRefusedNotCrashed) {
  for (int n : {5000, 20000}) {
    SCOPED_TRACE(n);
    for (Detail d : {Detail::controlled_only, Detail::all}) {
      auto a = analyze(operator_chain(n), Policy{}, d);
      ASSERT_FALSE(a.ok());
      EXPECT_NE(a.error->message.find("nested too deeply"), std::string::npos) << a.error->message;
      EXPECT_TRUE(a.any_controlled());
    }
  }
}

TEST(PolicyAnalyze, LargeFlatInputIsAnalysedOnTheHelperThread) {
  std::string sql;
  for (int i = 0; i < 2000; ++i) sql += "INSERT INTO t VALUES (" + std::to_string(i) + ", 'row');\n";
  ASSERT_GT(sql.size(), 16u * 1024);
  auto a = analyze(sql);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a.statements.size(), 2000u);
  EXPECT_EQ(a.statements[1999].cls, StatementClass::write);
}

TEST(PolicyAnalyze, OversizedInputIsRefused) {
  std::string sql(kMaxAnalyzedBytes + 1, ' ');
  auto a = analyze(sql);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error->message.find("too large"), std::string::npos);
}

TEST(PolicyAnalyze, StandardConformingStringsOffMakesBackslashAnEscape) {
  const std::string sql = R"(select 'a\' || ' ; drop table t; --')";
  Analysis standard = analyze(sql);
  ASSERT_TRUE(standard.ok());
  ASSERT_EQ(standard.statements.size(), 1u);
  EXPECT_EQ(standard.statements[0].cls, StatementClass::read);
  Analysis legacy = analyze(sql, Policy{}, Detail::controlled_only, ParseOptions{.standard_conforming_strings = false});
  ASSERT_TRUE(legacy.ok()) << legacy.error->message;
  ASSERT_EQ(legacy.statements.size(), 2u);
  EXPECT_EQ(legacy.statements[1].cls, StatementClass::schema_change);
  EXPECT_TRUE(legacy.any_controlled());
  // The setting is per parse: the next default parse reads the standard way again,
  // also on the helper thread used for large inputs.
  EXPECT_EQ(analyze(sql).statements.size(), 1u);
  std::string big = sql + std::string(20000, ' ');
  EXPECT_EQ(analyze(big, Policy{}, Detail::controlled_only, ParseOptions{.standard_conforming_strings = false})
                .statements.size(),
            2u);
  EXPECT_EQ(analyze(big).statements.size(), 1u);
}

TEST(PolicyPlainDml, RecognisesOnlyWhatCannotBeAnythingElse) {
  const std::optional<StatementClass> read = StatementClass::read, write = StatementClass::write, none;
  struct Case {
    const char* sql;
    std::optional<StatementClass> want;
  } cases[] = {
      {"SELECT abalance FROM pgbench_accounts WHERE aid = 12345;", read},
      {"  select\n1 ;  \n", read},
      {"select(1)", read},
      {"select*from t", read},
      {"UPDATE pgbench_accounts SET abalance = abalance + -42 WHERE aid = 7;", write},
      {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, CURRENT_TIMESTAMP);", write},
      {"insert\tinto t values (1)", write},
      {"delete from t where id = 1", write},
      {"select 1; drop table t", none},
      {"select 1;;", none},
      {"select 'a\\' || ' ; drop table t; --'", none},
      {"select * into t2 from t", none},
      {"select * from t where name = 'x into y'", none},  // conservative: "into" anywhere
      {"select pinto from t", none},
      {"insert into t select * into x from y", none},
      {"insert t values (1)", none},
      {"/* c */ select 1", none},
      {"-- c\nselect 1", none},
      {"selectx 1", none},
      {"select", none},
      {"select\xC3\xA9 1", none},
      {"(select 1)", none},
      {"with x as (delete from t) select 1", none},
      {"drop table t", none},
      {"", none},
      {"explain analyze select 1", none},
      // server_admin: a controlled function before '(' (however spelled), a write naming pg_...
      {"select pg_read_file('x')", none},
      {"select PG_CATALOG.PG_READ_FILE ('x')", none},
      {"select \"pg_read_file\"('x')", none},
      {"select pg_read_file\n\t('x')", none},
      {"select pg_read_file/**/('x')", none},
      {"select pg_read_file -- c\n('x')", none},
      {"select pg_read_file -- c\r('x')", none},
      {"select U&\"pg\\005fread_file\"('x')", none},
      {"select a from t where b = set_config('x', 'y', false)", none},
      {"update pg_authid set rolsuper = true", none},
      {"update PG_CATALOG.x set a = 1", none},
      {"delete from \"pg_proc\"", none},
      {"insert into information_schema.sql_features values (1)", none},
      {"select myschema.pg_read_file('x')", none},  // the full analysis decides
      // ...while lookalikes keep the shortcut
      {"select now(), count(*), coalesce(a, b) from t", read},
      {"select lo_export from exports where id = $1", read},
      {"select my_pg_read_file('x')", read},
      {"select pg_read_files('x')", read},
      {"select * from pg_stat_activity where pid = pg_backend_pid()", read},
      {"select a -- c\n, (b) from t", read},
      {"update users set pg_flag = 1 where id = $1", none},  // conservative: pg_ in any write
      {"update users set flag_pg = 1, name = lower($1) where id = $2", write},
      {"insert into app_pg_x (a) values (1)", write},
      {"select 1 & 2", read},
  };
  for (const auto& c : cases) EXPECT_EQ(plain_dml_class(c.sql), c.want) << c.sql;
  EXPECT_EQ(plain_dml_class(std::string_view("select 1\0; drop table t", 24)), none);
}

// Whatever plain_dml_class() recognises, analyze() finds uncontrolled under the
// default policy (or cannot parse, and then neither can the server).
TEST(PolicyPlainDml, AgreesWithTheFullAnalysis) {
  const char* texts[] = {
      "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
      "select * from t for update",
      "update t set a = (select max(b) from u) where c in (select d from v)",
      "insert into t values ($1, $2) on conflict (id) do update set v = excluded.v returning *",
      "delete from t using u where t.id = u.id returning t.*",
      "select pg_sleep(1), pg_backend_pid()",
      "select lo_export, lo_import from exports",
      "update users set flag_pg = 1, name = lower($1) where id = $2",
      "select 1 union select 2 except select 3",
      "select garbage garbage",
  };
  for (const char* sql : texts) {
    auto cls = plain_dml_class(sql);
    ASSERT_TRUE(cls.has_value()) << sql;
    Analysis a = analyze(sql);
    if (!a.ok()) continue;
    EXPECT_FALSE(a.any_controlled()) << sql;
    ASSERT_EQ(a.statements.size(), 1u) << sql;
  }
}

// Every controlled function, called in the ways a client can spell it, is
// server_admin in the full analysis and never settled by the byte scan; another
// schema's function of the same name is not, unless it is an extension's.
TEST(PolicyServerAdmin, EveryListedFunctionIsControlledHoweverItIsCalled) {
  ASSERT_GE(controlled_functions().size(), 60u);
  for (const ControlledFunction& f : controlled_functions()) {
    SCOPED_TRACE(std::string(f.name));
    EXPECT_FALSE(f.why.empty());
    EXPECT_EQ(find_controlled_function(f.name), &f);
    std::string args = "'a'";
    for (int i = 1; i < f.only_with_args; ++i) args += ", 'b'";
    if (f.name == "set_config") args = "'log_statement', 'none', false";
    const std::string name(f.name);
    for (const std::string& call :
         {name + "(" + args + ")", "pg_catalog." + name + "(" + args + ")", "\"" + name + "\" (" + args + ")"}) {
      for (const std::string& sql : {"select " + call, "select * from " + call, "select a from t where b = " + call,
                                     "update t set a = " + call, "insert into t values (" + call + ")",
                                     "delete from t where a in (select " + call + ")"}) {
        SCOPED_TRACE(sql);
        EXPECT_FALSE(plain_dml_class(sql).has_value());
        Analysis a = analyze(sql);
        ASSERT_TRUE(a.ok()) << a.error->message;
        ASSERT_EQ(a.statements.size(), 1u);
        EXPECT_EQ(a.statements[0].cls, StatementClass::server_admin);
        EXPECT_TRUE(a.statements[0].controlled);
        EXPECT_FALSE(a.statements[0].hash.empty());
      }
    }
    Analysis other = analyze("select myschema." + name + "(" + args + ")");
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(other.statements[0].cls,
              f.scope == FunctionScope::extension ? StatementClass::server_admin : StatementClass::read);
  }
  EXPECT_EQ(find_controlled_function("PG_READ_FILE"), find_controlled_function("pg_read_file"));
  EXPECT_EQ(find_controlled_function("pg_read"), nullptr);
  EXPECT_EQ(find_controlled_function(std::string(200, 'p')), nullptr);
}

TEST(PolicyServerAdmin, EveryDangerousSettingIsServerAdminBySetResetAndSetConfig) {
  ASSERT_GE(dangerous_settings().size(), 50u);
  for (const DangerousSetting& s : dangerous_settings()) {
    const std::string name(s.name);
    SCOPED_TRACE(name);
    EXPECT_FALSE(s.why.empty());
    EXPECT_TRUE(is_dangerous_setting(name));
    for (const std::string& sql : {"SET " + name + " = 'x'", "SET LOCAL " + name + " TO 'x'", "RESET " + name,
                                   "SELECT set_config('" + name + "', 'x', false)",
                                   "select set_config('" + name + "'::text, 'x', true) from t"}) {
      Analysis a = analyze(sql);
      ASSERT_TRUE(a.ok()) << sql;
      EXPECT_EQ(a.statements[0].cls, StatementClass::server_admin) << sql;
      EXPECT_TRUE(a.statements[0].controlled) << sql;
    }
  }
  EXPECT_TRUE(is_dangerous_setting("Session_Replication_Role"));
  EXPECT_FALSE(is_dangerous_setting("search_path"));
  EXPECT_FALSE(is_dangerous_setting("myapp.session_replication_role"));
}

TEST(PolicyServerAdmin, SystemRelationsAreThoseOfSystemSchemasAndUnqualifiedPgNames) {
  EXPECT_TRUE(is_system_relation("", "pg_authid"));
  EXPECT_TRUE(is_system_relation("", "pg_anything"));  // unknown, so assumed to be pg_catalog's
  EXPECT_TRUE(is_system_relation("pg_catalog", "anything"));
  EXPECT_TRUE(is_system_relation("pg_toast", "pg_toast_2619"));
  EXPECT_TRUE(is_system_relation("information_schema", "sql_features"));
  EXPECT_FALSE(is_system_relation("public", "pg_authid"));
  EXPECT_FALSE(is_system_relation("pg_temp", "scratch"));
  EXPECT_FALSE(is_system_relation("", "users"));
  EXPECT_FALSE(is_system_relation("", "PG_AUTHID"));  // a quoted name keeps its case: not a catalog
}

// Under a policy that releases server_admin, the hot path still never answers for
// such a statement from its shortcut: it agrees with the full analysis.
TEST(PolicyServerAdmin, ReleasingTheClassReleasesOnlyIt) {
  Policy p;
  p.set_controlled(StatementClass::server_admin, false);
  for (const char* sql : {"SELECT pg_read_file('x')", "UPDATE pg_authid SET rolsuper = true",
                          "SET session_replication_role = replica"}) {
    Analysis a = analyze(sql, p);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.statements[0].cls, StatementClass::server_admin) << sql;
    EXPECT_FALSE(a.statements[0].controlled) << sql;
  }
  EXPECT_TRUE(analyze("SELECT pg_read_file('x')").any_controlled());
}

// PREPARE and DECLARE CURSOR keep their statement for later (EXECUTE, FETCH): break-glass
// allows no such controlled statement, since it could run after the token ends.
TEST(PolicyAnalyze, PrepareAndDeclareAreDeferredAndClassifiedByWhatTheyWrap) {
  Analysis a = analyze(
      "PREPARE p AS SELECT 1 AS x INTO t; PREPARE q AS SELECT 1; DECLARE c CURSOR FOR SELECT 1; "
      "EXECUTE p; SELECT 1 INTO u; CREATE TABLE v (id int)",
      Policy{}, Detail::all);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a.statements.size(), 6u);
  const std::vector<bool> deferred = {true, true, true, false, false, false};
  for (std::size_t i = 0; i < deferred.size(); ++i) EXPECT_EQ(a.statements[i].deferred, deferred[i]) << i;
  EXPECT_EQ(a.statements[0].cls, StatementClass::schema_change);
  EXPECT_TRUE(a.statements[0].controlled);
  EXPECT_EQ(a.statements[1].cls, StatementClass::read);
  EXPECT_FALSE(a.statements[1].controlled);
}

// Outcomes follow a transaction's savepoints: both the hot path's JSON reading and
// the full analysis name the effect and the savepoint as the server folds it.
TEST(PolicyAnalyze, SessionEffectsAndNamesAreReadAsTheServerFoldsThem) {
  using E = SessionEffect;
  const std::string txn =
      "SAVEPOINT a; SAVEPOINT \"My Point\"; RELEASE SAVEPOINT A; RELEASE \"My Point\"; ROLLBACK TO SAVEPOINT Sp1; "
      "ROLLBACK TO b; COMMIT AND CHAIN; ROLLBACK AND CHAIN; ROLLBACK; COMMIT; BEGIN";
  const std::vector<std::pair<E, std::string>> want = {
      {E::define, "a"},      {E::define, "My Point"}, {E::release, "a"}, {E::release, "My Point"},
      {E::rollback_to, "sp1"}, {E::rollback_to, "b"}, {E::chain, ""},    {E::chain, ""},
      {E::none, ""},         {E::none, ""},           {E::none, ""}};
  // Alone (the hot path reads them from libpg_query's JSON), and behind a controlled
  // statement (the whole text takes the full analysis).
  for (const std::string& sql : {txn, "CREATE TABLE t (id int); " + txn}) {
    for (Detail d : {Detail::controlled_only, Detail::all}) {
      SCOPED_TRACE(sql.substr(0, 12) + (d == Detail::all ? " all" : " controlled_only"));
      Analysis a = analyze(sql, Policy{}, d);
      ASSERT_TRUE(a.ok());
      EXPECT_TRUE(a.any_session_effect());
      const std::size_t skip = a.statements.size() - want.size();
      ASSERT_LE(skip, 1u);
      for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(a.statements[skip + i].session_effect, want[i].first) << i;
        EXPECT_EQ(a.statements[skip + i].effect_name, want[i].second) << i;
      }
    }
  }
  EXPECT_FALSE(analyze("BEGIN; SELECT 1; COMMIT").any_session_effect());
}

// Full-statement logging forgets the prepared statements the server drops: DEALLOCATE
// names one (folded as the server folds it), DEALLOCATE ALL and DISCARD ALL drop them all;
// the other DISCARD forms drop none.
TEST(PolicyAnalyze, DeallocateAndDiscardAllSayWhichPreparedStatementsTheServerDrops) {
  using E = SessionEffect;
  const std::string sql =
      "DEALLOCATE s1; DEALLOCATE PREPARE \"My Stmt\"; DEALLOCATE ALL; DEALLOCATE PREPARE ALL; DISCARD ALL; "
      "DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES";
  const std::vector<std::pair<E, std::string>> want = {
      {E::deallocate, "s1"}, {E::deallocate, "My Stmt"}, {E::deallocate_all, ""}, {E::deallocate_all, ""},
      {E::deallocate_all, ""}, {E::none, ""}, {E::none, ""}, {E::none, ""}};
  for (Detail d : {Detail::controlled_only, Detail::all}) {
    Analysis a = analyze(sql, Policy{}, d);
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a.statements.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(a.statements[i].session_effect, want[i].first) << i;
      EXPECT_EQ(a.statements[i].effect_name, want[i].second) << i;
      EXPECT_FALSE(a.statements[i].controlled) << i;
    }
  }
}

// Replay protection refuses SQL that may run a once-only statement prepared with Parse:
// every EXECUTE in a statement names it, folded and cut to 63 bytes as the server's parser does.
TEST(PolicyAnalyze, ExecutesNamesThePreparedStatementsAnExecuteRuns) {
  const std::string long_name(70, 'm');
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"EXECUTE Mig", {"mig"}},
      {"execute \"Mig\"(1, 'a')", {"Mig"}},
      {"explain analyze execute mig", {"mig"}},
      {"explain (analyze false) execute mig", {"mig"}},
      {"create table t as execute mig", {"mig"}},
      {"create temp table t as execute mig with no data", {"mig"}},
      {"explain analyze create table t as execute mig", {"mig"}},
      {"execute " + long_name, {std::string(63, 'm')}},
      {"select 'execute mig'", {}},
      {"do $$begin execute 'execute mig'; end$$", {}},
      {"prepare p as select 1", {}},
      {"deallocate mig", {}},
  };
  for (Detail d : {Detail::controlled_only, Detail::all}) {
    for (const auto& [sql, want] : cases) {
      Analysis a = analyze(sql, Policy{}, d);
      ASSERT_TRUE(a.ok()) << sql;
      ASSERT_EQ(a.statements.size(), 1u) << sql;
      EXPECT_EQ(a.statements[0].executes, want) << sql;
    }
  }
  Analysis two = analyze("select 1; execute a; execute b");
  ASSERT_EQ(two.statements.size(), 3u);
  EXPECT_TRUE(two.statements[0].executes.empty());
  EXPECT_EQ(two.statements[1].executes, std::vector<std::string>{"a"});
  EXPECT_EQ(two.statements[2].executes, std::vector<std::string>{"b"});
}

TEST(PolicyAnalyze, EmptyStringsTheDeparserCannotTakeAreAnalysedNotCrashed) {
  // libpg_query 15's deparser dereferences NULL for these (an empty string literal in a plain
  // text field reads back from the protobuf tree as NULL); fuzz_classifier found each.
  for (const char* sql : {"LOAD ''", "PREPARE TRANSACTION ''", "COMMIT PREPARED ''", "ROLLBACK PREPARED ''",
                          "ALTER TYPE e ADD VALUE ''", "ALTER SUBSCRIPTION s CONNECTION ''",
                          "CREATE CONVERSION c FOR '' TO 'UTF8' FROM f"}) {
    for (Detail d : {Detail::controlled_only, Detail::all}) {
      Analysis a = analyze(sql, Policy{}, d);
      ASSERT_TRUE(a.ok()) << sql;
      ASSERT_EQ(a.statements.size(), 1u) << sql;
      if (d == Detail::all || a.statements[0].controlled) {
        EXPECT_FALSE(a.statements[0].hash.empty()) << sql;
        EXPECT_EQ(a.statements[0].display_sql.rfind("-- cannot deparse: an empty string literal", 0), 0u)
            << sql << ": " << a.statements[0].display_sql;
      }
    }
  }
  EXPECT_EQ(analyze("LOAD ''").statements[0].cls, StatementClass::code);
  // An empty string literal as a value (a String node) deparses as usual.
  EXPECT_EQ(analyze("SELECT ''", Policy{}, Detail::all).statements[0].display_sql, "SELECT ''");
  EXPECT_EQ(analyze("ALTER TYPE e ADD VALUE 'x'").statements[0].display_sql, "ALTER TYPE e ADD VALUE 'x'");
}

}  // namespace
}  // namespace ddlgate::sql

namespace ddlgate::sql {

namespace {

// PlainDmlStream's answer for `text` fed in parts of the given sizes (the rest as one last part).
std::optional<StatementClass> stream_class(std::string_view text, const std::vector<std::size_t>& parts) {
  PlainDmlStream s;
  std::size_t at = 0;
  for (std::size_t n : parts) {
    if (at >= text.size()) break;
    n = std::min(n, text.size() - at);
    if (!s.feed(text.substr(at, n))) return std::nullopt;
    at += n;
  }
  if (at < text.size() && !s.feed(text.substr(at))) return std::nullopt;
  return s.finish();
}

}  // namespace

// Texts shorter than the stream's prefix window get exactly plain_dml_class()'s answer,
// however they are cut.
TEST(PlainDmlStream, AgreesWithPlainDmlClassAtEverySplit) {
  const char* texts[] = {
      "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;", "  select\n1 ;  \n", "select(1)",
      "UPDATE pgbench_accounts SET abalance = abalance + -42 WHERE aid = 7;",
      "insert\tinto t values (1)", "delete from t where id = 1", "select 1; drop table t", "select 1;;",
      "select * into t2 from t", "select * from t where name = 'x into y'", "select pinto from t",
      "insert t values (1)", "/* c */ select 1", "selectx 1", "select", "(select 1)", "select pg_read_file('x')",
      "select pg_read_file  ('x')", "select \"pg_read_file\"('x')", "select a -- c\n, pg_read_file\n('x')",
      "select a -- c\n, (b) from t", "update pg_authid set rolsuper = true", "insert into information_schema.x values (1)",
      "update users set flag_pg = 1, name = lower($1) where id = $2", "select 1 & 2", "select U&\"a\" from t",
      "select f() /* c */ (1)", "insert into t values ('x'); ", "insert into t values ('x');\n -- c",
      "select 1 /", "insert into t values (1) returning id", "select a from t where b = set_config('x', 'y', false)",
  };
  for (const char* text : texts) {
    const std::string_view t(text);
    const auto want = plain_dml_class(t);
    EXPECT_EQ(stream_class(t, {}), want) << t;
    EXPECT_EQ(stream_class(t, std::vector<std::size_t>(t.size(), 1)), want) << "byte at a time: " << t;
    for (std::size_t cut = 0; cut <= t.size(); ++cut) EXPECT_EQ(stream_class(t, {cut}), want) << cut << ": " << t;
  }
}

// Long texts with stop bytes in every place: the stream never says plain where the
// whole text is not, and it is plain for the plain ones.
TEST(PlainDmlStream, NeverPlainWhereTheWholeTextIsNot) {
  std::vector<std::string> vocab = {"a", "0f", " ", "\n", "'", ",", ";", "(", ")", "i", "into", "INTO", "pinto", "_",
                                    "pg_", "information_", "pg_read_file", "\"pg_read_file\"", "-", "--", "&", "U&\"",
                                    "*/", "/*",
                                    std::string(1500, ' '),  // a run longer than the stream's window
                                    "set_config", "lo_export", "x", std::string(1, '\0')};
  std::mt19937 rng(7);
  int plain_seen = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = round % 2 ? "insert into t values ('" : "select '";
    const std::size_t filler = 5000 + rng() % 20000;
    while (text.size() < filler) text += (rng() % 4 == 0) ? std::string(40, 'a') : "0123456789abcdef";
    // A few stop tokens, anywhere (plain ones only sometimes).
    const int stops = static_cast<int>(rng() % 4);
    for (int i = 0; i < stops; ++i) {
      const std::string& piece = vocab[rng() % vocab.size()];
      text.insert(rng() % (text.size() + 1) > 40 ? 40 + rng() % (text.size() - 39) : text.size(), piece);
    }
    text += round % 2 ? "')" : "'";
    std::vector<std::size_t> parts;
    for (std::size_t sum = 0; sum < text.size();) {
      parts.push_back(1 + rng() % (round % 3 == 0 ? 7 : 20000));
      sum += parts.back();
    }
    const auto whole = plain_dml_class(text);
    const auto streamed = stream_class(text, parts);
    if (streamed) {
      ++plain_seen;
      EXPECT_EQ(streamed, whole) << "round " << round;
    }
  }
  EXPECT_GT(plain_seen, 500);  // the test says plain often enough to mean something
}

// The attack: a large INSERT whose tail runs a second statement, or calls a controlled
// function after a long run of whitespace (a look back past the window).
TEST(PlainDmlStream, ATailThatIsNotPlainIsCaughtAfterMegabytes) {
  std::string hex;
  for (int i = 0; i < 4 * 1024 * 1024; ++i) hex += "0123456789abcdef"[i % 16];
  const std::string insert = "insert into t values (1, '\\x" + hex + "')";
  const std::vector<std::size_t> reads(insert.size() / 16384 + 2, 16384);
  EXPECT_EQ(stream_class(insert, reads), StatementClass::write);
  EXPECT_EQ(stream_class(insert + ";\n", reads), StatementClass::write);
  EXPECT_EQ(stream_class(insert + "; drop table x", reads), std::nullopt);
  EXPECT_EQ(stream_class(insert + ";\n;", reads), std::nullopt);
  EXPECT_EQ(stream_class(insert + std::string(1, '\0') + "; drop table x", reads), std::nullopt);
  const std::string select = "select length('" + hex + "')";
  EXPECT_EQ(stream_class(select, reads), StatementClass::read);
  EXPECT_EQ(stream_class(select + ", pg_read_file" + std::string(3000, ' ') + "('/etc/passwd')", reads), std::nullopt);
  EXPECT_EQ(stream_class(select + ", \"pg_read_file\"" + std::string(3000, '\n') + "('/etc/passwd')", reads),
            std::nullopt);
  EXPECT_EQ(stream_class(select + " into t2", reads), std::nullopt);
  EXPECT_EQ(stream_class(select + ", U&\"x\"", reads), std::nullopt);
  // Leading whitespace: read in the first part when it holds the keyword; past the first
  // 4 KiB fed in small parts, not streamed (conservative).
  EXPECT_EQ(stream_class(std::string(5000, ' ') + select, reads), StatementClass::read);
  EXPECT_EQ(stream_class(std::string(5000, ' ') + select, std::vector<std::size_t>(10000, 1000)), std::nullopt);
}

}  // namespace ddlgate::sql
