#include "ddlgate/ledger/record.h"

#include <gtest/gtest.h>

#include "ddlgate/ledger/frame.h"
#include "ddlgate/ledger/merkle.h"

namespace ddlgate::ledger {
namespace {

DecisionInfo refusal(Decision which, std::string sql) {
  DecisionInfo d;
  d.decision = which;
  d.session = {"s-1", "app", "prod", "10.0.0.1:5555", "psql"};
  d.statement_hash = "ab12";
  d.statement_class = "ddl";
  d.display_sql = std::move(sql);
  d.reason = "no signed bundle approves it for this database";
  return d;
}

ParsedRecord round_trip(const Record& r) {
  auto parsed = parse_payload(serialize_payload(r, 3, "2026-11-25T22:29:10.123456Z"));
  EXPECT_TRUE(parsed) << parsed.error().to_string();
  return parsed ? *parsed : ParsedRecord{};
}

TEST(Record, RefusalKeepsTheFirst4KiBOfItsDisplaySqlWithTheWholeTextsLengthAndHash) {
  // 'é' is two bytes; after an odd-length head, byte 4096 falls in the middle of one.
  const std::string sql = "SELECT 'x" + [] {
    std::string e;
    for (int i = 0; i < 1024 * 1024; ++i) e += "\xc3\xa9";
    return e;
  }() + "'";
  for (Decision which : {Decision::denied, Decision::would_deny}) {
    Record r = decision(refusal(which, sql));
    std::string payload = serialize_payload(r, 3, "2026-11-25T22:29:10.123456Z");
    EXPECT_LT(payload.size(), kRefusalSqlBytes + 1024);
    auto p = round_trip(r);
    const auto& kept = p.fields["display_sql"].get_ref<const std::string&>();
    EXPECT_EQ(kept.size(), kRefusalSqlBytes - 1);  // not 4096: that would split a character
    EXPECT_EQ(sql.compare(0, kept.size(), kept), 0);
    EXPECT_EQ(kept.find("\xef\xbf\xbd"), std::string::npos);  // no U+FFFD: nothing was split
    EXPECT_EQ(p.fields["display_sql_bytes"], sql.size());
    EXPECT_EQ(p.fields["display_sql_sha256"], "sha256:" + to_hex(sha256(sql)));
    EXPECT_EQ(p.fields["statement_hash"], "ab12");
  }
}

TEST(Record, ShortRefusalKeepsItsTextWholeAndItsHashIsOfThoseBytes) {
  const std::string sql = "DROP TABLE \"t\xc3\xa9\"";
  auto p = round_trip(decision(refusal(Decision::denied, sql)));
  EXPECT_EQ(p.fields["display_sql"], sql);
  EXPECT_EQ(p.fields["display_sql_bytes"], sql.size());
  // Anyone holding the record can check the hash against display_sql itself.
  EXPECT_EQ(p.fields["display_sql_sha256"],
            "sha256:" + to_hex(sha256(p.fields["display_sql"].get_ref<const std::string&>())));
  EXPECT_FALSE(p.fields.contains("suppressed"));
}

TEST(Record, UnparseableRefusalHasNoTextSoNoLengthOrHash) {
  DecisionInfo d = refusal(Decision::denied, "");
  d.statement_hash.clear();
  d.statement_class = "unparseable";
  auto p = round_trip(decision(d));
  EXPECT_EQ(p.fields["display_sql"], "");
  EXPECT_FALSE(p.fields.contains("display_sql_bytes"));
  EXPECT_FALSE(p.fields.contains("display_sql_sha256"));
}

TEST(Record, AuditTextIsCutOnlyWhenHugeAndApprovedTextNever) {
  const std::string medium = "SELECT '" + std::string(20000, 'm') + "'";
  const std::string huge = "SELECT '" + std::string(kStatementSqlBytes * 4, 'h') + "'";
  SessionInfo si{"s-1", "oncall", "prod", "10.0.0.1:5555", "psql"};
  auto whole = round_trip(session_statement(si, "tok", "ab12", "read", medium));
  EXPECT_EQ(whole.fields["display_sql"], medium);
  EXPECT_FALSE(whole.fields.contains("display_sql_bytes"));
  auto cut = round_trip(session_statement(si, "tok", "ab12", "read", huge));
  EXPECT_EQ(cut.fields["display_sql"].get_ref<const std::string&>().size(), kStatementSqlBytes);
  EXPECT_EQ(cut.fields["display_sql_bytes"], huge.size());
  EXPECT_EQ(cut.fields["display_sql_sha256"], "sha256:" + to_hex(sha256(huge)));

  DecisionInfo bg = refusal(Decision::break_glass, medium);
  bg.token_id = "tok";
  EXPECT_EQ(round_trip(decision(bg)).fields["display_sql"], medium);
  bg.display_sql = huge;
  EXPECT_EQ(round_trip(decision(bg)).fields["display_sql"].get_ref<const std::string&>().size(), kStatementSqlBytes);
  // An allowed statement is the one a signed bundle holds: kept whole, whatever its size.
  DecisionInfo ok = refusal(Decision::allowed, huge);
  ok.reason.clear();
  auto allowed = round_trip(decision(ok));
  EXPECT_EQ(allowed.fields["display_sql"], huge);
  EXPECT_FALSE(allowed.fields.contains("display_sql_bytes"));
}

TEST(Record, Utf8PrefixNeverEndsInsideACharacter) {
  const std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\x98z";  // a, é, €, 🐘, z
  const std::size_t ends[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11};
  for (std::size_t max = 0; max <= text.size(); ++max) {
    EXPECT_EQ(utf8_prefix(text, max).size(), ends[max]) << max;
  }
  EXPECT_EQ(utf8_prefix(text, 100), text);
}

TEST(Record, SuppressedCountsWouldDenyDecisionsNotRecorded) {
  Record r = decision(refusal(Decision::would_deny, "DROP TABLE t"));
  set_suppressed(r, 0);
  EXPECT_FALSE(round_trip(r).fields.contains("suppressed"));
  set_suppressed(r, 41);
  EXPECT_EQ(round_trip(r).fields["suppressed"], 41u);
}

// Records written before display_sql_bytes, display_sql_sha256 and suppressed existed are
// still valid: both readers take them as they are (a guard, not a change: it passed before).
TEST(Record, DecisionsWithoutTheNewFieldsStillRead) {
  std::string_view old =
      R"({"fields":{"application_name":"psql","approval":null,"class":"ddl","client_address":"10.0.0.1:5555",)"
      R"("database":"prod","decision":"denied","display_sql":"DROP TABLE t","reason":"no signed bundle approves it",)"
      R"("session_id":"s-1","statement_hash":"ab12","user":"app"},"seq":9,"time":"2026-11-25T22:29:10.123456Z",)"
      R"("type":"decision"})";
  auto p = parse_payload(old);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->fields["display_sql"], "DROP TABLE t");
  EXPECT_TRUE(parse_envelope(old));
}

TEST(Record, DecisionPayloadIsCanonicalAndParses) {
  DecisionInfo d;
  d.decision = Decision::allowed;
  d.session = {"s-1", "app", "prod", "10.0.0.1:5555", "psql"};
  d.statement_hash = "ab12";
  d.statement_class = "ddl";
  d.display_sql = "CREATE TABLE t (id int)";
  d.approval = Approval{"billing", "42", "001_init.sql", 3};
  std::string payload = serialize_payload(decision(d), 7, "2026-11-25T22:29:10.123456Z");
  auto parsed = parse_payload(payload);
  ASSERT_TRUE(parsed) << parsed.error().to_string();
  EXPECT_EQ(parsed->seq, 7u);
  EXPECT_EQ(parsed->type, RecordType::decision);
  EXPECT_EQ(parsed->fields["decision"], "allowed");
  EXPECT_EQ(parsed->fields["approval"]["file"], "001_init.sql");
  EXPECT_EQ(parsed->fields["user"], "app");
}

TEST(Record, RejectsNonCanonicalOrUnknown) {
  EXPECT_FALSE(parse_payload("{}"));
  EXPECT_FALSE(parse_payload("not json"));
  EXPECT_FALSE(parse_payload(R"({"fields":{},"seq":1,"time":"t","type":"nope"})"));
  EXPECT_TRUE(parse_payload(R"({"fields":{},"seq":1,"time":"2026-11-26T00:00:00.000000Z","type":"checkpoint"})"));
  EXPECT_FALSE(parse_payload(R"({"fields":{},"seq":1,"time":"t","type":"checkpoint"})"));
  EXPECT_FALSE(parse_payload(R"({"fields":{}, "seq":1,"time":"t","type":"checkpoint"})"));
  EXPECT_FALSE(parse_payload(R"({"fields":{},"seq":1,"seq":1,"time":"t","type":"checkpoint"})"));
}

TEST(Record, InvalidUtf8IsReplacedNotThrown) {
  std::string payload = serialize_payload(session_closed("s\xff", "eof"), 1, "2026-11-26T00:00:00.000000Z");
  EXPECT_TRUE(parse_payload(payload));
}

TEST(Record, TimeIsRfc3339UtcWithMicroseconds) {
  std::chrono::system_clock::time_point t{std::chrono::microseconds(1764109750123456LL)};
  EXPECT_EQ(format_time(t), "2025-11-25T22:29:10.123456Z");
  EXPECT_TRUE(is_record_time(format_time(t)));
  EXPECT_TRUE(is_record_time(format_time(std::chrono::system_clock::time_point{})));
  for (std::string_view bad : {"", "t", "2025-11-25T22:29:10Z", "2025-11-25T22:29:10.123456", "2025-11-25 22:29:10.123456Z",
                               "2025-11-25T22:29:10.123456Z ", "202>-11-25T22:29:10.123456Z", "2025-11-25T22:29:10.12345xZ"}) {
    EXPECT_FALSE(is_record_time(bad)) << bad;
  }
}

TEST(Record, BothReadersRefuseATimeTheWriterCannotWrite) {
  // Found by fuzz_ledger_record: the full parser took any string as the time, the envelope
  // reader only digits and -:.TZ, so a record could pass one reader and fail the other.
  std::string_view found = R"({"fields":{},"seq":2,"time":"202>9085Z","type":"outcome"})";
  EXPECT_FALSE(parse_payload(found));
  EXPECT_FALSE(parse_envelope(found));
  std::string_view odd = R"({"fields":{},"seq":2,"time":"2026","type":"outcome"})";
  EXPECT_FALSE(parse_payload(odd));
  EXPECT_FALSE(parse_envelope(odd));
  std::string good = serialize_payload(session_closed("s", "eof"), 2, "2026-11-26T00:00:00.000000Z");
  EXPECT_TRUE(parse_payload(good));
  EXPECT_TRUE(parse_envelope(good));
}

TEST(Frame, RoundTripAndEveryDamageIsNamed) {
  std::string buf;
  append_frame(buf, 5, "hello", true);
  FrameView f;
  ASSERT_EQ(decode_frame(buf, f), FrameStatus::ok);
  EXPECT_EQ(f.seq, 5u);
  EXPECT_EQ(f.payload, "hello");
  EXPECT_TRUE(f.batch_end);
  EXPECT_EQ(decode_frame(std::string_view(buf).substr(0, buf.size() - 1), f), FrameStatus::truncated);
  std::string bad = buf;
  bad[0] = 'X';
  EXPECT_EQ(decode_frame(bad, f), FrameStatus::bad_magic);
  bad = buf;
  bad[15] = '\x7f';  // length 0x7f000005: above the cap, never allocated
  EXPECT_EQ(decode_frame(bad, f), FrameStatus::bad_length);
  bad = buf;
  bad.back() ^= 1;
  EXPECT_EQ(decode_frame(bad, f), FrameStatus::bad_checksum);
}

}  // namespace
}  // namespace ddlgate::ledger

