// Internal: a statement's PostgreSQL 15 command tag, and whether every name in it
// that PostgreSQL resolves through search_path is schema-qualified (analyze.h,
// Statement::command_tag and Statement::names_qualified).
#pragma once

#include <string_view>
#include <vector>

#include <pg_query/pg_query.pb-c.h>

#include "ddlgate/sql/statement_class.h"

namespace ddlgate::sql::detail {

// CreateCommandTag() of PostgreSQL 15 (src/backend/tcop/utility.c) for the raw
// statement node of one RawStmt, as an event trigger's TG_TAG names it; a SELECT
// with INTO is "SELECT INTO" (the server turns it into CreateTableAsStmt before it
// runs). Empty where PostgreSQL answers CMDTAG_UNKNOWN ("???") or for nullptr.
std::string_view command_tag(const PgQuery__Node* node);

// The commands PostgreSQL 15 runs inside the statement, through SPI, whose event triggers
// fire under the statement's text: REFRESH MATERIALIZED VIEW CONCURRENTLY builds and drops a
// temporary diff table (matview.c, refresh_by_match_merge: CREATE TEMP TABLE, ALTER TABLE
// ... ADD COLUMN, DROP TABLE). Empty for every other statement.
std::vector<std::string_view> nested_command_tags(const PgQuery__Node* node);

// Whether PostgreSQL 15 fires event triggers (ddl_command_start first) for a statement with
// this command tag: cmdtaglist.h's event_trigger_ok, generated from the PostgreSQL source.
bool fires_event_triggers(std::string_view tag);

// Whether a statement of this class can be one PostgreSQL fires event triggers for:
// cmdtaglist.h's event_trigger_ok tags are DDL, GRANT/REVOKE, COMMENT, SECURITY LABEL,
// IMPORT FOREIGN SCHEMA, SELECT INTO and REFRESH MATERIALIZED VIEW, none of them a read,
// a write, transaction control or a session statement (CommandTag.EventTriggers checks).
inline bool may_fire_event_triggers(StatementClass cls) {
  return cls != StatementClass::read && cls != StatementClass::write && cls != StatementClass::transaction &&
         cls != StatementClass::session;
}

// Whether the statement names nothing through search_path unqualified. Conservative:
// false for a statement kind or tree node it does not know, or a tree deeper than
// the walk allows.
bool names_qualified(const PgQuery__Node* node);

}  // namespace ddlgate::sql::detail
