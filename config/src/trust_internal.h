// Shared by trust.cpp and config.cpp: reading the file, and [roles.<name>] tables from parsed TOML.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "ddlgate/base/file.h"
#include "ddlgate/config/trust.h"

namespace ddlgate::config::detail {

// A configuration or trust file of at most max_bytes (links followed): errors worded
// for its owner ("cannot read: No such file or directory", "larger than 1 MiB; <what_it_is_not>").
base::Result<std::string> read_config_file(const std::filesystem::path& path, std::uint64_t max_bytes,
                                           std::string_view what_it_is_not);

// Reads `roles` and `tiers` of `table` (whose key is `prefix`, "" for a trust file's root),
// adding a problem for every bad or unknown key. Unknown keys directly in `table`
// other than "roles" and "tiers" are left to the caller.
void read_trust_roles(const toml::table& table, const std::string& prefix, TrustPolicy& out,
                      std::vector<Problem>& problems);

}  // namespace ddlgate::config::detail
