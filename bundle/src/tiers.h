// Risk tiers of a bundle's statements (issue 28, docs/bundles.md "Risk tiers"): computed by
// `bundle build`, recomputed by verification, and held against the trust policy's [tiers].
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ddlgate/base/result.h"
#include "ddlgate/bundle/bundle.h"

namespace ddlgate::bundle::detail {

// One part's statements (a file's up part, or its down part): tier and sorted rule ids each.
struct PartTiers {
  std::vector<std::string> tiers;
  std::vector<std::vector<std::string>> rules;
};

struct BundleTiers {
  std::vector<PartTiers> up;                   // per file
  std::vector<std::optional<PartTiers>> down;  // per file, when it has a down part
};

// The analysis kTierAnalysis over the parts' texts: every up part as one migration in file
// order (a table is "existing" unless an earlier statement of the bundle created it), each down
// part on its own (every table it does not create is existing). Built-in rules only, no policy.
// An error when a part does not parse. names: the files' manifest paths, for messages.
base::Result<BundleTiers> compute_tiers(const std::vector<std::string>& names, const std::vector<std::string>& ups,
                                        const std::vector<std::optional<std::string>>& downs);

// Distinct trusted keys that signed, per role (those that count for it).
using RoleCounts = std::map<std::string, std::size_t, std::less<>>;

// Why a part whose statements have these tiers (recomputed, and claimed when the manifest has
// any) is not approved: the first statement whose tier requirement the signatures miss,
// "statement 2 (destructive): destructive statement needs 2 approver signatures, has 1";
// empty when every statement's requirements are met.
std::string unmet_tiers(const TrustAnchors& trust, const RoleCounts& signed_by, const std::vector<std::string>& recomputed,
                        const std::vector<ManifestStatement>& claimed);

}  // namespace ddlgate::bundle::detail
