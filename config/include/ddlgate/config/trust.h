// The trust policy for signed migration bundles (docs/bundles.md): public keys by
// role and how many distinct keys of each role must sign. config only holds the
// key strings; policy/ decodes them (base64 raw key, PEM text or a .pub file).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/config/problem.h"

namespace ddlgate::config {

// One role ("registry", "approver"): at least `threshold` distinct keys of `keys` must sign.
struct TrustRole {
  std::string name;
  std::uint32_t threshold = 1;
  // Each: base64 of a raw 32-byte Ed25519 public key, PEM text, or a path to a
  // .pub PEM file (relative paths are relative to TrustPolicy::base_dir).
  std::vector<std::string> keys;
  bool operator==(const TrustRole&) const = default;
};

// The risk tiers of ddlgate's analysis (docs/lint.md, `tier`), lowest first: a statement's
// tier is the first of the rules (destructive, privilege, blocking, data) that applies, from
// the last of this list backwards; a manifest may claim a higher tier, never a lower one.
inline constexpr std::array<std::string_view, 5> kRiskTiers = {"additive", "data", "blocking", "privilege",
                                                               "destructive"};
// The tier's rank in kRiskTiers (0 = additive), or -1 for a name that is not a tier.
int tier_rank(std::string_view tier);

// [tiers.<tier>] <role> = N: a statement of that tier needs N distinct keys of the role
// (on top of the role's threshold: per role the larger number counts).
struct TierRequirement {
  std::string tier;
  std::string role;
  std::uint32_t signatures = 1;
  bool operator==(const TierRequirement&) const = default;
};

// Every role must be satisfied for a bundle to be trusted.
struct TrustPolicy {
  std::vector<TrustRole> roles;       // sorted by name
  std::vector<TierRequirement> tiers; // sorted by tier, then role; empty: every statement alike
  std::filesystem::path base_dir;     // where relative key paths are resolved
  bool operator==(const TrustPolicy&) const = default;
};

struct TrustLoadResult {
  TrustPolicy policy;
  std::vector<Problem> problems;  // empty when usable
  bool ok() const { return problems.empty(); }
};

// Parses a trust policy TOML text ([roles.<name>] threshold, keys; [tiers.<tier>] <role> = N);
// `source` names it in messages.
TrustLoadResult parse_trust(std::string_view toml_text, std::string_view source = "trust",
                            const std::filesystem::path& base_dir = {});

// Reads a trust policy file (at most 1 MiB); relative key paths resolve against its directory.
TrustLoadResult load_trust_file(const std::filesystem::path& path);

// Semantic checks: at least one role, every threshold between 1 and its number of keys; every
// tier requirement names a known tier and role and at most that role's number of keys.
std::vector<Problem> validate_trust(const TrustPolicy& policy, const std::string& prefix);

}  // namespace ddlgate::config
