// The catalogue of built-in rules. IDs are stable: a rule that is retired keeps
// its ID unused; docs/lint.md has one section per ID.
#include <algorithm>
#include <string>

#include "ddlgate/lint/lint.h"

namespace ddlgate::lint {

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::info:
      return "info";
    case Severity::warning:
      return "warning";
    case Severity::error:
      return "error";
  }
  return "error";
}

std::string_view lock_mode_name(LockMode m) {
  switch (m) {
    case LockMode::none:
      return "";
    case LockMode::access_share:
      return "AccessShareLock";
    case LockMode::row_share:
      return "RowShareLock";
    case LockMode::row_exclusive:
      return "RowExclusiveLock";
    case LockMode::share_update_exclusive:
      return "ShareUpdateExclusiveLock";
    case LockMode::share:
      return "ShareLock";
    case LockMode::share_row_exclusive:
      return "ShareRowExclusiveLock";
    case LockMode::exclusive:
      return "ExclusiveLock";
    case LockMode::access_exclusive:
      return "AccessExclusiveLock";
  }
  return "";
}

const std::vector<Rule>& rules() {
  static const std::vector<Rule> kRules = {
      {"DG-L000", "parse-error", Severity::error, "syntax", "the file does not parse with PostgreSQL 15's grammar",
       "fix the syntax; nothing after a parse error is analysed"},
      {"DG-L001", "drop-table", Severity::error, "destructive", "DROP TABLE of an existing table deletes its data",
       "stop using the table first, keep a backup, and drop it in a later, separate migration"},
      {"DG-L002", "drop-column", Severity::error, "destructive",
       "ALTER TABLE ... DROP COLUMN deletes the column's data and breaks code that still reads it",
       "stop reading and writing the column in a release, then drop it in a later migration"},
      {"DG-L003", "drop-schema-cascade", Severity::error, "destructive",
       "DROP SCHEMA ... CASCADE drops every object in the schema",
       "drop the objects you mean to drop by name, then DROP SCHEMA without CASCADE"},
      {"DG-L004", "drop-object", Severity::warning, "destructive",
       "DROP of an existing view, materialized view, function, procedure, sequence, type, domain or schema",
       "check nothing depends on it (no CASCADE) and drop it in a migration of its own"},
      {"DG-L005", "truncate", Severity::error, "destructive", "TRUNCATE deletes every row of an existing table",
       "delete in batches with a WHERE clause, or do it by hand outside migrations"},
      {"DG-L006", "drop-database", Severity::error, "destructive", "DROP DATABASE deletes a whole database",
       "never from a migration: do it by hand, after a backup"},
      {"DG-L010", "rename-relation", Severity::error, "compatibility",
       "renaming an existing table, view, materialized view or sequence breaks code that uses the old name",
       "create the new object (or a view under the new name), move code over, drop the old one later"},
      {"DG-L011", "rename-column", Severity::error, "compatibility",
       "renaming a column of an existing table breaks code that uses the old name",
       "add the new column, write both, backfill, move reads, then drop the old column"},
      {"DG-L012", "change-column-type", Severity::error, "compatibility",
       "ALTER COLUMN ... TYPE on an existing table takes ACCESS EXCLUSIVE and rewrites the table unless the "
       "types are binary-coercible",
       "add a column of the new type, backfill it in batches, switch code over, drop the old column"},
      {"DG-L013", "narrow-column-type", Severity::warning, "compatibility",
       "the new column type has a length, precision or range limit, so existing or future values may not fit",
       "use text or bigint (with a CHECK constraint added NOT VALID if a limit is needed)"},
      {"DG-L014", "set-not-null", Severity::warning, "data",
       "SET NOT NULL on an existing table scans it under ACCESS EXCLUSIVE, fails if a row is NULL and "
       "breaks writers that insert NULL",
       "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL"},
      {"DG-L015", "drop-default", Severity::warning, "compatibility",
       "DROP DEFAULT on an existing table: inserts that omit the column now store NULL or fail",
       "keep the default until no writer relies on it"},
      {"DG-L016", "add-required-column", Severity::error, "compatibility",
       "ADD COLUMN ... NOT NULL without a DEFAULT fails on a non-empty table and breaks existing inserts",
       "add the column nullable or with a constant DEFAULT, backfill, then make it NOT NULL"},
      {"DG-L020", "index-not-concurrent", Severity::warning, "locking",
       "CREATE INDEX without CONCURRENTLY on an existing table takes SHARE, which blocks writes while it builds",
       "CREATE INDEX CONCURRENTLY, outside a transaction block"},
      {"DG-L021", "foreign-key-validated", Severity::warning, "locking",
       "ADD FOREIGN KEY without NOT VALID takes SHARE ROW EXCLUSIVE on both tables and scans while holding it; "
       "it fails if a row has no match",
       "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a later statement"},
      {"DG-L022", "check-validated", Severity::warning, "locking",
       "ADD CHECK without NOT VALID scans an existing table under ACCESS EXCLUSIVE and fails if a row violates it",
       "ADD CONSTRAINT ... CHECK (...) NOT VALID, then VALIDATE CONSTRAINT in a later statement"},
      {"DG-L023", "add-column-rewrite", Severity::error, "locking",
       "ADD COLUMN with a volatile default, an identity, a serial type or a stored generated expression "
       "rewrites an existing table under ACCESS EXCLUSIVE",
       "add the column without the default (or with a constant one), then backfill in batches"},
      {"DG-L024", "table-rewrite", Severity::error, "locking",
       "VACUUM FULL, CLUSTER, SET TABLESPACE, SET ACCESS METHOD and SET LOGGED/UNLOGGED rewrite an existing "
       "table under ACCESS EXCLUSIVE",
       "use pg_repack or a new table filled in batches, or run it in a maintenance window"},
      {"DG-L025", "drop-index-not-concurrent", Severity::warning, "locking",
       "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table",
       "DROP INDEX CONCURRENTLY, outside a transaction block"},
      {"DG-L026", "reindex-not-concurrent", Severity::warning, "locking",
       "REINDEX without CONCURRENTLY takes SHARE on the table, which blocks writes while it rebuilds",
       "REINDEX ... CONCURRENTLY, outside a transaction block"},
      {"DG-L027", "missing-lock-timeout", Severity::warning, "locking",
       "a statement that blocks reads or writes of an existing table runs with no lock_timeout set earlier in "
       "the file; waiting for its lock queues every later query behind it",
       "SET lock_timeout = '5s' (or SET LOCAL in the transaction) before it, and retry on timeout"},
      {"DG-L028", "refresh-not-concurrent", Severity::warning, "locking",
       "REFRESH MATERIALIZED VIEW without CONCURRENTLY takes ACCESS EXCLUSIVE, which blocks reads of the view",
       "REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view)"},
      {"DG-L029", "constraint-builds-index", Severity::warning, "locking",
       "ADD PRIMARY KEY, UNIQUE or EXCLUDE on an existing table builds its index under ACCESS EXCLUSIVE",
       "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX"},
      {"DG-L030", "unique-on-existing-data", Severity::warning, "data",
       "a unique index or constraint on an existing table fails if the data already has duplicates",
       "check for duplicates first (GROUP BY ... HAVING count(*) > 1) and clean them up"},
      {"DG-L031", "validate-constraint", Severity::info, "data",
       "VALIDATE CONSTRAINT scans an existing table and fails if a row violates the constraint (its lock, "
       "SHARE UPDATE EXCLUSIVE, blocks neither reads nor writes)",
       "check the data first; this is the safe second step of NOT VALID"},
      {"DG-L040", "concurrently-in-transaction", Severity::error, "transactions",
       "a statement that cannot run inside a transaction block (CONCURRENTLY, VACUUM) is inside one",
       "run it in a migration of its own, outside BEGIN ... COMMIT and without the tool's transaction"},
      {"DG-L041", "ddl-with-unbounded-dml", Severity::warning, "transactions",
       "UPDATE or DELETE without WHERE in a file that also changes the schema: one long transaction holding "
       "DDL locks while it touches every row",
       "move the data change to a migration of its own, in batches with a WHERE clause"},
      {"DG-L050", "grant-to-public", Severity::error, "security",
       "GRANT ... TO PUBLIC gives the privilege to every role, present and future",
       "grant to a named role and give that role to whoever needs it"},
      {"DG-L051", "privileged-role", Severity::error, "security",
       "CREATE or ALTER ROLE with SUPERUSER or BYPASSRLS makes a role that ignores permissions or row security",
       "grant the specific privileges the role needs"},
      {"DG-L052", "security-definer-search-path", Severity::error, "security",
       "a SECURITY DEFINER function without SET search_path runs with the caller's search_path, so a caller "
       "can put their own objects in front of the ones it means",
       "add SET search_path = pg_catalog, <schema> (pg_temp last) to the function"},
      {"DG-L053", "dynamic-sql-concatenation", Severity::error, "security",
       "a PL/pgSQL EXECUTE runs a string built by concatenating variables: SQL injection",
       "EXECUTE format('... %I ... %L', ident, value) or EXECUTE '... $1' USING value"},
      {"DG-P001", "require-primary-key", Severity::error, "policy",
       "policy: a new table has no primary key (logical replication, tools and row identity need one)",
       "add a PRIMARY KEY (an identity column if nothing else identifies a row)"},
      {"DG-P002", "naming", Severity::warning, "policy",
       "policy: a new object's name does not match the naming pattern "
       "for its kind",
       "rename it to match the policy's [naming] pattern"},
      {"DG-P003", "require-not-null-or-default", Severity::warning, "policy",
       "policy: a new column is neither NOT NULL nor has a DEFAULT",
       "declare it NOT NULL (with a DEFAULT when added to an existing table), or give it a DEFAULT"},
      {"DG-P004", "foreign-key-index", Severity::warning, "policy",
       "policy: a foreign key's columns do not lead any index created in the input, so deletes and updates of "
       "the referenced rows scan the referencing table",
       "CREATE INDEX CONCURRENTLY on the foreign key's columns"},
      {"DG-P005", "forbidden-type", Severity::error, "policy", "policy: a column uses a type the policy forbids",
       "use the type the policy's comment suggests (text rather than varchar(n), timestamptz rather than timestamp)"},
  };
  return kRules;
}

const Rule* find_rule(std::string_view id) {
  for (const Rule& r : rules()) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

std::string docs_link(std::string_view id) {
  std::string anchor(id);
  std::transform(anchor.begin(), anchor.end(), anchor.begin(), [](unsigned char c) { return std::tolower(c); });
  return "docs/lint.md#" + anchor;
}

}  // namespace ddlgate::lint
