// serve watches the in-database guard (issue 25 items 3 and 4, docs/guard.md "What serve
// watches"): a direct session, around ddlgate, makes each kind of change; each detectable one
// reaches the ledger as an out_of_band record within 10 s, a restart neither loses nor repeats
// one, disabling a guard trigger is a guard_tampered record and a /readyz reason until it is
// enabled again, and the drift schedule records a schema_drift.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/ledger/verify.h"
#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

struct HttpResult {
  int status = 0;
  std::string body;
};

HttpResult http_get(const std::string& url) {
  auto r = run_command({"curl", "-s", "-S", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url}, {}, 20s);
  HttpResult out;
  auto nl = r.stdout_text.rfind('\n');
  if (nl == std::string::npos) return out;
  out.status = std::atoi(r.stdout_text.c_str() + nl + 1);
  out.body = r.stdout_text.substr(0, nl);
  return out;
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return cond();
}

std::vector<ledger::ParsedRecord> records(const fs::path& dir) {
  std::vector<ledger::ParsedRecord> out;
  std::uint64_t next = 0;
  (void)ledger::read_records(dir, 0, [&](const ledger::ParsedRecord& r) { out.push_back(r); }, &next);
  return out;
}

std::string field(const ledger::ParsedRecord& r, const char* key) {
  return r.fields.contains(key) && r.fields[key].is_string() ? r.fields[key].get<std::string>() : std::string();
}

class GuardMonitor : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = SharedPgServer::get();
    auto r = run_command({ddlgate_binary().string(), "guard", "install", "--url", pg.conninfo(), "--mode", "detect"});
    ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
    // ddlgate's control login: in ddlgate_control, and allowed to read pg_file_settings (ALTER SYSTEM).
    pg.ensure_role("mon_ctl", "LOGIN");
    pg.admin_sql("GRANT ddlgate_control TO mon_ctl; GRANT SELECT ON pg_catalog.pg_file_settings TO mon_ctl; "
                 "GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_all_file_settings() TO mon_ctl");
    make_signed_bundle(dir_.path(), std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate");
    ledger_dir_ = dir_.path() / "ledger";
  }

  std::string config_text(const std::string& extra_guard = "") {
    auto& pg = SharedPgServer::get();
    std::string text = "[admin]\nlisten = \"127.0.0.1:0\"\nupstream_check_cache_ms = 0\n";
    text += "[enforcement]\nmode = \"monitor\"\n";
    text += "[ledger]\ndirectory = \"" + ledger_dir_.string() + "\"\ncheckpoint_key_file = \"" +
            (dir_.path() / "ledger.key").string() + "\"\n";
    text += "[bundles]\nregistry_dir = \"" + (dir_.path() / "registry").string() +
            "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() + "\"\n";
    text += "[guard]\ncontrol_user = \"mon_ctl\"\ndatabases = [\"" + pg.database() + "\"]\npoll_interval_ms = 500\n" +
            extra_guard;
    return text;
  }

  std::unique_ptr<DdlgateProcess> start(const std::string& text) {
    write_file(dir_.path() / "ddlgate.toml", text);
    auto p = DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / "ddlgate.toml").string()});
    for (const auto& e : p->endpoints()) {
      if (e.rfind("http://", 0) == 0) admin_ = e;
    }
    EXPECT_FALSE(admin_.empty());
    return p;
  }

  std::size_t count(const std::function<bool(const ledger::ParsedRecord&)>& pred) {
    std::size_t n = 0;
    for (const auto& r : records(ledger_dir_)) n += pred(r) ? 1 : 0;
    return n;
  }

  std::size_t baselines() {
    return count([](const ledger::ParsedRecord& r) {
      return r.type == ledger::RecordType::out_of_band && r.fields.value("baseline", false);
    });
  }

  TempDir dir_{"guard-monitor"};
  fs::path ledger_dir_;
  std::string admin_;
};

// One direct change and how its record is recognised.
struct Kind {
  std::string name;
  std::string sql;
  std::string source;  // guard or catalog
  std::string match;   // guard: command_tag + " " + object_identity (prefix); catalog: the reason line (prefix)
};

