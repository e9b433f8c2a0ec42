#include "ddlgate/ledger/record.h"

#include <gtest/gtest.h>

#include "ddlgate/ledger/frame.h"

namespace ddlgate::ledger {
namespace {

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

}  // namespace
}  // namespace ddlgate::ledger
