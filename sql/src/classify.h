// Internal: the classifier over one statement's parse node.
#pragma once

#include <optional>
#include <string_view>

#include <pg_query/pg_query.pb-c.h>

#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/statement_class.h"

namespace ddlgate::sql::detail {

struct Classification {
  StatementClass cls = StatementClass::unknown;
  bool temporary = false;  // creates only a temporary relation
};

// Classifies the statement node of one RawStmt (read-only walk of the tree).
Classification classify_node(const PgQuery__Node* node);

// The fixed class of a statement node type by its message name ("VacuumStmt"),
// or nullopt when the type has no rule or its class depends on its content.
std::optional<StatementClass> fixed_class_by_name(std::string_view node_type_name);

// What a TransactionStmt of this kind does to savepoints (chain: AND CHAIN).
SessionEffect session_effect(PgQuery__TransactionStmtKind kind, bool chain);
// The same from the kind's name in libpg_query's JSON output ("TRANS_STMT_SAVEPOINT");
// none for a name protobuf-c does not know.
SessionEffect session_effect(std::string_view kind_name, bool chain);

}  // namespace ddlgate::sql::detail
