#include "ddlgate/config/trust.h"

#include <algorithm>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>

#include "ddlgate/config/config.h"

using namespace ddlgate::config;

namespace {

bool has_problem(const std::vector<Problem>& problems, const std::string& key, const std::string& fragment = "") {
  return std::any_of(problems.begin(), problems.end(), [&](const Problem& p) {
    return p.where == key && p.message.find(fragment) != std::string::npos;
  });
}

constexpr const char* kBase = R"(
[listen]
addresses = ["127.0.0.1:6432"]
[upstream]
address = "127.0.0.1:5432"
)";

}  // namespace

TEST(TrustPolicy, ParsesRolesSortedByName) {
  auto r = parse_trust(R"(
[roles.registry]
threshold = 1
keys = ["AAAA"]
[roles.approver]
threshold = 2
keys = ["a.pub", "b.pub", "c.pub"]
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
  ASSERT_EQ(r.policy.roles.size(), 2u);
  EXPECT_EQ(r.policy.roles[0].name, "approver");
  EXPECT_EQ(r.policy.roles[0].threshold, 2u);
  EXPECT_EQ(r.policy.roles[0].keys.size(), 3u);
  EXPECT_EQ(r.policy.roles[1].name, "registry");
}

TEST(TrustPolicy, ReportsEachBadKey) {
  auto r = parse_trust(R"(
[roles.approver]
threshold = "two"
keys = ["a", 3]
color = "red"
[roles.registry]
keys = "x"
)");
  EXPECT_TRUE(has_problem(r.problems, "roles.approver.threshold", "integer"));
  EXPECT_TRUE(has_problem(r.problems, "roles.approver.keys[1]", "string"));
  EXPECT_TRUE(has_problem(r.problems, "roles.approver.color", "unknown"));
  EXPECT_TRUE(has_problem(r.problems, "roles.registry.keys", "array"));
}

TEST(TrustPolicy, ThresholdAboveKeyCountIsAProblem) {
  auto r = parse_trust(R"(
[roles.approver]
threshold = 3
keys = ["a", "b"]
)");
  EXPECT_TRUE(has_problem(r.problems, "roles.approver.threshold", "only 2 keys"));
}

TEST(TrustPolicy, ZeroThresholdAndNoRolesAreProblems) {
  EXPECT_TRUE(has_problem(parse_trust("[roles.a]\nthreshold = 0\nkeys = [\"k\"]\n").problems, "roles.a.threshold"));
  EXPECT_TRUE(has_problem(parse_trust("x = 1\n").problems, "roles", "missing"));
  EXPECT_TRUE(has_problem(parse_trust("[roles]\n").problems, "roles", "no role"));
}

TEST(TrustPolicy, SameKeyTwiceInARoleIsAProblem) {
  auto r = parse_trust("[roles.a]\nthreshold = 1\nkeys = [\"k\", \"k\"]\n");
  EXPECT_TRUE(has_problem(r.problems, "roles.a.keys", "twice"));
}

TEST(TrustPolicy, FileRelativeKeysResolveAgainstItsDirectory) {
  auto dir = std::filesystem::temp_directory_path() / ("ddlgate-trust-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "trust.toml") << "[roles.registry]\nthreshold = 1\nkeys = [\"reg.pub\"]\n";
  }
  auto r = load_trust_file(dir / "trust.toml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.policy.base_dir, dir);
  auto missing = load_trust_file(dir / "nope.toml");
  EXPECT_FALSE(missing.ok());
  std::filesystem::remove_all(dir);
}

TEST(BundlesConfig, AbsentSectionMeansDisabled) {
  auto r = parse(kBase);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.config.bundles.enabled);
}

TEST(BundlesConfig, ParsesInlineTrust) {
  auto r = parse(std::string(kBase) + R"(
[bundles]
registry_dir = "/var/lib/ddlgate/bundles"
environment = "prod"
max_manifest_bytes = 1048576
[bundles.trust.roles.registry]
threshold = 1
keys = ["AAAA"]
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
  EXPECT_TRUE(r.config.bundles.enabled);
  EXPECT_EQ(r.config.bundles.registry_dir, "/var/lib/ddlgate/bundles");
  EXPECT_EQ(r.config.bundles.environment, "prod");
  EXPECT_EQ(r.config.bundles.max_manifest_bytes, 1048576u);
  ASSERT_EQ(r.config.bundles.trust.roles.size(), 1u);
  EXPECT_EQ(r.config.bundles.trust.roles[0].name, "registry");
}

TEST(BundlesConfig, ReportsProblemsPerKey) {
  auto r = parse(std::string(kBase) + R"(
[bundles]
max_manifest_bytes = 10
colour = "x"
[bundles.trust.roles.approver]
threshold = 5
keys = ["a"]
)");
  EXPECT_TRUE(has_problem(r.problems, "bundles.registry_dir", "required"));
  EXPECT_TRUE(has_problem(r.problems, "bundles.environment", "required"));
  EXPECT_TRUE(has_problem(r.problems, "bundles.max_manifest_bytes", "between"));
  EXPECT_TRUE(has_problem(r.problems, "bundles.colour", "unknown"));
  EXPECT_TRUE(has_problem(r.problems, "bundles.trust.roles.approver.threshold", "only 1 keys"));
}

TEST(BundlesConfig, TrustIsRequiredAndExclusive) {
  auto none = parse(std::string(kBase) + "[bundles]\nregistry_dir = \"/r\"\nenvironment = \"prod\"\n");
  EXPECT_TRUE(has_problem(none.problems, "bundles.trust", "required"));
  auto both = parse(std::string(kBase) + R"(
[bundles]
registry_dir = "/r"
environment = "prod"
trust_file = "/etc/ddlgate/trust.toml"
[bundles.trust.roles.registry]
keys = ["AAAA"]
)");
  EXPECT_TRUE(has_problem(both.problems, "bundles.trust_file", "not both"));
}

TEST(BundlesConfig, MissingTrustFileIsAProblemOfTheKey) {
  auto r = parse(std::string(kBase) +
                 "[bundles]\nregistry_dir = \"/r\"\nenvironment = \"prod\"\ntrust_file = \"/nonexistent/trust.toml\"\n");
  EXPECT_TRUE(has_problem(r.problems, "bundles.trust_file", "cannot read"));
}

TEST(BundlesConfig, InlineKeyPathsAreRelativeToTheConfigFile) {
  auto r = parse(std::string(kBase) + R"(
[bundles]
registry_dir = "/r"
environment = "prod"
[bundles.trust.roles.registry]
keys = ["registry.pub"]
)",
                 "/etc/ddlgate/ddlgate.toml");
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
  EXPECT_EQ(r.config.bundles.trust.base_dir, std::filesystem::path("/etc/ddlgate"));
}

TEST(TrustTiers, ParsesRequirementsSortedByTierAndRole) {
  auto r = parse_trust(R"(
[roles.registry]
keys = ["r"]
[roles.approver]
threshold = 1
keys = ["a", "b", "c"]
[roles.dba]
keys = ["d"]
[tiers.destructive]
dba = 1
approver = 2
[tiers.privilege]
approver = 3
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
  ASSERT_EQ(r.policy.tiers.size(), 3u);
  EXPECT_EQ(r.policy.tiers[0], (TierRequirement{"destructive", "approver", 2}));
  EXPECT_EQ(r.policy.tiers[1], (TierRequirement{"destructive", "dba", 1}));
  EXPECT_EQ(r.policy.tiers[2], (TierRequirement{"privilege", "approver", 3}));
}

TEST(TrustTiers, PolicyWithoutTiersHasNone) {
  auto r = parse_trust("[roles.approver]\nkeys = [\"a\"]\n");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.policy.tiers.empty());
}

TEST(TrustTiers, UnknownTierUnknownRoleAndTooManySignaturesAreProblems) {
  auto r = parse_trust(R"(
[roles.approver]
keys = ["a", "b"]
[tiers.dangerous]
approver = 1
[tiers.destructive]
approver = 3
dba = 1
)");
  EXPECT_TRUE(has_problem(r.problems, "tiers.dangerous", "is not a risk tier (the tiers are additive, data, blocking"));
  EXPECT_TRUE(has_problem(r.problems, "tiers.destructive.approver", "is 3 but role approver lists only 2 keys"));
  EXPECT_TRUE(has_problem(r.problems, "tiers.destructive.dba", "names role 'dba', which the policy does not define"));
}

TEST(TrustTiers, BadValuesAreProblems) {
  auto r = parse_trust(R"(
[roles.approver]
keys = ["a", "b"]
[tiers.destructive]
approver = 0
[tiers.blocking]
approver = "two"
[tiers.data]
)");
  EXPECT_TRUE(has_problem(r.problems, "tiers.destructive.approver", "between 1 and"));
  EXPECT_TRUE(has_problem(r.problems, "tiers.blocking.approver", "integer"));
  EXPECT_TRUE(has_problem(r.problems, "tiers.data", "names no role"));
  auto flat = parse_trust("tiers = 2\n[roles.approver]\nkeys = [\"a\"]\n");
  EXPECT_TRUE(has_problem(flat.problems, "tiers", "must be a table"));
}

TEST(TrustTiers, InlineTrustInTheProxyConfigurationTakesTiers) {
  std::string text = std::string(kBase) + R"(
[bundles]
registry_dir = "/tmp/reg"
environment = "prod"
[bundles.trust.roles.approver]
keys = ["a", "b"]
[bundles.trust.tiers.destructive]
approver = 2
[bundles.trust.tiers.privilege]
nobody = 1
)";
  auto r = parse(text);
  EXPECT_TRUE(has_problem(r.problems, "bundles.trust.tiers.privilege.nobody", "names role 'nobody'"));
  EXPECT_FALSE(has_problem(r.problems, "bundles.trust.tiers"));
}
