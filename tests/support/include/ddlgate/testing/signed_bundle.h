// The trust material most enforcement tests start from, made with the real CLI:
// key pairs, a trust policy (registry + approver, one key each) and a bundle
// built from a migration directory, signed by both, placed in <dir>/registry.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ddlgate::testing {

// In dir: `ddlgate keygen` for registry, alice (the approver), ledger and each of
// extra_keys; trust.toml; registry/<app>-v1 built from migrations (dbmate layout)
// for environment "production" and every database of it (--any-database: tests use
// databases of their own), signed by registry (as registry) and alice (as approver). A failing step
// fails the test (ADD_FAILURE) and stops.
void make_signed_bundle(const std::filesystem::path& dir, const std::filesystem::path& migrations,
                        const std::string& app = "shop", const std::vector<std::string>& extra_keys = {});

}  // namespace ddlgate::testing
