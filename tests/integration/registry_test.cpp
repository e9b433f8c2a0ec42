// The whole CI flow against a running ddlgate: keys, a bundle built from a
// migration directory, signed by a registry key and two approvers, loaded at
// start; then tampered, lower-version and added bundles while it runs (directory
// watch and SIGHUP). The proxy reports what it loaded in its log; a rejected
// bundle never takes approvals out of force.
#include <csignal>
#include <functional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/log_wait.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

std::string ddlgate() { return ddlgate_binary().string(); }

// Waits until the proxy's log contains `needle` (after `from` bytes).
class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : {"registry", "alice", "bob"}) run_ok({ddlgate(), "keygen", "--out", (keys_.path() / k).string()});
    write_file(keys_.path() / "trust.toml",
               "[roles.registry]\nthreshold = 1\nkeys = [\"" + (keys_.path() / "registry.pub").string() +
                   "\"]\n[roles.approver]\nthreshold = 2\nkeys = [\"" + (keys_.path() / "alice.pub").string() +
                   "\", \"" + (keys_.path() / "bob.pub").string() + "\"]\n");
    fs::create_directory(registry());
  }

  fs::path registry() const { return dir_.path() / "registry"; }

  // Builds and signs a bundle of the dbmate sample in a scratch place, then
  // moves it into the registry in one rename, as CI should publish.
  // `database`: the bundle's scope (--database); empty: this test's database.
  fs::path publish(const std::string& name, int version, bool sign_all = true, std::string database = "") {
    if (database.empty()) database = SharedPgServer::get().database();
    fs::path staging = dir_.path() / ("staging-" + name);
    run_ok({ddlgate(), "bundle", "build", std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate", "--tool",
            "dbmate", "--out", staging.string(), "--app", "shop", "--version", std::to_string(version),
            "--environment", "production", "--database", database});
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (keys_.path() / "registry.key").string(), "--role",
            "registry"});
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (keys_.path() / "alice.key").string(), "--role",
            "approver"});
    if (sign_all) {
      run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (keys_.path() / "bob.key").string(), "--role",
              "approver"});
    }
    fs::path dest = registry() / name;
    fs::rename(staging, dest);
    return dest;
  }

  // `extra` is added to the configuration file (a [ledger] table, say).
  std::unique_ptr<DdlgateProcess> start(const std::string& extra = "") {
    write_file(dir_.path() / "ddlgate.toml", "[bundles]\nregistry_dir = \"" + registry().string() +
                                                 "\"\nenvironment = \"production\"\ntrust_file = \"" +
                                                 (keys_.path() / "trust.toml").string() + "\"\n" + extra);
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / "ddlgate.toml").string()});
  }

  TempDir keys_{"ddlgate-keys"};
  TempDir dir_{"ddlgate-registry"};
};

TEST_F(Registry, LoadsASignedBundleAtStart) {
  publish("shop-v1", 1);
  auto proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (start)")) << proxy->stderr_log();
  std::string log = proxy->stderr_log();
  EXPECT_NE(log.find("bundle accepted: " + (registry() / "shop-v1").string() + " app=shop version=1 statements=4 databases=" +
                     SharedPgServer::get().database() + "\n"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("from [shop v1]; 1 accepted, 0 rejected"), std::string::npos) << log;
}

TEST_F(Registry, RejectsABundleBelowThresholdAndKeepsWhatIsInForce) {
  publish("shop-v1", 1);
  auto proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v1]")) << proxy->stderr_log();
  std::size_t mark = proxy->stderr_log().size();
  publish("shop-v2", 2, /*sign_all=*/false);  // one approver of the two required
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (the registry directory changed)", mark)) << proxy->stderr_log();
  std::string log = proxy->stderr_log().substr(mark);
  EXPECT_NE(log.find("bundle rejected: " + (registry() / "shop-v2").string()), std::string::npos) << log;
  EXPECT_NE(log.find("approver"), std::string::npos) << log;  // the role that is short
  EXPECT_NE(log.find("from [shop v1]"), std::string::npos) << log;  // v1 still in force
}

