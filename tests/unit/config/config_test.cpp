#include "ddlgate/config/config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <utility>
#include <vector>
#include <gtest/gtest.h>

using namespace ddlgate::config;

namespace {

bool has_problem(const LoadResult& r, const std::string& key, const std::string& fragment = "") {
  return std::any_of(r.problems.begin(), r.problems.end(), [&](const Problem& p) {
    return p.where == key && p.message.find(fragment) != std::string::npos;
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
  auto bare = parse_host_port("localhost");
  ASSERT_FALSE(bare);
  EXPECT_NE(bare.error().reason.find("host:port"), std::string::npos);
  auto unbracketed = parse_host_port("::1:5432");
  ASSERT_FALSE(unbracketed);
  EXPECT_NE(unbracketed.error().reason.find("brackets"), std::string::npos);
  EXPECT_FALSE(parse_host_port("h:70000"));
  EXPECT_FALSE(parse_host_port(":5432"));
  EXPECT_FALSE(parse_host_port("h:12x"));
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
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
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
  EXPECT_EQ(r.problems[0].where, "f.toml");
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
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
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

namespace {

constexpr const char* kBase = R"(
[listen]
addresses = ["127.0.0.1:6432"]
[upstream]
address = "127.0.0.1:5432"
)";

}  // namespace

TEST(Config, AdminListenerIsOffByDefaultAndParsed) {
  auto off = parse(kBase);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off.config.admin.enabled);
  setenv("DDLGATE_TEST_ADMIN_TOKEN", "t0ken", 1);
  auto r = parse(std::string(kBase) + R"(
[admin]
listen = "127.0.0.1:9187"
token_env = "DDLGATE_TEST_ADMIN_TOKEN"
upstream_check_timeout_ms = 200
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
  EXPECT_TRUE(r.config.admin.enabled);
  EXPECT_EQ(r.config.admin.listen.to_string(), "127.0.0.1:9187");
  EXPECT_EQ(r.config.admin.token_env, "DDLGATE_TEST_ADMIN_TOKEN");
  EXPECT_EQ(r.config.admin.upstream_check_timeout_ms, 200u);
}

TEST(Config, AdminProblems) {
  auto r = parse(std::string(kBase) + R"(
[admin]
token_file = "/nonexistent/token"
token_env = "X"
)");
  EXPECT_TRUE(has_problem(r, "admin.listen", "required"));
  EXPECT_TRUE(has_problem(r, "admin.token_env", "not both"));
  auto missing = parse(std::string(kBase) + "[admin]\nlisten = \"127.0.0.1:1\"\ntoken_env = \"DDLGATE_SURELY_UNSET_VAR\"\n");
  EXPECT_TRUE(has_problem(missing, "admin.token_env", "not set"));
}

TEST(Config, WebhooksAreParsedAndChecked) {
  setenv("DDLGATE_TEST_HOOK_SECRET", "s3cret", 1);
  auto r = parse(std::string(kBase) + R"(
[[webhooks]]
url = "https://hooks.example.com/services/T0/B0?x=1"
secret_env = "DDLGATE_TEST_HOOK_SECRET"
events = ["statement.denied", "ledger.failed"]
max_attempts = 3
[[webhooks]]
url = "http://127.0.0.1:8080"
secret_env = "DDLGATE_TEST_HOOK_SECRET"
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
  ASSERT_EQ(r.config.webhooks.size(), 2u);
  EXPECT_EQ(r.config.webhooks[0].events.size(), 2u);
  EXPECT_EQ(r.config.webhooks[0].max_attempts, 3u);
  EXPECT_EQ(r.config.webhooks[1].queue_size, 1000u);

  auto bad = parse(std::string(kBase) + R"(
[[webhooks]]
url = "ftp://example.com/"
events = ["statement.allowed"]
colour = "red"
)");
  EXPECT_TRUE(has_problem(bad, "webhooks[0].url", "http:// or https://"));
  EXPECT_TRUE(has_problem(bad, "webhooks[0].secret_file", "required"));
  EXPECT_TRUE(has_problem(bad, "webhooks[0].events[0]", "unknown event"));
  EXPECT_TRUE(has_problem(bad, "webhooks[0].colour", "unknown key"));
}

TEST(HttpUrl, SplitsHostPortAndTarget) {
  auto a = parse_http_url("https://hooks.example.com/a/b?c=d");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->https);
  EXPECT_EQ(a->host, "hooks.example.com");
  EXPECT_EQ(a->port, 443);
  EXPECT_EQ(a->target, "/a/b?c=d");
  auto b = parse_http_url("http://[::1]:8080");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 8080);
  EXPECT_EQ(b->target, "/");
  EXPECT_FALSE(parse_http_url("http://user:pw@host/"));
  EXPECT_FALSE(parse_http_url("http://host:0/"));
  EXPECT_FALSE(parse_http_url("http:///path"));
  EXPECT_FALSE(parse_http_url("http://host/a b"));
}

TEST(Config, LogSection) {
  auto r = parse(std::string(kBase) + "[log]\nformat = \"json\"\nlevel = \"debug\"\n");
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
  EXPECT_EQ(r.config.log_format, LogFormat::json);
  EXPECT_EQ(r.config.log_level, "debug");
  auto bad = parse(std::string(kBase) + "[server]\nlog_level = \"info\"\n[log]\nformat = \"xml\"\nlevel = \"debug\"\n");
  EXPECT_TRUE(has_problem(bad, "log.format", "text or json"));
  EXPECT_TRUE(has_problem(bad, "log.level", "give the level once"));
}

TEST(ReloadPlan, AppliesLiveKeysAndNamesThoseThatNeedARestart) {
  auto a = parse(std::string(kBase) + "[enforcement]\nmode = \"enforce\"\n[ledger]\ndirectory = \"/tmp/l\"\ncheckpoint_key_file = \"/etc/hostname\"\n");
  auto b = parse(R"(
[listen]
addresses = ["127.0.0.1:7432"]
[upstream]
address = "127.0.0.1:5432"
[log]
level = "debug"
[limits]
max_connections = 5
[enforcement]
mode = "monitor"
deployers = ["deploy"]
[ledger]
directory = "/tmp/other"
checkpoint_key_file = "/etc/hostname"
)");
  ASSERT_TRUE(a.ok()) << a.problems.front().where << ": " << a.problems.front().message;
  ASSERT_TRUE(b.ok()) << b.problems.front().where << ": " << b.problems.front().message;
  ReloadPlan plan = plan_reload(a.config, b.config);
  EXPECT_EQ(plan.needs_restart, (std::vector<std::string>{"listen", "ledger"}));
  EXPECT_EQ(plan.applied, (std::vector<std::string>{"log.level", "limits", "enforcement"}));
  EXPECT_EQ(plan.next.listen, a.config.listen);
  EXPECT_EQ(plan.next.ledger.directory, "/tmp/l");
  EXPECT_EQ(plan.next.enforcement.mode, EnforcementMode::monitor);
  EXPECT_EQ(plan.next.limits.max_connections, 5u);
  EXPECT_EQ(plan.next.log_level, "debug");
}

TEST(ReloadPlan, FullStatementLoggingIsReadAndAppliesLive) {
  const std::string ledger = "[ledger]\ndirectory = \"/tmp/l\"\ncheckpoint_key_file = \"/etc/hostname\"\n";
  auto off = parse(std::string(kBase) + "[enforcement]\nmode = \"enforce\"\n" + ledger);
  auto on = parse(std::string(kBase) + "[enforcement]\nmode = \"enforce\"\nrecord_all_statements = true\n" + ledger);
  ASSERT_TRUE(off.ok() && on.ok());
  EXPECT_FALSE(off.config.enforcement.record_all_statements);
  EXPECT_TRUE(on.config.enforcement.record_all_statements);
  ReloadPlan plan = plan_reload(off.config, on.config);
  EXPECT_EQ(plan.applied, (std::vector<std::string>{"enforcement"}));
  EXPECT_TRUE(plan.next.enforcement.record_all_statements);
  auto wrong = parse(std::string(kBase) + "[enforcement]\nrecord_all_statements = \"yes\"\n" + ledger);
  EXPECT_TRUE(has_problem(wrong, "enforcement.record_all_statements"));
}

TEST(Config, LedgerLowSpaceWarningDefaultsToTenPercentAndIsChecked) {
  const std::string ledger = "[ledger]\ndirectory = \"/tmp/l\"\ncheckpoint_key_file = \"/etc/hostname\"\n";
  auto d = parse(std::string(kBase) + ledger);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.config.ledger.low_space_percent, 10u);
  auto off = parse(std::string(kBase) + ledger + "low_space_percent = 0\n");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off.config.ledger.low_space_percent, 0u);
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + ledger + "low_space_percent = 100\n"), "ledger.low_space_percent"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + ledger + "low_space_percent = \"10%\"\n"), "ledger.low_space_percent"));
  ReloadPlan plan = plan_reload(d.config, off.config);
  EXPECT_EQ(plan.needs_restart, (std::vector<std::string>{"ledger"}));
}

