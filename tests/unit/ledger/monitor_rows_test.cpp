// The monitor's records in the exports, the report and evidence packs (docs/ledger.md, "Monitor
// export"; docs/evidence.md, format 3): one row per out_of_band, guard_tampered or schema_drift
// record, filters keeping rows whole, cells guarded, packs recomputing and comparing them.
#include "ddlgate/ledger/monitor_rows.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ddlgate/base/sha256.h"
#include "ddlgate/ledger/evidence.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/report.h"
#include "ddlgate/ledger/verify.h"
#include "ddlgate/ledger/zip.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

std::vector<std::string> crlf_lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < s.size()) {
    auto nl = s.find("\r\n", at);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(at, nl - at));
    at = nl + 2;
  }
  return out;
}

std::map<std::string, std::string> entries_of(std::string_view pack) {
  std::map<std::string, std::string> m;
  auto entries = read_zip(pack);
  EXPECT_TRUE(entries) << entries.error().to_string();
  if (entries) {
    for (const auto& e : *entries) m[e.name] = std::string(e.data);
  }
  return m;
}

std::string pack_of(const std::map<std::string, std::string>& m) {
  // evidence.json first, as packs are written; the order of the rest does not matter to verify.
  std::vector<ZipEntry> out{{"evidence.json", m.at("evidence.json")}};
  for (const auto& [n, d] : m) {
    if (n != "evidence.json") out.push_back({n, d});
  }
  return *write_zip(out);
}

class MonitorRows : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = test::make_keys(tmp_.path() / "cp");
    dir_ = tmp_.path() / "ledger";
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = keys_.private_key;
    c.checkpoint_every_records = 1000;  // no checkpoint record among these (every batch is sealed)
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    auto add = [&](const Record& r) { ASSERT_TRUE((*l)->append_durable(r)); };
    DecisionInfo d;
    d.decision = Decision::denied;
    d.session = {"s1", "app", "shop", "10.0.0.1:5000", "psql"};
    d.statement_hash = "h1";
    d.statement_class = "ddl";
    d.display_sql = "DROP TABLE t";
    d.reason = "not approved";
    add(decision(d));
    OutOfBandChange baseline;
    baseline.database = "shop";
    baseline.source = "catalog";
    baseline.baseline = true;
    baseline.objects = 42;
    baseline.reason = "catalog baseline: 42 objects";
    add(out_of_band(baseline));
    OutOfBandChange g;  // a direct change, as the guard recorded it; its object named to attack a spreadsheet
    g.database = "shop";
    g.source = "guard";
    g.change_id = 7;
    g.event = "ddl_command_end";
    g.user = "mallory";
    g.session_user = "mallory";
    g.backend_pid = 4242;
    g.backend_start = "2026-12-07 08:00:00+00";
    g.at = "2026-12-07 08:01:00+00";
    g.command_tag = "CREATE TABLE";
    g.object_type = "table";
    g.object_identity = "=cmd|' /C calc'!A0";
    g.statement_sha256 = std::string(64, 'a');
    g.display_sql = "CREATE TABLE \"=cmd|' /C calc'!A0\" (<script>x</script> int)";
    g.detail = "";
    g.reason = "CREATE TABLE =cmd|' /C calc'!A0 by mallory";
    add(out_of_band(g));
    OutOfBandChange refusal;
    refusal.database = "shop";
    refusal.source = "guard_refusal";
    refusal.refusals = 3;
    refusal.refusals_total = 5;
    refusal.reason = "the guard refused 3 change(s)";
    add(out_of_band(refusal));
    OutOfBandChange role;
    role.database = "shop";
    role.source = "catalog";
    role.object = "role eve";
    role.change = "created";
    role.reason = "role eve created";
    add(out_of_band(role));
    add(guard_tampered("shop", "tampered", {"trigger ddlgate_ddl_end is disabled", "+owner changed"}));
    add(guard_tampered("shop", "intact", {}));
    add(schema_drift("billing", "drift", 3,
                     {"table public.extra: in production, not approved", "column public.t.c: type int in production, text approved",
                      "table public.gone: approved, missing in production"},
                     "billing v3"));
    add(schema_drift("billing", "clear", 0, {}, "billing v3"));
    add(decision(d));
    ASSERT_TRUE(read_records(dir_, 0, [&](const ParsedRecord& r) { times_.push_back(r.time); }, nullptr));
    auto key = NoteVerifier::load_pem(keys_.public_key);
    ASSERT_TRUE(key);
    key_ = std::make_unique<NoteVerifier>(*key);
  }

  std::string csv(const ExportFilter& f = {}) {
    std::ostringstream out;
    auto st = export_monitor(dir_, f, ExportFormat::csv, out);
    EXPECT_TRUE(st) << st.error().to_string();
    return out.str();
  }

  test::TempDir tmp_;
  test::KeyFiles keys_;
  std::filesystem::path dir_;
  std::vector<std::string> times_;
  std::unique_ptr<NoteVerifier> key_;
};

