// A canonical description of a database schema, read from the catalogs (describe.h), and the
// comparison of two of them: production against what the approved bundles produce (docs/drift.md).
// Pure data and functions: nothing here touches a database.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace ddlgate::drift {

// One object of the schema: its kind ("table", "column", "index", ...) and its qualified
// name ("public.accounts.email"). Ordered by kind, then name.
struct ObjectKey {
  std::string kind;
  std::string name;
  auto operator<=>(const ObjectKey&) const = default;
  std::string to_string() const { return kind + " " + name; }
};

// What is compared of one object: attribute name -> value ("type" -> "text",
// "grant to reporting" -> "SELECT"). An attribute that is absent is "none".
struct ObjectDescription {
  std::map<std::string, std::string> attributes;
  // The object this one belongs to (a column's table), or an empty kind. When the parent is
  // missing on one side, the children are not listed again: the parent's line says it.
  ObjectKey parent;
};

// A whole schema: every object, ordered.
struct SchemaDescription {
  std::map<ObjectKey, ObjectDescription> objects;
  // Adds one catalog row (kind, name, attribute, value); an empty attribute only makes the
  // object exist; the attribute "parent" sets the parent ("table public.accounts").
  void add(std::string_view kind, std::string_view name, std::string_view attribute, std::string_view value);
};

// One difference: the object, and what differs.
struct Difference {
  ObjectKey object;
  std::string attribute;  // empty when the object itself exists on one side only
  std::string production;  // the value in production ("" with attribute empty: missing)
  std::string approved;    // the value the bundles produce
  bool in_production = true;   // attribute empty: whether the object is in production
  bool in_approved = true;     // attribute empty: whether the bundles make it
  // "column public.accounts.email: type text in production, character varying(200) approved"
  std::string to_string() const;
};

// Every difference, sorted by object (kind, name), then attribute: a stable order.
std::vector<Difference> compare(const SchemaDescription& production, const SchemaDescription& approved);

// A value on one line for a message: control characters escaped (\n, \t, \x..); a value
// longer than max_chars is cut with "..." (definitions differ in their excerpt, see excerpt_pair).
std::string one_line(std::string_view value, std::size_t max_chars = 120);

}  // namespace ddlgate::drift
