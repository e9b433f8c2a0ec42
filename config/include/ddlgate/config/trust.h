// The trust policy for signed migration bundles (docs/bundles.md): public keys by
// role and how many distinct keys of each role must sign. config only holds the
// key strings; policy/ decodes them (base64 raw key, PEM text or a .pub file).
#pragma once

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

// Every role must be satisfied for a bundle to be trusted.
struct TrustPolicy {
  std::vector<TrustRole> roles;       // sorted by name
  std::filesystem::path base_dir;     // where relative key paths are resolved
  bool operator==(const TrustPolicy&) const = default;
};

struct TrustLoadResult {
  TrustPolicy policy;
  std::vector<Problem> problems;  // empty when usable
  bool ok() const { return problems.empty(); }
};

// Parses a trust policy TOML text ([roles.<name>] threshold, keys); `source` names it in messages.
TrustLoadResult parse_trust(std::string_view toml_text, std::string_view source = "trust",
                            const std::filesystem::path& base_dir = {});

// Reads a trust policy file (at most 1 MiB); relative key paths resolve against its directory.
TrustLoadResult load_trust_file(const std::filesystem::path& path);

// Semantic checks: at least one role, every threshold between 1 and its number of keys.
std::vector<Problem> validate_trust(const TrustPolicy& policy, const std::string& prefix);

}  // namespace ddlgate::config
