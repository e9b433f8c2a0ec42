// Runs the built ddlgate binary on a real ledger and on tampered copies.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ddlgate/ledger/frame.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/merkle.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/segments.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

struct Run {
  int code;
  std::string output;
};

// DDLGATE_BINARY runs another ddlgate (e.g. an older build) against the same tests.
std::string ddlgate_binary() {
  const char* env = std::getenv("DDLGATE_BINARY");
  return env && *env ? env : DDLGATE_BIN;
}

Run run(const std::string& args) {
  std::string cmd = ddlgate_binary() + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class LedgerCli : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = test::make_keys(tmp_.path() / "cp");
    dir_ = tmp_.path() / "ledger";
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = keys_.private_key;
    c.checkpoint_every_records = 4;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    for (int i = 0; i < 10; ++i) {
      DecisionInfo d;
      d.decision = i % 3 ? Decision::allowed : Decision::denied;
      d.session = {"s" + std::to_string(i % 2), i % 2 ? "alice" : "bob", "prod", "10.0.0.1:5000", "psql"};
      d.statement_hash = "h" + std::to_string(i);
      d.statement_class = "ddl";
      d.display_sql = "DROP TABLE t" + std::to_string(i);
      ASSERT_TRUE((*l)->append_durable(decision(d)));
    }
  }
  std::string q(const std::filesystem::path& p) const { return "'" + p.string() + "'"; }

  test::TempDir tmp_;
  test::KeyFiles keys_;
  std::filesystem::path dir_;
};

TEST_F(LedgerCli, VerifyOkAndTampered) {
  auto r = run("ledger verify " + q(dir_) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ok: 12 record(s)"), std::string::npos) << r.output;

  auto copy = tmp_.path() / "copy";
  std::filesystem::copy(dir_, copy);
  auto seg = copy / segment_name(0);
  test::xor_byte(seg, 100, 0x20);
  r = run("ledger verify " + q(copy) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("FAILED: " + seg.string() + ": offset 0: CRC32C mismatch"), std::string::npos) << r.output;
}

TEST_F(LedgerCli, VerifyPinsTheOriginStoredBesideTheLedger) {
  std::string origin = test::read_all(dir_ / kOriginFileName);
  ASSERT_FALSE(origin.empty());
  origin.pop_back();  // its newline
  auto r = run("ledger verify " + q(dir_) + " --pubkey " + q(keys_.public_key) + " --origin " + q(origin));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("origin " + origin), std::string::npos) << r.output;
  r = run("ledger verify " + q(dir_) + " --pubkey " + q(keys_.public_key) + " --origin other.example/ddlgate");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("FAILED: " + (dir_ / kCheckpointsFileName).string() + ": offset 0: checkpoint for tree size 4 has origin " +
                          origin + ", not the pinned other.example/ddlgate"),
            std::string::npos)
      << r.output;
}

TEST_F(LedgerCli, VerifyFailsOnAnAppendedRecordThatNoSignatureCovers) {
  auto seg = dir_ / segment_name(0);
  std::string data = test::read_all(seg);
  auto payload = serialize_payload(session_closed("forged", "client closed"), 12, "2026-12-06T18:00:00.000000Z");
  append_frame(data, 12, payload, true);
  test::write_all_file(seg, data);
  auto r = run("ledger verify " + q(dir_) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("records 12..12 are covered by no signature"), std::string::npos) << r.output;
}

// A checkpoint key file that says it is for another use (keygen --use) is refused;
// one that says "ledger" verifies as before.
TEST_F(LedgerCli, VerifyChecksTheUseAPublicKeyFileDeclares) {
  const std::string pem = test::read_all(keys_.public_key);
  const auto approver = tmp_.path() / "as-approver.pub";
  const auto ledger = tmp_.path() / "as-ledger.pub";
  test::write_all_file(approver, "ddlgate-key-use: approver\n" + pem);
  test::write_all_file(ledger, "ddlgate-key-use: ledger\n" + pem);
  auto r = run("ledger verify " + q(dir_) + " --pubkey " + q(approver));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("the key is for 'approver' use, not a ledger key"), std::string::npos) << r.output;
  r = run("ledger verify " + q(dir_) + " --pubkey " + q(ledger));
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST_F(LedgerCli, WrongKeyFails) {
  auto other = test::make_keys(tmp_.path() / "other");
  auto r = run("ledger verify " + q(dir_) + " --pubkey " + q(other.public_key));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("no valid signature by the given key"), std::string::npos) << r.output;
}

