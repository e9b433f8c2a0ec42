#include "ddlgate/config/config.h"

#include <algorithm>
#include <gtest/gtest.h>

using namespace ddlgate::config;

namespace {

bool has_problem(const LoadResult& r, const std::string& key, const std::string& fragment = "") {
  return std::any_of(r.problems.begin(), r.problems.end(), [&](const Problem& p) {
    return p.key == key && p.message.find(fragment) != std::string::npos;
  });
}

}  // namespace

TEST(Endpoint, ParsesHostPortAndBracketedIpv6) {
  auto a = parse_host_port("127.0.0.1:6432");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6432);
  auto b = parse_host_port("[::1]:5432");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->to_string(), "[::1]:5432");
}

TEST(Endpoint, RejectsMalformed) {
  std::string why;
  EXPECT_FALSE(parse_host_port("localhost", &why));
  EXPECT_NE(why.find("host:port"), std::string::npos);
  EXPECT_FALSE(parse_host_port("::1:5432", &why));
  EXPECT_NE(why.find("brackets"), std::string::npos);
  EXPECT_FALSE(parse_host_port("h:70000", &why));
  EXPECT_FALSE(parse_host_port(":5432", &why));
  EXPECT_FALSE(parse_host_port("h:12x", &why));
}

TEST(Config, ParsesAFullFile) {
  auto r = parse(R"(
[server]
workers = 3
log_level = "debug"
[listen]
addresses = ["127.0.0.1:6432", "[::1]:6432"]
unix_sockets = ["/tmp/.s.PGSQL.6432"]
[upstream]
address = "db.internal:5432"
[upstream.tls]
mode = "prefer"
[limits]
max_connections = 50
max_inspected_message = 2048
[timeouts]
idle_ms = 1000
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().key << ": " << r.problems.front().message;
  EXPECT_EQ(r.config.workers, 3u);
  ASSERT_EQ(r.config.listen.size(), 3u);
  EXPECT_EQ(r.config.listen[2].kind, Endpoint::Kind::unix_socket);
  EXPECT_EQ(r.config.upstream.host, "db.internal");
  EXPECT_EQ(r.config.upstream_tls.mode, UpstreamTlsMode::prefer);
  EXPECT_EQ(r.config.limits.max_connections, 50u);
  EXPECT_EQ(r.config.limits.max_inspected_message, 2048u);
  EXPECT_EQ(r.config.timeouts.idle_ms, 1000u);
}

TEST(Config, ReportsEveryProblemWithItsKey) {
  auto r = parse(R"(
[server]
workerz = 2
log_level = "loud"
[listen]
addresses = ["nowhere"]
[upstream]
address = "db:5432"
unix_socket = "/run/pg.sock"
[upstream.tls]
mode = "verify-full"
[tls]
mode = "require"
[limits]
max_connections = 0
[timeouts]
startup_ms = "soon"
)");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_problem(r, "server.workerz", "unknown key"));
  EXPECT_TRUE(has_problem(r, "server.log_level"));
  EXPECT_TRUE(has_problem(r, "listen.addresses[0]", "host:port"));
  EXPECT_TRUE(has_problem(r, "upstream.unix_socket", "not both"));
  EXPECT_TRUE(has_problem(r, "upstream.tls.ca_file", "verify-full"));
  EXPECT_TRUE(has_problem(r, "tls.cert_file", "required"));
  EXPECT_TRUE(has_problem(r, "tls.key_file", "required"));
  EXPECT_TRUE(has_problem(r, "limits.max_connections", "between"));
  EXPECT_TRUE(has_problem(r, "timeouts.startup_ms", "integer"));
}

TEST(Config, SyntaxErrorNamesLineAndColumn) {
  auto r = parse("[server\nworkers = 1\n", "f.toml");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].key, "f.toml");
  EXPECT_NE(r.problems[0].message.find("line 1"), std::string::npos);
}

TEST(Config, MissingListenAndUpstreamAreProblems) {
  auto r = parse("");
  EXPECT_TRUE(has_problem(r, "listen"));
  EXPECT_TRUE(has_problem(r, "upstream"));
}

TEST(Config, MissingFileIsAProblemNotAnException) {
  auto r = load_file("/nonexistent/ddlgate.toml");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].message.find("cannot read"), std::string::npos);
}

