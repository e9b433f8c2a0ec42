// Helpers shared by the bundle sources.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ddlgate::policy::detail {

// JSON with every duplicate key rejected (at any depth); the root must be an object.
std::optional<nlohmann::json> parse_strict_json(std::string_view bytes, std::string* why);

// Reads a regular file whose size is at most max_bytes, checking the size before
// allocating. nullopt with *why ("larger than ...", "cannot read: ...").
std::optional<std::string> read_capped(const std::filesystem::path& path, std::uint64_t max_bytes, std::string* why);

// At most the first 80 bytes of a statement's text on one line (newlines shown as
// spaces), cut at a UTF-8 boundary, with "..." when cut: for problem messages.
std::string excerpt(std::string_view sql);

// A manifest path is relative, '/'-separated, without empty, "." or ".." parts.
bool safe_relative_path(std::string_view path);

}  // namespace ddlgate::policy::detail
