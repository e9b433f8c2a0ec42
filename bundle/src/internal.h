// Helpers shared by the bundle sources.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ddlgate::bundle::detail {

// At most the first 80 bytes of a statement's text on one line (newlines shown as
// spaces), cut at a UTF-8 boundary, with "..." when cut: for problem messages.
std::string excerpt(std::string_view sql);

// A manifest path is relative, '/'-separated, without empty, "." or ".." parts.
bool safe_relative_path(std::string_view path);

}  // namespace ddlgate::bundle::detail