TEST_F(LedgerCli, EvidenceExportAndVerify) {
  auto pack = tmp_.path() / "pack.zip";
  auto r = run("evidence export --ledger " + q(dir_) + " --out " + q(pack));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(pack.string() + ": records 0.."), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(pack.string() + ".tmp"));
  r = run("evidence verify " + q(pack) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(pack.string() + ": ok: records 0.."), std::string::npos) << r.output;
  auto other = test::make_keys(tmp_.path() / "other");
  r = run("evidence verify " + q(pack) + " --pubkey " + q(other.public_key));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output, pack.string() +
                          ": FAILED: checkpoints/end.txt: no valid signature by the given key (checkpoint changed or "
                          "forged)\n");
  // Nothing in the range: exit 1, and no pack.
  r = run("evidence export --ledger " + q(dir_) + " --from 2999-01-01T00:00:00Z --out " + q(tmp_.path() / "none.zip"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("no record between 2999-01-01T00:00:00.000000Z and the end"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() / "none.zip"));
  // Usage errors.
  EXPECT_EQ(run("evidence verify " + q(tmp_.path() / "nope.zip") + " --pubkey " + q(keys_.public_key)).code, 2);
  EXPECT_EQ(run("evidence export --ledger " + q(tmp_.path() / "nope") + " --out " + q(pack)).code, 2);
  EXPECT_EQ(run("evidence verify " + q(pack)).code, 2);
}

TEST_F(LedgerCli, UsageErrorsExitTwo) {
  EXPECT_EQ(run("ledger verify " + q(dir_)).code, 2);
  EXPECT_EQ(run("ledger verify " + q(tmp_.path() / "nope") + " --pubkey " + q(keys_.public_key)).code, 2);
  EXPECT_EQ(run("ledger verify " + q(dir_) + " --pubkey " + q(dir_ / "LOCK")).code, 2);
  EXPECT_EQ(run("ledger export " + q(dir_) + " --format xml").code, 2);
  EXPECT_EQ(run("ledger export " + q(dir_) + " --type nonsense").code, 2);
  EXPECT_EQ(run("ledger export " + q(dir_) + " --rows statements --type outcome").code, 2);
  EXPECT_EQ(run("ledger export " + q(dir_) + " --rows everything").code, 2);
  EXPECT_EQ(run("report --ledger " + q(tmp_.path() / "nope") + " --out " + q(tmp_.path() / "r.html")).code, 2);
  EXPECT_EQ(run("report --ledger " + q(dir_) + " --witness-quorum 1 --out " + q(tmp_.path() / "r.html")).code, 2);
  EXPECT_EQ(run("report --ledger " + q(dir_) + " --witness-key not-a-vkey --out " + q(tmp_.path() / "r.html")).code, 2);
}

