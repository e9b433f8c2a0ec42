// Command tags follow PostgreSQL 15's CreateCommandTag() and AlterObjectTypeCommandTag()
// (src/backend/tcop/utility.c) case by case; the strings are cmdtaglist.h's. The
// integration test command_tag_test compares them with what a real server reports.
#include "command_tag.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string_view>
#include <vector>

#include "pg_tree.h"

namespace ddlgate::sql::detail {
namespace {

using OT = PgQuery__ObjectType;

// AlterObjectTypeCommandTag(): "" for CMDTAG_UNKNOWN.
std::string_view alter_tag(OT t) {
  switch (t) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE: return "ALTER AGGREGATE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ATTRIBUTE: return "ALTER TYPE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_CAST: return "ALTER CAST";
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLLATION: return "ALTER COLLATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN: return "ALTER TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_CONVERSION: return "ALTER CONVERSION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DATABASE: return "ALTER DATABASE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN:
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMCONSTRAINT: return "ALTER DOMAIN";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION: return "ALTER EXTENSION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FDW: return "ALTER FOREIGN DATA WRAPPER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_SERVER: return "ALTER SERVER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE: return "ALTER FOREIGN TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION: return "ALTER FUNCTION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX: return "ALTER INDEX";
    case PG_QUERY__OBJECT_TYPE__OBJECT_LANGUAGE: return "ALTER LANGUAGE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_LARGEOBJECT: return "ALTER LARGE OBJECT";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPCLASS: return "ALTER OPERATOR CLASS";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPERATOR: return "ALTER OPERATOR";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPFAMILY: return "ALTER OPERATOR FAMILY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY: return "ALTER POLICY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE: return "ALTER PROCEDURE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROLE: return "ALTER ROLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE: return "ALTER ROUTINE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_RULE: return "ALTER RULE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA: return "ALTER SCHEMA";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE: return "ALTER SEQUENCE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT: return "ALTER TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLESPACE: return "ALTER TABLESPACE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER: return "ALTER TRIGGER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EVENT_TRIGGER: return "ALTER EVENT TRIGGER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSCONFIGURATION: return "ALTER TEXT SEARCH CONFIGURATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSDICTIONARY: return "ALTER TEXT SEARCH DICTIONARY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSPARSER: return "ALTER TEXT SEARCH PARSER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSTEMPLATE: return "ALTER TEXT SEARCH TEMPLATE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE: return "ALTER TYPE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW: return "ALTER VIEW";
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW: return "ALTER MATERIALIZED VIEW";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION: return "ALTER PUBLICATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SUBSCRIPTION: return "ALTER SUBSCRIPTION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_STATISTIC_EXT: return "ALTER STATISTICS";
    default: return {};
  }
}

// CreateCommandTag()'s DropStmt switch.
std::string_view drop_tag(OT t) {
  switch (t) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE: return "DROP TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE: return "DROP SEQUENCE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW: return "DROP VIEW";
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW: return "DROP MATERIALIZED VIEW";
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX: return "DROP INDEX";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE: return "DROP TYPE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN: return "DROP DOMAIN";
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLLATION: return "DROP COLLATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_CONVERSION: return "DROP CONVERSION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA: return "DROP SCHEMA";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSPARSER: return "DROP TEXT SEARCH PARSER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSDICTIONARY: return "DROP TEXT SEARCH DICTIONARY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSTEMPLATE: return "DROP TEXT SEARCH TEMPLATE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSCONFIGURATION: return "DROP TEXT SEARCH CONFIGURATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE: return "DROP FOREIGN TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION: return "DROP EXTENSION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION: return "DROP FUNCTION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE: return "DROP PROCEDURE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE: return "DROP ROUTINE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE: return "DROP AGGREGATE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPERATOR: return "DROP OPERATOR";
    case PG_QUERY__OBJECT_TYPE__OBJECT_LANGUAGE: return "DROP LANGUAGE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_CAST: return "DROP CAST";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER: return "DROP TRIGGER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EVENT_TRIGGER: return "DROP EVENT TRIGGER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_RULE: return "DROP RULE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FDW: return "DROP FOREIGN DATA WRAPPER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_SERVER: return "DROP SERVER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPCLASS: return "DROP OPERATOR CLASS";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPFAMILY: return "DROP OPERATOR FAMILY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY: return "DROP POLICY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRANSFORM: return "DROP TRANSFORM";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ACCESS_METHOD: return "DROP ACCESS METHOD";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION: return "DROP PUBLICATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_STATISTIC_EXT: return "DROP STATISTICS";
    default: return {};
  }
}

// CreateCommandTag()'s DefineStmt switch.
std::string_view define_tag(OT t) {
  switch (t) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE: return "CREATE AGGREGATE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPERATOR: return "CREATE OPERATOR";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE: return "CREATE TYPE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSPARSER: return "CREATE TEXT SEARCH PARSER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSDICTIONARY: return "CREATE TEXT SEARCH DICTIONARY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSTEMPLATE: return "CREATE TEXT SEARCH TEMPLATE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSCONFIGURATION: return "CREATE TEXT SEARCH CONFIGURATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLLATION: return "CREATE COLLATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ACCESS_METHOD: return "CREATE ACCESS METHOD";
    default: return {};
  }
}