TEST_F(GuardMonitor, EachDetectableDirectChangeIsRecordedWithinTenSecondsAndARestartRepeatsNone) {
  auto& pg = SharedPgServer::get();
  pg.ensure_role("mon_reader");
  pg.admin_sql("ALTER SYSTEM RESET work_mem");
  auto proxy = start(config_text());
  ASSERT_TRUE(eventually([&] { return baselines() == 1; }, 20s)) << proxy->stderr_log();
  EXPECT_EQ(http_get(admin_ + "/readyz").status, 200) << http_get(admin_ + "/readyz").body;

  const std::string db = pg.database();
  const std::vector<Kind> kinds = {
      {"table", "CREATE TABLE mon_t (id int)", "guard", "CREATE TABLE public.mon_t"},
      {"column", "ALTER TABLE mon_t ADD COLUMN note text", "guard", "ALTER TABLE public.mon_t"},
      {"index", "CREATE INDEX mon_i ON mon_t (note)", "guard", "CREATE INDEX public.mon_i"},
      {"view", "CREATE VIEW mon_v AS SELECT id FROM mon_t", "guard", "CREATE VIEW public.mon_v"},
      {"function", "CREATE FUNCTION mon_f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "guard",
       "CREATE FUNCTION public.mon_f()"},
      {"DO with EXECUTE", "DO $$BEGIN EXECUTE 'CREATE TABLE mon_do (id int)'; END$$", "guard",
       "CREATE TABLE public.mon_do"},
      {"GRANT", "GRANT SELECT ON mon_t TO mon_reader", "guard", "GRANT "},
      {"REVOKE", "REVOKE SELECT ON mon_t FROM mon_reader", "guard", "REVOKE "},
      {"COMMENT", "COMMENT ON TABLE mon_t IS 'changed around ddlgate'", "guard", "COMMENT public.mon_t"},
      {"policy", "CREATE POLICY mon_p ON mon_t USING (true)", "guard", "CREATE POLICY mon_p on public.mon_t"},
      {"extension", "CREATE EXTENSION citext", "guard", "CREATE EXTENSION citext"},
      {"CREATE ROLE", "CREATE ROLE mon_intruder", "catalog", "role mon_intruder created"},
      {"ALTER ROLE", "ALTER ROLE mon_reader CREATEDB", "catalog", "role mon_reader: createdb false -> true"},
      {"GRANT role", "GRANT mon_reader TO mon_intruder", "catalog", "membership mon_intruder in mon_reader created"},
      {"ALTER ROLE SET", "ALTER ROLE mon_reader IN DATABASE " + db + " SET work_mem = '3MB'", "catalog",
       "role_setting mon_reader in " + db + " created"},
      {"CREATE DATABASE", "CREATE DATABASE mon_created", "catalog", "database mon_created created"},
      {"ALTER SYSTEM", "ALTER SYSTEM SET work_mem = '7MB'", "catalog", "system_setting work_mem created"},
  };
  // A direct session, not through ddlgate.
  auto direct = pg_connect(pg.conninfo());
  ASSERT_EQ(PQstatus(direct.get()), CONNECTION_OK);
  for (const auto& k : kinds) {
    EXPECT_EQ(sqlstate_of(direct.get(), k.sql), "OK") << k.name << ": " << k.sql;
  }
  const auto changed = std::chrono::steady_clock::now();

  auto found = [&](const Kind& k, const std::vector<ledger::ParsedRecord>& all) {
    for (const auto& r : all) {
      if (r.type != ledger::RecordType::out_of_band || field(r, "source") != k.source) continue;
      if (field(r, "database") != db) continue;
      const std::string what = k.source == "guard" ? field(r, "command_tag") + " " + field(r, "object_identity")
                                                   : field(r, "reason");
      if (what.rfind(k.match, 0) == 0) return true;
    }
    return false;
  };
  bool all_found = eventually([&] {
    auto all = records(ledger_dir_);
    for (const auto& k : kinds) {
      if (!found(k, all)) return false;
    }
    return true;
  }, 10s);
  auto all = records(ledger_dir_);
  std::string catalog;  // for a failure message: what the snapshot comparison did record
  for (const auto& r : all) {
    if (r.type == ledger::RecordType::out_of_band && field(r, "source") == "catalog") catalog += field(r, "reason") + "\n";
  }
  for (const auto& k : kinds) {
    EXPECT_TRUE(found(k, all)) << "no out_of_band record for " << k.name << " (" << k.sql << "); catalog records:\n"
                               << catalog;
  }
  EXPECT_TRUE(all_found) << "not all within 10 s of the changes";
  std::printf("guard monitor: %zu kinds of change recorded %lld ms after the last one (poll_interval_ms 500)\n",
              kinds.size(),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - changed)
                                         .count()));
  // The DO block's record holds the top-level text, and the statement's hash.
  bool do_text = false;
  for (const auto& r : all) {
    if (field(r, "object_identity") == "public.mon_do") {
      do_text = field(r, "display_sql").rfind("DO $$BEGIN EXECUTE", 0) == 0 && field(r, "statement_sha256").size() == 64;
    }
  }
  EXPECT_TRUE(do_text);
  auto metrics = http_get(admin_ + "/metrics").body;
  EXPECT_NE(metrics.find("ddlgate_out_of_band_total{database=\"" + db + "\",source=\"catalog\"}"), std::string::npos)
      << metrics;

  // Disabling a guard trigger: guard_tampered, and /readyz says so until it is enabled again.
  ASSERT_EQ(sqlstate_of(direct.get(), "ALTER EVENT TRIGGER ddlgate_guard_sql_drop DISABLE"), "OK");
  ASSERT_TRUE(eventually([&] {
    return count([](const ledger::ParsedRecord& r) {
             return r.type == ledger::RecordType::guard_tampered && field(r, "state") == "tampered";
           }) == 1;
  }, 10s));
  auto ready = http_get(admin_ + "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("guard: database " + db + ": not intact: "), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("ddlgate_guard_sql_drop"), std::string::npos) << ready.body;
  ASSERT_EQ(sqlstate_of(direct.get(), "ALTER EVENT TRIGGER ddlgate_guard_sql_drop ENABLE ALWAYS"), "OK");
  ASSERT_TRUE(eventually([&] {
    return count([](const ledger::ParsedRecord& r) {
             return r.type == ledger::RecordType::guard_tampered && field(r, "state") == "intact";
           }) == 1;
  }, 10s));
  EXPECT_TRUE(eventually([&] { return http_get(admin_ + "/readyz").status == 200; }, 5s))
      << http_get(admin_ + "/readyz").body;

  // A restart: nothing recorded again, nothing made meanwhile lost.
  ASSERT_EQ(proxy->terminate(), 0);
  ASSERT_EQ(sqlstate_of(direct.get(), "CREATE TABLE mon_while_down (id int)"), "OK");
  proxy = start(config_text());
  ASSERT_TRUE(eventually([&] { return baselines() == 2; }, 20s)) << proxy->stderr_log();
  ASSERT_EQ(sqlstate_of(direct.get(), "CREATE TABLE mon_after (id int)"), "OK");
  ASSERT_TRUE(eventually([&] {
    return count([](const ledger::ParsedRecord& r) { return field(r, "object_identity") == "public.mon_after"; }) == 1;
  }, 10s));
  std::map<std::uint64_t, int> ids;
  all = records(ledger_dir_);
  for (const auto& r : all) {
    if (r.type == ledger::RecordType::out_of_band && field(r, "source") == "guard") ++ids[r.fields["change_id"].get<std::uint64_t>()];
  }
  const std::string rows = pg.admin_sql("SELECT count(*) FROM ddlgate.changes");
  EXPECT_EQ(std::to_string(ids.size()) + "\n", rows);  // every row once: none lost
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << "change " << id << " recorded " << n << " times";
  EXPECT_EQ(count([](const ledger::ParsedRecord& r) { return field(r, "object_identity") == "public.mon_while_down"; }), 1u);
  EXPECT_EQ(count([](const ledger::ParsedRecord& r) { return r.type == ledger::RecordType::guard_tampered; }), 2u);
  EXPECT_EQ(count([&](const ledger::ParsedRecord& r) { return field(r, "reason") == "role mon_intruder created"; }), 1u);
  // The ledger with the new record types verifies.
  auto verify = run_command({ddlgate_binary().string(), "ledger", "verify", ledger_dir_.string(), "--pubkey",
                             (dir_.path() / "ledger.pub").string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  pg.admin_sql("ALTER SYSTEM RESET work_mem");
}

// Issue 25's done-when, enforce mode: a direct session's trigger-covered changes are refused by
// the server itself, and leave a trace that survives their rollback (the refusal count); the
// changes no trigger sees (roles, role settings, databases) still run and are recorded.
TEST_F(GuardMonitor, InEnforceModeTriggerKindsAreRefusedAndTheRestRecorded) {
  auto& pg = SharedPgServer::get();
  pg.ensure_role("mon_enf_reader");  // in the baseline: its change is the one recorded
  pg.admin_sql("CREATE TABLE mon_base (id int)");  // made while the guard detects: the table the refused changes name
  auto r = run_command({ddlgate_binary().string(), "guard", "install", "--url", pg.conninfo(), "--mode", "enforce"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  auto proxy = start(config_text());
  ASSERT_TRUE(eventually([&] { return baselines() == 1; }, 20s)) << proxy->stderr_log();
  const std::string db = pg.database();
  auto direct = pg_connect(pg.conninfo());
  ASSERT_EQ(PQstatus(direct.get()), CONNECTION_OK);
  const std::vector<std::string> refused = {
      "CREATE TABLE enf_t (id int)",
      "CREATE VIEW enf_v AS SELECT 1 AS one",
      "CREATE FUNCTION enf_f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
      "DO $$BEGIN EXECUTE 'CREATE TABLE enf_do (id int)'; END$$",
      "COMMENT ON SCHEMA public IS 'changed around ddlgate'",
      "CREATE EXTENSION citext",
      "ALTER TABLE mon_base ADD COLUMN enf_note text",
      "CREATE INDEX enf_i ON mon_base (id)",
      "GRANT SELECT ON mon_base TO mon_enf_reader /* enf_ */",
      "REVOKE SELECT ON mon_base FROM mon_enf_reader /* enf_ */",
      "CREATE POLICY enf_p ON mon_base USING (true)",
  };
  for (const auto& sql : refused) EXPECT_EQ(sqlstate_of(direct.get(), sql), "DG001") << sql;
  EXPECT_EQ(pg.admin_sql("SELECT count(*) FROM pg_catalog.pg_class WHERE relname IN ('enf_t', 'enf_v', 'enf_do', 'enf_i')"),
            "0\n");
  EXPECT_EQ(pg.admin_sql("SELECT count(*) FROM pg_catalog.pg_attribute WHERE attname = 'enf_note'"), "0\n");
  const std::vector<Kind> recorded = {
      {"CREATE ROLE", "CREATE ROLE mon_enf_intruder", "catalog", "role mon_enf_intruder created"},
      {"ALTER ROLE", "ALTER ROLE mon_enf_reader CREATEROLE", "catalog", "role mon_enf_reader: createrole false -> true"},
      {"CREATE DATABASE", "CREATE DATABASE mon_enf_created", "catalog", "database mon_enf_created created"},
  };
  for (const auto& k : recorded) EXPECT_EQ(sqlstate_of(direct.get(), k.sql), "OK") << k.sql;
  auto refusals_seen = [&] {
    std::uint64_t total = 0;
    for (const auto& rec : records(ledger_dir_)) {
      if (rec.type == ledger::RecordType::out_of_band && field(rec, "source") == "guard_refusal" &&
          field(rec, "database") == db) {
        total = std::max<std::uint64_t>(total, rec.fields.value("refusals_total", std::uint64_t{0}));
      }
    }
    return total;
  };
  auto reasons = [&] {
    std::string out;
    for (const auto& rec : records(ledger_dir_)) {
      if (rec.type == ledger::RecordType::out_of_band && field(rec, "source") == "catalog") out += field(rec, "reason") + "\n";
    }
    return out;
  };
  EXPECT_TRUE(eventually([&] { return refusals_seen() >= refused.size(); }, 10s))
      << "refusals recorded: " << refusals_seen() << proxy->stderr_log();
  EXPECT_TRUE(eventually([&] {
    const std::string all = reasons();
    for (const auto& k : recorded) {
      if (all.find(k.match) == std::string::npos) return false;
    }
    return true;
  }, 10s)) << reasons();
  // Nothing was built, so nothing of it is recorded as a change the guard saw run.
  EXPECT_EQ(count([](const ledger::ParsedRecord& rec) {
              return rec.type == ledger::RecordType::out_of_band && field(rec, "source") == "guard" &&
                     field(rec, "display_sql").find("enf_") != std::string::npos;
            }),
            0u);
  pg.admin_sql("DROP DATABASE IF EXISTS mon_enf_created");
}

TEST_F(GuardMonitor, TheDriftScheduleRecordsDriftFromTheApprovedSchema) {
  auto& pg = SharedPgServer::get();
  pg.ensure_role("reporting");  // the bundle's migrations grant to it
  // The bundle's migrations were never applied here: its tables are missing in production.
  auto proxy = start(config_text("drift_interval_ms = 1000\ndrift_migrator = \"postgres\"\ndrift_scratch_url = \"" +
                                 pg.conninfo("postgres", "postgres") + "\"\n"));
  ASSERT_TRUE(eventually([&] {
    return count([](const ledger::ParsedRecord& r) { return r.type == ledger::RecordType::schema_drift; }) >= 1;
  }, 60s)) << proxy->stderr_log();
  for (const auto& r : records(ledger_dir_)) {
    if (r.type != ledger::RecordType::schema_drift) continue;
    EXPECT_EQ(field(r, "state"), "drift");
    EXPECT_GT(r.fields["count"].get<std::uint64_t>(), 0u);
    bool users = false;
    for (const auto& line : r.fields["differences"]) users = users || line.get<std::string>().find("public.users") != std::string::npos;
    EXPECT_TRUE(users) << r.fields.dump();
    EXPECT_EQ(field(r, "bundles"), "shop v1");
  }
  // The scratch databases are dropped after each run, and are not out-of-band changes.
  ASSERT_EQ(proxy->terminate(), 0);
  EXPECT_EQ(pg.admin_sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'ddlgate_drift_%'"), "0\n");
  EXPECT_EQ(count([](const ledger::ParsedRecord& r) {
              return r.type == ledger::RecordType::out_of_band && field(r, "reason").find("ddlgate_drift_") != std::string::npos;
            }),
            0u);
}

}  // namespace
}  // namespace ddlgate::testing
