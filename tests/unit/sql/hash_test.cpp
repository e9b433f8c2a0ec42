// Properties of the canonical statement hash (docs/hash.md) and its test vectors.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/sql/analyze.h"

namespace ddlgate::sql {
namespace {

std::string hash_of(const std::string& sql) {
  auto a = analyze(sql, Policy{}, Detail::all);
  EXPECT_TRUE(a.ok()) << sql << ": " << (a.error ? a.error->message : "");
  EXPECT_EQ(a.statements.size(), 1u) << sql;
  return a.statements.empty() ? std::string() : a.statements[0].hash;
}

TEST(PolicyHash, HasTheDocumentedForm) {
  std::string h = hash_of("DROP TABLE t");
  ASSERT_EQ(h.size(), 7u + 64u);
  EXPECT_EQ(h.substr(0, 7), "sha256:");
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef", 7), std::string::npos);
}

TEST(PolicyHash, IgnoresWhitespaceCommentsCaseAndSemicolon) {
  const std::vector<std::string> variants = {
      "CREATE TABLE t (id int DEFAULT 0, name varchar(10))",
      "create table t (id int default 0, name varchar(10))",
      "CREATE TABLE t(id int DEFAULT 0,name varchar(10));",
      "  CREATE\n\tTABLE   t (\n  id int DEFAULT 0, -- the key\n  name varchar(10)\n)\n;\n",
      "/* migration 42 */ CREATE /* x */ TABLE t (id /* y */ int DEFAULT 0, name VARCHAR(10)) ; ",
      "CREATE TABLE T (ID INT DEFAULT 0, NAME VARCHAR(10))",  // unquoted identifiers fold to lower case
      "CREATE TABLE \"t\" (\"id\" int DEFAULT 0, \"name\" varchar(10))",
      "CREATE TABLE t (id integer DEFAULT 0, name character varying(10))",  // same type names after parsing
  };
  const std::string first = hash_of(variants[0]);
  for (const auto& v : variants) EXPECT_EQ(hash_of(v), first) << v;
}

TEST(PolicyHash, SameStatementSameHashInsideAScript) {
  auto a = analyze("SELECT 1;\n\nDROP TABLE t;", Policy{}, Detail::all);
  ASSERT_EQ(a.statements.size(), 2u);
  EXPECT_EQ(a.statements[1].hash, hash_of("DROP TABLE t"));
}

TEST(PolicyHash, ChangesWithEverySemanticDifference) {
  const std::pair<std::string, std::string> pairs[] = {
      {"ALTER TABLE t ADD COLUMN c int DEFAULT 0", "ALTER TABLE t ADD COLUMN c int DEFAULT 1"},
      {"DROP TABLE events_2023", "DROP TABLE events_2024"},
      {"CREATE TABLE t (a varchar(10))", "CREATE TABLE t (a varchar(11))"},
      {"CREATE TABLE t (a numeric(10,2))", "CREATE TABLE t (a numeric(10,3))"},
      {"CREATE TABLE t (a int)", "CREATE TABLE t (a bigint)"},
      {"CREATE TABLE t (a int)", "CREATE TABLE \"T\" (a int)"},
      {"CREATE TABLE s1.t (a int)", "CREATE TABLE s2.t (a int)"},
      {"DO $$BEGIN PERFORM 1; END$$", "DO $$BEGIN PERFORM 2; END$$"},
      {"DO $$BEGIN PERFORM 1; END$$", "DO $$BEGIN  PERFORM 1; END$$"},  // a body is a literal
      {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 2'"},
      {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION f() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'"},
      {"CREATE INDEX i ON t (a)", "CREATE INDEX CONCURRENTLY i ON t (a)"},
      {"CREATE INDEX i ON t (a)", "CREATE UNIQUE INDEX i ON t (a)"},
      {"CREATE TABLE t (a int) WITH (fillfactor = 70)", "CREATE TABLE t (a int) WITH (fillfactor = 80)"},
      {"DROP TABLE t", "DROP TABLE t CASCADE"},
      {"DROP TABLE t", "DROP TABLE IF EXISTS t"},
      {"GRANT SELECT ON t TO bob", "GRANT SELECT ON t TO alice"},
      {"GRANT SELECT ON t TO bob", "GRANT INSERT ON t TO bob"},
      {"ALTER TABLE t ADD CHECK (a > 0)", "ALTER TABLE t ADD CHECK (a >= 0)"},
      {"ALTER TABLE t ADD COLUMN c text DEFAULT 'x'", "ALTER TABLE t ADD COLUMN c text DEFAULT 'X'"},
      {"ALTER TABLE t ADD COLUMN c numeric DEFAULT 1.0", "ALTER TABLE t ADD COLUMN c numeric DEFAULT 1.00"},
      {"ALTER TABLE t ADD COLUMN c boolean DEFAULT true", "ALTER TABLE t ADD COLUMN c boolean DEFAULT false"},
      {"ALTER TABLE t ADD COLUMN c int DEFAULT NULL", "ALTER TABLE t ADD COLUMN c int"},
      {"TRUNCATE t", "TRUNCATE t RESTART IDENTITY"},
      {"CREATE TEMP TABLE t (a int)", "CREATE TABLE t (a int)"},
      {"COPY t FROM PROGRAM 'a'", "COPY t FROM PROGRAM 'b'"},
      {"ALTER ROLE bob PASSWORD 'one'", "ALTER ROLE bob PASSWORD 'two'"},
  };
  for (const auto& [a, b] : pairs) EXPECT_NE(hash_of(a), hash_of(b)) << a << "  vs  " << b;
}

TEST(PolicyHash, DifferentStatementTypesWithSimilarTreesDiffer) {
  EXPECT_NE(hash_of("DROP TABLE t"), hash_of("DROP VIEW t"));
  EXPECT_NE(hash_of("SELECT 1"), hash_of("VALUES (1)"));
}

// tests/sql/hash_vectors.txt: "sha256:<hex> <SQL on one line>" per line, # comments.
// docs/hash.md quotes every vector; both are checked here so neither can drift.
TEST(PolicyHash, DocumentedTestVectors) {
  std::ifstream vectors(DDLGATE_HASH_VECTORS);
  ASSERT_TRUE(vectors) << DDLGATE_HASH_VECTORS;
  std::ifstream doc_in(DDLGATE_HASH_DOC);
  ASSERT_TRUE(doc_in) << DDLGATE_HASH_DOC;
  std::stringstream doc;
  doc << doc_in.rdbuf();
  std::string line;
  int count = 0;
  while (std::getline(vectors, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.find(' ');
    ASSERT_NE(space, std::string::npos) << line;
    std::string want = line.substr(0, space);
    std::string sql = line.substr(space + 1);
    EXPECT_EQ(hash_of(sql), want) << sql;
    EXPECT_NE(doc.str().find(want), std::string::npos) << "docs/hash.md does not quote " << want;
    ++count;
  }
  EXPECT_GE(count, 8);
}

}  // namespace
}  // namespace ddlgate::sql