std::string_view transaction_tag(PgQuery__TransactionStmtKind kind) {
  switch (kind) {
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN: return "BEGIN";
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START: return "START TRANSACTION";
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT: return "COMMIT";
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO: return "ROLLBACK";
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT: return "SAVEPOINT";
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE: return "RELEASE";
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE: return "PREPARE TRANSACTION";
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED: return "COMMIT PREPARED";
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED: return "ROLLBACK PREPARED";
    default: return {};
  }
}

bool empty(const char* s) { return s == nullptr || *s == '\0'; }

// transformOptionalSelectInto(): the leftmost SELECT of a set operation holds INTO.
bool select_has_into(const PgQuery__SelectStmt* s) {
  for (int guard = 0; s != nullptr && guard <= kMaxTreeDepth; ++guard) {
    if (s->op == PG_QUERY__SET_OPERATION__SETOP_NONE || s->op == PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED) {
      return s->into_clause != nullptr;
    }
    s = s->larg;
  }
  return false;
}

}  // namespace

namespace {
// In cmdtaglist.h's order, which is sorted (the server binary-searches it too).
constexpr std::string_view kEventTriggerTags[] = {
#include "pg_event_trigger_tags.h"
};
static_assert(std::is_sorted(std::begin(kEventTriggerTags), std::end(kEventTriggerTags)),
              "cmdtaglist.h is sorted by tag; binary search relies on it");
}  // namespace

std::vector<std::string_view> nested_command_tags(const PgQuery__Node* node) {
  if (node != nullptr && node->node_case == PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT &&
      node->refresh_mat_view_stmt != nullptr && node->refresh_mat_view_stmt->concurrent) {
    return {"CREATE TABLE", "ALTER TABLE", "DROP TABLE"};
  }
  return {};
}

bool fires_event_triggers(std::string_view tag) {
  return std::binary_search(std::begin(kEventTriggerTags), std::end(kEventTriggerTags), tag);
}

