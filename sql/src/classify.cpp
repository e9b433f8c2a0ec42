// Statement classification from the parse tree. Every statement-level node type of
// PostgreSQL 15's grammar has an explicit row in kRules; a node type without a row
// is classified unknown, which is always controlled (fail closed). The unit test
// policy_node_table_test reads pg_query.proto and checks every *Stmt has a row.
#include "classify.h"

#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/server_admin.h"
#include "pg_tree.h"

namespace ddlgate::sql {
namespace detail {
namespace {

using C = StatementClass;

// How a node whose class depends on its content is looked into.
enum class Inspect : unsigned char {
  none,           // the class in the row is final
  query,          // SELECT/INSERT/UPDATE/DELETE/MERGE: data-modifying parts, INTO, FOR UPDATE
  explain,        // EXPLAIN runs its statement only with ANALYZE
  wrapped_query,  // PREPARE, DECLARE CURSOR: the class of the statement they wrap
  copy,           // COPY: STDIN/STDOUT vs server file or PROGRAM
  create_table,   // CREATE TABLE: temporary or not
  create_as,      // CREATE TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW: temporary or not
  create_view,    // CREATE VIEW: temporary or not
  create_seq,     // CREATE SEQUENCE: temporary or not
  rename,         // ALTER ... RENAME: roles, databases and tablespaces are privilege
  alter_owner,    // ALTER ... OWNER TO: databases and tablespaces are privilege
};

struct Rule {
  PgQuery__Node__NodeCase node;
  StatementClass cls;  // final class, or the class when inspection finds nothing more
  Inspect inspect;
  std::string_view why;
};

// clang-format off
constexpr Rule kRules[] = {
  // Reads and writes: the class comes from what the tree contains.
  {PG_QUERY__NODE__NODE_SELECT_STMT, C::read, Inspect::query, "SELECT/VALUES/TABLE; INTO creates a table, data-modifying WITH writes, FOR UPDATE/SHARE locks rows"},
  {PG_QUERY__NODE__NODE_INSERT_STMT, C::write, Inspect::query, "INSERT"},
  {PG_QUERY__NODE__NODE_UPDATE_STMT, C::write, Inspect::query, "UPDATE"},
  {PG_QUERY__NODE__NODE_DELETE_STMT, C::write, Inspect::query, "DELETE"},
  {PG_QUERY__NODE__NODE_MERGE_STMT, C::write, Inspect::query, "MERGE"},
  {PG_QUERY__NODE__NODE_COPY_STMT, C::write, Inspect::copy, "COPY: FROM STDIN writes, TO STDOUT reads, a server file or PROGRAM is server_file_access"},
  {PG_QUERY__NODE__NODE_LOCK_STMT, C::write, Inspect::none, "LOCK TABLE: needs write privileges for strong modes and affects concurrent writers, like DML"},
  {PG_QUERY__NODE__NODE_FETCH_STMT, C::read, Inspect::none, "FETCH/MOVE: reads a cursor whose query was judged at DECLARE"},
  {PG_QUERY__NODE__NODE_EXPLAIN_STMT, C::read, Inspect::explain, "EXPLAIN plans only; EXPLAIN ANALYZE runs the statement"},
  {PG_QUERY__NODE__NODE_PREPARE_STMT, C::read, Inspect::wrapped_query, "PREPARE: the class of the prepared statement"},
  {PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT, C::read, Inspect::wrapped_query, "DECLARE CURSOR: the class of its query"},

  // Transaction control.
  {PG_QUERY__NODE__NODE_TRANSACTION_STMT, C::transaction, Inspect::none, "BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE/PREPARE TRANSACTION/COMMIT PREPARED"},
  {PG_QUERY__NODE__NODE_CONSTRAINTS_SET_STMT, C::transaction, Inspect::none, "SET CONSTRAINTS: only affects the current transaction"},

  // Session state.
  {PG_QUERY__NODE__NODE_VARIABLE_SET_STMT, C::session, Inspect::none, "SET/RESET, including SET ROLE and SET SESSION AUTHORIZATION (see docs/classification.md)"},
  {PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT, C::session, Inspect::none, "SHOW"},
  {PG_QUERY__NODE__NODE_DISCARD_STMT, C::session, Inspect::none, "DISCARD"},
  {PG_QUERY__NODE__NODE_LISTEN_STMT, C::session, Inspect::none, "LISTEN"},
  {PG_QUERY__NODE__NODE_UNLISTEN_STMT, C::session, Inspect::none, "UNLISTEN"},
  {PG_QUERY__NODE__NODE_NOTIFY_STMT, C::session, Inspect::none, "NOTIFY"},
  {PG_QUERY__NODE__NODE_EXECUTE_STMT, C::session, Inspect::none, "EXECUTE a prepared statement: its PREPARE was judged"},
  {PG_QUERY__NODE__NODE_DEALLOCATE_STMT, C::session, Inspect::none, "DEALLOCATE"},
  {PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT, C::session, Inspect::none, "CLOSE cursor"},

  // Maintenance.
  {PG_QUERY__NODE__NODE_VACUUM_STMT, C::maintenance, Inspect::none, "VACUUM and ANALYZE"},
  {PG_QUERY__NODE__NODE_REINDEX_STMT, C::maintenance, Inspect::none, "REINDEX"},
  {PG_QUERY__NODE__NODE_CLUSTER_STMT, C::maintenance, Inspect::none, "CLUSTER"},
  {PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT, C::maintenance, Inspect::none, "REFRESH MATERIALIZED VIEW"},
  {PG_QUERY__NODE__NODE_CHECK_POINT_STMT, C::maintenance, Inspect::none, "CHECKPOINT"},

  // Schema changes.
  {PG_QUERY__NODE__NODE_CREATE_STMT, C::schema_change, Inspect::create_table, "CREATE TABLE (TEMP: see Policy::allow_temporary_objects)"},
  {PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT, C::schema_change, Inspect::create_as, "CREATE TABLE AS, CREATE MATERIALIZED VIEW"},
  {PG_QUERY__NODE__NODE_VIEW_STMT, C::schema_change, Inspect::create_view, "CREATE VIEW"},
  {PG_QUERY__NODE__NODE_CREATE_SEQ_STMT, C::schema_change, Inspect::create_seq, "CREATE SEQUENCE"},
  {PG_QUERY__NODE__NODE_ALTER_TABLE_STMT, C::schema_change, Inspect::none, "ALTER TABLE/INDEX/VIEW/SEQUENCE/FOREIGN TABLE/MATERIALIZED VIEW"},
  {PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT, C::schema_change, Inspect::none, "ALTER DOMAIN"},
  {PG_QUERY__NODE__NODE_DEFINE_STMT, C::schema_change, Inspect::none, "CREATE AGGREGATE/OPERATOR/TYPE/COLLATION/TEXT SEARCH ..."},
  {PG_QUERY__NODE__NODE_DROP_STMT, C::schema_change, Inspect::none, "DROP of any schema object"},
  {PG_QUERY__NODE__NODE_COMMENT_STMT, C::schema_change, Inspect::none, "COMMENT ON"},
  {PG_QUERY__NODE__NODE_SEC_LABEL_STMT, C::schema_change, Inspect::none, "SECURITY LABEL"},
  {PG_QUERY__NODE__NODE_INDEX_STMT, C::schema_change, Inspect::none, "CREATE INDEX"},
  {PG_QUERY__NODE__NODE_RENAME_STMT, C::schema_change, Inspect::rename, "ALTER ... RENAME"},
  {PG_QUERY__NODE__NODE_RULE_STMT, C::schema_change, Inspect::none, "CREATE RULE: its actions are stored, not run"},
  {PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT, C::schema_change, Inspect::none, "CREATE DOMAIN"},
  {PG_QUERY__NODE__NODE_ALTER_SEQ_STMT, C::schema_change, Inspect::none, "ALTER SEQUENCE"},
  {PG_QUERY__NODE__NODE_CREATE_TRIG_STMT, C::schema_change, Inspect::none, "CREATE TRIGGER"},
  {PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT, C::schema_change, Inspect::none, "CREATE SCHEMA (with its elements)"},
  {PG_QUERY__NODE__NODE_CREATE_CONVERSION_STMT, C::schema_change, Inspect::none, "CREATE CONVERSION"},
  {PG_QUERY__NODE__NODE_CREATE_CAST_STMT, C::schema_change, Inspect::none, "CREATE CAST"},
  {PG_QUERY__NODE__NODE_CREATE_OP_CLASS_STMT, C::schema_change, Inspect::none, "CREATE OPERATOR CLASS"},
  {PG_QUERY__NODE__NODE_CREATE_OP_FAMILY_STMT, C::schema_change, Inspect::none, "CREATE OPERATOR FAMILY"},
  {PG_QUERY__NODE__NODE_ALTER_OP_FAMILY_STMT, C::schema_change, Inspect::none, "ALTER OPERATOR FAMILY"},
  {PG_QUERY__NODE__NODE_ALTER_OBJECT_DEPENDS_STMT, C::schema_change, Inspect::none, "ALTER ... DEPENDS ON EXTENSION"},
  {PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT, C::schema_change, Inspect::none, "ALTER ... SET SCHEMA"},
  {PG_QUERY__NODE__NODE_ALTER_OWNER_STMT, C::schema_change, Inspect::alter_owner, "ALTER ... OWNER TO"},
  {PG_QUERY__NODE__NODE_ALTER_OPERATOR_STMT, C::schema_change, Inspect::none, "ALTER OPERATOR"},
  {PG_QUERY__NODE__NODE_ALTER_TYPE_STMT, C::schema_change, Inspect::none, "ALTER TYPE ... SET"},
  {PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT, C::schema_change, Inspect::none, "CREATE TYPE ... AS (...)"},
  {PG_QUERY__NODE__NODE_CREATE_ENUM_STMT, C::schema_change, Inspect::none, "CREATE TYPE ... AS ENUM"},
  {PG_QUERY__NODE__NODE_CREATE_RANGE_STMT, C::schema_change, Inspect::none, "CREATE TYPE ... AS RANGE"},
  {PG_QUERY__NODE__NODE_ALTER_ENUM_STMT, C::schema_change, Inspect::none, "ALTER TYPE ... ADD/RENAME VALUE"},
  {PG_QUERY__NODE__NODE_ALTER_TSDICTIONARY_STMT, C::schema_change, Inspect::none, "ALTER TEXT SEARCH DICTIONARY"},
  {PG_QUERY__NODE__NODE_ALTER_TSCONFIGURATION_STMT, C::schema_change, Inspect::none, "ALTER TEXT SEARCH CONFIGURATION"},
  {PG_QUERY__NODE__NODE_CREATE_FDW_STMT, C::schema_change, Inspect::none, "CREATE FOREIGN DATA WRAPPER"},
  {PG_QUERY__NODE__NODE_ALTER_FDW_STMT, C::schema_change, Inspect::none, "ALTER FOREIGN DATA WRAPPER"},
  {PG_QUERY__NODE__NODE_CREATE_FOREIGN_SERVER_STMT, C::schema_change, Inspect::none, "CREATE SERVER"},
  {PG_QUERY__NODE__NODE_ALTER_FOREIGN_SERVER_STMT, C::schema_change, Inspect::none, "ALTER SERVER"},
  {PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT, C::schema_change, Inspect::none, "ALTER TABLE ALL IN TABLESPACE ... SET TABLESPACE"},
  {PG_QUERY__NODE__NODE_CREATE_FOREIGN_TABLE_STMT, C::schema_change, Inspect::none, "CREATE FOREIGN TABLE"},
  {PG_QUERY__NODE__NODE_IMPORT_FOREIGN_SCHEMA_STMT, C::schema_change, Inspect::none, "IMPORT FOREIGN SCHEMA: creates foreign tables"},
  {PG_QUERY__NODE__NODE_ALTER_EXTENSION_CONTENTS_STMT, C::schema_change, Inspect::none, "ALTER EXTENSION ADD/DROP member"},
  {PG_QUERY__NODE__NODE_CREATE_EVENT_TRIG_STMT, C::schema_change, Inspect::none, "CREATE EVENT TRIGGER"},
  {PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT, C::schema_change, Inspect::none, "ALTER EVENT TRIGGER"},
  {PG_QUERY__NODE__NODE_REPLICA_IDENTITY_STMT, C::schema_change, Inspect::none, "REPLICA IDENTITY (inside ALTER TABLE)"},
  {PG_QUERY__NODE__NODE_CREATE_TRANSFORM_STMT, C::schema_change, Inspect::none, "CREATE TRANSFORM"},
  {PG_QUERY__NODE__NODE_CREATE_AM_STMT, C::schema_change, Inspect::none, "CREATE ACCESS METHOD"},
  {PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT, C::schema_change, Inspect::none, "CREATE PUBLICATION"},
  {PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT, C::schema_change, Inspect::none, "ALTER PUBLICATION"},
  {PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT, C::schema_change, Inspect::none, "CREATE SUBSCRIPTION"},
  {PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT, C::schema_change, Inspect::none, "ALTER SUBSCRIPTION"},
  {PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT, C::schema_change, Inspect::none, "DROP SUBSCRIPTION"},
  {PG_QUERY__NODE__NODE_CREATE_STATS_STMT, C::schema_change, Inspect::none, "CREATE STATISTICS"},
  {PG_QUERY__NODE__NODE_ALTER_STATS_STMT, C::schema_change, Inspect::none, "ALTER STATISTICS"},
  {PG_QUERY__NODE__NODE_ALTER_COLLATION_STMT, C::schema_change, Inspect::none, "ALTER COLLATION ... REFRESH VERSION"},

  // Privileges, roles and cluster-level objects.
  {PG_QUERY__NODE__NODE_GRANT_STMT, C::privilege, Inspect::none, "GRANT/REVOKE on objects"},
  {PG_QUERY__NODE__NODE_GRANT_ROLE_STMT, C::privilege, Inspect::none, "GRANT/REVOKE role membership"},
  {PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT, C::privilege, Inspect::none, "ALTER DEFAULT PRIVILEGES"},
  {PG_QUERY__NODE__NODE_CREATE_ROLE_STMT, C::privilege, Inspect::none, "CREATE ROLE/USER/GROUP"},
  {PG_QUERY__NODE__NODE_ALTER_ROLE_STMT, C::privilege, Inspect::none, "ALTER ROLE/USER"},
  {PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT, C::privilege, Inspect::none, "ALTER ROLE ... SET"},
  {PG_QUERY__NODE__NODE_DROP_ROLE_STMT, C::privilege, Inspect::none, "DROP ROLE/USER/GROUP"},
  {PG_QUERY__NODE__NODE_DROP_OWNED_STMT, C::privilege, Inspect::none, "DROP OWNED BY a role"},
  {PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT, C::privilege, Inspect::none, "REASSIGN OWNED BY a role"},
  {PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT, C::privilege, Inspect::none, "ALTER SYSTEM: server configuration"},
  {PG_QUERY__NODE__NODE_CREATEDB_STMT, C::privilege, Inspect::none, "CREATE DATABASE"},
  {PG_QUERY__NODE__NODE_DROPDB_STMT, C::privilege, Inspect::none, "DROP DATABASE"},
  {PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT, C::privilege, Inspect::none, "ALTER DATABASE"},
  {PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT, C::privilege, Inspect::none, "ALTER DATABASE ... SET"},
  {PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT, C::privilege, Inspect::none, "ALTER DATABASE ... REFRESH COLLATION VERSION"},
  {PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT, C::privilege, Inspect::none, "CREATE TABLESPACE"},
  {PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT, C::privilege, Inspect::none, "DROP TABLESPACE"},
  {PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT, C::privilege, Inspect::none, "ALTER TABLESPACE ... SET/RESET"},
  {PG_QUERY__NODE__NODE_CREATE_USER_MAPPING_STMT, C::privilege, Inspect::none, "CREATE USER MAPPING: maps a role to remote credentials"},
  {PG_QUERY__NODE__NODE_ALTER_USER_MAPPING_STMT, C::privilege, Inspect::none, "ALTER USER MAPPING"},
  {PG_QUERY__NODE__NODE_DROP_USER_MAPPING_STMT, C::privilege, Inspect::none, "DROP USER MAPPING"},
  {PG_QUERY__NODE__NODE_CREATE_POLICY_STMT, C::privilege, Inspect::none, "CREATE POLICY: row-level security decides who sees what"},
  {PG_QUERY__NODE__NODE_ALTER_POLICY_STMT, C::privilege, Inspect::none, "ALTER POLICY"},

  // Code.
  {PG_QUERY__NODE__NODE_DO_STMT, C::code, Inspect::none, "DO: runs an anonymous code block"},
  {PG_QUERY__NODE__NODE_CALL_STMT, C::code, Inspect::none, "CALL a procedure (which may COMMIT and run dynamic SQL)"},
  {PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT, C::code, Inspect::none, "CREATE FUNCTION/PROCEDURE"},
  {PG_QUERY__NODE__NODE_ALTER_FUNCTION_STMT, C::code, Inspect::none, "ALTER FUNCTION/PROCEDURE (SECURITY DEFINER, ...)"},
  {PG_QUERY__NODE__NODE_CREATE_PLANG_STMT, C::code, Inspect::none, "CREATE LANGUAGE"},
  {PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT, C::code, Inspect::none, "CREATE EXTENSION: runs the extension's scripts and loads its libraries"},
  {PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT, C::code, Inspect::none, "ALTER EXTENSION UPDATE: runs update scripts"},
  {PG_QUERY__NODE__NODE_LOAD_STMT, C::code, Inspect::none, "LOAD: loads a shared library into the backend"},

  // Destructive data.
  {PG_QUERY__NODE__NODE_TRUNCATE_STMT, C::destructive, Inspect::none, "TRUNCATE"},

  // Nodes the raw parser never yields as a statement of a SQL string (PL/pgSQL
  // internals, post-analysis forms, the wrapper itself): explicit, and fail closed.
  {PG_QUERY__NODE__NODE_RAW_STMT, C::unknown, Inspect::none, "RawStmt is the wrapper, never a statement"},
  {PG_QUERY__NODE__NODE_RETURN_STMT, C::unknown, Inspect::none, "RETURN only exists inside a SQL-standard function body"},
  {PG_QUERY__NODE__NODE_PLASSIGN_STMT, C::unknown, Inspect::none, "PL/pgSQL assignment, only in PL/pgSQL parse mode"},
  {PG_QUERY__NODE__NODE_SET_OPERATION_STMT, C::unknown, Inspect::none, "post-analysis form of UNION/INTERSECT/EXCEPT"},
};
// clang-format on

constexpr std::size_t kMaxNodeCase = 256;

// kRules indexed by node case, built at compile time; nullptr: no rule.
struct RuleIndex {
  std::array<const Rule*, kMaxNodeCase> by_case{};
  constexpr RuleIndex() {
    for (const Rule& r : kRules) by_case[static_cast<std::size_t>(r.node)] = &r;
  }
};
constexpr RuleIndex kRuleIndex{};

const Rule* find_rule(PgQuery__Node__NodeCase node_case) {
  auto i = static_cast<std::size_t>(node_case);
  return i < kMaxNodeCase ? kRuleIndex.by_case[i] : nullptr;
}

bool is_temp(const PgQuery__RangeVar* rel) {
  // Only an explicit TEMP/TEMPORARY counts; CREATE TABLE pg_temp.x is treated as
  // permanent here (it is controlled, which is the safe direction).
  return rel != nullptr && rel->relpersistence != nullptr && std::strcmp(rel->relpersistence, "t") == 0;
}

// What a query tree contains, found by walking all of it.
Classification scan_query(const PgQuery__Node* node) {
  bool dml = false;
  bool into = false;
  bool temp_into = true;
  bool row_locks = false;
  bool other_statement = false;
  auto visit = [&](ProtobufCMessage* m) {
    const ProtobufCMessageDescriptor* d = m->descriptor;
    if (d == &pg_query__insert_stmt__descriptor || d == &pg_query__update_stmt__descriptor ||
        d == &pg_query__delete_stmt__descriptor || d == &pg_query__merge_stmt__descriptor) {
      dml = true;
    } else if (d == &pg_query__into_clause__descriptor) {
      into = true;
      temp_into = temp_into && is_temp(reinterpret_cast<PgQuery__IntoClause*>(m)->rel);
    } else if (d == &pg_query__locking_clause__descriptor) {
      row_locks = true;
    } else if (d != &pg_query__select_stmt__descriptor) {
      // Any other statement node inside a query is not something PG15's grammar
      // produces; if a future grammar does, do not guess.
      std::string_view name = d->short_name;
      if (name.size() > 4 && name.substr(name.size() - 4) == "Stmt") other_statement = true;
    }
    return true;
  };
  ProtobufCMessage* root = node_member(node);
  bool complete = root != nullptr && walk(root, visit);
  if (!complete || other_statement) return {C::unknown, false};
  if (into) return {C::schema_change, temp_into};
  if (dml || row_locks) return {C::write, false};
  return {C::read, false};
}

std::string_view string_of(const PgQuery__Node* node) {
  if (node == nullptr || node->node_case != PG_QUERY__NODE__NODE_STRING || node->string->sval == nullptr) return {};
  return node->string->sval;
}

std::string_view text_of(const char* s) { return s != nullptr ? std::string_view(s) : std::string_view(); }

bool writes_system_relation(const PgQuery__RangeVar* rel) {
  return rel != nullptr && is_system_relation(text_of(rel->schemaname), text_of(rel->relname));
}

// set_config(name, ...) is SET by function: dangerous when the name is a dangerous
// setting, and when it is anything but a string constant ($1, an expression), since
// then ddlgate cannot know which setting it changes.
bool set_config_is_dangerous(const PgQuery__FuncCall* call) {
  if (call->n_args == 0) return true;
  const PgQuery__Node* arg = call->args[0];
  if (arg != nullptr && arg->node_case == PG_QUERY__NODE__NODE_TYPE_CAST) arg = arg->type_cast->arg;  // 'x'::text
  if (arg == nullptr || arg->node_case != PG_QUERY__NODE__NODE_A_CONST) return true;
  const PgQuery__AConst* c = arg->a_const;
  if (c->val_case != PG_QUERY__A__CONST__VAL_SVAL || c->sval == nullptr || c->sval->sval == nullptr) return true;
  return is_dangerous_setting(c->sval->sval);
}

// Whether a call names a controlled function (server_admin.h): the last name is
// listed and, for a core function, there is no schema or the schema is pg_catalog.
bool calls_controlled_function(const PgQuery__FuncCall* call) {
  const std::size_t n = call->n_funcname;
  if (n == 0) return false;
  const ControlledFunction* f = find_controlled_function(string_of(call->funcname[n - 1]));
  if (f == nullptr) return false;
  if (f->scope == FunctionScope::core && n >= 2 && string_of(call->funcname[n - 2]) != "pg_catalog") return false;
  if (f->only_with_args >= 0 && call->n_args != static_cast<std::size_t>(f->only_with_args)) return false;
  if (f->name == "set_config") return set_config_is_dangerous(call);
  return true;
}

// Whether one message of a statement's tree makes it server_admin: a controlled
// function call, a write to a system relation (INSERT/UPDATE/DELETE/MERGE, COPY
// FROM, TRUNCATE). SET of a dangerous setting counts only as the statement itself
// (see classify_node): inside ALTER SYSTEM/ROLE/DATABASE/FUNCTION it is already
// privilege or code.
bool is_server_admin_node(const ProtobufCMessage* m) {
  const ProtobufCMessageDescriptor* d = m->descriptor;
  if (d == &pg_query__func_call__descriptor) {
    return calls_controlled_function(reinterpret_cast<const PgQuery__FuncCall*>(m));
  }
  if (d == &pg_query__insert_stmt__descriptor) {
    return writes_system_relation(reinterpret_cast<const PgQuery__InsertStmt*>(m)->relation);
  }
  if (d == &pg_query__update_stmt__descriptor) {
    return writes_system_relation(reinterpret_cast<const PgQuery__UpdateStmt*>(m)->relation);
  }
  if (d == &pg_query__delete_stmt__descriptor) {
    return writes_system_relation(reinterpret_cast<const PgQuery__DeleteStmt*>(m)->relation);
  }
  if (d == &pg_query__merge_stmt__descriptor) {
    return writes_system_relation(reinterpret_cast<const PgQuery__MergeStmt*>(m)->relation);
  }
  if (d == &pg_query__copy_stmt__descriptor) {
    const auto* copy = reinterpret_cast<const PgQuery__CopyStmt*>(m);
    return copy->is_from && writes_system_relation(copy->relation);
  }
  if (d == &pg_query__truncate_stmt__descriptor) {
    const auto* t = reinterpret_cast<const PgQuery__TruncateStmt*>(m);
    for (std::size_t i = 0; i < t->n_relations; ++i) {
      const PgQuery__Node* r = t->relations[i];
      if (r != nullptr && r->node_case == PG_QUERY__NODE__NODE_RANGE_VAR && writes_system_relation(r->range_var)) {
        return true;
      }
    }
    return false;
  }
  return false;
}

enum class AdminScan : unsigned char { none, found, incomplete };

// Looks for a server_admin node anywhere in the statement, wherever it sits: a
// function call in a view body, a column default or an EXPLAIN without ANALYZE
// counts too (the rule is about the text, and it fails closed).
AdminScan scan_server_admin(const PgQuery__Node* node) {
  ProtobufCMessage* root = node_member(node);
  if (root == nullptr) return AdminScan::none;
  bool found = false;
  auto visit = [&](ProtobufCMessage* m) {
    if (!found && is_server_admin_node(m)) found = true;
    return !found;
  };
  if (!walk(root, visit)) return AdminScan::incomplete;
  return found ? AdminScan::found : AdminScan::none;
}

// Whether an EXPLAIN option list turns ANALYZE on. Anything but an explicit false
// value counts as on (fail closed: the statement is then judged as if it ran).
bool explain_analyzes(const PgQuery__ExplainStmt* explain) {
  for (std::size_t i = 0; i < explain->n_options; ++i) {
    const PgQuery__Node* opt = explain->options[i];
    if (opt == nullptr || opt->node_case != PG_QUERY__NODE__NODE_DEF_ELEM) continue;
    const PgQuery__DefElem* def = opt->def_elem;
    if (def->defname == nullptr || std::strcmp(def->defname, "analyze") != 0) continue;
    const PgQuery__Node* arg = def->arg;
    if (arg == nullptr) return true;
    if (arg->node_case == PG_QUERY__NODE__NODE_STRING && arg->string->sval != nullptr) {
      std::string_view v = arg->string->sval;
      if (v == "false" || v == "off" || v == "no" || v == "0") continue;
      return true;
    }
    if (arg->node_case == PG_QUERY__NODE__NODE_INTEGER && arg->integer->ival == 0) continue;
    if (arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN && !arg->boolean->boolval) continue;
    return true;
  }
  return false;
}

bool is_cluster_object(PgQuery__ObjectType t) {
  return t == PG_QUERY__OBJECT_TYPE__OBJECT_ROLE || t == PG_QUERY__OBJECT_TYPE__OBJECT_DATABASE ||
         t == PG_QUERY__OBJECT_TYPE__OBJECT_TABLESPACE;
}

Classification classify_depth(const PgQuery__Node* node, int depth) {
  if (node == nullptr || depth > 8) return {C::unknown, false};
  const Rule* rule = find_rule(node->node_case);
  if (rule == nullptr) return {C::unknown, false};
  switch (rule->inspect) {
    case Inspect::none:
      return {rule->cls, false};
    case Inspect::query:
      return scan_query(node);
    case Inspect::explain:
      if (!explain_analyzes(node->explain_stmt)) return {C::read, false};
      return classify_depth(node->explain_stmt->query, depth + 1);
    case Inspect::wrapped_query: {
      const PgQuery__Node* inner = node->node_case == PG_QUERY__NODE__NODE_PREPARE_STMT
                                       ? node->prepare_stmt->query
                                       : node->declare_cursor_stmt->query;
      return classify_depth(inner, depth + 1);
    }
    case Inspect::copy: {
      const PgQuery__CopyStmt* copy = node->copy_stmt;
      if (copy->is_program || (copy->filename != nullptr && copy->filename[0] != '\0')) {
        return {C::server_file_access, false};
      }
      if (copy->query != nullptr) return scan_query(copy->query);  // COPY (query) TO STDOUT
      return {copy->is_from ? C::write : C::read, false};
    }
    case Inspect::create_table:
      return {C::schema_change, is_temp(node->create_stmt->relation)};
    case Inspect::create_as: {
      const PgQuery__IntoClause* into = node->create_table_as_stmt->into;
      return {C::schema_change, into != nullptr && is_temp(into->rel)};
    }
    case Inspect::create_view:
      return {C::schema_change, is_temp(node->view_stmt->view)};
    case Inspect::create_seq:
      return {C::schema_change, is_temp(node->create_seq_stmt->sequence)};
    case Inspect::rename:
      return {is_cluster_object(node->rename_stmt->rename_type) ? C::privilege : C::schema_change, false};
    case Inspect::alter_owner:
      return {is_cluster_object(node->alter_owner_stmt->object_type) ? C::privilege : C::schema_change,
              false};
  }
  return {C::unknown, false};
}

}  // namespace

Classification classify_node(const PgQuery__Node* node) {
  Classification c = classify_depth(node, 0);
  if (c.cls == C::unknown) return c;
  if (node->node_case == PG_QUERY__NODE__NODE_VARIABLE_SET_STMT) {
    const PgQuery__VariableSetStmt* set = node->variable_set_stmt;
    const bool dangerous =
        set->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL && is_dangerous_setting(text_of(set->name));
    return dangerous ? Classification{C::server_admin, false} : c;
  }
  // server_admin outranks every other class: whatever else the statement does, it
  // also changes the server (or may, for an unknown set_config name).
  switch (scan_server_admin(node)) {
    case AdminScan::none:
      return c;
    case AdminScan::found:
      return {C::server_admin, false};
    case AdminScan::incomplete:
      return {C::unknown, false};
  }
  return {C::unknown, false};
}

std::optional<StatementClass> fixed_class_by_name(std::string_view node_type_name) {
  // Built once (thread-safe static initialisation), read-only afterwards.
  static const std::unordered_map<std::string_view, StatementClass> kFixed = [] {
    std::unordered_map<std::string_view, StatementClass> m;
    const ProtobufCMessageDescriptor& node_desc = pg_query__node__descriptor;
    for (unsigned i = 0; i < node_desc.n_fields; ++i) {
      const auto* msg = static_cast<const ProtobufCMessageDescriptor*>(node_desc.fields[i].descriptor);
      const Rule* rule = find_rule(static_cast<PgQuery__Node__NodeCase>(node_desc.fields[i].id));
      if (msg != nullptr && rule != nullptr && rule->inspect == Inspect::none) m.emplace(msg->short_name, rule->cls);
    }
    return m;
  }();
  auto it = kFixed.find(node_type_name);
  if (it == kFixed.end()) return std::nullopt;
  return it->second;
}

SessionEffect session_effect(PgQuery__TransactionStmtKind kind, bool chain) {
  switch (kind) {
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT:
      return SessionEffect::define;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
      return SessionEffect::release;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
      return SessionEffect::rollback_to;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
      return chain ? SessionEffect::chain : SessionEffect::none;
    default:
      return SessionEffect::none;
  }
}

SessionEffect session_effect(std::string_view kind_name, bool chain) {
  const std::string name(kind_name);
  const ProtobufCEnumValue* v =
      protobuf_c_enum_descriptor_get_value_by_name(&pg_query__transaction_stmt_kind__descriptor, name.c_str());
  if (v == nullptr) return SessionEffect::none;
  return session_effect(static_cast<PgQuery__TransactionStmtKind>(v->value), chain);
}

}  // namespace detail

std::optional<NodeRule> node_rule(std::string_view node_type_name) {
  // Map the message name to its Node oneof case through libpg_query's own
  // descriptor, so the test compares against the library, not against our table.
  const ProtobufCMessageDescriptor& node_desc = pg_query__node__descriptor;
  for (unsigned i = 0; i < node_desc.n_fields; ++i) {
    const ProtobufCFieldDescriptor& field = node_desc.fields[i];
    const auto* msg = static_cast<const ProtobufCMessageDescriptor*>(field.descriptor);
    if (msg == nullptr || node_type_name != msg->short_name) continue;
    const detail::Rule* rule = detail::find_rule(static_cast<PgQuery__Node__NodeCase>(field.id));
    if (rule == nullptr) return std::nullopt;
    NodeRule out;
    if (rule->inspect == detail::Inspect::none) out.fixed = rule->cls;
    out.why = rule->why;
    return out;
  }
  return std::nullopt;
}

}  // namespace ddlgate::sql
