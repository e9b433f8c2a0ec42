// The lock each statement takes, as `ddlgate lint` claims it (lint/src/lint.cpp, from
// PostgreSQL 15's AlterTableGetLockLevel and lock documentation), against what a real
// PostgreSQL 15 holds: each sample runs inside a transaction, pg_locks is read for the
// target relation before the ROLLBACK, and the strongest mode held must be the one
// claimed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ddlgate/lint/lint.h"
#include "ddlgate/testing/pg_server.h"

namespace ddlgate::lint {
namespace {

using testing::PgResult;
using testing::SharedPgServer;

DDLGATE_SHARED_PG_SERVER();

// Existing objects for the samples to work on (lint sees none of this: every name is existing).
constexpr const char* kSetup = R"sql(
CREATE TABLE ref (id int PRIMARY KEY);
CREATE TABLE t (id int PRIMARY KEY, b int, nn int NOT NULL DEFAULT 0, id2 int, r int, bio text, c text);
INSERT INTO ref VALUES (1);
INSERT INTO t VALUES (1, 1, 1, 1, 1, 'x', 'y');
ALTER TABLE t ADD CONSTRAINT ck_existing CHECK (b > 0) NOT VALID;
CREATE FUNCTION trg_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER trg_existing BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION trg_fn();
CREATE INDEX t_b_idx ON t (b);
CREATE UNIQUE INDEX t_id2_key ON t (id2);
CREATE TABLE parent (k int NOT NULL, v int) PARTITION BY RANGE (k);
CREATE TABLE p1 PARTITION OF parent FOR VALUES FROM (0) TO (10);
CREATE TABLE p2 (k int NOT NULL, v int);
CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;
CREATE SCHEMA other;
CREATE ROLE lint_reader;
)sql";

struct Sample {
  const char* sql;
  const char* relation;  // whose lock is compared
};

const std::vector<Sample> kSamples = {
    // ALTER TABLE subcommands (AlterTableGetLockLevel).
    {"ALTER TABLE t ADD COLUMN c2 int", "t"},
    {"ALTER TABLE t ADD COLUMN c3 int NOT NULL DEFAULT 0", "t"},
    {"ALTER TABLE t ADD COLUMN c4 uuid DEFAULT gen_random_uuid()", "t"},
    {"ALTER TABLE t ADD COLUMN c5 bigint GENERATED ALWAYS AS IDENTITY", "t"},
    {"ALTER TABLE t DROP COLUMN c", "t"},
    {"ALTER TABLE t ALTER COLUMN b TYPE bigint", "t"},
    {"ALTER TABLE t ALTER COLUMN b SET NOT NULL", "t"},
    {"ALTER TABLE t ALTER COLUMN nn DROP NOT NULL", "t"},
    {"ALTER TABLE t ALTER COLUMN b SET DEFAULT 5", "t"},
    {"ALTER TABLE t ALTER COLUMN nn DROP DEFAULT", "t"},
    {"ALTER TABLE t ALTER COLUMN b SET STATISTICS 100", "t"},
    {"ALTER TABLE t ALTER COLUMN b SET (n_distinct = 10)", "t"},
    {"ALTER TABLE t ALTER COLUMN b RESET (n_distinct)", "t"},
    {"ALTER TABLE t ALTER COLUMN bio SET STORAGE EXTERNAL", "t"},
    {"ALTER TABLE t ALTER COLUMN bio SET COMPRESSION pglz", "t"},
    {"ALTER TABLE t ADD CONSTRAINT ck CHECK (b > 0)", "t"},
    {"ALTER TABLE t ADD CONSTRAINT ck CHECK (b > 0) NOT VALID", "t"},
    {"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (r) REFERENCES ref (id)", "t"},
    {"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (r) REFERENCES ref (id) NOT VALID", "t"},
    {"ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (r) REFERENCES ref (id) NOT VALID", "ref"},
    {"ALTER TABLE t VALIDATE CONSTRAINT ck_existing", "t"},
    {"ALTER TABLE t ADD CONSTRAINT u UNIQUE (id2)", "t"},
    {"ALTER TABLE t ADD CONSTRAINT u2 UNIQUE USING INDEX t_id2_key", "t"},
    {"ALTER TABLE t DROP CONSTRAINT ck_existing", "t"},
    {"ALTER TABLE t RENAME CONSTRAINT ck_existing TO ck_renamed", "t"},
    {"ALTER TABLE t SET (fillfactor = 70)", "t"},
    {"ALTER TABLE t SET (autovacuum_enabled = false, toast_tuple_target = 4096)", "t"},
    {"ALTER TABLE t RESET (fillfactor)", "t"},
    {"ALTER TABLE t SET (user_catalog_table = true)", "t"},
    {"ALTER TABLE t CLUSTER ON t_pkey", "t"},
    {"ALTER TABLE t SET WITHOUT CLUSTER", "t"},
    {"ALTER TABLE t ENABLE ROW LEVEL SECURITY", "t"},
    {"ALTER TABLE t FORCE ROW LEVEL SECURITY", "t"},
    {"ALTER TABLE t DISABLE TRIGGER ALL", "t"},
    {"ALTER TABLE t ENABLE TRIGGER trg_existing", "t"},
    {"ALTER TABLE t REPLICA IDENTITY FULL", "t"},
    {"ALTER TABLE t OWNER TO lint_reader", "t"},
    {"ALTER TABLE t SET UNLOGGED", "t"},
    {"ALTER TABLE t ALTER COLUMN b SET STATISTICS 10, ALTER COLUMN b SET NOT NULL", "t"},
    {"ALTER TABLE t ALTER COLUMN b SET STATISTICS 10, DISABLE TRIGGER ALL", "t"},
    {"ALTER TABLE parent ATTACH PARTITION p2 FOR VALUES FROM (10) TO (20)", "parent"},
    {"ALTER TABLE parent ATTACH PARTITION p2 FOR VALUES FROM (10) TO (20)", "p2"},
    {"ALTER TABLE parent DETACH PARTITION p1", "parent"},
    // Renames and schema moves.
    {"ALTER TABLE t RENAME TO t_renamed", "t"},
    {"ALTER TABLE t RENAME COLUMN b TO b2", "t"},
    {"ALTER INDEX t_b_idx RENAME TO t_b_idx2", "t_b_idx"},
    {"ALTER TABLE t SET SCHEMA other", "t"},
    // Other commands.
    {"CREATE INDEX ON t (c)", "t"},
    {"CREATE UNIQUE INDEX ON t (id, b)", "t"},
    {"DROP INDEX t_b_idx", "t_b_idx"},
    {"REINDEX TABLE t", "t"},
    {"REINDEX INDEX t_b_idx", "t_b_idx"},
    {"CREATE TRIGGER trg2 AFTER UPDATE ON t FOR EACH ROW EXECUTE FUNCTION trg_fn()", "t"},
    {"DROP TRIGGER trg_existing ON t", "t"},
    {"CREATE POLICY pol ON t USING (true)", "t"},
    {"CREATE RULE r AS ON DELETE TO t DO ALSO NOTHING", "t"},
    {"COMMENT ON TABLE t IS 'people'", "t"},
    {"COMMENT ON COLUMN t.b IS 'a number'", "t"},
    {"TRUNCATE t", "t"},
    {"DROP TABLE t CASCADE", "t"},  // mv depends on t
    {"CLUSTER t USING t_pkey", "t"},
    {"ANALYZE t", "t"},
    {"LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE", "t"},
    {"REFRESH MATERIALIZED VIEW mv", "mv"},
    {"CREATE TABLE child (id int REFERENCES ref (id))", "ref"},
    {"CREATE TABLE p3 PARTITION OF parent FOR VALUES FROM (20) TO (30)", "parent"},
    {"INSERT INTO t (id) VALUES (2)", "t"},
    {"UPDATE t SET b = 2 WHERE id = 1", "t"},
    {"DELETE FROM t WHERE id = 1", "t"},
    {"GRANT SELECT ON t TO PUBLIC", "t"},
};

int rank(const std::string& mode) {
  for (int m = 0; m <= 8; ++m) {
    if (lock_mode_name(static_cast<LockMode>(m)) == mode) return m;
  }
  return -1;
}

// The strongest lock lint claims on relation for the first statement of sql.
std::string claimed(const std::string& sql, const std::string& relation) {
  Report r = lint({{"sample.sql", sql}});
  if (r.statements.size() != 1) return "(lint read " + std::to_string(r.statements.size()) + " statements)";
  LockMode m = LockMode::none;
  for (const RelationLock& l : r.statements[0].locks) {
    if (l.relation == relation && l.mode > m) m = l.mode;
  }
  return std::string(lock_mode_name(m));
}

std::string exec_ok(PGconn* c, const std::string& sql) {
  PgResult res(PQexec(c, sql.c_str()));
  ExecStatusType st = PQresultStatus(res.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {};
  return PQerrorMessage(c);
}

TEST(LintLocks, EveryClaimedLockModeIsTheStrongestPgLocksShows) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql(kSetup);
  auto conn = testing::pg_connect(pg.conninfo());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  PGconn* c = conn.get();
  ASSERT_GE(kSamples.size(), 25u);
  std::size_t locking = 0;
  for (const Sample& s : kSamples) {
    std::string oid =
        testing::pg_query_value(c, std::string("SELECT '") + s.relation + "'::regclass::oid").value_or("");
    ASSERT_FALSE(oid.empty()) << s.relation;
    ASSERT_EQ(exec_ok(c, "BEGIN"), "");
    std::string err = exec_ok(c, s.sql);
    ASSERT_EQ(err, "") << s.sql;
    PgResult res(PQexec(c, ("SELECT mode FROM pg_locks WHERE locktype = 'relation' AND pid = pg_backend_pid() "
                            "AND relation = " +
                            oid)
                               .c_str()));
    ASSERT_EQ(PQresultStatus(res.get()), PGRES_TUPLES_OK) << PQerrorMessage(c);
    std::string held;
    for (int i = 0; i < PQntuples(res.get()); ++i) {
      std::string mode = PQgetvalue(res.get(), i, 0);
      ASSERT_GE(rank(mode), 1) << "unknown lock mode " << mode;
      if (rank(mode) > rank(held)) held = mode;
    }
    ASSERT_EQ(exec_ok(c, "ROLLBACK"), "");
    if (!held.empty()) ++locking;
    EXPECT_EQ(claimed(s.sql, s.relation), held) << s.sql << " on " << s.relation;
  }
  EXPECT_GE(locking, 25u);  // the samples do take locks: the comparison is not of empty sets
}

}  // namespace
}  // namespace ddlgate::lint
