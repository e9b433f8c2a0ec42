// What a statement does, as far as approval is concerned, and which of those
// classes need an approved hash before they reach the database.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace ddlgate::sql {

// The class of one SQL statement. The names (to_string) are stable: they appear
// in `ddlgate hash --json`, in bundles and in the ledger.
enum class StatementClass : unsigned char {
  read,                // SELECT, EXPLAIN without ANALYZE, FETCH, COPY ... TO STDOUT
  write,               // INSERT/UPDATE/DELETE/MERGE, COPY ... FROM STDIN, LOCK, SELECT ... FOR UPDATE
  transaction,         // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET CONSTRAINTS, two-phase commit
  session,             // SET/RESET/SHOW/DISCARD, LISTEN/NOTIFY, EXECUTE/DEALLOCATE, CLOSE
  maintenance,         // VACUUM, ANALYZE, REINDEX, CLUSTER, REFRESH MATERIALIZED VIEW, CHECKPOINT
  schema_change,       // CREATE/ALTER/DROP/COMMENT/SECURITY LABEL/rename of objects, SELECT INTO
  privilege,           // GRANT/REVOKE, roles, ALTER SYSTEM, databases, tablespaces, RLS policies
  code,                // DO, CALL, functions/procedures, languages, extensions, LOAD
  destructive,         // TRUNCATE
  server_file_access,  // COPY to/from a server file or PROGRAM
  server_admin,        // writes to system catalogs, server-changing functions, superuser-only settings
  unparseable,         // the text does not parse
  unknown,             // a parse node this classifier has no rule for (never expected; fail closed)
};

// Number of classes, for tables indexed by class.
inline constexpr std::size_t kStatementClassCount = 13;

// Every class, in declaration order (for iteration in tests and tools).
inline constexpr std::array<StatementClass, kStatementClassCount> kAllStatementClasses = {
    StatementClass::read,        StatementClass::write,         StatementClass::transaction,
    StatementClass::session,     StatementClass::maintenance,   StatementClass::schema_change,
    StatementClass::privilege,   StatementClass::code,          StatementClass::destructive,
    StatementClass::server_file_access, StatementClass::server_admin, StatementClass::unparseable,
    StatementClass::unknown,
};

// The stable name of a class ("schema_change").
std::string_view to_string(StatementClass cls);

// The class with that stable name, or nullopt.
std::optional<StatementClass> class_from_string(std::string_view name);

// Which classes need approval. unparseable and unknown are always controlled:
// a statement ddlgate cannot understand is never let through unapproved.
class Policy {
 public:
  // The default: everything but read, write, transaction, session and maintenance,
  // and temporary objects are controlled like permanent ones.
  Policy();

  // Marks a class as controlled or not (ignored for unparseable and unknown).
  void set_controlled(StatementClass cls, bool controlled);

  // Whether statements of this class need an approved hash.
  bool controlled(StatementClass cls) const { return controlled_[static_cast<std::size_t>(cls)]; }

  // When true, creating a temporary table/view/sequence (CREATE TEMP ..., SELECT INTO TEMP)
  // is not controlled even though it is a schema_change. Default false: fail closed.
  void set_allow_temporary_objects(bool allow) { allow_temporary_objects_ = allow; }
  bool allow_temporary_objects() const { return allow_temporary_objects_; }

  // Whether a statement of class cls (temporary: it only creates a temporary object) is controlled.
  bool controlled(StatementClass cls, bool temporary) const {
    if (temporary && cls == StatementClass::schema_change && allow_temporary_objects_) return false;
    return controlled(cls);
  }

  bool operator==(const Policy&) const = default;

 private:
  std::array<bool, kStatementClassCount> controlled_{};
  bool allow_temporary_objects_ = false;
};

}  // namespace ddlgate::sql
