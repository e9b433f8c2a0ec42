// The monitor's records in what an auditor reads (issue 27 items 5-7 for issue 25's records), made
// by real traffic: PostgreSQL 15 with the guard installed (detect), `ddlgate serve` watching the
// database, direct changes around ddlgate (one named to attack a spreadsheet, one to inject
// markup), a guard trigger disabled and enabled again, and the drift schedule finding the
// approved bundle missing. Then: `ddlgate report` loaded in headless Chromium has the out-of-band,
// guard tampering and drift sections with those values as text; `ledger export --rows monitor`
// has their rows, filtered whole, with no formula; an evidence pack holds and verifies them.
#include <algorithm>
#include <chrono>
#include <functional>
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

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return cond();
}

std::size_t count(const fs::path& dir, const std::function<bool(const ledger::ParsedRecord&)>& pred) {
  std::size_t n = 0;
  std::uint64_t next = 0;
  (void)ledger::read_records(dir, 0, [&](const ledger::ParsedRecord& r) { n += pred(r) ? 1 : 0; }, &next);
  return n;
}

std::string field(const ledger::ParsedRecord& r, const char* key) {
  return r.fields.contains(key) && r.fields[key].is_string() ? r.fields[key].get<std::string>() : std::string();
}

TEST(MonitorReport, OutOfBandTamperingAndDriftFromRealTrafficInChromiumTheExportAndAPack) {
  auto& pg = SharedPgServer::get();
  TempDir dir("monitor-report");
  const std::string ddlgate = ddlgate_binary().string();
  // The control login first, so that the guard records nothing of it (the grants are DDL).
  pg.ensure_role("mr_ctl", "LOGIN");
  pg.admin_sql("GRANT SELECT ON pg_catalog.pg_file_settings TO mr_ctl; "
               "GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_all_file_settings() TO mr_ctl");
  pg.ensure_role("reporting");  // the bundle's migrations grant to it (the drift replay)
  auto r = run_command({ddlgate, "guard", "install", "--url", pg.conninfo(), "--mode", "detect"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  pg.admin_sql("GRANT ddlgate_control TO mr_ctl");  // a membership: not DDL the guard records
  make_signed_bundle(dir.path(), std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate");
  const fs::path ledger_dir = dir.path() / "ledger";
  const std::string db = pg.database();
  std::string text = "[admin]\nlisten = \"127.0.0.1:0\"\n[enforcement]\nmode = \"monitor\"\n";
  text += "[ledger]\ndirectory = \"" + ledger_dir.string() + "\"\ncheckpoint_key_file = \"" +
          (dir.path() / "ledger.key").string() + "\"\n";
  text += "[bundles]\nregistry_dir = \"" + (dir.path() / "registry").string() +
          "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir.path() / "trust.toml").string() + "\"\n";
  text += "[guard]\ncontrol_user = \"mr_ctl\"\ndatabases = [\"" + db + "\"]\npoll_interval_ms = 500\n"
          "drift_interval_ms = 1000\ndrift_migrator = \"postgres\"\ndrift_scratch_url = \"" +
          pg.conninfo("postgres", "postgres") + "\"\n";
  write_file(dir.path() / "ddlgate.toml", text);
  auto proxy = DdlgateProcess::serve(pg, {"--config", (dir.path() / "ddlgate.toml").string()});
  using ledger::RecordType;
  ASSERT_TRUE(eventually([&] {
    return count(ledger_dir, [](const auto& x) { return x.type == RecordType::out_of_band && x.fields.value("baseline", false); }) == 1;
  }, 20s)) << proxy->stderr_log();

  // Around ddlgate: a direct session (the guard's install is its first recorded change).
  auto direct = pg_connect(pg.conninfo());
  ASSERT_EQ(PQstatus(direct.get()), CONNECTION_OK);
  ASSERT_EQ(sqlstate_of(direct.get(), "CREATE TABLE \"=cmd|' /C calc'!A0\" (id int)"), "OK");
  ASSERT_EQ(sqlstate_of(direct.get(), "CREATE TABLE \"<img src=x onerror=alert(1)>\" (id int)"), "OK");
  ASSERT_EQ(sqlstate_of(direct.get(), "CREATE ROLE mr_intruder"), "OK");
  // A change made by a role whose name attacks a spreadsheet: the guard records it as the user.
  const std::string formula = "=cmd|' /C calc'!A0";
  ASSERT_EQ(sqlstate_of(direct.get(), "CREATE ROLE \"" + formula + "\""), "OK");
  ASSERT_EQ(sqlstate_of(direct.get(), "GRANT CREATE ON SCHEMA public TO \"" + formula + "\""), "OK");
  ASSERT_EQ(sqlstate_of(direct.get(), "SET ROLE \"" + formula + "\""), "OK");
  ASSERT_EQ(sqlstate_of(direct.get(), "CREATE TABLE mr_by_formula (id int)"), "OK");
  ASSERT_EQ(sqlstate_of(direct.get(), "RESET ROLE"), "OK");
  ASSERT_TRUE(eventually([&] {
    return count(ledger_dir, [](const auto& x) { return x.type == RecordType::out_of_band && field(x, "source") == "guard"; }) == 5 &&
           count(ledger_dir, [](const auto& x) { return field(x, "reason") == "role mr_intruder created"; }) == 1 &&
           count(ledger_dir, [](const auto& x) { return field(x, "source") == "catalog" && !x.fields.value("baseline", false); }) == 2;
  }, 10s)) << run_command({ddlgate, "ledger", "export", ledger_dir.string(), "--rows", "monitor"}).stdout_text
           << proxy->stderr_log();
  ASSERT_EQ(sqlstate_of(direct.get(), "ALTER EVENT TRIGGER ddlgate_guard_sql_drop DISABLE"), "OK");
  ASSERT_TRUE(eventually([&] {
    return count(ledger_dir, [](const auto& x) { return x.type == RecordType::guard_tampered; }) == 1;
  }, 10s)) << proxy->stderr_log();
  ASSERT_EQ(sqlstate_of(direct.get(), "ALTER EVENT TRIGGER ddlgate_guard_sql_drop ENABLE ALWAYS"), "OK");
  ASSERT_TRUE(eventually([&] {
    return count(ledger_dir, [](const auto& x) { return x.type == RecordType::guard_tampered; }) == 2;
  }, 10s)) << proxy->stderr_log();
  // The bundle was never applied here: drift.
  ASSERT_TRUE(eventually([&] {
    return count(ledger_dir, [](const auto& x) { return x.type == RecordType::schema_drift; }) >= 1;
  }, 60s)) << proxy->stderr_log();
  ASSERT_EQ(proxy->terminate(), 0);
  pg.admin_sql("DROP ROLE IF EXISTS mr_intruder; DROP TABLE mr_by_formula; REVOKE CREATE ON SCHEMA public FROM \"" +
               formula + "\"; DROP ROLE \"" + formula + "\"");

  // The report, in Chromium's DOM.
  const fs::path artifacts = DDLGATE_ARTIFACTS_DIR;
  fs::create_directories(artifacts);
  const fs::path html = artifacts / "monitor-report.html";
  r = run_command({ddlgate, "report", "--ledger", ledger_dir.string(), "--environment", "production", "--pubkey",
                   (dir.path() / "ledger.pub").string(), "--out", html.string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const std::vector<std::string> chromium = {"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                             "--user-data-dir=" + (dir.path() / "chromium-profile").string()};
  auto dom_argv = chromium;
  dom_argv.push_back("--dump-dom");
  dom_argv.push_back("file://" + html.string());
  auto dom = run_command(dom_argv, {}, 120s);
  ASSERT_EQ(dom.exit_code, 0) << "chromium (scripts/setup.sh installs it): " << dom.stderr_text;
  const std::string& d = dom.stdout_text;
  for (const char* section : {"<section id=\"out-of-band\"><h2>Out-of-band changes</h2>",
                              "<section id=\"guard-tampering\"><h2>Guard tampering</h2>", "<section id=\"drift\"><h2>Drift</h2>"}) {
    EXPECT_NE(d.find(section), std::string::npos) << section << "\n" << d;
  }
  const std::string row = "<tr data-environment=\"production\" data-database=\"" + db +
                          "\"><td class=\"environment\">production</td><td>" + ledger_dir.string() +
                          "</td><td class=\"database\">" + db + "</td>";
  // Five changes the guard saw (its own install, two tables, a GRANT, a table by the formula
  // role), two roles the catalog did; nothing refused (detect mode).
  EXPECT_NE(d.find(row + "<td class=\"changes\">5</td><td class=\"catalog\">2</td>"), std::string::npos) << d;
  // Both names as text: the markup one makes no element.
  EXPECT_NE(d.find("<td class=\"tag\">CREATE TABLE</td><td class=\"object\">public.\"=cmd|' /C calc'!A0\"</td>"),
            std::string::npos) << d;
  EXPECT_NE(d.find("<td class=\"object\">public.\"&lt;img src=x onerror=alert(1)&gt;\"</td>"), std::string::npos) << d;
  EXPECT_EQ(d.find("<img"), std::string::npos) << d;
  EXPECT_NE(d.find("<td class=\"object\">role mr_intruder</td>"), std::string::npos) << d;
  // Tampered once, intact again; the failed check names the trigger.
  const auto tamper = d.find("<section id=\"guard-tampering\">");
  ASSERT_NE(tamper, std::string::npos);
  EXPECT_NE(d.find(row + "<td>1</td><td>1</td>", tamper), std::string::npos) << d.substr(tamper);
  EXPECT_NE(d.find("<td class=\"state ok\">intact</td>", tamper), std::string::npos) << d.substr(tamper);
  EXPECT_NE(d.find("ddlgate_guard_sql_drop", tamper), std::string::npos) << d.substr(tamper);
  // Drift: the bundle's tables missing in production.
  const auto drift = d.find("<section id=\"drift\">");
  ASSERT_NE(drift, std::string::npos);
  EXPECT_NE(d.find(row, drift), std::string::npos) << d.substr(drift);
  EXPECT_NE(d.find("<td class=\"state bad\">drift</td>", drift), std::string::npos) << d.substr(drift);
  EXPECT_NE(d.find("public.users", drift), std::string::npos) << d.substr(drift);
  EXPECT_NE(d.find("<td>shop v1</td>", drift), std::string::npos) << d.substr(drift);
  auto shot_argv = chromium;
  shot_argv.push_back("--window-size=1280,2400");
  shot_argv.push_back("--screenshot=" + (artifacts / "monitor-report.png").string());
  shot_argv.push_back("file://" + html.string());
  auto shot = run_command(shot_argv, {}, 120s);
  EXPECT_EQ(shot.exit_code, 0) << shot.stderr_text;

  // The export: one row per record of this database, the spreadsheet attack as text.
  r = run_command({ddlgate, "ledger", "export", ledger_dir.string(), "--rows", "monitor", "--format", "csv",
                   "--database", db});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const std::string csv = r.stdout_text;
  EXPECT_NE(csv.find(",out_of_band," + db + ",,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",CREATE TABLE,table,\"public.\"\"=cmd|' /C calc'!A0\"\"\","), std::string::npos) << csv;
  EXPECT_NE(csv.find(",catalog_change," + db + ","), std::string::npos) << csv;
  // The formula role as user: its cell starts with ', so a spreadsheet shows text.
  EXPECT_NE(csv.find(",public.mr_by_formula,'" + formula + ",postgres,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("," + formula), std::string::npos) << csv;
  r = run_command({ddlgate, "ledger", "export", ledger_dir.string(), "--rows", "monitor", "--format", "csv",
                   "--user", formula});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(std::count(r.stdout_text.begin(), r.stdout_text.end(), '\n'), 2) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("CREATE TABLE mr_by_formula (id int)"), std::string::npos) << r.stdout_text;
  EXPECT_NE(csv.find(",guard_tampered," + db + ",tampered,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",guard_intact," + db + ",intact,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",drift," + db + ",drift,"), std::string::npos) << csv;
  r = run_command({ddlgate, "ledger", "export", ledger_dir.string(), "--rows", "monitor", "--format", "csv",
                   "--database", "no_such_database"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(std::count(r.stdout_text.begin(), r.stdout_text.end(), '\n'), 1) << r.stdout_text;
  r = run_command({ddlgate, "ledger", "export", ledger_dir.string(), "--rows", "monitor", "--decision", "denied"});
  EXPECT_EQ(r.exit_code, 2) << r.stderr_text;

  // An evidence pack of the whole ledger holds them and verifies.
  const fs::path pack = dir.path() / "pack.zip";
  r = run_command({ddlgate, "evidence", "export", "--ledger", ledger_dir.string(), "--out", pack.string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  r = run_command({ddlgate, "evidence", "verify", pack.string(), "--pubkey", (dir.path() / "ledger.pub").string()});
  EXPECT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
}

}  // namespace
}  // namespace ddlgate::testing