std::string_view command_tag(const PgQuery__Node* node) {
  if (node == nullptr || node_member(node) == nullptr) return {};
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_INSERT_STMT: return "INSERT";
    case PG_QUERY__NODE__NODE_DELETE_STMT: return "DELETE";
    case PG_QUERY__NODE__NODE_UPDATE_STMT: return "UPDATE";
    case PG_QUERY__NODE__NODE_MERGE_STMT: return "MERGE";
    // The server analyses SELECT ... INTO into a CreateTableAsStmt (is_select_into)
    // before ProcessUtility fires ddl_command_start, so its tag is SELECT INTO.
    case PG_QUERY__NODE__NODE_SELECT_STMT: return select_has_into(node->select_stmt) ? "SELECT INTO" : "SELECT";
    case PG_QUERY__NODE__NODE_PLASSIGN_STMT: return "SELECT";
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: return transaction_tag(node->transaction_stmt->kind);
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT: return "DECLARE CURSOR";
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
      return empty(node->close_portal_stmt->portalname) ? "CLOSE CURSOR ALL" : "CLOSE CURSOR";
    case PG_QUERY__NODE__NODE_FETCH_STMT: return node->fetch_stmt->ismove ? "MOVE" : "FETCH";
    case PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT: return "CREATE DOMAIN";
    case PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT: return "CREATE SCHEMA";
    case PG_QUERY__NODE__NODE_CREATE_STMT: return "CREATE TABLE";
    case PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT: return "CREATE TABLESPACE";
    case PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT: return "DROP TABLESPACE";
    case PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT: return "ALTER TABLESPACE";
    case PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT: return "CREATE EXTENSION";
    case PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT: return "ALTER EXTENSION";
    case PG_QUERY__NODE__NODE_ALTER_EXTENSION_CONTENTS_STMT: return "ALTER EXTENSION";
    case PG_QUERY__NODE__NODE_CREATE_FDW_STMT: return "CREATE FOREIGN DATA WRAPPER";
    case PG_QUERY__NODE__NODE_ALTER_FDW_STMT: return "ALTER FOREIGN DATA WRAPPER";
    case PG_QUERY__NODE__NODE_CREATE_FOREIGN_SERVER_STMT: return "CREATE SERVER";
    case PG_QUERY__NODE__NODE_ALTER_FOREIGN_SERVER_STMT: return "ALTER SERVER";
    case PG_QUERY__NODE__NODE_CREATE_USER_MAPPING_STMT: return "CREATE USER MAPPING";
    case PG_QUERY__NODE__NODE_ALTER_USER_MAPPING_STMT: return "ALTER USER MAPPING";
    case PG_QUERY__NODE__NODE_DROP_USER_MAPPING_STMT: return "DROP USER MAPPING";
    case PG_QUERY__NODE__NODE_CREATE_FOREIGN_TABLE_STMT: return "CREATE FOREIGN TABLE";
    case PG_QUERY__NODE__NODE_IMPORT_FOREIGN_SCHEMA_STMT: return "IMPORT FOREIGN SCHEMA";
    case PG_QUERY__NODE__NODE_DROP_STMT: return drop_tag(node->drop_stmt->remove_type);
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT: return "TRUNCATE TABLE";
    case PG_QUERY__NODE__NODE_COMMENT_STMT: return "COMMENT";
    case PG_QUERY__NODE__NODE_SEC_LABEL_STMT: return "SECURITY LABEL";
    case PG_QUERY__NODE__NODE_COPY_STMT: return "COPY";
    case PG_QUERY__NODE__NODE_RENAME_STMT: {
      // A renamed column takes its tag from its relation's type.
      const PgQuery__RenameStmt* r = node->rename_stmt;
      return alter_tag(r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN ? r->relation_type : r->rename_type);
    }
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_DEPENDS_STMT: return alter_tag(node->alter_object_depends_stmt->object_type);
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT: return alter_tag(node->alter_object_schema_stmt->object_type);
    case PG_QUERY__NODE__NODE_ALTER_OWNER_STMT: return alter_tag(node->alter_owner_stmt->object_type);
    case PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT: return alter_tag(node->alter_table_move_all_stmt->objtype);
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT: return alter_tag(node->alter_table_stmt->objtype);
    case PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT: return "ALTER DOMAIN";
    case PG_QUERY__NODE__NODE_ALTER_FUNCTION_STMT:
      switch (node->alter_function_stmt->objtype) {
        case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION: return "ALTER FUNCTION";
        case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE: return "ALTER PROCEDURE";
        case PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE: return "ALTER ROUTINE";
        default: return {};
      }
    case PG_QUERY__NODE__NODE_GRANT_STMT: return node->grant_stmt->is_grant ? "GRANT" : "REVOKE";
    case PG_QUERY__NODE__NODE_GRANT_ROLE_STMT: return node->grant_role_stmt->is_grant ? "GRANT ROLE" : "REVOKE ROLE";
    case PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT: return "ALTER DEFAULT PRIVILEGES";
    case PG_QUERY__NODE__NODE_DEFINE_STMT: return define_tag(node->define_stmt->kind);
    case PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT: return "CREATE TYPE";
    case PG_QUERY__NODE__NODE_CREATE_ENUM_STMT: return "CREATE TYPE";
    case PG_QUERY__NODE__NODE_CREATE_RANGE_STMT: return "CREATE TYPE";
    case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT: return "ALTER TYPE";
    case PG_QUERY__NODE__NODE_VIEW_STMT: return "CREATE VIEW";
    case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
      return node->create_function_stmt->is_procedure ? "CREATE PROCEDURE" : "CREATE FUNCTION";
    case PG_QUERY__NODE__NODE_INDEX_STMT: return "CREATE INDEX";
    case PG_QUERY__NODE__NODE_RULE_STMT: return "CREATE RULE";
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT: return "CREATE SEQUENCE";
    case PG_QUERY__NODE__NODE_ALTER_SEQ_STMT: return "ALTER SEQUENCE";
    case PG_QUERY__NODE__NODE_DO_STMT: return "DO";
    case PG_QUERY__NODE__NODE_CREATEDB_STMT: return "CREATE DATABASE";
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT: return "ALTER DATABASE";
    case PG_QUERY__NODE__NODE_DROPDB_STMT: return "DROP DATABASE";
    case PG_QUERY__NODE__NODE_NOTIFY_STMT: return "NOTIFY";
    case PG_QUERY__NODE__NODE_LISTEN_STMT: return "LISTEN";
    case PG_QUERY__NODE__NODE_UNLISTEN_STMT: return "UNLISTEN";
    case PG_QUERY__NODE__NODE_LOAD_STMT: return "LOAD";
    case PG_QUERY__NODE__NODE_CALL_STMT: return "CALL";
    case PG_QUERY__NODE__NODE_CLUSTER_STMT: return "CLUSTER";
    case PG_QUERY__NODE__NODE_VACUUM_STMT: return node->vacuum_stmt->is_vacuumcmd ? "VACUUM" : "ANALYZE";
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: return "EXPLAIN";
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT: {
      const PgQuery__CreateTableAsStmt* c = node->create_table_as_stmt;
      switch (c->objtype) {
        case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE: return c->is_select_into ? "SELECT INTO" : "CREATE TABLE AS";
        case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW: return "CREATE MATERIALIZED VIEW";
        default: return {};
      }
    }
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT: return "REFRESH MATERIALIZED VIEW";
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT: return "ALTER SYSTEM";
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
      switch (node->variable_set_stmt->kind) {
        case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE:
        case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_CURRENT:
        case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT:
        case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI: return "SET";
        case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET:
        case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL: return "RESET";
        default: return {};
      }
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT: return "SHOW";
    case PG_QUERY__NODE__NODE_DISCARD_STMT:
      switch (node->discard_stmt->target) {
        case PG_QUERY__DISCARD_MODE__DISCARD_ALL: return "DISCARD ALL";
        case PG_QUERY__DISCARD_MODE__DISCARD_PLANS: return "DISCARD PLANS";
        case PG_QUERY__DISCARD_MODE__DISCARD_TEMP: return "DISCARD TEMP";
        case PG_QUERY__DISCARD_MODE__DISCARD_SEQUENCES: return "DISCARD SEQUENCES";
        default: return {};
      }
    case PG_QUERY__NODE__NODE_CREATE_TRANSFORM_STMT: return "CREATE TRANSFORM";
    case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT: return "CREATE TRIGGER";
    case PG_QUERY__NODE__NODE_CREATE_EVENT_TRIG_STMT: return "CREATE EVENT TRIGGER";
    case PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT: return "ALTER EVENT TRIGGER";
    case PG_QUERY__NODE__NODE_CREATE_PLANG_STMT: return "CREATE LANGUAGE";
    case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT: return "CREATE ROLE";
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT: return "ALTER ROLE";
    case PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT: return "ALTER ROLE";
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT: return "DROP ROLE";
    case PG_QUERY__NODE__NODE_DROP_OWNED_STMT: return "DROP OWNED";
    case PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT: return "REASSIGN OWNED";
    case PG_QUERY__NODE__NODE_LOCK_STMT: return "LOCK TABLE";
    case PG_QUERY__NODE__NODE_CONSTRAINTS_SET_STMT: return "SET CONSTRAINTS";
    case PG_QUERY__NODE__NODE_CHECK_POINT_STMT: return "CHECKPOINT";
    case PG_QUERY__NODE__NODE_REINDEX_STMT: return "REINDEX";
    case PG_QUERY__NODE__NODE_CREATE_CONVERSION_STMT: return "CREATE CONVERSION";
    case PG_QUERY__NODE__NODE_CREATE_CAST_STMT: return "CREATE CAST";
    case PG_QUERY__NODE__NODE_CREATE_OP_CLASS_STMT: return "CREATE OPERATOR CLASS";
    case PG_QUERY__NODE__NODE_CREATE_OP_FAMILY_STMT: return "CREATE OPERATOR FAMILY";
    case PG_QUERY__NODE__NODE_ALTER_OP_FAMILY_STMT: return "ALTER OPERATOR FAMILY";
    case PG_QUERY__NODE__NODE_ALTER_OPERATOR_STMT: return "ALTER OPERATOR";
    case PG_QUERY__NODE__NODE_ALTER_TYPE_STMT: return "ALTER TYPE";
    case PG_QUERY__NODE__NODE_ALTER_TSDICTIONARY_STMT: return "ALTER TEXT SEARCH DICTIONARY";
    case PG_QUERY__NODE__NODE_ALTER_TSCONFIGURATION_STMT: return "ALTER TEXT SEARCH CONFIGURATION";
    case PG_QUERY__NODE__NODE_CREATE_POLICY_STMT: return "CREATE POLICY";
    case PG_QUERY__NODE__NODE_ALTER_POLICY_STMT: return "ALTER POLICY";
    case PG_QUERY__NODE__NODE_CREATE_AM_STMT: return "CREATE ACCESS METHOD";
    case PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT: return "CREATE PUBLICATION";
    case PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT: return "ALTER PUBLICATION";
    case PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT: return "CREATE SUBSCRIPTION";
    case PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT: return "ALTER SUBSCRIPTION";
    case PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT: return "DROP SUBSCRIPTION";
    case PG_QUERY__NODE__NODE_ALTER_COLLATION_STMT: return "ALTER COLLATION";
    case PG_QUERY__NODE__NODE_PREPARE_STMT: return "PREPARE";
    case PG_QUERY__NODE__NODE_EXECUTE_STMT: return "EXECUTE";
    case PG_QUERY__NODE__NODE_CREATE_STATS_STMT: return "CREATE STATISTICS";
    case PG_QUERY__NODE__NODE_ALTER_STATS_STMT: return "ALTER STATISTICS";
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
      return empty(node->deallocate_stmt->name) ? "DEALLOCATE ALL" : "DEALLOCATE";
    default:
      // RawStmt (never a statement here), ReturnStmt, SetOperationStmt and every
      // non-statement node: PostgreSQL's "unrecognized node type", CMDTAG_UNKNOWN.
      return {};
  }
}

}  // namespace ddlgate::sql::detail