TEST_F(MonitorRows, OneCsvRowPerRecordWithItsColumnsAndNoFormula) {
  auto ls = crlf_lines(csv());
  ASSERT_EQ(ls.size(), 1u + 8u) << csv();
  EXPECT_EQ(ls[0],
            "seq,time,kind,database,state,at,change_id,event,command_tag,object_type,object_identity,user,session_user,"
            "backend_pid,statement_sha256,display_sql,detail,refused,count,refusals_total,object,change,attribute,before,"
            "after,failures,drift_kinds,differences,bundles,reason");
  EXPECT_EQ(ls[1], "1," + times_[1] + ",catalog_baseline,shop,,,,,,,,,,,,,,,42,,,,,,,,,,,catalog baseline: 42 objects");
  // The object name from the database starts with '=': the cell gets a leading ' (never a formula).
  EXPECT_EQ(ls[2], "2," + times_[2] +
                       ",out_of_band,shop,,2026-12-07 08:01:00+00,7,ddl_command_end,CREATE TABLE,table,'=cmd|' /C "
                       "calc'!A0,mallory,mallory,4242," + std::string(64, 'a') +
                       ",\"CREATE TABLE \"\"=cmd|' /C calc'!A0\"\" (<script>x</script> int)\",,no,,,,,,,,,,,,"
                       "CREATE TABLE =cmd|' /C calc'!A0 by mallory");
  EXPECT_EQ(ls[3], "3," + times_[3] + ",guard_refusal,shop,,,,,,,,,,,,,,yes,3,5,,,,,,,,,,the guard refused 3 change(s)");
  EXPECT_EQ(ls[4], "4," + times_[4] + ",catalog_change,shop,,,,,,,,,,,,,,no,,,role eve,created,,,,,,,,role eve created");
  // Failures one per line in a quoted cell; a line starting with + inside it is not a cell's start.
  EXPECT_EQ(ls[5], "5," + times_[5] +
                       ",guard_tampered,shop,tampered,,,,,,,,,,,,,,,,,,,,,\"trigger ddlgate_ddl_end is disabled\n"
                       "+owner changed\",,,,");
  EXPECT_EQ(ls[6], "6," + times_[6] + ",guard_intact,shop,intact,,,,,,,,,,,,,,,,,,,,,,,,,");
  EXPECT_EQ(ls[7], "7," + times_[7] +
                       ",drift,billing,drift,,,,,,,,,,,,,,3,,,,,,,,column;table,\"table public.extra: in production, "
                       "not approved\ncolumn public.t.c: type int in production, text approved\ntable public.gone: "
                       "approved, missing in production\",billing v3,");
  EXPECT_EQ(ls[8], "8," + times_[8] + ",drift_clear,billing,clear,,,,,,,,,,,,,,0,,,,,,,,,,billing v3,");
}

TEST_F(MonitorRows, FiltersKeepRowsWholeAndJsonLinesHaveEveryField) {
  ExportFilter billing;
  billing.database = "billing";
  auto ls = crlf_lines(csv(billing));
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[1].substr(0, 2), "7,");
  EXPECT_EQ(ls[2].substr(0, 2), "8,");
  ExportFilter window;
  window.from = times_[3];
  window.to = times_[5];
  ls = crlf_lines(csv(window));
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(ls[1].substr(0, 2), "3,");
  EXPECT_EQ(ls[3].substr(0, 2), "5,");
  ExportFilter user;
  user.user = "mallory";
  ls = crlf_lines(csv(user));
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[1].substr(0, 2), "2,");

  std::ostringstream j;
  ASSERT_TRUE(export_monitor(dir_, billing, ExportFormat::jsonl, j));
  std::istringstream in(j.str());
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (nlohmann::json{{"format", 1}, {"kind", "monitor_export"}}));
  EXPECT_EQ(rows[1]["kind"], "monitor");
  EXPECT_EQ(rows[1]["monitor_kind"], "drift");
  EXPECT_EQ(rows[1]["record"]["seq"], 7);
  EXPECT_EQ(rows[1]["record"]["type"], "schema_drift");
  EXPECT_EQ(rows[1]["record"]["fields"]["differences"].size(), 3u);
  EXPECT_EQ(rows[2]["monitor_kind"], "drift_clear");

  for (int i = 0; i < 3; ++i) {
    ExportFilter f;
    if (i == 0) f.type = RecordType::out_of_band;
    if (i == 1) f.decision = "denied";
    if (i == 2) f.session = "s1";
    std::ostringstream out;
    auto st = export_monitor(dir_, f, ExportFormat::csv, out);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().reason.find("--type, --decision and --session do not apply"), std::string::npos);
  }
}