// `ddlgate report` writes what clients and manifests chose (user names, statement text, review
// URLs) into HTML: every value is escaped, only http(s) URLs become links, and a ledger that does
// not verify is named as failed (exit 1, the page still written).
TEST_F(LedgerCli, ReportEscapesEveryValueAndLinksOnlyHttpUrls) {
  {
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = keys_.private_key;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    BundleAcceptance a;
    a.bundle = "shop";
    a.version = "3";
    a.pull_request = "javascript:alert(1)";
    a.ci_run = "https://ci.example.com/runs/1?a=1&b=\"2\"";
    a.signers = {{"ed25519:2222222222222222", {"approver"}, "<img src=x onerror=alert(1)>"}};
    ASSERT_TRUE((*l)->append_durable(bundle_accepted(a)));
    DecisionInfo d;
    d.decision = Decision::allowed;
    d.session = {"s5", "<script>alert(1)</script>", "prod", "10.0.0.1:5000", "psql"};
    d.statement_hash = "h-x";
    d.statement_class = "ddl";
    d.display_sql = "CREATE TABLE \"</code><b>x</b>\" (id int)";
    d.approval = Approval{"shop", "3", "001.sql", 1};
    ASSERT_TRUE((*l)->append_durable(decision(d)));
    d.decision = Decision::denied;
    d.approval.reset();
    ASSERT_TRUE((*l)->append_durable(decision(d)));
  }
  const auto out = tmp_.path() / "report.html";
  auto r = run("report --ledger " + q(dir_) + " --pubkey " + q(keys_.public_key) + " --out " + q(out));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string html = test::read_all(out);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt; (ed25519:2222222222222222) as approver"), std::string::npos);
  EXPECT_NE(html.find("&lt;/code&gt;&lt;b&gt;x&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(html.find("href=\"javascript:"), std::string::npos);
  EXPECT_NE(html.find("<td>javascript:alert(1)</td>"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"https://ci.example.com/runs/1?a=1&amp;b=&quot;2&quot;\" rel=\"noreferrer\">"),
            std::string::npos);
  EXPECT_NE(html.find("default-src 'none'; style-src 'sha256-"), std::string::npos);

  auto other = test::make_keys(tmp_.path() / "other");
  r = run("report --ledger " + q(dir_) + " --pubkey " + q(other.public_key) + " --out " + q(out));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(test::read_all(out).find("<td class=\"bad\">FAILED: "), std::string::npos);
}

TEST_F(LedgerCli, FilteredExportVerifiesOffline) {
  auto out = tmp_.path() / "alice.jsonl";
  auto r = run("ledger export " + q(dir_) + " --format jsonl --user alice --out " + q(out));
  ASSERT_EQ(r.code, 0) << r.output;
  std::string text = test::read_all(out);
  EXPECT_NE(text.find("\"kind\":\"checkpoint\""), std::string::npos);
  EXPECT_EQ(text.find("bob"), std::string::npos);
  r = run("ledger verify " + q(out) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ok: 5 record(s)"), std::string::npos) << r.output;
  auto pos = text.find("DROP TABLE t1");
  ASSERT_NE(pos, std::string::npos);
  text[pos] = 'd';
  test::write_all_file(out, text);
  r = run("ledger verify " + q(out) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("record 1 is not in the signed tree"), std::string::npos) << r.output;
}

TEST_F(LedgerCli, CsvExportAndTail) {
  auto r = run("ledger export " + q(dir_) + " --format csv --decision denied");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("seq,time,type,decision,user", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("DROP TABLE t3"), std::string::npos);
  EXPECT_EQ(r.output.find("DROP TABLE t1,"), std::string::npos);
  r = run("ledger export " + q(dir_) + " --format jsonl --type decision --from 2000-01-01T00:00:00Z --to 2999-01-01T00:00:00Z");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"records_exported\":10"), std::string::npos) << r.output;
  r = run("ledger export " + q(dir_) + " --format jsonl --to 2000-01-01T00:00:00Z");
  EXPECT_NE(r.output.find("\"records_exported\":0"), std::string::npos) << r.output;
  r = run("ledger tail " + q(dir_) + " -n 3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("#11 "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("#8 "), std::string::npos) << r.output;
}