// names_qualified(): a statement-kind allowlist, then a walk of the whole tree in
// which every message type must be known. The message types that carry a name
// PostgreSQL looks up through search_path are checked; a message type not listed
// answers false, so a node libpg_query adds later cannot hide an unqualified name.
namespace ddlgate::sql::detail {
namespace {

bool is_string(const PgQuery__Node* n) { return n != nullptr && n->node_case == PG_QUERY__NODE__NODE_STRING; }

// A name given as String nodes, with at least min_parts parts.
bool name_has_parts(PgQuery__Node* const* parts, std::size_t n, std::size_t min_parts) {
  if (n < min_parts) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_string(parts[i])) return false;
  }
  return true;
}

// A List node of String parts, with at least min_parts parts.
bool list_has_parts(const PgQuery__Node* n, std::size_t min_parts) {
  return n != nullptr && n->node_case == PG_QUERY__NODE__NODE_LIST &&
         name_has_parts(n->list->items, n->list->n_items, min_parts);
}

std::string_view last_string(PgQuery__Node* const* parts, std::size_t n) {
  if (n == 0 || !is_string(parts[n - 1]) || parts[n - 1]->string->sval == nullptr) return {};
  return parts[n - 1]->string->sval;
}

// The object of DROP, COMMENT, SECURITY LABEL, ALTER ... OWNER/SET SCHEMA/RENAME,
// ALTER EXTENSION ADD/DROP, in the shapes gram.y gives it for each object type. The
// walk still checks the TypeName and ObjectWithArgs nodes inside.
bool object_qualified(PgQuery__ObjectType t, const PgQuery__Node* object) {
  if (object == nullptr) return false;
  switch (t) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLLATION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_CONVERSION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_STATISTIC_EXT:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSPARSER:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSDICTIONARY:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSTEMPLATE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSCONFIGURATION:
      return list_has_parts(object, 2);  // schema.name
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER:
    case PG_QUERY__OBJECT_TYPE__OBJECT_RULE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT:
      return list_has_parts(object, 3);  // schema.relation.name
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPCLASS:
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPFAMILY:
      return list_has_parts(object, 3);  // access method, schema, name
    case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN:
      return object->node_case == PG_QUERY__NODE__NODE_TYPE_NAME || list_has_parts(object, 2);
    case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPERATOR:
      return object->node_case == PG_QUERY__NODE__NODE_OBJECT_WITH_ARGS;
    case PG_QUERY__OBJECT_TYPE__OBJECT_CAST:       // (TypeName, TypeName)
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRANSFORM:  // (TypeName, language)
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMCONSTRAINT:  // (TypeName, name)
      return object->node_case == PG_QUERY__NODE__NODE_LIST && object->list->n_items == 2 &&
             object->list->items[0] != nullptr && object->list->items[0]->node_case == PG_QUERY__NODE__NODE_TYPE_NAME;
    // Objects PostgreSQL never looks up through search_path.
    case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA:
    case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_LANGUAGE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_FDW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_SERVER:
    case PG_QUERY__OBJECT_TYPE__OBJECT_ACCESS_METHOD:
    case PG_QUERY__OBJECT_TYPE__OBJECT_EVENT_TRIGGER:
    case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_SUBSCRIPTION:
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_DATABASE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLESPACE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_LARGEOBJECT:
      return is_string(object) || object->node_case == PG_QUERY__NODE__NODE_INTEGER ||
             object->node_case == PG_QUERY__NODE__NODE_FLOAT;
    default:
      return false;  // AMOP/AMPROC, user mappings, default ACLs, ...: not judged
  }
}