TEST_F(Registry, AnEditedFileIsRejectedOnSighup) {
  auto proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (start)")) << proxy->stderr_log();
  fs::path b = publish("shop-v1", 1);
  // Tamper before ddlgate sees it settle: append to a signed migration file.
  for (const auto& e : fs::recursive_directory_iterator(b / "files")) {
    if (e.is_regular_file()) {
      write_file(e.path(), read_file(e.path()) + "\nDROP TABLE customers;\n");
      break;
    }
  }
  std::this_thread::sleep_for(1s);  // let the watcher's reload of the tampered bundle pass
  std::size_t mark = proxy->stderr_log().size();
  ::kill(proxy->pid(), SIGHUP);
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (SIGHUP)", mark)) << proxy->stderr_log();
  std::string log = proxy->stderr_log().substr(mark);
  EXPECT_NE(log.find("bundle rejected: " + b.string()), std::string::npos) << log;
  EXPECT_NE(log.find("0 statement(s) in force"), std::string::npos) << log;
}

TEST_F(Registry, ALowerVersionIsRefused) {
  publish("shop-v2", 2);
  auto proxy = start();
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v2]")) << proxy->stderr_log();
  std::size_t mark = proxy->stderr_log().size();
  publish("shop-v1", 1);
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (the registry directory changed)", mark)) << proxy->stderr_log();
  std::string log = proxy->stderr_log().substr(mark);
  EXPECT_NE(log.find("bundle rejected: " + (registry() / "shop-v1").string()), std::string::npos) << log;
  EXPECT_NE(log.find("from [shop v2]"), std::string::npos) << log;
}

// The ledger gets each bundle once per process: every bundle at start, then
// what a reload newly accepts or rejects. Reloads that change nothing (SIGHUP,
// a rejected bundle judged again, older versions that a newer one superseded)
// add nothing; a restart records the registry again.
TEST_F(Registry, TheLedgerRecordsEachBundleOnceAndNotOnEveryReload) {
  run_ok({ddlgate(), "keygen", "--out", (keys_.path() / "ledger").string()});
  const fs::path ledger_dir = dir_.path() / "ledger";
  const std::string ledger = "[ledger]\ndirectory = \"" + ledger_dir.string() + "\"\ncheckpoint_key_file = \"" +
                             (keys_.path() / "ledger.key").string() + "\"\n";
  // The bundle records of the ledger's export: "accepted APP VERSION MANIFEST_SHA256" or "rejected PATH".
  auto bundle_records = [&] {
    auto r = run_command({ddlgate(), "ledger", "export", ledger_dir.string(), "--format", "jsonl"});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    std::vector<std::string> out;
    std::istringstream lines(r.stdout_text);
    for (std::string line; std::getline(lines, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || j.value("kind", "") != "record" || !j["payload"].is_string()) continue;
      auto payload = nlohmann::json::parse(j["payload"].get<std::string>(), nullptr, false);
      if (!payload.is_object() || !payload["fields"].is_object()) continue;
      const auto& f = payload["fields"];
      const std::string type = payload.value("type", "");
      if (type == "bundle_accepted") {
        out.push_back("accepted " + f.value("bundle", "") + " " + f.value("version", "") + " " +
                      f.value("manifest_sha256", ""));
      } else if (type == "bundle_rejected") {
        out.push_back("rejected " + f.value("bundle", ""));
      }
    }
    return out;
  };
  auto sighup = [](DdlgateProcess& p) {
    std::size_t mark = p.stderr_log().size();
    ::kill(p.pid(), SIGHUP);
    EXPECT_TRUE(wait_for_log(p, "approvals loaded (SIGHUP)", mark)) << p.stderr_log();
  };
  auto digest = [](const std::string& record) { return record.substr(record.rfind(' ') + 1); };

  publish("shop-v1", 1);
  publish("shop-v2", 2);
  auto proxy = start(ledger);
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v2]")) << proxy->stderr_log();
  sighup(*proxy);
  sighup(*proxy);
  std::size_t mark = proxy->stderr_log().size();
  publish("shop-v3", 3, /*sign_all=*/false);  // rejected: one approver of two
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (the registry directory changed)", mark)) << proxy->stderr_log();
  sighup(*proxy);
  mark = proxy->stderr_log().size();
  publish("shop-v4", 4);
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v4]", mark)) << proxy->stderr_log();
  sighup(*proxy);
  // Older versions still in the registry are not reported as rejected.
  EXPECT_EQ(proxy->stderr_log().find("bundle rejected: " + (registry() / "shop-v1").string()), std::string::npos)
      << proxy->stderr_log();
  EXPECT_EQ(proxy->terminate(20s), 0);

  auto records = bundle_records();
  ASSERT_EQ(records.size(), 4u) << ::testing::PrintToString(records);
  EXPECT_EQ(records[0].rfind("accepted shop 1 ", 0), 0u) << records[0];
  EXPECT_EQ(records[1].rfind("accepted shop 2 ", 0), 0u) << records[1];
  EXPECT_EQ(records[2], "rejected " + (registry() / "shop-v3").string());
  EXPECT_EQ(records[3].rfind("accepted shop 4 ", 0), 0u) << records[3];
  // Each with its own manifest digest, not the one in force for the app.
  EXPECT_EQ(digest(records[0]).size(), 64u) << records[0];
  EXPECT_NE(digest(records[0]), digest(records[1]));
  EXPECT_NE(digest(records[1]), digest(records[3]));

  // A restart judges the whole registry again and records what is in force and what
  // is refused: v4 accepted, v3 still short of an approver. v1 and v2 are valid but,
  // known from the ledger as accepted before, superseded by v4 as on a reload.
  proxy = start(ledger);
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v4]")) << proxy->stderr_log();
  sighup(*proxy);
  EXPECT_EQ(proxy->terminate(20s), 0);
  records = bundle_records();
  ASSERT_EQ(records.size(), 6u) << ::testing::PrintToString(records);
  EXPECT_EQ(records[4], "rejected " + (registry() / "shop-v3").string());
  EXPECT_EQ(records[5], records[3]);  // v4 again, the same manifest
}