TEST(Config, EnforcementModesUsersAndDeployers) {
  auto r = parse(R"(
[listen]
addresses = ["127.0.0.1:6432"]
[upstream]
address = "127.0.0.1:5432"
[enforcement]
mode = "enforce"
users = ["app", "deploy"]
deployers = ["deploy"]
[enforcement.database.analytics]
mode = "monitor"
[enforcement.user.app]
mode = "monitor"
[ledger]
directory = "/tmp/l"
checkpoint_key_file = "/dev/null"
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().key << ": " << r.problems.front().message;
  const auto& e = r.config.enforcement;
  EXPECT_EQ(e.users, (std::vector<std::string>{"app", "deploy"}));
  EXPECT_EQ(e.deployers, (std::vector<std::string>{"deploy"}));
  EXPECT_EQ(e.mode_for("deploy", "shop"), EnforcementMode::enforce);
  EXPECT_EQ(e.mode_for("deploy", "analytics"), EnforcementMode::monitor);
  EXPECT_EQ(e.mode_for("app", "shop"), EnforcementMode::monitor);  // a user's override wins
}

TEST(Config, EnforcementProblemsNameTheirKeys) {
  auto r = parse(R"(
[enforcement]
mode = "strict"
users = "app"
[enforcement.user.app]
mode = "sometimes"
)");
  EXPECT_TRUE(has_problem(r, "enforcement.mode", "strict"));
  EXPECT_TRUE(has_problem(r, "enforcement.users", "array"));
  EXPECT_TRUE(has_problem(r, "enforcement.user.app.mode", "sometimes"));
}

namespace {
constexpr const char* kEnforced = R"(
[listen]
addresses = ["127.0.0.1:6432"]
[upstream]
address = "127.0.0.1:5432"
[enforcement]
mode = "enforce"
[ledger]
directory = "/tmp/ledger"
checkpoint_key_file = "/dev/null"
)";
}  // namespace

TEST(Config, ReadsBreakGlass) {
  auto r = parse(std::string(kEnforced) + R"(
[break_glass]
keys = ["keys/breakglass.pub", "MCowBQYDK2VwAyEA"]
environment = "prod"
max_lifetime = "30m"
clock_skew = "15s"
)", "/etc/ddlgate/ddlgate.toml");
  ASSERT_TRUE(r.ok()) << r.problems.front().key << ": " << r.problems.front().message;
  const auto& b = r.config.break_glass;
  EXPECT_TRUE(b.enabled);
  EXPECT_EQ(b.keys.size(), 2u);
  EXPECT_EQ(b.base_dir, "/etc/ddlgate");
  EXPECT_EQ(b.environment, "prod");
  EXPECT_EQ(b.max_lifetime_s, 1800u);
  EXPECT_EQ(b.clock_skew_s, 15u);
}

TEST(Config, BreakGlassDefaultsAndEnvironmentFromBundles) {
  auto r = parse(std::string(kEnforced) + R"(
[bundles]
registry_dir = "/tmp/r"
environment = "staging"
[bundles.trust.roles.registry]
threshold = 1
keys = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]
[break_glass]
keys = ["x.pub"]
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().key << ": " << r.problems.front().message;
  EXPECT_EQ(r.config.break_glass.environment, "staging");
  EXPECT_EQ(r.config.break_glass.max_lifetime_s, 3600u);
  EXPECT_EQ(r.config.break_glass.clock_skew_s, 60u);
  EXPECT_FALSE(parse(kEnforced).config.break_glass.enabled);
}

TEST(Config, BreakGlassProblemsNameTheirKeys) {
  auto r = parse(std::string(kEnforced) + R"(
[break_glass]
keys = []
max_lifetime = "2d"
clock_skew = "20m"
color = "red"
)");
  EXPECT_TRUE(has_problem(r, "break_glass.keys", "at least one"));
  EXPECT_TRUE(has_problem(r, "break_glass.environment", "required"));
  EXPECT_TRUE(has_problem(r, "break_glass.max_lifetime", "duration"));
  EXPECT_TRUE(has_problem(r, "break_glass.clock_skew", "between 0s and 600s"));
  EXPECT_TRUE(has_problem(r, "break_glass.color", "unknown key"));
  auto too_long = parse(std::string(kEnforced) + "[break_glass]\nkeys = [\"k\"]\nenvironment = \"p\"\nmax_lifetime = \"25h\"\n");
  EXPECT_TRUE(has_problem(too_long, "break_glass.max_lifetime", "between 1s and 86400s"));
  auto no_keys = parse(std::string(kEnforced) + "[break_glass]\nenvironment = \"p\"\n");
  EXPECT_TRUE(has_problem(no_keys, "break_glass.keys", "required"));
  auto transparent = parse("[listen]\naddresses = [\"127.0.0.1:1\"]\n[upstream]\naddress = \"h:1\"\n"
                           "[break_glass]\nkeys = [\"k\"]\nenvironment = \"p\"\n");
  EXPECT_TRUE(has_problem(transparent, "break_glass", "needs [enforcement]"));
}

TEST(Config, ParsesDurations) {
  EXPECT_EQ(parse_duration_seconds("90s"), 90u);
  EXPECT_EQ(parse_duration_seconds("30m"), 1800u);
  EXPECT_EQ(parse_duration_seconds("1h"), 3600u);
  for (const char* bad : {"", "s", "1", "1d", "-1s", "1.5h", "1 h", "9999999999h"}) {
    EXPECT_FALSE(parse_duration_seconds(bad)) << bad;
  }
}
