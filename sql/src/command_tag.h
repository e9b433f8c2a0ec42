// Internal: a statement's PostgreSQL 15 command tag, and whether every name in it
// that PostgreSQL resolves through search_path is schema-qualified (analyze.h,
// Statement::command_tag and Statement::names_qualified).
#pragma once

#include <string_view>

#include <pg_query/pg_query.pb-c.h>

namespace ddlgate::sql::detail {

// CreateCommandTag() of PostgreSQL 15 (src/backend/tcop/utility.c) for the raw
// statement node of one RawStmt, as an event trigger's TG_TAG names it; a SELECT
// with INTO is "SELECT INTO" (the server turns it into CreateTableAsStmt before it
// runs). Empty where PostgreSQL answers CMDTAG_UNKNOWN ("???") or for nullptr.
std::string_view command_tag(const PgQuery__Node* node);

// Whether the statement names nothing through search_path unqualified. Conservative:
// false for a statement kind or tree node it does not know, or a tree deeper than
// the walk allows.
bool names_qualified(const PgQuery__Node* node);

}  // namespace ddlgate::sql::detail