// Downgrade protection outlives the process: after a restart, the ledger's record of
// version 2 keeps version 1 out of force when version 2 has left the registry, and a
// version 2 with another manifest is refused.
TEST_F(Registry, ARollbackIsRefusedAfterARestartToo) {
  run_ok({ddlgate(), "keygen", "--out", (keys_.path() / "ledger").string()});
  const std::string ledger = "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n[ledger]\ndirectory = \"" +
                             (dir_.path() / "ledger").string() + "\"\ncheckpoint_key_file = \"" +
                             (keys_.path() / "ledger.key").string() + "\"\n";
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists users, orders cascade");
  publish("shop-v1", 1);
  publish("shop-v2", 2);
  auto proxy = start(ledger);
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v2]")) << proxy->stderr_log();
  EXPECT_EQ(proxy->terminate(20s), 0);

  // The newer bundle is taken away (a rollback of the registry) while ddlgate is down.
  fs::rename(registry() / "shop-v2", dir_.path() / "shop-v2-aside");
  proxy = start(ledger);
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (start)")) << proxy->stderr_log();
  std::string log = proxy->stderr_log();
  EXPECT_NE(log.find("bundle rejected: " + (registry() / "shop-v1").string() +
                     ": manifest.json: version 1 of app 'shop' is lower than version 2, which an earlier start "
                     "accepted and which is not in force"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("0 statement(s) in force"), std::string::npos) << log;
  {
    // Version 1 approves this statement; with nothing in force it is refused.
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(sqlstate_of(c.get(), "create table users (id bigint primary key, email text not null)"), "42501");
  }
  EXPECT_EQ(proxy->terminate(20s), 0);

  // Version 2 back: in force again after a restart; version 1 superseded, not refused.
  fs::rename(dir_.path() / "shop-v2-aside", registry() / "shop-v2");
  proxy = start(ledger);
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v2]; 1 accepted, 0 rejected")) << proxy->stderr_log();
  EXPECT_EQ(proxy->terminate(20s), 0);
}

