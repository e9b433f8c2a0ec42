// The CI flow through the built binary: keygen, bundle build, sign, verify, inspect.
#include <sys/stat.h>

#include <functional>

#include <nlohmann/json.hpp>
#include <gtest/gtest.h>

#include "bundle_support.h"
#include "ddlgate/testing/process.h"

using namespace bundle_test;
using ddlgate::testing::CommandResult;
using ddlgate::testing::run_command;

namespace {

CommandResult run_ddlgate(std::vector<std::string> args) {
  args.insert(args.begin(), DDLGATE_BIN);
  return run_command(args);
}

class BundleCli : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : {"registry", "approver1", "approver2", "stranger"}) {
      auto r = run_ddlgate({"keygen", "--out", (dir() / k).string()});
      ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
      ASSERT_EQ(r.stdout_text.rfind("ed25519:", 0), 0u) << r.stdout_text;
    }
    spit(dir() / "trust.toml",
         "[roles.registry]\nthreshold = 1\nkeys = [\"registry.pub\"]\n"
         "[roles.approver]\nthreshold = 2\nkeys = [\"approver1.pub\", \"approver2.pub\"]\n");
  }
  const fs::path& dir() const { return scratch_.path(); }
  std::string key(const char* name) const { return (dir() / (std::string(name) + ".key")).string(); }

  // build + sign with the registry and both approvers
  fs::path signed_bundle(const std::string& layout, const std::string& name) {
    fs::path out = dir() / name;
    auto b = run_ddlgate({"bundle", "build", (kMigrations / layout).string(), "--out", out.string(), "--app", "shop",
                      "--version", "3", "--environment", "prod", "--database", "shop", "--repository",
                      "github.com/acme/shop", "--commit", "abc123", "--pull-request", "42", "--ci-run",
                      "https://ci.example/1"});
    EXPECT_EQ(b.exit_code, 0) << b.stderr_text;
    EXPECT_EQ(run_ddlgate({"bundle", "sign", out.string(), "--key", key("registry"), "--role", "registry"}).exit_code, 0);
    EXPECT_EQ(run_ddlgate({"bundle", "sign", out.string(), "--key", key("approver1"), "--role", "approver"}).exit_code, 0);
    EXPECT_EQ(run_ddlgate({"bundle", "sign", out.string(), "--key", key("approver2"), "--role", "approver"}).exit_code, 0);
    return out;
  }
  CommandResult verify(const fs::path& bundle, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"bundle", "verify", bundle.string(), "--trust", (dir() / "trust.toml").string(),
                                     "--environment", "prod"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ddlgate(args);
  }

  Scratch scratch_;
};

}  // namespace

