// Internal helpers of the lint module shared by its sources.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/sql/parse_tree.h"

namespace ddlgate::lint::detail {

// Whether a PL/pgSQL function or DO body (the whole CREATE FUNCTION statement, or a
// DO body wrapped as one) runs EXECUTE on a string built by concatenating variables.
// Each hit is a short description ("EXECUTE 'DROP TABLE ' || t").
std::vector<std::string> unsafe_dynamic_sql(const std::string& create_function_sql);

// The text of a String node, "" for anything else.
std::string_view str(const PgQuery__Node* n);

}  // namespace ddlgate::lint::detail