TEST_F(MonitorRows, TheReportHasTheirSectionsEscaped) {
  ReportOptions o;
  o.ledgers = {dir_};
  o.environments = {"production"};
  std::ostringstream out;
  auto r = write_report(o, out);
  ASSERT_TRUE(r) << r.error().to_string();
  const std::string page = out.str();
  const std::string env = "<td class=\"environment\">production</td><td>" + dir_.string() + "</td>";
  // One guard change and one catalog change; three refusals, the count 5 at the last look.
  EXPECT_NE(page.find("<tr data-environment=\"production\" data-database=\"shop\">" + env +
                      "<td class=\"database\">shop</td><td class=\"changes\">1</td><td class=\"catalog\">1</td><td>" +
                      times_[2] + "</td><td>" + times_[4] + "</td><td class=\"refusals bad\">3</td><td>5 (" + times_[3] +
                      ")</td></tr>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<td class=\"object\">=cmd|&#39; /C calc&#39;!A0</td><td><code>CREATE TABLE &quot;=cmd|&#39; "
                      "/C calc&#39;!A0&quot; (&lt;script&gt;x&lt;/script&gt; int)</code></td>"),
            std::string::npos)
      << page;
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_NE(page.find("<section id=\"guard-tampering\">"), std::string::npos);
  EXPECT_NE(page.find("<td>1</td><td>1</td><td>" + times_[5] + "</td><td>" + times_[6] +
                      "</td><td class=\"state ok\">intact</td>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<td class=\"database\">billing</td><td>1</td><td>1</td><td>" + times_[7] + "</td><td>" +
                      times_[8] + "</td><td class=\"state ok\">clear</td><td>3</td><td class=\"kinds\">column;table</td>"),
            std::string::npos)
      << page;
  // The catalog baseline is not a change.
  EXPECT_EQ(page.find("catalog_baseline"), std::string::npos);
}