TEST_F(BundleCli, KeygenWritesAPrivateKeyWithMode0600AndNeverOverwrites) {
  struct stat st {};
  ASSERT_EQ(::stat(key("registry").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(slurp(key("registry")).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  EXPECT_NE(slurp(dir() / "registry.pub").find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  std::string before = slurp(key("registry"));
  auto again = run_ddlgate({"keygen", "--out", (dir() / "registry").string()});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.stderr_text.find("refusing to overwrite"), std::string::npos) << again.stderr_text;
  EXPECT_EQ(slurp(key("registry")), before);
}

TEST_F(BundleCli, EveryLayoutBuildsSignsAndVerifies) {
  for (const char* layout : {"plain", "atlas", "golang-migrate", "goose", "flyway", "dbmate", "sqitch"}) {
    fs::path b = signed_bundle(layout, std::string("b-") + layout);
    auto r = verify(b);
    EXPECT_EQ(r.exit_code, 0) << layout << ": " << r.stderr_text;
    EXPECT_NE(r.stdout_text.find("OK: app shop version 3 for prod"), std::string::npos) << r.stdout_text;
  }
}

TEST_F(BundleCli, TamperingFailsWithExitOneAndSaysWhy) {
  fs::path b = signed_bundle("dbmate", "b");
  fs::path f = b / "files" / "20240102000000_add_name.sql";
  spit(f, slurp(f) + "\ndrop table users;\n");
  auto r = verify(b);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("files/20240102000000_add_name.sql: SHA-256"), std::string::npos) << r.stderr_text;
  auto expired = verify(signed_bundle("plain", "p"), {"--at", "2099-01-01T00:00:00Z"});
  EXPECT_EQ(expired.exit_code, 1);
  EXPECT_NE(expired.stderr_text.find("expired"), std::string::npos) << expired.stderr_text;
}

// A manifest every key signed that approves what no file holds: a DROP added to
// bookkeeping with its true hash, or a statement whose shown sql is not the file's.
TEST_F(BundleCli, VerifyRefusesSmuggledBookkeepingAndAManifestSqlThatIsNotTheFiles) {
  auto hashed = run_ddlgate({"hash", "--json", "DROP TABLE users"});
  ASSERT_EQ(hashed.exit_code, 0) << hashed.stderr_text;
  auto h = nlohmann::json::parse(hashed.stdout_text);
  auto tampered = [&](const std::string& name, const std::function<void(nlohmann::ordered_json&)>& edit) {
    fs::path b = signed_bundle("dbmate", name);
    auto m = nlohmann::ordered_json::parse(slurp(b / "manifest.json"));
    edit(m);
    spit(b / "manifest.json", m.dump(2));
    fs::remove_all(b / "signatures");
    EXPECT_EQ(run_ddlgate({"bundle", "sign", b.string(), "--key", key("registry"), "--role", "registry"}).exit_code, 0);
    EXPECT_EQ(run_ddlgate({"bundle", "sign", b.string(), "--key", key("approver1"), "--role", "approver"}).exit_code, 0);
    EXPECT_EQ(run_ddlgate({"bundle", "sign", b.string(), "--key", key("approver2"), "--role", "approver"}).exit_code, 0);
    return verify(b);
  };
  auto smuggled = tampered("smuggled", [&](nlohmann::ordered_json& m) {
    m["bookkeeping"].push_back({{"class", h[0]["class"]}, {"hash", h[0]["hash"]}, {"sql", "DROP TABLE users"}});
  });
  EXPECT_EQ(smuggled.exit_code, 1);
  EXPECT_NE(smuggled.stderr_text.find("sql is not a bookkeeping statement of dbmate (docs/bundles.md lists them): "
                                      "DROP TABLE users"),
            std::string::npos)
      << smuggled.stderr_text;
  EXPECT_NE(smuggled.stderr_text.find("REJECTED (1 problems)"), std::string::npos) << smuggled.stderr_text;
  auto renamed = tampered("renamed", [&](nlohmann::ordered_json& m) {
    m["files"][0]["statements"][0]["sql"] = "CREATE TABLE harmless (id int)";
  });
  EXPECT_EQ(renamed.exit_code, 1);
  EXPECT_NE(renamed.stderr_text.find("files/20240101000000_create_users.sql: statement 1: the manifest's sql is not "
                                     "the display SQL of the file's statement (CREATE TABLE users"),
            std::string::npos)
      << renamed.stderr_text;
}

TEST_F(BundleCli, UnknownSignerIsReported) {
  fs::path b = signed_bundle("goose", "g");
  EXPECT_EQ(run_ddlgate({"bundle", "sign", b.string(), "--key", key("stranger")}).exit_code, 0);
  auto r = verify(b);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("is not in the trust policy"), std::string::npos) << r.stderr_text;
}

TEST_F(BundleCli, BuildReportsTheFileThatDoesNotParse) {
  fs::create_directories(dir() / "src");
  spit(dir() / "src" / "001.sql", "CREATE TABLE a (x int);\nALTER TABLE a ADD COLUMN;\n");
  auto r = run_ddlgate({"bundle", "build", (dir() / "src").string(), "--out", (dir() / "out").string(), "--app", "a",
                    "--version", "1", "--environment", "prod", "--database", "a"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("001.sql: syntax error"), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("(line 2)"), std::string::npos) << r.stderr_text;
}

TEST_F(BundleCli, BuildRequiresTheScopeAndSaysWhichLayoutItChose) {
  const std::vector<std::string> base = {"bundle", "build", (kMigrations / "dbmate").string(), "--app", "a",
                                         "--version", "1", "--environment", "prod", "--out"};
  auto with = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.push_back((dir() / out).string());
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ddlgate(args);
  };
  auto none = with("none", {});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.stderr_text.find("--database: required: name each database the bundle is for (repeatable), or say "
                                  "--any-database"),
            std::string::npos)
      << none.stderr_text;
  EXPECT_FALSE(fs::exists(dir() / "none"));
  EXPECT_EQ(with("both", {"--database", "a", "--any-database"}).exit_code, 2);
  auto any = with("any", {"--any-database"});
  ASSERT_EQ(any.exit_code, 0) << any.stderr_text;
  EXPECT_NE(any.stdout_text.find("tool: dbmate (--tool auto: a -- migrate:up line in 20240101000000_create_users.sql)"),
            std::string::npos)
      << any.stdout_text;
  auto shown = run_ddlgate({"bundle", "inspect", (dir() / "any").string()});
  EXPECT_NE(shown.stdout_text.find("databases:   (any database of the environment)"), std::string::npos)
      << shown.stdout_text;
  auto two = with("two", {"--database", "a", "--database", "b", "--tool", "dbmate"});
  ASSERT_EQ(two.exit_code, 0) << two.stderr_text;
  EXPECT_NE(two.stdout_text.find("tool: dbmate (--tool)"), std::string::npos) << two.stdout_text;
  EXPECT_NE(run_ddlgate({"bundle", "inspect", (dir() / "two").string()}).stdout_text.find("databases:   a, b\n"),
            std::string::npos);

  fs::create_directories(dir() / "mixed");
  spit(dir() / "mixed" / "V1__users.sql", "create table users (id int);\n");
  spit(dir() / "mixed" / "atlas.sum", "h1:x\n");
  auto mixed = run_ddlgate({"bundle", "build", (dir() / "mixed").string(), "--out", (dir() / "m").string(), "--app",
                            "a", "--version", "1", "--environment", "prod", "--database", "a"});
  EXPECT_EQ(mixed.exit_code, 2);
  EXPECT_NE(mixed.stderr_text.find("--tool: auto: several layouts fit (atlas: atlas.sum; flyway: V1__users.sql); name "
                                   "one with --tool"),
            std::string::npos)
      << mixed.stderr_text;
}

