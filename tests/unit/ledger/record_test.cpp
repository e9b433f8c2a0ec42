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
  EXPECT_TRUE(parse_payload(R"({"fields":{},"seq":1,"time":"t","type":"checkpoint"})"));
  EXPECT_FALSE(parse_payload(R"({"fields":{}, "seq":1,"time":"t","type":"checkpoint"})"));
  EXPECT_FALSE(parse_payload(R"({"fields":{},"seq":1,"seq":1,"time":"t","type":"checkpoint"})"));
}

TEST(Record, InvalidUtf8IsReplacedNotThrown) {
  std::string payload = serialize_payload(session_closed("s\xff", "eof"), 1, "t");
  EXPECT_TRUE(parse_payload(payload));
}

TEST(Record, TimeIsRfc3339UtcWithMicroseconds) {
  std::chrono::system_clock::time_point t{std::chrono::microseconds(1764109750123456LL)};
  EXPECT_EQ(format_time(t), "2025-11-25T22:29:10.123456Z");
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
