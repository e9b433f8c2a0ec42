// Internal: the hot path's shortcut for statements that need no approval.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "ddlgate/sql/analyze.h"

namespace ddlgate::sql::detail {

// Classifies a SQL string of size bytes from its libpg_query JSON parse tree when
// every statement is provably not controlled under policy; nullopt otherwise, and
// then the caller runs the full protobuf analysis, which is the reference.
std::optional<Analysis> fast_analyze(std::string_view json, std::size_t size, const Policy& policy);

// The deepest nesting of objects and arrays in libpg_query's JSON output, found
// in one linear pass. Why not nlohmann: this runs before every protobuf parse
// (whose output step is quadratic in tree depth in libpg_query 15-4.0.0: 80 KB of
// `1+1+...` took 3 s) and must cost next to nothing; it only needs brackets
// outside strings, and the JSON comes from libpg_query, not from the client.
std::size_t json_depth(std::string_view json);

}  // namespace ddlgate::sql::detail
