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
spend_approvals_once = true
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
  EXPECT_TRUE(e.spend_approvals_once);
  EXPECT_EQ(e.mode_for("deploy", "shop"), EnforcementMode::enforce);
  EXPECT_EQ(e.mode_for("deploy", "analytics"), EnforcementMode::monitor);
  EXPECT_EQ(e.mode_for("app", "shop"), EnforcementMode::monitor);  // a user's override wins
}

TEST(Config, EnforcementProblemsNameTheirKeys) {
  auto r = parse(R"(
[enforcement]
mode = "strict"
users = "app"
spend_approvals_once = "yes"
[enforcement.user.app]
mode = "sometimes"
)");
  EXPECT_TRUE(has_problem(r, "enforcement.mode", "strict"));
  EXPECT_TRUE(has_problem(r, "enforcement.users", "array"));
  EXPECT_TRUE(has_problem(r, "enforcement.spend_approvals_once", "true or false"));
  EXPECT_TRUE(has_problem(r, "enforcement.user.app.mode", "sometimes"));
}