// A manifest that every key signed, but that approves what no file an approver saw
// holds: a statement added to bookkeeping (with its true hash), or a statement whose
// shown sql is not the file's. `bundle verify` fails both, and a running proxy
// rejects both, so the smuggled DROP stays refused.
TEST_F(Registry, ABundleThatApprovesWhatNoFileHoldsIsRejected) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists customers; create table customers (id int)");
  run_ok({ddlgate(), "keygen", "--out", (keys_.path() / "ledger").string()});
  auto proxy = start("[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n[ledger]\ndirectory = \"" + (dir_.path() / "ledger").string() +
                     "\"\ncheckpoint_key_file = \"" + (keys_.path() / "ledger.key").string() + "\"\n");
  ASSERT_TRUE(wait_for_log(*proxy, "approvals loaded (start)")) << proxy->stderr_log();
  auto hashed = run_command({ddlgate(), "hash", "--json", "DROP TABLE customers"});
  ASSERT_EQ(hashed.exit_code, 0) << hashed.stderr_text;
  auto hash = nlohmann::json::parse(hashed.stdout_text);
  // Each tampered bundle (an app of its own) is built and edited in a staging place,
  // signed by all three keys, then published in one rename.
  auto tampered = [&](const std::string& app, const std::function<void(nlohmann::ordered_json&)>& edit) {
    fs::path staging = dir_.path() / ("staging-" + app);
    run_ok({ddlgate(), "bundle", "build", std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate", "--tool",
            "dbmate", "--out", staging.string(), "--app", app, "--version", "1", "--environment", "production",
            "--any-database"});
    auto m = nlohmann::ordered_json::parse(read_file(staging / "manifest.json"));
    edit(m);
    write_file(staging / "manifest.json", m.dump(2));
    for (const auto& [k, role] : {std::pair{"registry", "registry"}, {"alice", "approver"}, {"bob", "approver"}}) {
      run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (keys_.path() / (std::string(k) + ".key")).string(),
              "--role", role});
    }
    auto verify = run_command({ddlgate(), "bundle", "verify", staging.string(), "--trust",
                               (keys_.path() / "trust.toml").string(), "--environment", "production"});
    EXPECT_EQ(verify.exit_code, 1) << verify.stdout_text << verify.stderr_text;
    fs::path b = registry() / app;
    fs::rename(staging, b);
    return std::pair{b, verify.stdout_text + verify.stderr_text};
  };
  auto [smuggled, why1] = tampered("smuggled", [&](nlohmann::ordered_json& m) {
    m["bookkeeping"].push_back({{"class", hash[0]["class"]}, {"hash", hash[0]["hash"]}, {"sql", "DROP TABLE customers"}});
  });
  EXPECT_NE(why1.find("is not a bookkeeping statement of dbmate"), std::string::npos) << why1;
  ASSERT_TRUE(wait_for_log(*proxy, "bundle rejected: " + smuggled.string())) << proxy->stderr_log();
  auto [renamed, why2] = tampered("renamed", [&](nlohmann::ordered_json& m) {
    m["files"][0]["statements"][0]["sql"] = "CREATE TABLE harmless (id int)";
  });
  EXPECT_NE(why2.find("the manifest's sql is not the display SQL"), std::string::npos) << why2;
  ASSERT_TRUE(wait_for_log(*proxy, "bundle rejected: " + renamed.string())) << proxy->stderr_log();
  {
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(sqlstate_of(c.get(), "DROP TABLE customers"), "42501");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'customers'"), "1\n");
  EXPECT_EQ(proxy->terminate(20s), 0);
}

// The scope (issue 26): a bundle for another database approves nothing in this one; the
// next version, for this database, does.
TEST_F(Registry, ABundleApprovesOnlyInTheDatabasesOfItsScope) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists users, orders cascade");
  run_ok({ddlgate(), "keygen", "--out", (keys_.path() / "ledger").string()});
  publish("shop-v1", 1, true, "billing");
  auto proxy = start("[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n[ledger]\ndirectory = \"" +
                     (dir_.path() / "ledger").string() + "\"\ncheckpoint_key_file = \"" +
                     (keys_.path() / "ledger.key").string() + "\"\n");
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v1]; 1 accepted, 0 rejected")) << proxy->stderr_log();
  const std::string users = "create table users (id bigint primary key, email text not null)";
  {
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(sqlstate_of(c.get(), users), "42501");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "0\n");
  const std::size_t mark = proxy->stderr_log().size();
  publish("shop-v2", 2);  // this test's database
  ASSERT_TRUE(wait_for_log(*proxy, "from [shop v2]", mark)) << proxy->stderr_log();
  {
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(sqlstate_of(c.get(), users), "OK");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname = 'users'"), "1\n");
  EXPECT_EQ(proxy->terminate(20s), 0);
}