bool is_string_literal(const PgQuery__Node* n) {
  return n != nullptr && n->node_case == PG_QUERY__NODE__NODE_A_CONST && n->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL;
}

// Types whose input function looks a name up through search_path, so that even
// 'x'::pg_catalog.regclass depends on it.
bool is_reg_type(std::string_view name) {
  static constexpr std::string_view kReg[] = {"regclass",    "regproc",    "regprocedure",  "regoper",
                                              "regoperator", "regtype",    "regconfig",     "regdictionary",
                                              "regnamespace", "regrole",   "regcollation"};
  for (std::string_view r : kReg) {
    if (name == r) return true;
  }
  return false;
}

// Option names whose List value holds no name looked up through search_path:
// a function's AS body (or object file and symbol), ALTER DEFAULT PRIVILEGES's
// IN SCHEMA list, an event trigger's WHEN TAG IN list.
bool list_option_without_names(const char* defname) {
  if (defname == nullptr) return false;
  std::string_view d = defname;
  return d == "as" || d == "schemas" || d == "tag";
}

bool all_role_specs(const PgQuery__List* list) {
  for (std::size_t i = 0; i < list->n_items; ++i) {
    if (list->items[i] == nullptr || list->items[i]->node_case != PG_QUERY__NODE__NODE_ROLE_SPEC) return false;
  }
  return true;
}

