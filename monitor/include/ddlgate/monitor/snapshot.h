// The catalog snapshot `serve` takes every guard.poll_interval_ms (docs/guard.md, "What serve
// watches"): the cluster-wide objects no event trigger sees (roles, memberships, role settings,
// databases, tablespaces, ALTER SYSTEM), their differences between two snapshots, and whether
// an approved statement in the ledger explains a difference. Pure: monitor.h reads the catalogs.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::monitor {

// One object of the snapshot. kind: role, membership, role_setting, database, tablespace,
// system_setting; names: the identifiers that name it (a membership: the role, then the
// member; a role setting: the role, then the database, "" for "all").
struct CatalogObject {
  std::string kind;
  std::vector<std::string> names;
  std::map<std::string, std::string> attributes;  // "superuser" -> "true" (booleans as PostgreSQL casts them to text)
  // "role alice", "membership alice in admins", "role_setting alice in app",
  // "role_setting (all roles) in app", "database app", "system_setting work_mem".
  std::string display() const;
};

// Every object, keyed by display().
struct CatalogSnapshot {
  std::map<std::string, CatalogObject> objects;
  // Adds (or finds) an object and sets one attribute of it (an empty attribute only makes it exist).
  void add(std::string_view kind, std::vector<std::string> names, std::string_view attribute, std::string_view value);
};

// One difference between two snapshots.
struct CatalogDifference {
  std::string kind;
  std::vector<std::string> names;
  std::string object;     // CatalogObject::display()
  std::string change;     // created, dropped, changed
  std::string attribute;  // changed: which; created / dropped: empty
  std::string before, after;  // changed: the values ("" for absent)
  // "role alice created", "role alice: superuser false -> true"
  std::string to_string() const;
};

// Each difference, ordered by object then attribute: created and dropped objects are one
// difference each, a changed one one per attribute.
std::vector<CatalogDifference> diff(const CatalogSnapshot& before, const CatalogSnapshot& after);

// Whether a statement an allowed or break-glass decision recorded (its display SQL) can have
// made this difference: its kind of statement can change this kind of object, and every name
// of the object appears in it as an identifier. Anything else explains nothing (an unexplained
// difference is recorded: fail towards recording). docs/guard.md, "How a decision explains".
bool explains(std::string_view display_sql, const CatalogDifference& difference);

// The identifiers and keywords of a statement, in order: unquoted words lower-cased, quoted
// identifiers as written (without quotes), string constants and numbers left out.
std::vector<std::string> words(std::string_view sql);

}  // namespace ddlgate::monitor
