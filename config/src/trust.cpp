#include "ddlgate/config/trust.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "trust_internal.h"

namespace ddlgate::config {
namespace {

constexpr std::uintmax_t kMaxTrustFileBytes = 1024 * 1024;
// A role with more keys than this is a mistake, not a policy.
constexpr std::size_t kMaxKeysPerRole = 256;

std::string join_key(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

}  // namespace

namespace detail {

base::Result<std::string> read_config_file(const std::filesystem::path& path, std::uint64_t max_bytes,
                                           std::string_view what_it_is_not) {
  auto text = base::read_capped(path, max_bytes, base::Links::follow);
  if (text) return text;
  const auto& e = text.error();
  if (e.code == std::errc::file_too_large) {
    return base::Error{"larger than " + std::to_string(max_bytes / (1024 * 1024)) + " MiB; " + std::string(what_it_is_not)};
  }
  if (e.code == std::errc::no_such_file_or_directory) return base::Error{"cannot read: " + e.code.message()};
  return base::Error{e.reason == "cannot read" ? "cannot open" : e.reason};
}

void read_trust_roles(const toml::table& table, const std::string& prefix, TrustPolicy& out,
                      std::vector<Problem>& problems) {
  const toml::node* roles_node = table.get("roles");
  std::string roles_key = join_key(prefix, "roles");
  if (roles_node == nullptr) {
    problems.push_back({roles_key, "missing: name at least one role, e.g. [" + roles_key + ".registry]"});
    return;
  }
  const toml::table* roles = roles_node->as_table();
  if (roles == nullptr) {
    problems.push_back({roles_key, "must be a table of roles"});
    return;
  }
  for (const auto& [name, node] : *roles) {
    std::string role_key = roles_key + "." + std::string(name.str());
    const toml::table* rt = node.as_table();
    if (rt == nullptr) {
      problems.push_back({role_key, "must be a table with threshold and keys"});
      continue;
    }
    TrustRole role;
    role.name = std::string(name.str());
    for (const auto& [k, v] : *rt) {
      std::string key = role_key + "." + std::string(k.str());
      if (k.str() == "threshold") {
        auto t = v.value<std::int64_t>();
        if (!v.is_integer() || !t) {
          problems.push_back({key, "must be an integer"});
        } else if (*t < 1 || *t > static_cast<std::int64_t>(kMaxKeysPerRole)) {
          problems.push_back({key, "must be between 1 and " + std::to_string(kMaxKeysPerRole) + ", got " +
                                       std::to_string(*t)});
        } else {
          role.threshold = static_cast<std::uint32_t>(*t);
        }
      } else if (k.str() == "keys") {
        const toml::array* arr = v.as_array();
        if (arr == nullptr) {
          problems.push_back({key, "must be an array of public keys (base64, PEM text or a .pub file path)"});
          continue;
        }
        if (arr->size() > kMaxKeysPerRole) {
          problems.push_back({key, "more than " + std::to_string(kMaxKeysPerRole) + " keys"});
          continue;
        }
        for (std::size_t i = 0; i < arr->size(); ++i) {
          auto s = (*arr)[i].value<std::string>();
          if (!s || s->empty()) {
            problems.push_back({key + "[" + std::to_string(i) + "]", "must be a non-empty string"});
            continue;
          }
          role.keys.push_back(*s);
        }
      } else {
        problems.push_back({key, "unknown key"});
      }
    }
    if (rt->get("keys") == nullptr) problems.push_back({role_key + ".keys", "missing"});
    out.roles.push_back(std::move(role));
  }
  std::sort(out.roles.begin(), out.roles.end(),
            [](const TrustRole& a, const TrustRole& b) { return a.name < b.name; });

  // [tiers.<tier>] <role> = N (docs/bundles.md, "Risk tiers"): names are checked by
  // validate_trust, against the roles read above.
  const toml::node* tiers_node = table.get("tiers");
  if (tiers_node == nullptr) return;
  std::string tiers_key = join_key(prefix, "tiers");
  const toml::table* tiers = tiers_node->as_table();
  if (tiers == nullptr) {
    problems.push_back({tiers_key, "must be a table of tiers, e.g. [" + tiers_key + ".destructive] approver = 2"});
    return;
  }
  for (const auto& [tier, node] : *tiers) {
    std::string tier_key = tiers_key + "." + std::string(tier.str());
    const toml::table* tt = node.as_table();
    if (tt == nullptr) {
      problems.push_back({tier_key, "must be a table of <role> = <number of signatures>"});
      continue;
    }
    if (tt->empty()) problems.push_back({tier_key, "names no role: say how many signatures of which role it needs"});
    for (const auto& [role, v] : *tt) {
      std::string key = tier_key + "." + std::string(role.str());
      auto n = v.value<std::int64_t>();
      if (!v.is_integer() || !n) {
        problems.push_back({key, "must be an integer (the number of distinct keys of the role)"});
      } else if (*n < 1 || *n > static_cast<std::int64_t>(kMaxKeysPerRole)) {
        problems.push_back({key, "must be between 1 and " + std::to_string(kMaxKeysPerRole) + ", got " +
                                     std::to_string(*n)});
      } else {
        out.tiers.push_back({std::string(tier.str()), std::string(role.str()), static_cast<std::uint32_t>(*n)});
      }
    }
  }
  std::sort(out.tiers.begin(), out.tiers.end(), [](const TierRequirement& a, const TierRequirement& b) {
    return a.tier != b.tier ? a.tier < b.tier : a.role < b.role;
  });
}

}  // namespace detail

int tier_rank(std::string_view tier) {
  for (std::size_t i = 0; i < kRiskTiers.size(); ++i) {
    if (kRiskTiers[i] == tier) return static_cast<int>(i);
  }
  return -1;
}

std::vector<Problem> validate_trust(const TrustPolicy& policy, const std::string& prefix) {
  std::vector<Problem> problems;
  std::string roles_key = join_key(prefix, "roles");
  if (policy.roles.empty()) {
    problems.push_back({roles_key, "no role: a trust policy needs at least one role with keys"});
  }
  for (const auto& role : policy.roles) {
    std::string role_key = roles_key + "." + role.name;
    if (role.keys.empty()) {
      problems.push_back({role_key + ".keys", "no key: the role could never be satisfied"});
    } else if (role.threshold > role.keys.size()) {
      problems.push_back({role_key + ".threshold", "is " + std::to_string(role.threshold) + " but the role lists only " +
                                                       std::to_string(role.keys.size()) + " keys"});
    }
    std::set<std::string> seen;
    for (const auto& k : role.keys) {
      if (!seen.insert(k).second) {
        problems.push_back({role_key + ".keys", "lists the same key twice: '" + k + "'"});
      }
    }
  }
  const std::string tiers_key = join_key(prefix, "tiers");
  for (const auto& t : policy.tiers) {
    const std::string key = tiers_key + "." + t.tier + "." + t.role;
    if (tier_rank(t.tier) < 0) {
      std::string known;
      for (auto name : kRiskTiers) known += (known.empty() ? "" : ", ") + std::string(name);
      problems.push_back({tiers_key + "." + t.tier, "is not a risk tier (the tiers are " + known + ")"});
      continue;
    }
    auto role = std::find_if(policy.roles.begin(), policy.roles.end(),
                             [&](const TrustRole& r) { return r.name == t.role; });
    if (role == policy.roles.end()) {
      problems.push_back({key, "names role '" + t.role + "', which the policy does not define (no [" +
                                   join_key(prefix, "roles") + "." + t.role + "])"});
    } else if (t.signatures > role->keys.size()) {
      problems.push_back({key, "is " + std::to_string(t.signatures) + " but role " + t.role + " lists only " +
                                   std::to_string(role->keys.size()) + " keys: the tier could never be satisfied"});
    }
  }
  return problems;
}

TrustLoadResult parse_trust(std::string_view toml_text, std::string_view source,
                            const std::filesystem::path& base_dir) {
  TrustLoadResult result;
  result.policy.base_dir = base_dir;
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << e.description() << " (line " << e.source().begin.line << ", column " << e.source().begin.column << ")";
    result.problems.push_back({std::string(source), msg.str()});
    return result;
  }
  detail::read_trust_roles(root, "", result.policy, result.problems);
  for (const auto& [k, v] : root) {
    if (k.str() != "roles" && k.str() != "tiers") result.problems.push_back({std::string(k.str()), "unknown key"});
  }
  if (result.problems.empty()) result.problems = validate_trust(result.policy, "");
  return result;
}

TrustLoadResult load_trust_file(const std::filesystem::path& path) {
  TrustLoadResult result;
  auto text = detail::read_config_file(path, kMaxTrustFileBytes, "not a trust policy");
  if (!text) {
    result.problems.push_back({path.string(), text.error().reason});
    return result;
  }
  return parse_trust(*text, path.string(), path.parent_path());
}

}  // namespace ddlgate::config