// `ledger summary` (issue 26 item 9): would_deny and denied grouped by database, user and
// statement, with counts (a would_deny's suppressed repeats included) and first/last seen.
TEST_F(LedgerCli, SummaryGroupsRefusalsByDatabaseUserAndStatement) {
  {
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = keys_.private_key;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    auto refusal = [](Decision what, const char* user, const char* db, const char* hash, const char* sql) {
      DecisionInfo d;
      d.decision = what;
      d.session = {"s7", user, db, "10.0.0.3:5000", "migrate"};
      d.statement_hash = hash;
      d.statement_class = "schema_change";
      d.display_sql = sql;
      return decision(d);
    };
    const char* idx = "CREATE INDEX i ON t USING btree (a)";
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE((*l)->append_durable(refusal(Decision::would_deny, "deploy", "shop", "sha256:aa", idx)));
    }
    Record burst = refusal(Decision::would_deny, "deploy", "shop", "sha256:aa", idx);
    set_suppressed(burst, 4);
    ASSERT_TRUE((*l)->append_durable(burst));
    ASSERT_TRUE((*l)->append_durable(refusal(Decision::denied, "deploy", "shop", "sha256:aa", idx)));
    // The same statement by another user, and in another database: groups of their own.
    ASSERT_TRUE((*l)->append_durable(refusal(Decision::would_deny, "app", "shop", "sha256:aa", idx)));
    ASSERT_TRUE((*l)->append_durable(refusal(Decision::would_deny, "deploy", "billing", "sha256:aa", idx)));
    ASSERT_TRUE((*l)->append_durable(refusal(Decision::would_deny, "deploy", "shop", "sha256:bb", "=cmd|' /C calc'!A0")));
  }
  auto r = run("ledger summary " + q(dir_) + " --format csv");
  ASSERT_EQ(r.code, 0) << r.output;
  std::vector<std::string> rows;
  for (std::size_t at = 0; at < r.output.size();) {
    auto end = r.output.find("\r\n", at);
    ASSERT_NE(end, std::string::npos) << r.output;
    rows.push_back(r.output.substr(at, end - at));
    at = end + 2;
  }
  ASSERT_EQ(rows.size(), 1u + 4u + 4u) << r.output;  // the fixture's 4 denied and these 4 groups
  EXPECT_EQ(rows[0], "database,user,statement_hash,class,would_deny,denied,first_seen,last_seen,display_sql");
  // Most frequent first: 3 + (1 + 4 suppressed) would_deny and 1 denied.
  EXPECT_TRUE(rows[1].starts_with("shop,deploy,sha256:aa,schema_change,8,1,")) << rows[1];
  EXPECT_TRUE(rows[1].ends_with(",CREATE INDEX i ON t USING btree (a)")) << rows[1];
  // first_seen is before last_seen (record times, microseconds).
  auto cells = [](const std::string& row) {
    std::vector<std::string> out;
    std::size_t at = 0;
    for (std::size_t comma; (comma = row.find(',', at)) != std::string::npos; at = comma + 1) out.push_back(row.substr(at, comma - at));
    out.push_back(row.substr(at));
    return out;
  };
  auto c1 = cells(rows[1]);
  ASSERT_EQ(c1.size(), 9u);
  EXPECT_LT(c1[6], c1[7]);
  // Every other group once, the fixture's denied decisions too.
  EXPECT_NE(r.output.find("\r\nbilling,deploy,sha256:aa,schema_change,1,0,"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\r\nshop,app,sha256:aa,schema_change,1,0,"), std::string::npos) << r.output;
  // A cell that a spreadsheet would run as a formula is quoted as text.
  EXPECT_NE(r.output.find(",'=cmd|' /C calc'!A0\r\n"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("prod,alice,h1,"), std::string::npos) << r.output;  // allowed decisions are left out
  EXPECT_NE(r.output.find("\r\nprod,bob,h0,ddl,0,1,"), std::string::npos) << r.output;

  r = run("ledger summary " + q(dir_));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("16 refusal(s) (would_deny and denied) of 8 statement(s) by database and user\n", 0), 0u)
      << r.output;
  EXPECT_NE(r.output.find("database=\"shop\" user=\"deploy\" would_deny=8 denied=1 first="), std::string::npos) << r.output;
  // A window before any record: nothing.
  r = run("ledger summary " + q(dir_) + " --to 2000-01-01T00:00:00Z");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "0 refusal(s) (would_deny and denied) of 0 statement(s) by database and user\n");
  r = run("ledger summary " + q(dir_) + " --from 2000-01-01T00:00:00Z --format csv");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("shop,deploy,sha256:aa,schema_change,8,1,"), std::string::npos) << r.output;
  EXPECT_EQ(run("ledger summary " + q(dir_) + " --format xml").code, 2);
  EXPECT_EQ(run("ledger summary " + q(tmp_.path() / "nope")).code, 2);
}

