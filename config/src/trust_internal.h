// Shared by trust.cpp and config.cpp: reading [roles.<name>] tables from parsed TOML.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "ddlgate/config/trust.h"

namespace ddlgate::config::detail {

// Reads `roles` of `table` (whose key is `prefix`, "" for a trust file's root),
// adding a problem for every bad or unknown key. Unknown keys directly in `table`
// other than "roles" are left to the caller.
void read_trust_roles(const toml::table& table, const std::string& prefix, TrustPolicy& out,
                      std::vector<Problem>& problems);

}  // namespace ddlgate::config::detail