namespace ddlgate::ledger {
namespace {

TEST(Record, EnvelopeAgreesWithFullParse) {
  std::string p = serialize_payload(session_closed("a\",\"seq\":5,", "r"), 12, "2026-11-25T22:29:10.123456Z");
  auto e = parse_envelope(p);
  ASSERT_TRUE(e) << e.error().to_string();
  EXPECT_EQ(e->seq, 12u);
  EXPECT_EQ(e->type, RecordType::session_closed);
  EXPECT_FALSE(parse_envelope(R"({"fields":{},"seq":012,"time":"t","type":"checkpoint"})"));
  EXPECT_FALSE(parse_envelope(R"({"fields":{},"seq":1,"time":"t","type":"bogus"})"));
  EXPECT_FALSE(parse_envelope(R"({"fields":{}"seq":1,"time":"t","type":"checkpoint"})"));
  EXPECT_FALSE(parse_envelope("{}"));
}

}  // namespace
}  // namespace ddlgate::ledger

namespace ddlgate::ledger {
namespace {

TEST(Record, BreakGlassRecordsRoundTripAndNameTheirFields) {
  BreakGlassOpening o;
  o.session = {"s1", "oncall", "shop", "10.0.0.1:5", "psql"};
  o.token_id = "0123456789abcdef0123456789abcdef";
  o.token_sha256 = "sha256:ab";
  o.key_id = "ed25519:0011223344556677";
  o.issuer = "alice";
  o.reason = "orders locked";
  o.ticket = "INC-1";
  o.not_before = "2026-11-26T00:00:00Z";
  o.expires = "2026-11-26T00:30:00Z";
  o.single_use = true;
  o.statements = {"sha256:aa"};
  o.source = "set";
  for (const Record& r : {break_glass_opened(o),
                          break_glass_refused({o.session, "", "sha256:cd", "expired", "token expired at ...", "startup"}),
                          break_glass_closed("s1", o.token_id, "expired"),
                          session_statement(o.session, o.token_id, "sha256:ee", "read", "SELECT 1"),
                          session_statement(o.session, "", "sha256:ee", "read", "SELECT 1", 2)}) {
    auto payload = serialize_payload(r, 3, "2026-11-26T00:00:01.000000Z");
    auto parsed = parse_payload(payload);
    ASSERT_TRUE(parsed) << payload;
    EXPECT_EQ(parsed->type, r.type);
    EXPECT_EQ(record_type_from_string(to_string(r.type)), r.type);
    EXPECT_TRUE(parse_envelope(payload));
  }
  auto opened = break_glass_opened(o).fields;
  EXPECT_EQ(opened["single_use"], true);
  EXPECT_EQ(opened["statements"].size(), 1u);
  EXPECT_EQ(opened["source"], "set");
  DecisionInfo d;
  d.decision = Decision::break_glass;
  d.token_id = o.token_id;
  EXPECT_EQ(decision(d).fields["token_id"], o.token_id);
  EXPECT_EQ(decision(d).fields["decision"], "break_glass");
  EXPECT_FALSE(decision(DecisionInfo{}).fields.contains("token_id"));
  // `execution` only on a later run of a prepared statement.
  EXPECT_FALSE(session_statement(o.session, "", "sha256:ee", "read", "SELECT 1").fields.contains("execution"));
  EXPECT_EQ(session_statement(o.session, "", "sha256:ee", "read", "SELECT 1", 2).fields["execution"], 2);
}

TEST(Record, ConfigRecordsSayWhichEnforcementIsInForce) {
  ConfigChange c;
  c.event = "sighup";
  c.path = "/etc/ddlgate/ddlgate.toml";
  c.sha256 = "sha256:0a5d";
  c.applied = {"enforcement", "log.level"};
  c.needs_restart = {"server.workers"};
  c.mode = "enforce";
  c.database_modes = {{"reporting", "monitor"}};
  c.user_modes = {{"etl", "off"}};
  c.spend_approvals_once = true;
  auto payload = serialize_payload(config_reloaded(c), 4, "2026-11-26T00:00:01.000000Z");
  auto parsed = parse_payload(payload);
  ASSERT_TRUE(parsed) << payload;
  EXPECT_EQ(parsed->type, RecordType::config_reloaded);
  EXPECT_TRUE(parse_envelope(payload));
  const auto& f = parsed->fields;
  EXPECT_EQ(f["event"], "sighup");
  EXPECT_EQ(f["path"], c.path);
  EXPECT_EQ(f["sha256"], c.sha256);
  EXPECT_EQ(f["applied"], nlohmann::json::array({"enforcement", "log.level"}));
  EXPECT_EQ(f["needs_restart"], nlohmann::json::array({"server.workers"}));
  EXPECT_EQ(f["enforcement"]["mode"], "enforce");
  EXPECT_EQ(f["enforcement"]["database_modes"]["reporting"], "monitor");
  EXPECT_EQ(f["enforcement"]["user_modes"]["etl"], "off");
  EXPECT_EQ(f["enforcement"]["spend_approvals_once"], true);
  // No override and nothing applied: empty object and arrays, never null.
  EXPECT_EQ(f["enforcement"]["record_all_statements"], false);
  auto start = config_reloaded(ConfigChange{"start", "", "", {}, {}, "monitor", {}, {}, false, true}).fields;
  EXPECT_EQ(start["enforcement"]["record_all_statements"], true);
  EXPECT_TRUE(start["applied"].is_array() && start["applied"].empty());
  EXPECT_TRUE(start["enforcement"]["database_modes"].is_object());
}

// Who approved a bundle and where it was reviewed stay in the ledger when the registry is pruned.
TEST(Record, BundleAcceptedKeepsTheSourceAndTheSignersWithTheirRolesAndNames) {
  BundleAcceptance a;
  a.bundle = "shop";
  a.version = "3";
  a.manifest_sha256 = "ab";
  a.source = "/registry/shop-v3";
  a.repository = "git@example.com:shop/db.git";
  a.commit = "4f2a9c1";
  a.pull_request = "https://example.com/shop/db/pull/12";
  a.ci_run = "https://ci.example.com/runs/99";
  a.signers = {{"ed25519:2222222222222222", {"approver", "dba"}, "alice"}};
  auto p = round_trip(bundle_accepted(a));
  EXPECT_EQ(p.type, RecordType::bundle_accepted);
  EXPECT_EQ(p.fields.dump(),
            R"({"bundle":"shop","ci_run":"https://ci.example.com/runs/99","commit":"4f2a9c1","manifest_sha256":"ab",)"
            R"("pull_request":"https://example.com/shop/db/pull/12","repository":"git@example.com:shop/db.git",)"
            R"("signers":[{"key_id":"ed25519:2222222222222222","name":"alice","roles":["approver","dba"]}],)"
            R"("source":"/registry/shop-v3","version":"3"})");
}

// A revocation (issue 26 item 7) says what it withdraws, one version or every version below one,
// and a down approval says its part; an up approval's record is as before.
TEST(Record, BundleRevokedSaysWhatItWithdrawsAndADownApprovalItsPart) {
  BundleRevocation r;
  r.bundle = "shop";
  r.version = 7;
  r.revocation_sha256 = "cd";
  r.source = "/registry/revoke-shop-7";
  r.reason = "locks orders";
  r.signers = {{"ed25519:1111111111111111", {"registry"}, "ci"}};
  auto p = round_trip(bundle_revoked(r));
  EXPECT_EQ(p.type, RecordType::bundle_revoked);
  EXPECT_EQ(std::string(to_string(p.type)), "bundle_revoked");
  EXPECT_EQ(p.fields.dump(),
            R"({"bundle":"shop","reason":"locks orders","revocation_sha256":"cd",)"
            R"("signers":[{"key_id":"ed25519:1111111111111111","name":"ci","roles":["registry"]}],)"
            R"("source":"/registry/revoke-shop-7","version":"7"})");
  r.version = 0;
  r.below = 4;
  auto below = round_trip(bundle_revoked(r));
  EXPECT_EQ(below.fields.value("below", ""), "4");
  EXPECT_FALSE(below.fields.contains("version"));

  DecisionInfo d;
  d.decision = Decision::allowed;
  d.statement_hash = "sha256:00";
  d.approval = Approval{"shop", "3", "001_init.sql", 1, true};
  EXPECT_EQ(round_trip(decision(d)).fields["approval"]["part"], "down");
  d.approval->down = false;
  EXPECT_FALSE(round_trip(decision(d)).fields["approval"].contains("part"));
}

TEST(Record, GuardMonitorRecordsNameTheirFieldsBySource) {
  OutOfBandChange g;
  g.database = "shop";
  g.source = "guard";
  g.change_id = 42;
  g.event = "ddl_command_end";
  g.user = "app";
  g.session_user = "app";
  g.backend_pid = 77;
  g.command_tag = "CREATE TABLE";
  g.object_type = "table";
  g.object_identity = "public.t";
  g.display_sql = std::string(5000, 'x');  // cut like a refusal's text
  g.reason = "ddl_command_end CREATE TABLE table public.t by app (backend 77)";
  auto p = round_trip(out_of_band(g));
  EXPECT_EQ(std::string(to_string(p.type)), "out_of_band");
  EXPECT_EQ(p.fields["change_id"], 42u);
  EXPECT_EQ(p.fields["backend_pid"], 77u);
  EXPECT_EQ(p.fields["display_sql"].get<std::string>().size(), kRefusalSqlBytes);
  EXPECT_FALSE(p.fields.contains("object"));  // a catalog field

  OutOfBandChange c;
  c.database = "shop";
  c.source = "catalog";
  c.object = "role alice";
  c.change = "changed";
  c.attribute = "superuser";
  c.before = "f";
  c.after = "t";
  c.reason = "role alice: superuser f -> t";
  EXPECT_EQ(round_trip(out_of_band(c)).fields.dump(),
            R"({"after":"t","attribute":"superuser","before":"f","change":"changed","database":"shop",)"
            R"("object":"role alice","reason":"role alice: superuser f -> t","source":"catalog"})");
  OutOfBandChange b;
  b.database = "shop";
  b.source = "catalog";
  b.baseline = true;
  b.objects = 12;
  auto base = round_trip(out_of_band(b));
  EXPECT_EQ(base.fields["baseline"], true);
  EXPECT_EQ(base.fields["objects"], 12u);
  EXPECT_FALSE(base.fields.contains("change"));

  auto t = round_trip(guard_tampered("shop", "tampered", {"trigger ddlgate_guard_sql_drop: enabled D"}));
  EXPECT_EQ(std::string(to_string(t.type)), "guard_tampered");
  EXPECT_EQ(t.fields.dump(),
            R"({"database":"shop","failures":["trigger ddlgate_guard_sql_drop: enabled D"],"state":"tampered"})");
  std::vector<std::string> lines(1500, "table public.x: missing in production");
  auto d = round_trip(schema_drift("shop", "drift", lines.size(), lines, "shop v3"));
  EXPECT_EQ(std::string(to_string(d.type)), "schema_drift");
  EXPECT_EQ(d.fields["count"], 1500u);
  EXPECT_EQ(d.fields["differences"].size(), 1000u);  // the first 1,000 lines
  EXPECT_EQ(record_type_from_string("schema_drift"), RecordType::schema_drift);
}

}  // namespace
}  // namespace ddlgate::ledger