// A format-1 bundle (built before format 2) keeps loading; one that names no database is
// in force for every database, as format 1 meant, and the proxy says so with a warning.
TEST_F(Registry, AFormat1BundleStillLoadsAndAnUnscopedOneIsWarnedAbout) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists users, orders cascade");
  run_ok({ddlgate(), "keygen", "--out", (keys_.path() / "ledger").string()});
  fs::path staging = dir_.path() / "staging-legacy";
  run_ok({ddlgate(), "bundle", "build", std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate", "--tool",
          "dbmate", "--out", staging.string(), "--app", "legacy", "--version", "1", "--environment", "production",
          "--any-database"});
  // Rewritten as ddlgate's format 1 wrote it.
  auto m = nlohmann::ordered_json::parse(read_file(staging / "manifest.json"));
  nlohmann::ordered_json old;
  for (auto& [k, v] : m.items()) {
    if (k == "scope") old["databases"] = nlohmann::ordered_json::array();
    else if (k == "tool") old["tool"] = v["name"];
    else if (k != "search_path" && k != "analysis") old[k] = v;  // format 1 had no search_path, no analysis
  }
  old["format"] = "ddlgate-bundle/1";
  for (auto& f : old["files"]) {
    f.erase("down");  // format 1 had no down parts
    for (auto& st : f["statements"]) {
      st.erase("tier");  // nor risk tiers
      st.erase("rules");
    }
  }
  for (auto& b : old["bookkeeping"]) {
    nlohmann::ordered_json e = {{"tool", "dbmate"}};
    for (auto& [k, v] : b.items()) e[k] = v;
    e["repeatable"] = true;
    b = e;
  }
  write_file(staging / "manifest.json", old.dump(2) + "\n");
  for (const auto& [k, role] : {std::pair{"registry", "registry"}, {"alice", "approver"}, {"bob", "approver"}}) {
    run_ok({ddlgate(), "bundle", "sign", staging.string(), "--key", (keys_.path() / (std::string(k) + ".key")).string(),
            "--role", role});
  }
  fs::rename(staging, registry() / "legacy-v1");
  auto proxy = start("[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n[ledger]\ndirectory = \"" +
                     (dir_.path() / "ledger").string() + "\"\ncheckpoint_key_file = \"" +
                     (keys_.path() / "ledger.key").string() + "\"\n");
  ASSERT_TRUE(wait_for_log(*proxy, "from [legacy v1]; 1 accepted, 0 rejected")) << proxy->stderr_log();
  const std::string log = proxy->stderr_log();
  EXPECT_NE(log.find("databases=any database (format 1)"), std::string::npos) << log;
  EXPECT_NE(log.find("bundle " + (registry() / "legacy-v1").string() +
                     ": a format-1 bundle that names no database approves its statements in every database"),
            std::string::npos)
      << log;
  {
    auto c = pg_connect(proxy->conninfo());
    EXPECT_EQ(sqlstate_of(c.get(), "create table users (id bigint primary key, email text not null)"), "OK");
  }
  EXPECT_EQ(proxy->terminate(20s), 0);
}

TEST_F(Registry, ABadTrustPolicyStopsTheStartWithExitCode2) {
  write_file(keys_.path() / "trust.toml", "[roles.registry]\nthreshold = 1\nkeys = [\"not-a-key\"]\n");
  write_file(dir_.path() / "ddlgate.toml", "[bundles]\nregistry_dir = \"" + registry().string() +
                                               "\"\nenvironment = \"production\"\ntrust_file = \"" +
                                               (keys_.path() / "trust.toml").string() + "\"\n");
  auto r = run_command({ddlgate(), "serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--config",
                        (dir_.path() / "ddlgate.toml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("keys[0]"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace ddlgate::testing