TEST(ReloadPlan, TurningEnforcementOnNeedsARestart) {
  auto a = parse(kBase);
  auto b = parse(std::string(kBase) + "[enforcement]\nmode = \"enforce\"\n[ledger]\ndirectory = \"/tmp/l\"\ncheckpoint_key_file = \"/etc/hostname\"\n");
  ASSERT_TRUE(b.ok());
  ReloadPlan plan = plan_reload(a.config, b.config);
  EXPECT_EQ(plan.needs_restart, (std::vector<std::string>{"ledger", "enforcement"}));
  EXPECT_TRUE(plan.applied.empty());
  EXPECT_EQ(plan.next.enforcement.mode, EnforcementMode::off);
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
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
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
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
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

TEST(Secrets, AreReadFromAVariableOrAFileWithoutTrailingNewlines) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ddlgate-secret-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return (dir / name).string();
  };

  setenv("DDLGATE_TEST_SECRET", "from-env", 1);
  SecretRead env = read_secret("admin", "token_file", "", "token_env", "DDLGATE_TEST_SECRET");
  EXPECT_FALSE(env.problem);
  EXPECT_EQ(env.value, "from-env");
  SecretRead unset = read_secret("admin", "token_file", "", "token_env", "DDLGATE_SURELY_UNSET_VAR");
  ASSERT_TRUE(unset.problem);
  EXPECT_EQ(unset.problem->where, "admin.token_env");
  EXPECT_TRUE(unset.value.empty());

  SecretRead crlf = read_secret("webhooks[0]", "secret_file", write("crlf", "s3cret\r\n\n"), "secret_env", "");
  EXPECT_FALSE(crlf.problem);
  EXPECT_EQ(crlf.value, "s3cret");
  // Exactly the limit is accepted; one byte more is not, and the message never shows the bytes.
  SecretRead full = read_secret("w", "secret_file", write("full", std::string(kMaxSecretBytes, 'k')), "secret_env", "");
  EXPECT_FALSE(full.problem);
  EXPECT_EQ(full.value.size(), kMaxSecretBytes);
  SecretRead large = read_secret("w", "secret_file", write("large", std::string(kMaxSecretBytes + 1, 'k')), "secret_env", "");
  ASSERT_TRUE(large.problem);
  EXPECT_EQ(large.problem->where, "w.secret_file");
  EXPECT_NE(large.problem->message.find("larger than 4 KiB"), std::string::npos);
  EXPECT_EQ(large.problem->message.find("kkkk"), std::string::npos);
  EXPECT_TRUE(large.value.empty());

  for (const auto& [path, fragment] : std::vector<std::pair<std::string, std::string>>{
           {write("newlines", "\n\r\n"), "is empty"},
           {write("empty", ""), "is empty"},
           {(dir / "missing").string(), "cannot read"},
           {dir.string(), "is a directory"}}) {
    SecretRead r = read_secret("admin", "token_file", path, "token_env", "");
    ASSERT_TRUE(r.problem) << path;
    EXPECT_EQ(r.problem->where, "admin.token_file");
    EXPECT_NE(r.problem->message.find(fragment), std::string::npos) << r.problem->message;
  }
  std::filesystem::remove_all(dir);
}

