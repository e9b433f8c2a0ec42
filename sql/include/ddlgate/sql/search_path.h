// A search_path value in one normal form, so that the search_path a statement was reviewed
// under (a bundle's manifest) and the one a session runs it under (the guard) compare as
// strings (docs/bundles.md, "search_path"; issues 25 and 26).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/base/result.h"

namespace ddlgate::sql {

// PostgreSQL's NAMEDATALEN - 1: longer names are truncated (at a character boundary).
inline constexpr std::size_t kMaxIdentifierBytes = 63;

// The schema names of a search_path value, parsed as PostgreSQL 15's SplitIdentifierString
// (src/backend/utils/adt/varlena.c) parses it for check_search_path: comma-separated; spaces,
// tabs, CR, LF and form feeds around an element ignored; an element is a double-quoted name
// ("" for a quote, case kept) or an unquoted one, which ends at whitespace or a comma and is
// downcased (A-Z only, as in a UTF-8 database); each name truncated to 63 bytes. An empty or
// all-whitespace value is the empty list (no schema).
// Errors: an empty element ("a,,b", "a,"), an unterminated quote, text after an element
// ("a b", "\"a\"b"), a zero-length quoted name ("\"\"": the server accepts it as a name that
// matches no schema; refused here so that a path never carries an element that names nothing),
// a NUL byte or invalid UTF-8.
base::Result<std::vector<std::string>> split_search_path(std::string_view value);

// One name as PostgreSQL's quote_ident writes it: bare when it is a-z, 0-9 and _ only,
// starts with a-z or _, and is not a keyword other than an unreserved one; otherwise in
// double quotes with each quote doubled.
std::string quote_identifier(std::string_view name);

// The normal form of a search_path value: split_search_path's names, each as quote_identifier
// writes it, joined by ", ". `"$user", public` -> `"$user", public`; ` Public ,X` -> `public, x`;
// `"A b"` -> `"A b"`; `` -> ``. Two values normalise equal iff they name the same list of
// schemas in the same order.
base::Result<std::string> normalize_search_path(std::string_view value);

}  // namespace ddlgate::sql