TEST_F(LedgerCli, CsvExportNamesTheTokenAndTheRunOfEachRecordedStatement) {
  {
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = keys_.private_key;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    SessionInfo si{"s9", "oncall", "prod", "10.0.0.2:5000", "psql"};
    ASSERT_TRUE((*l)->append_durable(session_statement(si, "tok123", "sha256:ee", "dml", "UPDATE t SET a = 1")));
    ASSERT_TRUE((*l)->append_durable(session_statement(si, "", "sha256:ee", "dml", "UPDATE t SET a = 1", 2)));
  }
  auto r = run("ledger export " + q(dir_) + " --format csv --session s9");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("seq,time,type,decision,user,database,session_id,client_address,application_name,"
                           "statement_hash,class,display_sql,reason,leaf_hash,proof_tree_size,proof,token_id,execution,"
                           "display_sql_bytes,display_sql_sha256,suppressed\r\n",
                           0),
            0u)
      << r.output;
  std::vector<std::string> rows;
  for (std::size_t at = r.output.find("\r\n") + 2; at < r.output.size();) {
    auto end = r.output.find("\r\n", at);
    ASSERT_NE(end, std::string::npos) << r.output;
    rows.push_back(r.output.substr(at, end - at));
    at = end + 2;
  }
  ASSERT_EQ(rows.size(), 2u) << r.output;
  EXPECT_NE(rows[0].find(",session_statement,"), std::string::npos) << rows[0];
  EXPECT_TRUE(rows[0].ends_with(",tok123,,,,")) << rows[0];
  EXPECT_TRUE(rows[1].ends_with(",,2,,,")) << rows[1];
}

// The record format grew display_sql_bytes, display_sql_sha256 and suppressed (issue 22,
// item 6). A ledger that holds records of both shapes verifies, exports and tails.
TEST_F(LedgerCli, OldAndNewRefusalRecordsVerifyExportAndTail) {
  const std::string big = "CREATE TABLE big (" + std::string(2 * 1024 * 1024, 'x') + " int)";
  {
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = keys_.private_key;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    // A denial exactly as a writer before the change made it: whole display SQL, no new fields.
    Record old{RecordType::decision,
               nlohmann::json{{"session_id", "s7"}, {"user", "mallory"}, {"database", "prod"},
                              {"client_address", "10.0.0.3:5000"}, {"application_name", "psql"},
                              {"decision", "denied"}, {"statement_hash", "h-old"}, {"class", "ddl"},
                              {"display_sql", "DROP TABLE old_style"}, {"approval", nullptr},
                              {"reason", "no signed bundle approves it for this database"}}};
    ASSERT_TRUE((*l)->append_durable(std::move(old)));
    DecisionInfo d;
    d.decision = Decision::denied;
    d.session = {"s7", "mallory", "prod", "10.0.0.3:5000", "psql"};
    d.statement_hash = "h-new";
    d.statement_class = "ddl";
    d.display_sql = big;
    d.reason = "no signed bundle approves it for this database";
    ASSERT_TRUE((*l)->append_durable(decision(d)));
  }
  // Two records, one of them a 2 MiB statement: the segments stay far below the statement.
  std::uintmax_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().filename().string().starts_with("segment-")) bytes += e.file_size();
  }
  EXPECT_LT(bytes, 64u * 1024) << "segments hold " << bytes << " bytes";

  auto r = run("ledger verify " + q(dir_) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 0) << r.output;
  r = run("ledger export " + q(dir_) + " --format csv --session s7");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string hash = "sha256:" + to_hex(sha256(big));
  EXPECT_NE(r.output.find(",DROP TABLE old_style,"), std::string::npos) << r.output.substr(0, 2000);
  EXPECT_NE(r.output.find("," + std::to_string(big.size()) + "," + hash + ",\r\n"), std::string::npos)
      << r.output.substr(0, 2000);
  EXPECT_LT(r.output.size(), 16u * 1024);
  const std::string export_file = (tmp_.path() / "export.jsonl").string();
  r = run("ledger export " + q(dir_) + " --format jsonl --out " + q(export_file));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run("ledger verify " + q(export_file) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 0) << r.output;
  r = run("ledger tail " + q(dir_) + " -n 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("display_sql=\"DROP TABLE old_style\""), std::string::npos) << r.output.substr(0, 2000);
  EXPECT_NE(r.output.find("display_sql_sha256=\"" + hash + "\""), std::string::npos) << r.output.substr(0, 2000);
  EXPECT_LT(r.output.size(), 16u * 1024);
}