TEST(Config, AnEmptySecretFileIsAProblemOfItsKey) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("ddlgate-empty-token-" + std::to_string(::getpid()));
  std::ofstream(file) << "\n";
  auto r = parse(std::string(kBase) + "[admin]\nlisten = \"127.0.0.1:1\"\ntoken_file = \"" + file.string() + "\"\n");
  EXPECT_TRUE(has_problem(r, "admin.token_file", "is empty"));
  std::filesystem::remove(file);
}

TEST(Config, DenialPacingDefaultsToTenPerSecondAfterAHundredAndIsLive) {
  auto d = parse(kBase);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.config.limits.denials_per_second, 10u);
  EXPECT_EQ(d.config.limits.denial_burst, 100u);
  auto off = parse(std::string(kBase) + "[limits]\ndenials_per_second = 0\ndenial_burst = 5\n");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off.config.limits.denials_per_second, 0u);
  EXPECT_EQ(off.config.limits.denial_burst, 5u);
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[limits]\ndenial_burst = 0\n"), "limits.denial_burst"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[limits]\ndenials_per_second = -1\n"), "limits.denials_per_second"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[limits]\ndenials_per_second = 2.5\n"), "limits.denials_per_second"));
  ReloadPlan plan = plan_reload(d.config, off.config);
  EXPECT_TRUE(plan.needs_restart.empty());
  EXPECT_EQ(plan.applied, (std::vector<std::string>{"limits"}));
  EXPECT_EQ(plan.next.limits.denials_per_second, 0u);
}