TEST_F(MonitorRows, APackHoldsThemAsFormat3AndVerifyRecomputesThem) {
  EvidenceSummary s;
  auto pack = build_evidence_pack(dir_, {}, &s);
  ASSERT_TRUE(pack) << pack.error().to_string();
  ASSERT_TRUE(verify_evidence_pack(*pack, *key_, {}));
  auto m = entries_of(*pack);
  EXPECT_NE(m["evidence.json"].find("\"format\":\"ddlgate-evidence/3\""), std::string::npos);
  std::ostringstream whole;
  ASSERT_TRUE(export_monitor(dir_, {}, ExportFormat::csv, whole));
  EXPECT_EQ(m["monitor.csv"], whole.str());
  EXPECT_NE(m["monitor.jsonl"].find("\"monitor_kind\":\"guard_refusal\""), std::string::npos);
  EXPECT_NE(m["report.html"].find("<section id=\"out-of-band\">"), std::string::npos);

  auto fails = [&](std::map<std::string, std::string> edited, const std::string& why) {
    auto v = verify_evidence_pack(pack_of(edited), *key_, {});
    ASSERT_FALSE(v) << why;
    EXPECT_NE(v.error().to_string().find(why), std::string::npos) << v.error().to_string();
  };
  // A row of monitor.csv changed, removed; monitor.jsonl changed; the entries removed.
  auto e = m;
  e["monitor.csv"].replace(e["monitor.csv"].find("mallory"), 7, "alice  ");
  fails(e, "monitor.csv: differs from the monitor rows recomputed from the records");
  e = m;
  auto& c = e["monitor.csv"];
  const auto row = c.find("\r\n3,");
  c.erase(row, c.find("\r\n", row + 2) - row);
  fails(e, "monitor.csv: differs");
  e = m;
  e["monitor.jsonl"].replace(e["monitor.jsonl"].find("guard_refusal"), 13, "guard_refusaL");
  fails(e, "monitor.jsonl: differs");
  e = m;
  e.erase("monitor.csv");
  fails(e, "monitor.csv: missing");
  // A tampered out_of_band record: its bytes no longer give the signed root.
  e = m;
  e["records.jsonl"].replace(e["records.jsonl"].find("\"change_id\":7"), 13, "\"change_id\":8");
  fails(e, "do not give the root signed");
  // Downgraded to format 2 without the monitor rows: its report would hide them.
  e = m;
  e.erase("monitor.csv");
  e.erase("monitor.jsonl");
  auto& ev = e["evidence.json"];
  ev.replace(ev.find("ddlgate-evidence/3"), 18, "ddlgate-evidence/2");
  fails(e, "but the records hold 8 out_of_band, guard_tampered or schema_drift record(s)");
  // A format-2 pack cannot have the entries either.
  e = m;
  e["evidence.json"].replace(e["evidence.json"].find("ddlgate-evidence/3"), 18, "ddlgate-evidence/2");
  fails(e, "monitor.jsonl: an entry format ddlgate-evidence/2 does not have");

  // A range without them (the last record alone) is the format-2 pack, with no monitor entries.
  EvidenceExportOptions last;
  last.from = times_[9];
  auto plain = build_evidence_pack(dir_, last, &s);
  ASSERT_TRUE(plain) << plain.error().to_string();
  if (s.start == 9) {  // the range is the last decision alone (unless two records share a time)
    auto pm = entries_of(*plain);
    EXPECT_NE(pm["evidence.json"].find("\"format\":\"ddlgate-evidence/2\""), std::string::npos);
    EXPECT_EQ(pm.count("monitor.csv"), 0u);
    EXPECT_NE(pm["report.html"].find("changes and drift are not recorded yet"), std::string::npos);
  }
  ASSERT_TRUE(verify_evidence_pack(*plain, *key_, {}));
}

// Rule 2 of the format's evolution: a source or state a later monitor may write is shown for
// what it is (kind "unknown", its cells filled) and counted as nothing this version knows.
TEST(MonitorRowsUnknown, AnUnknownSourceOrStateIsShownAsUnknownAndCountedAsNothing) {
  test::TempDir tmp;
  auto keys = test::make_keys(tmp.path() / "cp");
  {
    LedgerConfig c;
    c.directory = tmp.path() / "ledger";
    c.checkpoint_key_file = keys.private_key;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    OutOfBandChange w;
    w.database = "shop";
    w.source = "wal";
    w.object = "table t";
    w.change = "rewritten";
    w.reason = "seen in the WAL";
    ASSERT_TRUE((*l)->append_durable(out_of_band(w)));
    ASSERT_TRUE((*l)->append_durable(guard_tampered("shop", "suspended", {"maintenance"})));
    ASSERT_TRUE((*l)->append_durable(schema_drift("shop", "paused", 0, {}, "")));
  }
  std::ostringstream out;
  ASSERT_TRUE(export_monitor(tmp.path() / "ledger", {}, ExportFormat::csv, out));
  auto ls = crlf_lines(out.str());
  ASSERT_EQ(ls.size(), 4u);
  for (std::size_t i = 1; i < 4; ++i) EXPECT_NE(ls[i].find(",unknown,shop,"), std::string::npos) << ls[i];
  EXPECT_NE(ls[1].find(",table t,rewritten,"), std::string::npos) << ls[1];
  ReportOptions o;
  o.ledgers = {tmp.path() / "ledger"};
  std::ostringstream page;
  ASSERT_TRUE(write_report(o, page));
  const std::string p = page.str();
  EXPECT_NE(p.find("<td class=\"changes\">0</td><td class=\"catalog\">0</td>"), std::string::npos) << p;
  EXPECT_NE(p.find("<td>unknown</td>"), std::string::npos) << p;
  EXPECT_NE(p.find("<td>0</td><td>0</td>"), std::string::npos) << p;  // neither tampered nor intact
  EXPECT_NE(p.find("<td class=\"state bad\">suspended</td>"), std::string::npos) << p;
  EXPECT_NE(p.find("<td class=\"state bad\">paused</td>"), std::string::npos) << p;
}

}  // namespace
}  // namespace ddlgate::ledger