// One message of the tree below the statement: true when it names nothing through
// search_path unqualified (its children are checked separately).
bool message_qualified(const ProtobufCMessage* m) {
  const ProtobufCMessageDescriptor* d = m->descriptor;
  if (d == &pg_query__range_var__descriptor) {
    const auto* r = reinterpret_cast<const PgQuery__RangeVar*>(m);
    return !empty(r->schemaname);
  }
  if (d == &pg_query__type_name__descriptor) {
    const auto* t = reinterpret_cast<const PgQuery__TypeName*>(m);
    if (is_reg_type(last_string(t->names, t->n_names))) return false;
    return name_has_parts(t->names, t->n_names, t->pct_type ? 3 : 2);  // %TYPE: schema.relation.column
  }
  if (d == &pg_query__func_call__descriptor) {
    const auto* f = reinterpret_cast<const PgQuery__FuncCall*>(m);
    // A string literal argument may be coerced to a reg* type (nextval('s')).
    for (std::size_t i = 0; i < f->n_args; ++i) {
      if (is_string_literal(f->args[i])) return false;
    }
    return name_has_parts(f->funcname, f->n_funcname, 2);
  }
  if (d == &pg_query__a__expr__descriptor) {
    // Only an explicit OPERATOR(schema.op); IN, LIKE, BETWEEN, IS DISTINCT FROM and
    // NULLIF look their operators up through search_path and cannot be qualified.
    // A string literal operand may be coerced to a reg* type (regclass_col = 'x').
    const auto* e = reinterpret_cast<const PgQuery__AExpr*>(m);
    const bool op = e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP || e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY ||
                    e->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL;
    return op && name_has_parts(e->name, e->n_name, 2) && !is_string_literal(e->lexpr) && !is_string_literal(e->rexpr);
  }
  if (d == &pg_query__case_expr__descriptor) {
    // CASE x WHEN v compares x = v with an unqualified "=".
    return reinterpret_cast<const PgQuery__CaseExpr*>(m)->arg == nullptr;
  }
  if (d == &pg_query__object_with_args__descriptor) {
    const auto* o = reinterpret_cast<const PgQuery__ObjectWithArgs*>(m);
    return name_has_parts(o->objname, o->n_objname, 2);
  }
  if (d == &pg_query__column_ref__descriptor) {
    // A bare column; `a.b` may be the function b(a) when a has no column b.
    const auto* c = reinterpret_cast<const PgQuery__ColumnRef*>(m);
    if (c->n_fields == 1) return true;
    return c->n_fields == 2 && c->fields[1] != nullptr && c->fields[1]->node_case == PG_QUERY__NODE__NODE_A_STAR;
  }
  if (d == &pg_query__collate_clause__descriptor) {
    const auto* c = reinterpret_cast<const PgQuery__CollateClause*>(m);
    return name_has_parts(c->collname, c->n_collname, 2);
  }
  if (d == &pg_query__index_elem__descriptor) {
    const auto* e = reinterpret_cast<const PgQuery__IndexElem*>(m);
    return (e->n_collation == 0 || name_has_parts(e->collation, e->n_collation, 2)) &&
           (e->n_opclass == 0 || name_has_parts(e->opclass, e->n_opclass, 2));
  }
  if (d == &pg_query__partition_elem__descriptor) {
    const auto* e = reinterpret_cast<const PgQuery__PartitionElem*>(m);
    return (e->n_collation == 0 || name_has_parts(e->collation, e->n_collation, 2)) &&
           (e->n_opclass == 0 || name_has_parts(e->opclass, e->n_opclass, 2));
  }
  if (d == &pg_query__sort_by__descriptor) {
    const auto* s = reinterpret_cast<const PgQuery__SortBy*>(m);
    return s->n_use_op == 0 || name_has_parts(s->use_op, s->n_use_op, 2);
  }
  if (d == &pg_query__sub_link__descriptor) {
    // x IN (SELECT ...) compares with an unqualified "=".
    const auto* s = reinterpret_cast<const PgQuery__SubLink*>(m);
    if (s->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ANY_SUBLINK || s->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ALL_SUBLINK ||
        s->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ROWCOMPARE_SUBLINK) {
      return name_has_parts(s->oper_name, s->n_oper_name, 2);
    }
    return true;
  }
  if (d == &pg_query__join_expr__descriptor) {
    // USING and NATURAL compare with an unqualified "=".
    const auto* j = reinterpret_cast<const PgQuery__JoinExpr*>(m);
    return !j->is_natural && j->n_using_clause == 0;
  }
  if (d == &pg_query__constraint__descriptor) {
    // EXCLUDE names its operators unqualified in a List the walk cannot tell from others.
    const auto* c = reinterpret_cast<const PgQuery__Constraint*>(m);
    return c->contype != PG_QUERY__CONSTR_TYPE__CONSTR_EXCLUSION;
  }
  if (d == &pg_query__def_elem__descriptor) {
    // A List value is a name (OWNED BY t.c, HANDLER f, commutator = >, FROM "C")
    // unless the option is known, or it lists roles.
    const auto* e = reinterpret_cast<const PgQuery__DefElem*>(m);
    if (e->arg == nullptr || e->arg->node_case != PG_QUERY__NODE__NODE_LIST) return true;
    return list_option_without_names(e->defname) || all_role_specs(e->arg->list);
  }
  if (d == &pg_query__sqlvalue_function__descriptor) {
    return reinterpret_cast<const PgQuery__SQLValueFunction*>(m)->op != PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_SCHEMA;
  }
  if (d == &pg_query__publication_obj_spec__descriptor) {
    return reinterpret_cast<const PgQuery__PublicationObjSpec*>(m)->pubobjtype !=
           PG_QUERY__PUBLICATION_OBJ_SPEC_TYPE__PUBLICATIONOBJ_TABLES_IN_CUR_SCHEMA;
  }
  if (d == &pg_query__grant_stmt__descriptor) {
    // GRANT ... ON TYPE/DOMAIN lists names as String lists; other objects are RangeVar,
    // ObjectWithArgs (checked by the walk) or names never looked up through search_path.
    const auto* g = reinterpret_cast<const PgQuery__GrantStmt*>(m);
    if (g->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TYPE || g->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN) {
      for (std::size_t i = 0; i < g->n_objects; ++i) {
        if (!list_has_parts(g->objects[i], 2)) return false;
      }
    }
    return true;
  }
  // Message types that hold no name of their own (their children are walked).
  static const ProtobufCMessageDescriptor* const kNeutral[] = {
      &pg_query__node__descriptor,           &pg_query__list__descriptor,
      &pg_query__string__descriptor,         &pg_query__integer__descriptor,
      &pg_query__float__descriptor,          &pg_query__boolean__descriptor,
      &pg_query__bit_string__descriptor,     &pg_query__a__const__descriptor,
      &pg_query__a__star__descriptor,        &pg_query__a__indices__descriptor,
      &pg_query__a__indirection__descriptor, &pg_query__a__array_expr__descriptor,
      &pg_query__param_ref__descriptor,      &pg_query__column_def__descriptor,
      &pg_query__res_target__descriptor,     &pg_query__bool_expr__descriptor,
      &pg_query__null_test__descriptor,      &pg_query__boolean_test__descriptor,
      &pg_query__type_cast__descriptor,      &pg_query__case_expr__descriptor,
      &pg_query__case_when__descriptor,      &pg_query__coalesce_expr__descriptor,
      &pg_query__min_max_expr__descriptor,   &pg_query__row_expr__descriptor,
      &pg_query__range_subselect__descriptor, &pg_query__range_function__descriptor,
      &pg_query__alias__descriptor,          &pg_query__role_spec__descriptor,
      &pg_query__access_priv__descriptor,    &pg_query__function_parameter__descriptor,
      &pg_query__partition_spec__descriptor, &pg_query__partition_bound_spec__descriptor,
      &pg_query__partition_range_datum__descriptor, &pg_query__partition_cmd__descriptor,
      &pg_query__table_like_clause__descriptor, &pg_query__into_clause__descriptor,
      &pg_query__alter_table_cmd__descriptor, &pg_query__replica_identity_stmt__descriptor,
      &pg_query__vacuum_relation__descriptor, &pg_query__window_def__descriptor,
      &pg_query__grouping_set__descriptor,   &pg_query__locking_clause__descriptor,
      &pg_query__common_table_expr__descriptor, &pg_query__with_clause__descriptor,
      &pg_query__trigger_transition__descriptor, &pg_query__publication_table__descriptor,
      &pg_query__stats_elem__descriptor,     &pg_query__named_arg_expr__descriptor,
      &pg_query__multi_assign_ref__descriptor, &pg_query__set_to_default__descriptor,
      &pg_query__current_of_expr__descriptor, &pg_query__grouping_func__descriptor,
      &pg_query__select_stmt__descriptor,    &pg_query__return_stmt__descriptor,
      &pg_query__variable_set_stmt__descriptor, &pg_query__create_stmt__descriptor,
  };
  for (const ProtobufCMessageDescriptor* n : kNeutral) {
    if (d == n) return true;
  }
  return false;
}