TEST(Config, InspectionBudgetDefaultsTo256MiBAndIsChecked) {
  auto d = parse(kBase);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.config.limits.inspection_budget, 256ull * 1024 * 1024);
  EXPECT_EQ(d.config.limits.inspection_wait_ms, 2000u);
  auto big = parse(std::string(kBase) + "[limits]\ninspection_budget = 8589934592\ninspection_wait_ms = 0\n");
  ASSERT_TRUE(big.ok()) << big.problems.front().message;
  EXPECT_EQ(big.config.limits.inspection_budget, 8ull * 1024 * 1024 * 1024);  // above 4 GiB
  EXPECT_EQ(big.config.limits.inspection_wait_ms, 0u);
  // Below the per-message cap, a message under the cap could never be read.
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[limits]\ninspection_budget = 1048576\n"),
                          "limits.inspection_budget", "max_inspected_message"));
  EXPECT_TRUE(parse(std::string(kBase) + "[limits]\ninspection_budget = 1048576\nmax_inspected_message = 1048576\n").ok());
  // Left unset, it grows to one message of the cap: a configuration from before the budget still loads.
  auto raised = parse(std::string(kBase) + "[limits]\nmax_inspected_message = 536870912\n");
  ASSERT_TRUE(raised.ok()) << raised.problems.front().message;
  EXPECT_EQ(raised.config.limits.inspection_budget, 512ull * 1024 * 1024);
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[limits]\ninspection_budget = 1099511627777\n"),
                          "limits.inspection_budget"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[limits]\ninspection_wait_ms = -1\n"), "limits.inspection_wait_ms"));
}