TEST_F(BundleCli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_ddlgate({"bundle", "build", (kMigrations / "plain").string(), "--out", (dir() / "x").string(), "--app",
                     "a", "--version", "1", "--environment", "prod", "--database", "a", "--valid-for", "400d"})
                .exit_code,
            2);
  EXPECT_EQ(run_ddlgate({"bundle", "build", (kMigrations / "plain").string(), "--out", (dir() / "x").string(), "--app",
                     "a", "--version", "1", "--environment", "prod", "--database", "a", "--tool", "migrator"})
                .exit_code,
            2);
  spit(dir() / "bad-trust.toml", "[roles.approver]\nthreshold = 3\nkeys = [\"approver1.pub\"]\n");
  auto r = run_ddlgate({"bundle", "verify", dir().string(), "--trust", (dir() / "bad-trust.toml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("roles.approver.threshold"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(run_ddlgate({"bundle", "sign", dir().string(), "--key", key("registry"), "--role", "boss"}).exit_code, 2);
}

TEST_F(BundleCli, InspectPrintsASummaryAndJson) {
  fs::path b = signed_bundle("dbmate", "b");
  auto text = run_ddlgate({"bundle", "inspect", b.string()});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.stdout_text.find("20240101000000_create_users.sql: 2 statements (1 privilege, 1 schema_change)"),
            std::string::npos)
      << text.stdout_text;
  auto js = run_ddlgate({"bundle", "inspect", b.string(), "--json"});
  ASSERT_EQ(js.exit_code, 0);
  auto j = nlohmann::json::parse(js.stdout_text);
  EXPECT_EQ(j["app"], "shop");
  EXPECT_EQ(j["version"], 3);
  EXPECT_EQ(j["source"]["pull_request"], "42");
  EXPECT_EQ(j["signers"].size(), 3u);
  EXPECT_EQ(j["files"][0]["statements"], 2);
  // Every approved statement, with its line, class, hash and the signed sql; bookkeeping apart.
  const auto& first = j["files"][0]["approved"][0];
  EXPECT_EQ(first["index"], 1);
  EXPECT_EQ(first["class"], "schema_change");
  EXPECT_EQ(first["sql"], "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)");
  EXPECT_EQ(first["hash"].get<std::string>().rfind("sha256:", 0), 0u);
  EXPECT_EQ(j["files"][0]["approved"][1]["sql"], "GRANT select ON users TO reporting");
  // Risk tiers (docs/bundles.md): the analysis, and each statement's signed tier.
  EXPECT_EQ(j["analysis"], "ddlgate-lint/1");
  EXPECT_EQ(j["files"][0]["approved"][1]["tier"], "privilege");
  EXPECT_EQ(j["files"][0]["down"]["approved"][0]["tier"], "destructive");
  EXPECT_NE(text.stdout_text.find("analysis:    ddlgate-lint/1\n"), std::string::npos) << text.stdout_text;
  EXPECT_NE(text.stdout_text.find("GRANT select ON users TO reporting\n       (tier: privilege"), std::string::npos)
      << text.stdout_text;
  EXPECT_GT(j["files"][0]["approved"][1]["line"].get<int>(), first["line"].get<int>());
  EXPECT_EQ(j["bookkeeping_statements"].size(), j["bookkeeping"].get<std::size_t>());
  EXPECT_NE(text.stdout_text.find("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)"), std::string::npos)
      << text.stdout_text;
  EXPECT_NE(text.stdout_text.find("select current_schema()"), std::string::npos) << text.stdout_text;
  // Down parts, apart from the up part they undo.
  EXPECT_NE(text.stdout_text.find("    down (20240101000000_create_users.sql): 1 statements (for enforcement.deployers "
                                  "only)\n    down 1. schema_change, sha256:"),
            std::string::npos)
      << text.stdout_text;
  EXPECT_EQ(j["files"][0]["down"]["approved"][0]["sql"], "DROP TABLE users");
  EXPECT_EQ(j["files"][0]["down"]["path"], "20240101000000_create_users.sql");
}

// `bundle revoke` writes a revocation that only the registry role signs, and `bundle verify`
// checks it (issue 26 item 7).
TEST_F(BundleCli, RevokeWritesARevocationForTheRegistryToSign) {
  const fs::path rv = dir() / "revoke-shop-3";
  auto both = run_ddlgate({"bundle", "revoke", "--out", rv.string(), "--app", "shop", "--environment", "prod",
                           "--version", "3", "--below", "3", "--reason", "x"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.stderr_text.find("exactly one of --version N and --below N"), std::string::npos) << both.stderr_text;
  EXPECT_FALSE(fs::exists(rv));
  auto made = run_ddlgate({"bundle", "revoke", "--out", rv.string(), "--app", "shop", "--environment", "prod",
                           "--version", "3", "--reason", "drops a column still read"});
  ASSERT_EQ(made.exit_code, 0) << made.stderr_text;
  EXPECT_NE(slurp(rv / "revocation.json").find("\"format\": \"ddlgate-revocation/1\""), std::string::npos);
  auto unsigned_ = verify(rv);
  EXPECT_EQ(unsigned_.exit_code, 1);
  EXPECT_NE(unsigned_.stderr_text.find("signatures/: missing"), std::string::npos) << unsigned_.stderr_text;
  auto as_approver = run_ddlgate({"bundle", "sign", rv.string(), "--key", key("approver1"), "--role", "approver"});
  EXPECT_EQ(as_approver.exit_code, 1);
  EXPECT_NE(as_approver.stderr_text.find("only the registry role signs a revocation"), std::string::npos)
      << as_approver.stderr_text;
  EXPECT_EQ(run_ddlgate({"bundle", "sign", rv.string(), "--key", key("registry"), "--role", "registry"}).exit_code, 0);
  auto ok = verify(rv);
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_NE(ok.stdout_text.find(": OK: a revocation of app shop version 3 for prod, signed by ed25519:"),
            std::string::npos)
      << ok.stdout_text;
  auto elsewhere = run_ddlgate({"bundle", "verify", rv.string(), "--trust", (dir() / "trust.toml").string(),
                                "--environment", "staging"});
  EXPECT_EQ(elsewhere.exit_code, 1);
  EXPECT_NE(elsewhere.stderr_text.find("environment is 'prod', expected 'staging'"), std::string::npos)
      << elsewhere.stderr_text;
}

TEST_F(BundleCli, DiffShowsWhatANewVersionAddsRemovesAndChanges) {
  fs::path v1 = signed_bundle("dbmate", "v1");
  fs::create_directories(dir() / "src2");
  fs::copy_file(kMigrations / "dbmate" / "20240101000000_create_users.sql",
                dir() / "src2" / "20240101000000_create_users.sql");
  spit(dir() / "src2" / "20240102000000_add_name.sql",
       "-- migrate:up\ncreate index concurrently users_email on users (lower(email));\n");
  spit(dir() / "src2" / "20240103000000_drop.sql", "-- migrate:up\n\ndrop table legacy;\n");
  auto b = run_ddlgate({"bundle", "build", (dir() / "src2").string(), "--out", (dir() / "v2").string(), "--app", "shop",
                        "--version", "4", "--environment", "prod", "--database", "shop"});
  ASSERT_EQ(b.exit_code, 0) << b.stderr_text;
  auto text = run_ddlgate({"bundle", "diff", v1.string(), (dir() / "v2").string()});
  ASSERT_EQ(text.exit_code, 0) << text.stderr_text;
  const std::string& out = text.stdout_text;
  EXPECT_NE(out.find("+ 20240103000000_drop.sql statement 1 (line 3), schema_change, sha256:"), std::string::npos) << out;
  EXPECT_NE(out.find("    DROP TABLE legacy\n"), std::string::npos) << out;
  EXPECT_NE(out.find("- 20240102000000_add_name.sql statement 2 (line 3), schema_change"), std::string::npos) << out;
  EXPECT_NE(out.find("~ 20240102000000_add_name.sql statement 1 (line 2)"), std::string::npos) << out;
  EXPECT_NE(out.find("  + CREATE INDEX CONCURRENTLY users_email ON users USING btree (lower(email))"), std::string::npos) << out;
  EXPECT_NE(out.find("version: 3 -> 4"), std::string::npos) << out;
  // The old file's down part (its rollback) is gone too: a removed down statement.
  EXPECT_NE(out.find("- 20240102000000_add_name.sql down statement 1 (line ?), schema_change"), std::string::npos) << out;
  EXPECT_NE(out.find("1 added, 2 removed, 1 changed, bookkeeping 0 added and 0 removed"), std::string::npos) << out;
  // v2 is not signed: said on stderr, the diff is shown all the same.
  EXPECT_NE(text.stderr_text.find("signatures/: missing"), std::string::npos) << text.stderr_text;

  auto js = run_ddlgate({"bundle", "diff", v1.string(), (dir() / "v2").string(), "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.stderr_text;
  auto j = nlohmann::json::parse(js.stdout_text);
  ASSERT_EQ(j["added"].size(), 1u);
  EXPECT_EQ(j["added"][0]["sql"], "DROP TABLE legacy");
  EXPECT_EQ(j["added"][0]["line"], 3);
  EXPECT_EQ(j["changed"][0]["old"]["sql"], "CREATE INDEX CONCURRENTLY users_email ON users USING btree (email)");
  EXPECT_EQ(j["removed"][0]["index"], 2);
  EXPECT_FALSE(j["removed"][0].contains("part"));
  EXPECT_EQ(j["removed"][1]["part"], "down");

  auto same = run_ddlgate({"bundle", "diff", v1.string(), v1.string()});
  EXPECT_NE(same.stdout_text.find("0 added, 0 removed, 0 changed"), std::string::npos) << same.stdout_text;
  auto missing = run_ddlgate({"bundle", "diff", v1.string(), (dir() / "nothing").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.stderr_text.find("manifest.json"), std::string::npos) << missing.stderr_text;
}

TEST_F(BundleCli, CheckConfigDecodesTheTrustKeys) {
  spit(dir() / "ddlgate.toml",
       "[listen]\naddresses = [\"127.0.0.1:6432\"]\n[upstream]\naddress = \"127.0.0.1:5432\"\n"
       "[bundles]\nregistry_dir = \"bundles\"\nenvironment = \"prod\"\n"
       "[bundles.trust.roles.registry]\nthreshold = 1\nkeys = [\"registry.pub\"]\n");
  auto ok = run_ddlgate({"check-config", "--config", (dir() / "ddlgate.toml").string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  spit(dir() / "ddlgate.toml",
       "[listen]\naddresses = [\"127.0.0.1:6432\"]\n[upstream]\naddress = \"127.0.0.1:5432\"\n"
       "[bundles]\nregistry_dir = \"bundles\"\nenvironment = \"prod\"\n"
       "[bundles.trust.roles.registry]\nthreshold = 1\nkeys = [\"nokey.pub\"]\n");
  auto bad = run_ddlgate({"check-config", "--config", (dir() / "ddlgate.toml").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.stderr_text.find("bundles.trust.roles.registry.keys[0]"), std::string::npos) << bad.stderr_text;
}

TEST_F(BundleCli, SignRefusesAKeyFileOthersCanReadAndVerifyChecksTheKeysUse) {
  fs::path b = dir() / "b";
  ASSERT_EQ(run_ddlgate({"bundle", "build", (kMigrations / "plain").string(), "--out", b.string(), "--app", "shop",
                         "--version", "1", "--environment", "prod", "--database", "shop"})
                .exit_code,
            0);
  fs::permissions(key("approver1"), fs::perms::others_read, fs::perm_options::add);
  auto r = run_ddlgate({"bundle", "sign", b.string(), "--key", key("approver1"), "--role", "approver"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("approver1.key: mode 0604 gives group or others access to a private key"),
            std::string::npos)
      << r.stderr_text;
  EXPECT_FALSE(fs::exists(b / "signatures"));

  // keygen --use writes the use into the .pub file; a trust policy listing it under
  // another role's use is a configuration error (exit 2) naming the key.
  ASSERT_EQ(run_ddlgate({"keygen", "--out", (dir() / "carol").string(), "--use", "approver"}).exit_code, 0);
  EXPECT_EQ(slurp(dir() / "carol.pub").rfind("ddlgate-key-use: approver\n-----BEGIN PUBLIC KEY-----\n", 0), 0u);
  EXPECT_EQ(run_ddlgate({"keygen", "--out", (dir() / "dave").string(), "--use", "root"}).exit_code, 2);
  spit(dir() / "use-trust.toml", "[roles.registry]\nthreshold = 1\nkeys = [\"carol.pub\"]\n");
  auto v = run_ddlgate({"bundle", "verify", b.string(), "--trust", (dir() / "use-trust.toml").string()});
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_NE(v.stderr_text.find("roles.registry.keys[0]: " + (dir() / "carol.pub").string() +
                               ": the key is for 'approver' use, and it is listed here for 'registry'"),
            std::string::npos)
      << v.stderr_text;
  spit(dir() / "use-trust.toml", "[roles.approver]\nthreshold = 1\nkeys = [\"carol.pub\"]\n");
  v = run_ddlgate({"bundle", "verify", b.string(), "--trust", (dir() / "use-trust.toml").string()});
  EXPECT_EQ(v.exit_code, 1) << v.stderr_text;  // unsigned, but the policy is fine
  EXPECT_NE(v.stderr_text.find("signatures/: missing"), std::string::npos) << v.stderr_text;
}