// A ledger restored from a backup behind its checkpoint copy: verify --copy says so (exit 1),
// accept-rollback records it (who, what) and the ledger then verifies against the new copy.
TEST_F(LedgerCli, VerifyCopyAndAcceptRollback) {
  LedgerConfig c;
  c.directory = tmp_.path() / "l2";
  c.checkpoint_key_file = keys_.private_key;
  c.checkpoint_every_records = 4;
  c.checkpoint_copy_directory = tmp_.path() / "shipped";
  auto write = [&](int n) {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*l)->append_durable(recovery_performed("f", i, 0, "r")));
    ASSERT_TRUE((*l)->close());
  };
  write(3);
  auto backup = tmp_.path() / "backup";
  std::filesystem::copy(c.directory, backup, std::filesystem::copy_options::recursive);
  write(5);
  const std::string verify_copy = "ledger verify " + q(c.directory) + " --pubkey " + q(keys_.public_key) + " --copy " +
                                  q(c.checkpoint_copy_directory);
  auto r = run(verify_copy);
  EXPECT_EQ(r.code, 0) << r.output;
  std::filesystem::remove_all(c.directory);
  std::filesystem::copy(backup, c.directory, std::filesystem::copy_options::recursive);
  r = run(verify_copy);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("rollback"), std::string::npos) << r.output;

  const std::string accept = "ledger accept-rollback --ledger " + q(c.directory) + " --key " + q(keys_.private_key) +
                             " --copy " + q(c.checkpoint_copy_directory) + " --reason 'INC-7 restore'";
  r = run("ledger accept-rollback --ledger " + q(c.directory) + " --key " + q(keys_.private_key) + " --copy " +
          q(c.checkpoint_copy_directory));
  EXPECT_EQ(r.code, 2) << "--reason is required: " << r.output;
  r = run(accept);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("accepted (rollback)"), std::string::npos) << r.output;
  r = run(verify_copy);
  EXPECT_EQ(r.code, 0) << r.output;
  r = run("ledger tail " + q(c.directory) + " -n 3");
  EXPECT_NE(r.output.find("rollback_accepted"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("reason=\"INC-7 restore\""), std::string::npos) << r.output;
  r = run(accept);
  EXPECT_EQ(r.code, 1) << "nothing left to accept: " << r.output;
}

// rotate-key hands the ledger to a new key; verify pinned to the old key follows it.
TEST_F(LedgerCli, RotateKeyThenVerifyWithTheOldKey) {
  auto fresh = test::make_keys(tmp_.path() / "fresh");
  auto r = run("ledger rotate-key --ledger " + q(dir_) + " --key " + q(keys_.private_key) + " --new-key " +
               q(fresh.private_key));
  ASSERT_EQ(r.code, 0) << r.output;
  {
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = fresh.private_key;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    ASSERT_TRUE((*l)->append_durable(recovery_performed("f", 1, 0, "after the rotation")));
  }
  r = run("ledger verify " + q(dir_) + " --pubkey " + q(keys_.public_key));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("followed 2 key(s)"), std::string::npos) << r.output;
  r = run("ledger verify " + q(dir_) + " --pubkey " + q(fresh.public_key));
  EXPECT_EQ(r.code, 1) << "the chain starts at the old key: " << r.output;
  r = run("ledger rotate-key --ledger " + q(dir_) + " --key " + q(keys_.private_key) + " --new-key " +
          q(fresh.private_key));
  EXPECT_EQ(r.code, 1) << "the old key is no longer in force: " << r.output;
}

}  // namespace
}  // namespace ddlgate::ledger