TEST(Config, LedgerWitnessesAreParsedAndChecked) {
  const std::string ledger = "[ledger]\ndirectory = \"/tmp/l\"\ncheckpoint_key_file = \"/etc/hostname\"\n";
  auto none = parse(std::string(kBase) + ledger);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.config.ledger.witnesses.empty());
  auto r = parse(std::string(kBase) + ledger + R"(witness_retry_ms = 250
[[ledger.witnesses]]
url = "https://witness.example.com/w1"
vkey = "witness.example.com/w1+dc792ba7+BDgCJycKeje2J6zbEjQj5nqLQ44/3kC9eR/qoV4CsTwn"
[[ledger.witnesses]]
url = "http://127.0.0.1:7380"
vkey = "w2+00000000+AAAA"
timeout_ms = 800
)");
  ASSERT_TRUE(r.ok()) << r.problems.front().where << ": " << r.problems.front().message;
  ASSERT_EQ(r.config.ledger.witnesses.size(), 2u);
  EXPECT_EQ(r.config.ledger.witness_retry_ms, 250u);
  EXPECT_EQ(r.config.ledger.witnesses[0].timeout_ms, 5000u);
  EXPECT_EQ(r.config.ledger.witnesses[1].timeout_ms, 800u);

  auto bad = parse(std::string(kBase) + ledger + R"(
[[ledger.witnesses]]
url = "ftp://witness.example.com/"
vkey = "no-plus-signs"
colour = "red"
[[ledger.witnesses]]
timeout_ms = 1
)");
  EXPECT_TRUE(has_problem(bad, "ledger.witnesses[0].url", "http:// or https://"));
  EXPECT_TRUE(has_problem(bad, "ledger.witnesses[0].vkey", "not a verifier key"));
  EXPECT_TRUE(has_problem(bad, "ledger.witnesses[0].colour", ""));
  EXPECT_TRUE(has_problem(bad, "ledger.witnesses[1].url", "required"));
  EXPECT_TRUE(has_problem(bad, "ledger.witnesses[1].vkey", "required"));
  EXPECT_TRUE(has_problem(bad, "ledger.witnesses[1].timeout_ms", ""));
  auto not_array = parse(std::string(kBase) + ledger + "witnesses = \"http://x\"\n");
  EXPECT_TRUE(has_problem(not_array, "ledger.witnesses", "array of tables"));
}

TEST(Config, GuardSectionIsOffByDefaultParsedAndChecked) {
  auto off = parse(kBase);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off.config.guard.enabled);
  auto on = parse(std::string(kBase) + R"(
[guard]
control_user = "ddlgate_ctl"
control_password_env = "HOME"
databases = ["app", "billing"]
poll_interval_ms = 500
drift_interval_ms = 600000
drift_scratch_url = "host=/tmp dbname=scratch"
drift_migrator = "deployer"
)");
  ASSERT_TRUE(on.ok());
  EXPECT_EQ(on.config.guard.drift_migrator, "deployer");
  EXPECT_EQ(off.config.guard.drift_migrator, "");  // the control user
  EXPECT_TRUE(on.config.guard.enabled);
  EXPECT_TRUE(on.config.guard.confirm);
  EXPECT_EQ(on.config.guard.control_user, "ddlgate_ctl");
  EXPECT_EQ(on.config.guard.databases, (std::vector<std::string>{"app", "billing"}));
  EXPECT_EQ(on.config.guard.poll_interval_ms, 500u);
  EXPECT_EQ(on.config.guard.confirm_timeout_ms, 2000u);
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[guard]\nconfirm = false\n"), "guard.control_user"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[guard]\ncontrol_user = \"c\"\ndrift_interval_ms = 1000\n"),
                          "guard.drift_scratch_url"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[guard]\ncontrol_user = \"c\"\npoll_interval_ms = 5\n"),
                          "guard.poll_interval_ms"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[guard]\ncontrol_user = \"c\"\nconfirms = true\n"),
                          "guard.confirms"));
  ReloadPlan plan = plan_reload(off.config, on.config);
  EXPECT_EQ(plan.needs_restart, (std::vector<std::string>{"guard"}));
}

