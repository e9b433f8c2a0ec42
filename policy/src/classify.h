// Internal: the classifier over one statement's parse node.
#pragma once

#include <pg_query/pg_query.pb-c.h>

#include "ddlgate/policy/statement_class.h"

namespace ddlgate::policy::detail {

struct Classification {
  StatementClass cls = StatementClass::unknown;
  bool temporary = false;  // creates only a temporary relation
};

// Classifies the statement node of one RawStmt (read-only walk of the tree).
Classification classify_node(const PgQuery__Node* node);

}  // namespace ddlgate::policy::detail