// The statement's own name fields that the walk cannot judge (String lists in
// repeated fields); false for a statement kind not handled.
bool statement_names_qualified(const PgQuery__Node* node) {
  switch (node->node_case) {
    // Judged by the walk alone.
    case PG_QUERY__NODE__NODE_CREATE_STMT:
    case PG_QUERY__NODE__NODE_CREATE_FOREIGN_TABLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
    case PG_QUERY__NODE__NODE_INDEX_STMT:
    case PG_QUERY__NODE__NODE_VIEW_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
    case PG_QUERY__NODE__NODE_SELECT_STMT:
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SEQ_STMT:
    case PG_QUERY__NODE__NODE_GRANT_STMT:
    case PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_FUNCTION_STMT:
    case PG_QUERY__NODE__NODE_CREATE_POLICY_STMT:
    case PG_QUERY__NODE__NODE_ALTER_POLICY_STMT:
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
    case PG_QUERY__NODE__NODE_CLUSTER_STMT:
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
    case PG_QUERY__NODE__NODE_REINDEX_STMT:
    case PG_QUERY__NODE__NODE_CREATE_CAST_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TRANSFORM_STMT:
    case PG_QUERY__NODE__NODE_ALTER_OPERATOR_STMT:
    case PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT:
    // Nothing in them is looked up through search_path.
    case PG_QUERY__NODE__NODE_GRANT_ROLE_STMT:
    case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT:
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT:
    case PG_QUERY__NODE__NODE_DROP_OWNED_STMT:
    case PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT:
    case PG_QUERY__NODE__NODE_CREATEDB_STMT:
    case PG_QUERY__NODE__NODE_DROPDB_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT:
    case PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT:
    case PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT:
    case PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT:
    case PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT:
    case PG_QUERY__NODE__NODE_CREATE_FOREIGN_SERVER_STMT:
    case PG_QUERY__NODE__NODE_ALTER_FOREIGN_SERVER_STMT:
    case PG_QUERY__NODE__NODE_CREATE_USER_MAPPING_STMT:
    case PG_QUERY__NODE__NODE_ALTER_USER_MAPPING_STMT:
    case PG_QUERY__NODE__NODE_DROP_USER_MAPPING_STMT:
    case PG_QUERY__NODE__NODE_CREATE_FDW_STMT:  // HANDLER/VALIDATOR: DefElem lists, judged by the walk
    case PG_QUERY__NODE__NODE_ALTER_FDW_STMT:
    case PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT:
    case PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT:  // update scripts run under the extension's schema
      return true;
    case PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT:
      // Its elements run with the new schema put in front of search_path.
      return node->create_schema_stmt->n_schema_elts == 0;
    case PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT: {
      // Without SCHEMA it goes into the first schema of search_path.
      const PgQuery__CreateExtensionStmt* e = node->create_extension_stmt;
      for (std::size_t i = 0; i < e->n_options; ++i) {
        const PgQuery__Node* o = e->options[i];
        if (o != nullptr && o->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && o->def_elem->defname != nullptr &&
            std::strcmp(o->def_elem->defname, "schema") == 0) {
          return true;
        }
      }
      return false;
    }
    case PG_QUERY__NODE__NODE_DROP_STMT: {
      const PgQuery__DropStmt* s = node->drop_stmt;
      for (std::size_t i = 0; i < s->n_objects; ++i) {
        if (!object_qualified(s->remove_type, s->objects[i])) return false;
      }
      return true;
    }
    case PG_QUERY__NODE__NODE_COMMENT_STMT:
      return object_qualified(node->comment_stmt->objtype, node->comment_stmt->object);
    case PG_QUERY__NODE__NODE_SEC_LABEL_STMT:
      return object_qualified(node->sec_label_stmt->objtype, node->sec_label_stmt->object);
    case PG_QUERY__NODE__NODE_ALTER_EXTENSION_CONTENTS_STMT:
      return object_qualified(node->alter_extension_contents_stmt->objtype, node->alter_extension_contents_stmt->object);
    case PG_QUERY__NODE__NODE_RENAME_STMT: {
      const PgQuery__RenameStmt* r = node->rename_stmt;
      if (r->relation != nullptr) return true;  // the RangeVar is walked
      if (r->object != nullptr) return object_qualified(r->rename_type, r->object);
      const PgQuery__ObjectType t = r->rename_type;  // by subname
      return t == PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA || t == PG_QUERY__OBJECT_TYPE__OBJECT_DATABASE ||
             t == PG_QUERY__OBJECT_TYPE__OBJECT_ROLE || t == PG_QUERY__OBJECT_TYPE__OBJECT_TABLESPACE;
    }
    case PG_QUERY__NODE__NODE_ALTER_OWNER_STMT: {
      const PgQuery__AlterOwnerStmt* s = node->alter_owner_stmt;
      return s->relation != nullptr || object_qualified(s->object_type, s->object);
    }
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT: {
      const PgQuery__AlterObjectSchemaStmt* s = node->alter_object_schema_stmt;
      return s->relation != nullptr || object_qualified(s->object_type, s->object);
    }
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_DEPENDS_STMT: {
      const PgQuery__AlterObjectDependsStmt* s = node->alter_object_depends_stmt;
      return s->relation != nullptr || object_qualified(s->object_type, s->object);
    }
    case PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT:
      return name_has_parts(node->create_domain_stmt->domainname, node->create_domain_stmt->n_domainname, 2);
    case PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT:
      return name_has_parts(node->alter_domain_stmt->type_name, node->alter_domain_stmt->n_type_name, 2);
    case PG_QUERY__NODE__NODE_CREATE_ENUM_STMT:
      return name_has_parts(node->create_enum_stmt->type_name, node->create_enum_stmt->n_type_name, 2);
    case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT:
      return name_has_parts(node->alter_enum_stmt->type_name, node->alter_enum_stmt->n_type_name, 2);
    case PG_QUERY__NODE__NODE_CREATE_RANGE_STMT:
      return name_has_parts(node->create_range_stmt->type_name, node->create_range_stmt->n_type_name, 2);
    case PG_QUERY__NODE__NODE_ALTER_TYPE_STMT:
      return name_has_parts(node->alter_type_stmt->type_name, node->alter_type_stmt->n_type_name, 2);
    case PG_QUERY__NODE__NODE_DEFINE_STMT: {
      // Text search objects and collations take names as bare words (PARSER = default).
      const PgQuery__DefineStmt* s = node->define_stmt;
      if (s->kind != PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE && s->kind != PG_QUERY__OBJECT_TYPE__OBJECT_OPERATOR &&
          s->kind != PG_QUERY__OBJECT_TYPE__OBJECT_TYPE) {
        return false;
      }
      return name_has_parts(s->defnames, s->n_defnames, 2);
    }
    case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
      return name_has_parts(node->create_function_stmt->funcname, node->create_function_stmt->n_funcname, 2);
    case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT:
      return name_has_parts(node->create_trig_stmt->funcname, node->create_trig_stmt->n_funcname, 2);
    case PG_QUERY__NODE__NODE_CREATE_EVENT_TRIG_STMT:
      return name_has_parts(node->create_event_trig_stmt->funcname, node->create_event_trig_stmt->n_funcname, 2);
    case PG_QUERY__NODE__NODE_CREATE_CONVERSION_STMT:
      return name_has_parts(node->create_conversion_stmt->conversion_name,
                            node->create_conversion_stmt->n_conversion_name, 2) &&
             name_has_parts(node->create_conversion_stmt->func_name, node->create_conversion_stmt->n_func_name, 2);
    case PG_QUERY__NODE__NODE_CREATE_OP_FAMILY_STMT:
      return name_has_parts(node->create_op_family_stmt->opfamilyname, node->create_op_family_stmt->n_opfamilyname, 2);
    case PG_QUERY__NODE__NODE_CREATE_STATS_STMT:
      return node->create_stats_stmt->n_defnames == 0 ||  // unnamed: goes into its table's schema
             name_has_parts(node->create_stats_stmt->defnames, node->create_stats_stmt->n_defnames, 2);
    case PG_QUERY__NODE__NODE_ALTER_STATS_STMT:
      return name_has_parts(node->alter_stats_stmt->defnames, node->alter_stats_stmt->n_defnames, 2);
    case PG_QUERY__NODE__NODE_ALTER_COLLATION_STMT:
      return name_has_parts(node->alter_collation_stmt->collname, node->alter_collation_stmt->n_collname, 2);
    case PG_QUERY__NODE__NODE_ALTER_TSDICTIONARY_STMT:
      return name_has_parts(node->alter_tsdictionary_stmt->dictname, node->alter_tsdictionary_stmt->n_dictname, 2);
    case PG_QUERY__NODE__NODE_CREATE_AM_STMT:
      return name_has_parts(node->create_am_stmt->handler_name, node->create_am_stmt->n_handler_name, 2);
    default:
      // DO, CALL, CREATE RULE, DML, operator classes, languages, text search
      // configurations, IMPORT FOREIGN SCHEMA, ...: not judged, so not qualified.
      return false;
  }
}

}  // namespace

bool names_qualified(const PgQuery__Node* node) {
  ProtobufCMessage* root = node_member(node);
  if (root == nullptr || !statement_names_qualified(node)) return false;
  bool ok = true;
  auto visit = [&ok, root](ProtobufCMessage* m) {
    if (!ok) return false;
    if (m != root && !message_qualified(m)) ok = false;
    if (m == root && m->descriptor == &pg_query__grant_stmt__descriptor && !message_qualified(m)) ok = false;
    return ok;
  };
  if (!walk(root, visit)) return false;
  return ok;
}

}  // namespace ddlgate::sql::detail