// enforcement.lock_timeout_for_blocking (issue 28 item 3): the spellings PostgreSQL 15's
// lock_timeout accepts, in milliseconds rounded as guc.c rounds them (the guard_lock
// integration test checks the same values against the server's pg_settings).
TEST(LockTimeout, ParsesPostgresSpellingsIntoMilliseconds) {
  const std::pair<const char*, std::uint32_t> cases[] = {
      {"5s", 5000},      {"500ms", 500},    {"500", 500},      {" 1 min ", 60000}, {"1.5s", 1500},
      {"0.5min", 30000}, {"1h", 3600000},   {"1500us", 2},     {"2500us", 2},      {"2.5ms", 2},
      {"3.5ms", 4},   {"5.", 5},         {"\t7 ms\n", 7},   {"0.01min", 1000},  {"1000000us", 1000},
  };
  for (const auto& [text, ms] : cases) {
    auto r = parse_lock_timeout_ms(text);
    ASSERT_TRUE(r) << "[" << text << "]: " << r.error().reason;
    EXPECT_EQ(*r, ms) << "[" << text << "]";
  }
}

TEST(LockTimeout, RefusesWhatTheServerReadsOtherwiseOrNotAtAll) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "a number, then"},        {"5S", "a number, then"},       {"5 sec", "a number, then"},
      {"-5s", "a number, then"},     {"s", "a number, then"},        {"5s5", "a number, then"},
      {"1e3", "a number, then"},     {"5 s s", "a number, then"},    {"0", "between 1ms and 1h"},
      {"0s", "between 1ms and 1h"},  {"500us", "between 1ms and 1h"}, {"61min", "between 1ms and 1h"},
      {"1d", "between 1ms and 1h"},  {"99999999999999999999h", "between 1ms and 1h"},
      {"010s", "octal"},             {"0x10", "hexadecimal"},
  };
  for (const auto& [text, why] : cases) {
    auto r = parse_lock_timeout_ms(text);
    ASSERT_FALSE(r) << "[" << text << "] gave " << *r;
    EXPECT_NE(r.error().reason.find(why), std::string::npos) << "[" << text << "]: " << r.error().reason;
  }
  auto long_text = parse_lock_timeout_ms(std::string(10000, '1') + "ms");
  ASSERT_FALSE(long_text);
  EXPECT_LT(long_text.error().reason.size(), 300u) << "the value is cut in the message";
}

TEST(LockTimeout, IsOffWhenAbsentParsedAndNeedsTheGuard) {
  // Other problems (enforcement without a ledger) do not matter here: those of the key do.
  auto off = parse(std::string(kBase) + "[enforcement]\nmode = \"enforce\"\n");
  EXPECT_FALSE(has_problem(off, "enforcement.lock_timeout_for_blocking"));
  EXPECT_EQ(off.config.enforcement.lock_timeout_for_blocking_ms, 0u);
  const std::string guard = "[guard]\ncontrol_user = \"ddlgate_ctl\"\n";
  auto on = parse(std::string(kBase) + "[enforcement]\nlock_timeout_for_blocking = \"5s\"\n" + guard);
  EXPECT_FALSE(has_problem(on, "enforcement.lock_timeout_for_blocking"));
  EXPECT_EQ(on.config.enforcement.lock_timeout_for_blocking_ms, 5000u);
  auto reloaded = plan_reload(off.config, on.config);
  EXPECT_EQ(std::count(reloaded.applied.begin(), reloaded.applied.end(), "enforcement"), 1) << "live, on reload";
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[enforcement]\nlock_timeout_for_blocking = \"5 seconds\"\n" + guard),
                          "enforcement.lock_timeout_for_blocking", "got '5 seconds'"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[enforcement]\nlock_timeout_for_blocking = 5\n" + guard),
                          "enforcement.lock_timeout_for_blocking", "must be a string"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[enforcement]\nlock_timeout_for_blocking = \"5s\"\n"),
                          "enforcement.lock_timeout_for_blocking", "needs [guard]"));
  EXPECT_TRUE(has_problem(parse(std::string(kBase) + "[enforcement]\nlock_timeout_for_blocking = \"5s\"\n" + guard +
                                "confirm = false\n"),
                          "enforcement.lock_timeout_for_blocking", "needs [guard]"));
}
