// Statement::command_tag against PostgreSQL 15's CreateCommandTag (utility.c), and
// Statement::names_qualified's conservative judgement. The real server checks the
// tags too (tests/integration/command_tag_test.cpp).
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/sql/analyze.h"

namespace ddlgate::sql {
namespace {

Statement only(const std::string& sql, Detail detail = Detail::all) {
  Analysis a = analyze(sql, Policy{}, detail);
  EXPECT_TRUE(a.ok()) << sql << ": " << (a.error ? a.error->message : "");
  EXPECT_EQ(a.statements.size(), 1u) << sql;
  if (!a.ok() || a.statements.size() != 1) return {};
  return a.statements[0];
}

TEST(CommandTag, FollowsCreateCommandTag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"CREATE TABLE t (a int)", "CREATE TABLE"},
      {"CREATE TEMP TABLE t (a int)", "CREATE TABLE"},
      {"CREATE TABLE t AS SELECT 1", "CREATE TABLE AS"},
      {"CREATE TABLE t AS EXECUTE p", "CREATE TABLE AS"},
      {"SELECT 1 INTO t", "SELECT INTO"},
      {"SELECT 1 INTO t UNION SELECT 2", "SELECT INTO"},
      {"SELECT 1", "SELECT"},
      {"SELECT 1 FOR UPDATE", "SELECT"},
      {"CREATE MATERIALIZED VIEW m AS SELECT 1", "CREATE MATERIALIZED VIEW"},
      {"REFRESH MATERIALIZED VIEW m", "REFRESH MATERIALIZED VIEW"},
      {"ALTER TABLE t ADD COLUMN b int", "ALTER TABLE"},
      {"ALTER VIEW v ALTER COLUMN a SET DEFAULT 1", "ALTER VIEW"},
      {"ALTER SEQUENCE s RESTART", "ALTER SEQUENCE"},
      {"ALTER SEQUENCE s OWNER TO r", "ALTER SEQUENCE"},
      {"ALTER INDEX i SET (fillfactor = 50)", "ALTER INDEX"},
      {"ALTER FOREIGN TABLE f ADD COLUMN b int", "ALTER FOREIGN TABLE"},
      {"ALTER MATERIALIZED VIEW m SET (fillfactor = 50)", "ALTER MATERIALIZED VIEW"},
      {"ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE"},
      {"ALTER VIEW v RENAME COLUMN a TO b", "ALTER VIEW"},
      {"ALTER MATERIALIZED VIEW m RENAME COLUMN a TO b", "ALTER MATERIALIZED VIEW"},
      {"ALTER FOREIGN TABLE f RENAME COLUMN a TO b", "ALTER FOREIGN TABLE"},
      {"ALTER TABLE t RENAME TO u", "ALTER TABLE"},
      {"ALTER TABLE t RENAME CONSTRAINT c TO d", "ALTER TABLE"},
      {"ALTER TYPE ty RENAME ATTRIBUTE a TO b", "ALTER TYPE"},
      {"ALTER TRIGGER tr ON t RENAME TO tr2", "ALTER TRIGGER"},
      {"ALTER DOMAIN d RENAME CONSTRAINT c TO e", "ALTER DOMAIN"},
      {"ALTER SCHEMA s RENAME TO s2", "ALTER SCHEMA"},
      {"ALTER TABLE t SET SCHEMA s", "ALTER TABLE"},
      {"ALTER FUNCTION f() SET SCHEMA s", "ALTER FUNCTION"},
      {"ALTER FUNCTION f() OWNER TO r", "ALTER FUNCTION"},
      {"ALTER FUNCTION f() DEPENDS ON EXTENSION e", "ALTER FUNCTION"},
      {"ALTER FUNCTION f() STABLE", "ALTER FUNCTION"},
      {"ALTER PROCEDURE p() SECURITY DEFINER", "ALTER PROCEDURE"},
      {"ALTER ROUTINE f() STABLE", "ALTER ROUTINE"},
      {"ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b", "ALTER TABLE"},
      {"ALTER INDEX ALL IN TABLESPACE a SET TABLESPACE b", "ALTER INDEX"},
      {"ALTER MATERIALIZED VIEW ALL IN TABLESPACE a SET TABLESPACE b", "ALTER MATERIALIZED VIEW"},
      {"GRANT SELECT ON t TO r", "GRANT"},
      {"REVOKE SELECT ON t FROM r", "REVOKE"},
      {"GRANT r1 TO r2", "GRANT ROLE"},
      {"REVOKE r1 FROM r2", "REVOKE ROLE"},
      {"ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r", "ALTER DEFAULT PRIVILEGES"},
      {"CREATE AGGREGATE a (int) (sfunc = int4pl, stype = int)", "CREATE AGGREGATE"},
      {"CREATE OPERATOR === (function = f, leftarg = int, rightarg = int)", "CREATE OPERATOR"},
      {"CREATE TYPE ty", "CREATE TYPE"},
      {"CREATE TYPE ty AS (a int)", "CREATE TYPE"},
      {"CREATE TYPE ty AS ENUM ('a')", "CREATE TYPE"},
      {"CREATE TYPE ty AS RANGE (subtype = int)", "CREATE TYPE"},
      {"ALTER TYPE ty ADD VALUE 'b'", "ALTER TYPE"},
      {"ALTER TYPE ty SET (storage = plain)", "ALTER TYPE"},
      {"CREATE TEXT SEARCH PARSER p (start = a, gettoken = b, end = c, lextypes = d)", "CREATE TEXT SEARCH PARSER"},
      {"CREATE TEXT SEARCH DICTIONARY d (template = simple)", "CREATE TEXT SEARCH DICTIONARY"},
      {"CREATE TEXT SEARCH TEMPLATE t (lexize = f)", "CREATE TEXT SEARCH TEMPLATE"},
      {"CREATE TEXT SEARCH CONFIGURATION c (parser = default)", "CREATE TEXT SEARCH CONFIGURATION"},
      {"CREATE COLLATION c (locale = 'C')", "CREATE COLLATION"},
      {"CREATE ACCESS METHOD am TYPE INDEX HANDLER h", "CREATE ACCESS METHOD"},
      {"DROP TABLE t", "DROP TABLE"},
      {"DROP SEQUENCE s", "DROP SEQUENCE"},
      {"DROP VIEW v", "DROP VIEW"},
      {"DROP MATERIALIZED VIEW m", "DROP MATERIALIZED VIEW"},
      {"DROP INDEX CONCURRENTLY i", "DROP INDEX"},
      {"DROP TYPE ty", "DROP TYPE"},
      {"DROP DOMAIN d", "DROP DOMAIN"},
      {"DROP COLLATION c", "DROP COLLATION"},
      {"DROP CONVERSION c", "DROP CONVERSION"},
      {"DROP SCHEMA s CASCADE", "DROP SCHEMA"},
      {"DROP TEXT SEARCH PARSER p", "DROP TEXT SEARCH PARSER"},
      {"DROP TEXT SEARCH DICTIONARY d", "DROP TEXT SEARCH DICTIONARY"},
      {"DROP TEXT SEARCH TEMPLATE t", "DROP TEXT SEARCH TEMPLATE"},
      {"DROP TEXT SEARCH CONFIGURATION c", "DROP TEXT SEARCH CONFIGURATION"},
      {"DROP FOREIGN TABLE f", "DROP FOREIGN TABLE"},
      {"DROP EXTENSION e", "DROP EXTENSION"},
      {"DROP FUNCTION f()", "DROP FUNCTION"},
      {"DROP PROCEDURE p()", "DROP PROCEDURE"},
      {"DROP ROUTINE r()", "DROP ROUTINE"},
      {"DROP AGGREGATE a(int)", "DROP AGGREGATE"},
      {"DROP OPERATOR === (int, int)", "DROP OPERATOR"},
      {"DROP LANGUAGE l", "DROP LANGUAGE"},
      {"DROP CAST (int AS text)", "DROP CAST"},
      {"DROP TRIGGER tr ON t", "DROP TRIGGER"},
      {"DROP EVENT TRIGGER e", "DROP EVENT TRIGGER"},
      {"DROP RULE r ON t", "DROP RULE"},
      {"DROP FOREIGN DATA WRAPPER w", "DROP FOREIGN DATA WRAPPER"},
      {"DROP SERVER s", "DROP SERVER"},
      {"DROP OPERATOR CLASS c USING btree", "DROP OPERATOR CLASS"},
      {"DROP OPERATOR FAMILY f USING btree", "DROP OPERATOR FAMILY"},
      {"DROP POLICY p ON t", "DROP POLICY"},
      {"DROP TRANSFORM FOR int LANGUAGE sql", "DROP TRANSFORM"},
      {"DROP ACCESS METHOD am", "DROP ACCESS METHOD"},
      {"DROP PUBLICATION p", "DROP PUBLICATION"},
      {"DROP STATISTICS s", "DROP STATISTICS"},
      {"DROP ROLE r", "DROP ROLE"},
      {"DROP USER r", "DROP ROLE"},
      {"DROP DATABASE d", "DROP DATABASE"},
      {"DROP TABLESPACE ts", "DROP TABLESPACE"},
      {"DROP OWNED BY r", "DROP OWNED"},
      {"DROP USER MAPPING FOR r SERVER s", "DROP USER MAPPING"},
      {"DROP SUBSCRIPTION s", "DROP SUBSCRIPTION"},
      {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", "CREATE FUNCTION"},
      {"CREATE PROCEDURE p() LANGUAGE sql AS 'select 1'", "CREATE PROCEDURE"},
      {"CREATE ROLE r", "CREATE ROLE"},
      {"CREATE USER r", "CREATE ROLE"},
      {"CREATE GROUP r", "CREATE ROLE"},
      {"ALTER ROLE r LOGIN", "ALTER ROLE"},
      {"ALTER USER r SET work_mem = '1MB'", "ALTER ROLE"},
      {"ALTER ROLE r RENAME TO q", "ALTER ROLE"},
      {"CREATE DATABASE d", "CREATE DATABASE"},
      {"ALTER DATABASE d SET work_mem = '1MB'", "ALTER DATABASE"},
      {"ALTER DATABASE d REFRESH COLLATION VERSION", "ALTER DATABASE"},
      {"ALTER DATABASE d CONNECTION LIMIT 3", "ALTER DATABASE"},
      {"CREATE TABLESPACE ts LOCATION '/x'", "CREATE TABLESPACE"},
      {"ALTER TABLESPACE ts SET (seq_page_cost = 1)", "ALTER TABLESPACE"},
      {"ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM"},
      {"COMMENT ON TABLE t IS 'x'", "COMMENT"},
      {"SECURITY LABEL ON TABLE t IS 'x'", "SECURITY LABEL"},
      {"CREATE INDEX ON t (a)", "CREATE INDEX"},
      {"CREATE VIEW v AS SELECT 1", "CREATE VIEW"},
      {"CREATE RULE r AS ON INSERT TO t DO NOTHING", "CREATE RULE"},
      {"CREATE SEQUENCE s", "CREATE SEQUENCE"},
      {"CREATE DOMAIN d AS int", "CREATE DOMAIN"},
      {"ALTER DOMAIN d SET NOT NULL", "ALTER DOMAIN"},
      {"CREATE SCHEMA s", "CREATE SCHEMA"},
      {"CREATE EXTENSION e", "CREATE EXTENSION"},
      {"ALTER EXTENSION e UPDATE", "ALTER EXTENSION"},
      {"ALTER EXTENSION e ADD TABLE t", "ALTER EXTENSION"},
      {"ALTER EXTENSION e SET SCHEMA s", "ALTER EXTENSION"},
      {"CREATE FOREIGN DATA WRAPPER w", "CREATE FOREIGN DATA WRAPPER"},
      {"ALTER FOREIGN DATA WRAPPER w OPTIONS (a 'b')", "ALTER FOREIGN DATA WRAPPER"},
      {"CREATE SERVER s FOREIGN DATA WRAPPER w", "CREATE SERVER"},
      {"ALTER SERVER s VERSION '2'", "ALTER SERVER"},
      {"CREATE USER MAPPING FOR r SERVER s", "CREATE USER MAPPING"},
      {"ALTER USER MAPPING FOR r SERVER s OPTIONS (a 'b')", "ALTER USER MAPPING"},
      {"CREATE FOREIGN TABLE f (a int) SERVER s", "CREATE FOREIGN TABLE"},
      {"IMPORT FOREIGN SCHEMA r FROM SERVER s INTO l", "IMPORT FOREIGN SCHEMA"},
      {"TRUNCATE t", "TRUNCATE TABLE"},
      {"COPY t FROM STDIN", "COPY"},
      {"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "CREATE TRIGGER"},
      {"CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()", "CREATE EVENT TRIGGER"},
      {"ALTER EVENT TRIGGER e DISABLE", "ALTER EVENT TRIGGER"},
      {"CREATE LANGUAGE l HANDLER h", "CREATE LANGUAGE"},
      {"REASSIGN OWNED BY a TO b", "REASSIGN OWNED"},
      {"LOCK TABLE t", "LOCK TABLE"},
      {"SET CONSTRAINTS ALL DEFERRED", "SET CONSTRAINTS"},
      {"CHECKPOINT", "CHECKPOINT"},
      {"REINDEX TABLE t", "REINDEX"},
      {"CLUSTER t", "CLUSTER"},
      {"VACUUM t", "VACUUM"},
      {"ANALYZE t", "ANALYZE"},
      {"CREATE CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM f", "CREATE CONVERSION"},
      {"CREATE CAST (int AS text) WITH INOUT", "CREATE CAST"},
      {"CREATE OPERATOR CLASS c FOR TYPE int USING btree AS OPERATOR 1 <", "CREATE OPERATOR CLASS"},
      {"CREATE OPERATOR FAMILY f USING btree", "CREATE OPERATOR FAMILY"},
      {"ALTER OPERATOR FAMILY f USING btree ADD OPERATOR 1 < (int, int)", "ALTER OPERATOR FAMILY"},
      {"ALTER OPERATOR === (int, int) SET (restrict = eqsel)", "ALTER OPERATOR"},
      {"ALTER OPERATOR CLASS c USING btree RENAME TO d", "ALTER OPERATOR CLASS"},
      {"ALTER TEXT SEARCH DICTIONARY d (a = 1)", "ALTER TEXT SEARCH DICTIONARY"},
      {"ALTER TEXT SEARCH CONFIGURATION c DROP MAPPING FOR word", "ALTER TEXT SEARCH CONFIGURATION"},
      {"ALTER TEXT SEARCH PARSER p RENAME TO q", "ALTER TEXT SEARCH PARSER"},
      {"ALTER TEXT SEARCH TEMPLATE t RENAME TO u", "ALTER TEXT SEARCH TEMPLATE"},
      {"CREATE POLICY p ON t USING (true)", "CREATE POLICY"},
      {"ALTER POLICY p ON t USING (false)", "ALTER POLICY"},
      {"CREATE PUBLICATION p", "CREATE PUBLICATION"},
      {"ALTER PUBLICATION p ADD TABLE t", "ALTER PUBLICATION"},
      {"CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p", "CREATE SUBSCRIPTION"},
      {"ALTER SUBSCRIPTION s DISABLE", "ALTER SUBSCRIPTION"},
      {"ALTER COLLATION c REFRESH VERSION", "ALTER COLLATION"},
      {"CREATE STATISTICS s ON a, b FROM t", "CREATE STATISTICS"},
      {"ALTER STATISTICS s SET STATISTICS 10", "ALTER STATISTICS"},
      {"CREATE TRANSFORM FOR int LANGUAGE sql (FROM SQL WITH FUNCTION f(internal))", "CREATE TRANSFORM"},
      {"ALTER LARGE OBJECT 1 OWNER TO r", "ALTER LARGE OBJECT"},
      {"ALTER LANGUAGE l OWNER TO r", "ALTER LANGUAGE"},
      {"ALTER AGGREGATE a(int) OWNER TO r", "ALTER AGGREGATE"},
      {"ALTER CONVERSION c OWNER TO r", "ALTER CONVERSION"},
      {"ALTER RULE r ON t RENAME TO q", "ALTER RULE"},
      {"ALTER POLICY p ON t RENAME TO q", "ALTER POLICY"},
      {"ALTER EVENT TRIGGER e OWNER TO r", "ALTER EVENT TRIGGER"},
      {"ALTER PUBLICATION p OWNER TO r", "ALTER PUBLICATION"},
      {"ALTER SUBSCRIPTION s OWNER TO r", "ALTER SUBSCRIPTION"},
      {"ALTER TABLESPACE ts RENAME TO u", "ALTER TABLESPACE"},
      {"DO $$ BEGIN END $$", "DO"},
      {"CALL p()", "CALL"},
      {"LOAD 'x'", "LOAD"},
      {"INSERT INTO t VALUES (1)", "INSERT"},
      {"UPDATE t SET a = 1", "UPDATE"},
      {"DELETE FROM t", "DELETE"},
      {"MERGE INTO t USING u ON true WHEN MATCHED THEN DELETE", "MERGE"},
      {"EXPLAIN SELECT 1", "EXPLAIN"},
      {"BEGIN", "BEGIN"},
      {"START TRANSACTION", "START TRANSACTION"},
      {"COMMIT", "COMMIT"},
      {"ROLLBACK", "ROLLBACK"},
      {"ROLLBACK TO SAVEPOINT s", "ROLLBACK"},
      {"SAVEPOINT s", "SAVEPOINT"},
      {"RELEASE s", "RELEASE"},
      {"PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION"},
      {"COMMIT PREPARED 'x'", "COMMIT PREPARED"},
      {"ROLLBACK PREPARED 'x'", "ROLLBACK PREPARED"},
      {"DECLARE c CURSOR FOR SELECT 1", "DECLARE CURSOR"},
      {"CLOSE c", "CLOSE CURSOR"},
      {"CLOSE ALL", "CLOSE CURSOR ALL"},
      {"FETCH c", "FETCH"},
      {"MOVE c", "MOVE"},
      {"SET work_mem = '1MB'", "SET"},
      {"SET LOCAL work_mem TO DEFAULT", "SET"},
      {"RESET work_mem", "RESET"},
      {"RESET ALL", "RESET"},
      {"SHOW work_mem", "SHOW"},
      {"DISCARD ALL", "DISCARD ALL"},
      {"DISCARD PLANS", "DISCARD PLANS"},
      {"DISCARD TEMP", "DISCARD TEMP"},
      {"DISCARD SEQUENCES", "DISCARD SEQUENCES"},
      {"NOTIFY c", "NOTIFY"},
      {"LISTEN c", "LISTEN"},
      {"UNLISTEN *", "UNLISTEN"},
      {"PREPARE p AS SELECT 1", "PREPARE"},
      {"EXECUTE p", "EXECUTE"},
      {"DEALLOCATE p", "DEALLOCATE"},
      {"DEALLOCATE ALL", "DEALLOCATE ALL"},
  };
  for (const auto& [sql, tag] : cases) {
    EXPECT_EQ(only(sql).command_tag, tag) << sql;
  }
}

TEST(CommandTag, SetForControlledStatementsOnTheHotPathOnly) {
  Statement ddl = only("CREATE TABLE s.t (a int)", Detail::controlled_only);
  EXPECT_TRUE(ddl.controlled);
  EXPECT_EQ(ddl.command_tag, "CREATE TABLE");
  EXPECT_TRUE(ddl.names_qualified);
  Statement read = only("SELECT 1", Detail::controlled_only);
  EXPECT_FALSE(read.controlled);
  EXPECT_EQ(read.command_tag, "");
  EXPECT_FALSE(read.names_qualified);
  EXPECT_EQ(only("SELECT 1", Detail::all).command_tag, "SELECT");
  EXPECT_TRUE(only("SELECT 1", Detail::all).names_qualified);
}

TEST(CommandTag, EveryStatementOfAMultiStatementTextHasItsOwn) {
  Analysis a = analyze("CREATE TABLE s.t (a int); GRANT SELECT ON s.t TO r; DROP TABLE s.t", Policy{}, Detail::all);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a.statements.size(), 3u);
  EXPECT_EQ(a.statements[0].command_tag, "CREATE TABLE");
  EXPECT_EQ(a.statements[1].command_tag, "GRANT");
  EXPECT_EQ(a.statements[2].command_tag, "DROP TABLE");
}

// Statements whose every search_path name is schema-qualified. The integration test
// runs these under a hostile search_path and compares the catalogs.
TEST(NamesQualified, QualifiedStatements) {
  const std::vector<std::string> qualified = {
      "CREATE TABLE s.t (a int, b pg_catalog.text, c varchar(10) NOT NULL DEFAULT 'x')",
      "CREATE TABLE s.t (a int PRIMARY KEY, b int REFERENCES s.u (a))",
      "CREATE TABLE s.t (LIKE s.u INCLUDING ALL)",
      "CREATE TABLE s.t (a int) PARTITION BY RANGE (a)",
      "CREATE TABLE s.t PARTITION OF s.u FOR VALUES FROM (1) TO (10)",
      "CREATE TABLE s.t (a int CHECK (a OPERATOR(pg_catalog.>) 0))",
      "CREATE TABLE s.t (a pg_catalog.text COLLATE pg_catalog.\"C\")",
      "ALTER TABLE s.t ADD COLUMN b bigint",
      "ALTER TABLE s.t ALTER COLUMN a TYPE bigint",
      "ALTER TABLE s.t ADD CONSTRAINT c UNIQUE (a)",
      "ALTER TABLE s.t DROP COLUMN a",
      "ALTER TABLE s.t RENAME COLUMN a TO b",
      "ALTER TABLE s.t RENAME TO u",
      "ALTER TABLE s.t SET SCHEMA v",
      "ALTER TABLE s.t OWNER TO r",
      "CREATE INDEX i ON s.t (a)",
      "CREATE UNIQUE INDEX CONCURRENTLY i ON s.t USING btree (a, b DESC)",
      "CREATE INDEX i ON s.t (a pg_catalog.int4_ops)",
      "DROP TABLE s.t, s.u",
      "DROP INDEX s.i",
      "DROP TYPE s.ty",
      "DROP FUNCTION s.f(int, pg_catalog.text)",
      "DROP SCHEMA s CASCADE",
      "DROP EXTENSION e",
      "DROP TRIGGER tr ON s.t",
      "DROP POLICY p ON s.t",
      "COMMENT ON TABLE s.t IS 'x'",
      "COMMENT ON COLUMN s.t.a IS 'x'",
      "COMMENT ON FUNCTION s.f(int) IS 'x'",
      "COMMENT ON SCHEMA s IS 'x'",
      "CREATE VIEW s.v AS SELECT a FROM s.t",
      "CREATE MATERIALIZED VIEW s.m AS SELECT a FROM s.t WITH NO DATA",
      "CREATE TABLE s.t2 AS SELECT a FROM s.t",
      "CREATE SEQUENCE s.q",
      "CREATE SEQUENCE s.q AS bigint START 10",
      "GRANT SELECT ON s.t TO r",
      "GRANT SELECT, INSERT ON TABLE s.t, s.u TO r WITH GRANT OPTION",
      "GRANT USAGE ON SCHEMA s TO r",
      "GRANT EXECUTE ON FUNCTION s.f(int) TO r",
      "GRANT USAGE ON TYPE s.ty TO r",
      "GRANT SELECT ON ALL TABLES IN SCHEMA s TO r",
      "REVOKE ALL ON s.t FROM r",
      "CREATE SCHEMA s",
      "CREATE SCHEMA s AUTHORIZATION r",
      "CREATE TYPE s.ty AS ENUM ('a', 'b')",
      "CREATE TYPE s.ty AS (a int, b pg_catalog.text)",
      "ALTER TYPE s.ty ADD VALUE 'c'",
      "CREATE DOMAIN s.d AS int",
      "CREATE DOMAIN s.d AS pg_catalog.int4 NOT NULL",
      "CREATE FUNCTION s.f(a int) RETURNS int LANGUAGE sql AS 'select 1'",
      "CREATE FUNCTION s.f() RETURNS pg_catalog.text LANGUAGE plpgsql SET search_path = s AS $$ begin return 'x'; end $$",
      "ALTER FUNCTION s.f(int) STABLE",
      "CREATE TRIGGER tr BEFORE INSERT ON s.t FOR EACH ROW EXECUTE FUNCTION s.f()",
      "CREATE POLICY p ON s.t USING (true)",
      "CREATE POLICY p ON s.t USING (CASE WHEN a OPERATOR(pg_catalog.>) 1 THEN true ELSE false END)",
      "CREATE EXTENSION e SCHEMA s",
      "CREATE EXTENSION IF NOT EXISTS e WITH SCHEMA s VERSION '1.0'",
      "ALTER EXTENSION e UPDATE",
      "CREATE ROLE r LOGIN",
      "ALTER ROLE r SET search_path = s",
      "GRANT r1 TO r2",
      "DROP ROLE r",
      "CREATE DATABASE d",
      "ALTER SYSTEM SET work_mem = '1MB'",
      "ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO r",
      "REFRESH MATERIALIZED VIEW s.m",
      "TRUNCATE s.t",
      "CREATE STATISTICS s.st ON a, b FROM s.t",
      "CREATE PUBLICATION p FOR TABLE s.t",
      "ALTER SCHEMA s RENAME TO s2",
      "ALTER SEQUENCE s.q RESTART",
  };
  EXPECT_TRUE(only("CREATE FUNCTION s.f(a s.u.a%TYPE) RETURNS int LANGUAGE sql AS 'select 1'").names_qualified);
  for (const auto& sql : qualified) {
    EXPECT_TRUE(only(sql).names_qualified) << sql;
  }
}

// One statement per kind of unqualified name (and per kind of statement not judged).
TEST(NamesQualified, UnqualifiedStatements) {
  const std::vector<std::string> unqualified = {
      "CREATE TABLE t (a int)",                                 // target relation
      "CREATE TABLE s.t (a text)",                              // type
      "CREATE TABLE s.t (a int CHECK (a > 0))",                 // operator
      "CREATE TABLE s.t (a int DEFAULT f())",                   // function
      "CREATE TABLE s.t (a int DEFAULT pg_catalog.nextval('q'))",  // name inside a string literal
      "CREATE TABLE s.t (a pg_catalog.regclass DEFAULT 'x')",   // reg* input
      "CREATE TABLE s.t (a pg_catalog.text COLLATE \"C\")",     // collation
      "CREATE TABLE s.t (a int REFERENCES u (a))",              // referenced relation
      "CREATE TABLE s.t (LIKE u)",                              // LIKE source
      "CREATE TABLE s.t () INHERITS (u)",                       // parent
      "CREATE TABLE s.t PARTITION OF u FOR VALUES IN (1)",      // partitioned parent
      "CREATE TABLE s.t OF ty",                                 // typed table
      "CREATE TABLE s.t (a int, EXCLUDE USING gist (a WITH OPERATOR(pg_catalog.=)))",  // exclusion operator
      "CREATE TABLE s.t (a int CHECK (a IN (1, 2)))",           // IN compares with "="
      "CREATE TABLE s.t (a int CHECK (a BETWEEN 1 AND 2))",     // BETWEEN
      "CREATE TABLE s.t (a pg_catalog.text CHECK (a LIKE 'x%'))",  // LIKE
      "CREATE TABLE s.t (a int DEFAULT current_schema)",        // CURRENT_SCHEMA
      "CREATE TABLE s.t (a int, b int GENERATED ALWAYS AS (CASE a WHEN 1 THEN 0 END) STORED)",  // CASE's "="
      "CREATE POLICY p ON s.t USING (c OPERATOR(pg_catalog.=) 'x')",  // literal that may be a reg* input
      "CREATE FUNCTION s.f(a u.a%TYPE) RETURNS int LANGUAGE sql AS 'select 1'",  // %TYPE of an unqualified relation
      "CREATE INDEX i ON t (a)",                                // indexed relation
      "CREATE INDEX i ON s.t (a int4_ops)",                     // operator class
      "CREATE INDEX i ON s.t (a COLLATE \"C\")",                // index collation
      "CREATE INDEX i ON s.t (lower(a))",                       // expression function
      "ALTER TABLE t ADD COLUMN b int",
      "ALTER TABLE s.t ADD COLUMN b text",
      "ALTER TABLE s.t ALTER COLUMN a SET DEFAULT f()",
      "DROP TABLE t",
      "DROP TABLE s.t, u",
      "DROP TYPE ty",
      "DROP FUNCTION f()",
      "DROP FUNCTION s.f(text)",
      "DROP TRIGGER tr ON t",
      "DROP OPERATOR s.=== (text, text)",
      "COMMENT ON TABLE t IS 'x'",
      "COMMENT ON COLUMN t.a IS 'x'",
      "CREATE VIEW v AS SELECT 1",
      "CREATE VIEW s.v AS SELECT a FROM t",
      "CREATE VIEW s.v AS SELECT t.a FROM s.t",                 // a.b may be b(a)
      "CREATE VIEW s.v AS SELECT 1 FROM s.t JOIN s.u USING (a)",  // USING's "="
      "CREATE VIEW s.v AS SELECT a FROM s.t WHERE a IN (SELECT a FROM s.u)",
      "CREATE VIEW s.v AS WITH w AS (SELECT 1) SELECT * FROM w",  // a CTE reads as a relation
      "CREATE VIEW s.v AS SELECT count(*) FROM s.t",             // aggregate
      "CREATE TABLE t2 AS SELECT 1",
      "SELECT 1 INTO t",
      "CREATE SEQUENCE q",
      "CREATE SEQUENCE s.q OWNED BY t.a",
      "GRANT SELECT ON t TO r",
      "GRANT USAGE ON TYPE ty TO r",
      "GRANT EXECUTE ON FUNCTION f() TO r",
      "CREATE SCHEMA s CREATE TABLE t (a int)",
      "CREATE TYPE ty AS ENUM ('a')",
      "CREATE TYPE s.ty AS (a text)",
      "CREATE TYPE s.ty AS RANGE (subtype = int4)",
      "CREATE DOMAIN d AS int",
      "CREATE DOMAIN s.d AS int CHECK (VALUE > 0)",
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'",
      "CREATE FUNCTION s.f() RETURNS text LANGUAGE sql AS 'select 1'",
      "CREATE FUNCTION s.f(a text) RETURNS int LANGUAGE sql AS 'select 1'",
      "CREATE FUNCTION s.f() RETURNS int LANGUAGE sql RETURN f2()",
      "CREATE TRIGGER tr BEFORE INSERT ON s.t FOR EACH ROW EXECUTE FUNCTION f()",
      "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION s.f()",
      "CREATE POLICY p ON t USING (true)",
      "CREATE POLICY p ON s.t USING (a = 1)",
      "CREATE EXTENSION e",
      "CREATE AGGREGATE s.a (int) (sfunc = int4pl, stype = int)",
      "CREATE OPERATOR s.=== (function = s.f, leftarg = int4, rightarg = int4)",
      "CREATE TEXT SEARCH CONFIGURATION s.c (parser = default)",
      "CREATE COLLATION s.c FROM \"C\"",
      "CREATE OPERATOR CLASS s.c FOR TYPE int USING btree AS OPERATOR 1 <",
      "CREATE PUBLICATION p FOR TABLES IN SCHEMA CURRENT_SCHEMA",
      "REFRESH MATERIALIZED VIEW m",
      "TRUNCATE t",
      "DO $$ BEGIN END $$",
      "CALL s.p()",
      "CREATE RULE r AS ON INSERT TO s.t DO NOTHING",
      "INSERT INTO s.t VALUES (1)",
      "IMPORT FOREIGN SCHEMA r FROM SERVER s INTO l",
  };
  for (const auto& sql : unqualified) {
    Statement st = only(sql);
    EXPECT_FALSE(st.names_qualified) << sql;
    EXPECT_FALSE(st.command_tag.empty()) << sql;
  }
}

// The statements the server fires event triggers for (cmdtaglist.h's event_trigger_ok, read
// from the PostgreSQL source at build time): the guard sees them at ddl_command_start, so
// ddlgate confirms them when it lets them through, those it does not control included.
TEST(CommandTag, EventTriggers) {
  struct Case {
    std::string sql;
    bool controlled;
    bool fires;
  };
  Policy lax;
  lax.set_allow_temporary_objects(true);
  const std::vector<Case> cases = {
      {"REFRESH MATERIALIZED VIEW m", false, true},
      {"REFRESH MATERIALIZED VIEW CONCURRENTLY public.m WITH DATA", false, true},
      {"CREATE TEMP TABLE t (a int)", false, true},
      {"CREATE TEMPORARY VIEW v AS SELECT 1", false, true},
      {"CREATE TEMP SEQUENCE s", false, true},
      {"CREATE TEMP TABLE t AS SELECT 1", false, true},
      {"SELECT 1 INTO TEMP t", false, true},
      {"VACUUM t", false, false},
      {"ANALYZE t", false, false},
      {"CLUSTER t USING i", false, false},
      {"REINDEX TABLE t", false, false},
      {"CHECKPOINT", false, false},
      {"SELECT 1", false, false},
      {"INSERT INTO t VALUES (1)", false, false},
      {"SET search_path = a", false, false},
      {"BEGIN", false, false},
      {"CREATE TABLE t (a int)", true, true},
      {"SELECT 1 INTO t", true, true},
      {"GRANT SELECT ON t TO r", true, true},
      {"SECURITY LABEL ON TABLE t IS 'x'", true, true},
      {"COMMENT ON TABLE t IS 'x'", true, true},
      {"CREATE DATABASE d", true, false},
      {"CREATE ROLE r", true, false},
      {"ALTER SYSTEM SET work_mem = '1MB'", true, false},
      {"CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION f()", true, false},
      {"DO $$ BEGIN END $$", true, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sql);
    Analysis a = analyze(c.sql, lax, Detail::controlled_only);
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a.statements.size(), 1u);
    const Statement& st = a.statements[0];
    EXPECT_EQ(st.controlled, c.controlled);
    EXPECT_EQ(st.fires_event_triggers, c.fires);
    if (c.fires) {
      EXPECT_FALSE(st.command_tag.empty());
    }
    EXPECT_EQ(a.any_uncontrolled_event(), c.fires && !c.controlled);
  }
  // A read beside a REFRESH: the message needs the guard told.
  EXPECT_TRUE(analyze("SELECT 1; REFRESH MATERIALIZED VIEW m", Policy{}, Detail::controlled_only).any_uncontrolled_event());
  EXPECT_FALSE(analyze("SELECT 1; VACUUM t", Policy{}, Detail::controlled_only).any_uncontrolled_event());
  // Without the release, a temporary table is controlled like any other.
  Analysis strict = analyze("CREATE TEMP TABLE t (a int)", Policy{}, Detail::controlled_only);
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(strict.statements[0].controlled);
  EXPECT_FALSE(strict.any_uncontrolled_event());
}

}  // namespace
}  // namespace ddlgate::sql
