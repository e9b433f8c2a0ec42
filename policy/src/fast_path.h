// Internal: the hot path's shortcut for statements that need no approval.
#pragma once

#include <cstddef>
#include <optional>

#include "ddlgate/policy/analyze.h"

namespace ddlgate::policy::detail {

// Classifies sql (NUL-terminated, size bytes) from libpg_query's JSON output when
// every statement is provably not controlled under policy; nullopt otherwise, and
// then the caller runs the full protobuf analysis, which is the reference.
std::optional<Analysis> fast_analyze(const char* sql, std::size_t size, const Policy& policy);

}  // namespace ddlgate::policy::detail
