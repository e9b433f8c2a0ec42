#include "ddlgate/protocol/startup.h"

#include <gtest/gtest.h>

#include "ddlgate/protocol/codes.h"
#include "test_bytes.h"

using namespace ddlgate::protocol;
using namespace ddlgate::protocol::test;

namespace {

constexpr std::uint32_t kMax = kDefaultMaxStartupPacket;
using Status = StartupDecode::Status;

StartupDecode decode(const ByteVec& b, std::uint32_t max = kMax) { return decode_startup(b, max); }

const StartupMessage& as_startup(const StartupDecode& r) { return std::get<StartupMessage>(r.packet); }

// Every strict prefix of a valid packet must ask for more, never fail and never complete.
void expect_need_more_at_every_prefix(const ByteVec& packet) {
  for (std::size_t n = 0; n < packet.size(); ++n) {
    auto r = decode_startup(std::span<const std::uint8_t>(packet.data(), n), kMax);
    ASSERT_EQ(r.status, Status::need_more) << "prefix of " << n << " bytes: " << r.error;
    EXPECT_EQ(r.consumed, 0u);
    if (n >= 4) {
      EXPECT_EQ(r.needed, packet.size()) << n;
    }
  }
  auto r = decode(packet);
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.consumed, packet.size());
}

}  // namespace

TEST(DecodeStartup, StartupMessageKeepsParametersInOrder) {
  auto p = startup_packet(3, 0, {{"user", "alice"}, {"database", "app"}, {"options", "-c search_path=x"},
                                 {"application_name", ""}});
  auto r = decode(p);
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.consumed, p.size());
  const auto& m = as_startup(r);
  EXPECT_EQ(m.major, 3);
  EXPECT_EQ(m.minor, 0);
  ASSERT_EQ(m.parameters.size(), 4u);
  EXPECT_EQ(m.parameters[0], (std::pair<std::string, std::string>{"user", "alice"}));
  EXPECT_EQ(m.parameters[1].first, "database");
  EXPECT_EQ(m.parameters[2].first, "options");
  EXPECT_EQ(m.parameters[2].second, "-c search_path=x");
  EXPECT_EQ(m.parameters[3].first, "application_name");
  ASSERT_NE(m.find("options"), nullptr);
  EXPECT_EQ(*m.find("options"), "-c search_path=x");
  ASSERT_NE(m.find("application_name"), nullptr);
  EXPECT_EQ(*m.find("application_name"), "");
  EXPECT_EQ(m.find("password"), nullptr);
  EXPECT_EQ(m.find("use"), nullptr);
}

TEST(DecodeStartup, FindReturnsTheLastOfRepeatedParameters) {
  // PostgreSQL keeps the last "user" and "database" it reads; a proxy that read
  // the first could judge the session as a different user than the server logs in.
  auto r = decode(startup_packet(3, 0, {{"user", "ddl_admin"}, {"database", "a"}, {"user", "mallory"},
                                        {"database", "b"}}));
  ASSERT_EQ(r.status, Status::complete) << r.error;
  const auto& m = as_startup(r);
  ASSERT_EQ(m.parameters.size(), 4u);  // all kept, in order, for forwarding
  ASSERT_NE(m.find("user"), nullptr);
  EXPECT_EQ(*m.find("user"), "mallory");
  EXPECT_EQ(*m.find("database"), "b");
}

TEST(DecodeStartup, StartupMessageWithoutParameters) {
  auto r = decode(startup_packet(3, 0, {}));
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_TRUE(as_startup(r).parameters.empty());
  EXPECT_EQ(r.consumed, 9u);
}

TEST(DecodeStartup, AcceptsProtocol32AndGreaseMinor) {
  // libpq 18 asks for 3.2, or a bogus "grease" minor, and expects the server's
  // NegotiateProtocolVersion; the proxy must pass such a request on, not refuse it.
  for (std::uint16_t minor : {std::uint16_t{2}, std::uint16_t{9999}, std::uint16_t{0xffff}}) {
    auto r = decode(startup_packet(3, minor, {{"user", "u"}}));
    ASSERT_EQ(r.status, Status::complete) << minor << ": " << r.error;
    EXPECT_EQ(as_startup(r).major, 3);
    EXPECT_EQ(as_startup(r).minor, minor);
  }
}

TEST(DecodeStartup, RejectsProtocol2AndOtherMajors) {
  for (std::uint16_t major : {std::uint16_t{2}, std::uint16_t{1}, std::uint16_t{4}, std::uint16_t{0}}) {
    auto r = decode(startup_packet(major, 0, {{"user", "u"}}));
    EXPECT_EQ(r.status, Status::error) << major;
    EXPECT_FALSE(r.error.empty());
  }
  // An unknown request code in the 1234.x space is not a protocol version either.
  ByteVec p;
  put_u32(p, (1234u << 16) | 5681u);
  EXPECT_EQ(decode(untyped(p)).status, Status::error);
}

TEST(DecodeStartup, SslAndGssEncRequests) {
  ByteVec ssl{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
  auto r = decode(ssl);
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_TRUE(std::holds_alternative<SslRequest>(r.packet));
  EXPECT_EQ(r.consumed, 8u);

  ByteVec gss{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30};
  r = decode(gss);
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_TRUE(std::holds_alternative<GssEncRequest>(r.packet));
  EXPECT_EQ(r.consumed, 8u);

  // Bytes after the request belong to whatever follows (consumed says where it ends).
  auto with_more = concat({ssl, ByteVec{0x16, 3, 1}});
  r = decode(with_more);
  ASSERT_EQ(r.status, Status::complete);
  EXPECT_EQ(r.consumed, 8u);
}

TEST(DecodeStartup, RejectsEncryptionRequestWithWrongLength) {
  ByteVec p;
  put_u32(p, kSslRequestCode);
  put_u32(p, 0);
  EXPECT_EQ(decode(untyped(p)).status, Status::error);
  ByteVec g;
  put_u32(g, kGssEncRequestCode);
  g.push_back(0);
  EXPECT_EQ(decode(untyped(g)).status, Status::error);
}

TEST(DecodeStartup, CancelRequestKeysOfFourTo256Bytes) {
  for (std::size_t key : {4u, 32u, 256u}) {
    auto p = cancel_packet(0x01020304, key);
    auto r = decode(p);
    ASSERT_EQ(r.status, Status::complete) << key << ": " << r.error;
    ASSERT_TRUE(std::holds_alternative<CancelRequest>(r.packet));
    const auto& c = std::get<CancelRequest>(r.packet);
    EXPECT_EQ(c.process_id, 0x01020304u);
    EXPECT_EQ(c.secret, ByteVec(p.begin() + 12, p.end()));
    EXPECT_EQ(c.secret.size(), key);
    EXPECT_EQ(r.consumed, p.size());
  }
}

TEST(DecodeStartup, RejectsCancelKeyOf3Or257Bytes) {
  EXPECT_EQ(decode(cancel_packet(1, 3)).status, Status::error);
  EXPECT_EQ(decode(cancel_packet(1, 257)).status, Status::error);
  EXPECT_EQ(decode(cancel_packet(1, 0)).status, Status::error);
  ByteVec no_pid;
  put_u32(no_pid, kCancelRequestCode);
  EXPECT_EQ(decode(untyped(no_pid)).status, Status::error);
}

TEST(DecodeStartup, RecognisesDirectTls) {
  // A ClientHello record: 0x16 0x03 0x01 ... (sslnegotiation=direct).
  ByteVec hello{0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  for (std::size_t n = 1; n <= hello.size(); ++n) {
    auto r = decode_startup(std::span<const std::uint8_t>(hello.data(), n), kMax);
    ASSERT_EQ(r.status, Status::complete) << n;
    EXPECT_TRUE(std::holds_alternative<DirectTls>(r.packet));
    EXPECT_EQ(r.consumed, 0u);  // the TLS layer reads the record itself
  }
}

TEST(DecodeStartup, RejectsLengthBelowEight) {
  for (std::uint32_t len = 0; len < 8; ++len) {
    ByteVec p;
    put_u32(p, len);
    put_u32(p, 196608);
    auto r = decode(p);
    EXPECT_EQ(r.status, Status::error) << len;
    // The length alone is enough to know.
    EXPECT_EQ(decode_startup(std::span<const std::uint8_t>(p.data(), 4), kMax).status, Status::error) << len;
  }
}

TEST(DecodeStartup, RejectsLengthAboveMaxBeforeTheBodyArrives) {
  ByteVec p;
  put_u32(p, kMax + 1);
  auto r = decode(p);
  EXPECT_EQ(r.status, Status::error);
  EXPECT_EQ(decode_startup(p, 100000).status, Status::need_more);
  ByteVec huge;
  put_u32(huge, 0x7fffffff);
  EXPECT_EQ(decode(huge).status, Status::error);
  // Exactly at the limit is fine.
  auto at_limit = startup_packet(3, 0, {{"user", std::string(kMax - 4 - 4 - 5 - 2, 'u')}});
  ASSERT_EQ(at_limit.size(), kMax);
  EXPECT_EQ(decode(at_limit).status, Status::complete);
}

TEST(DecodeStartup, RejectsMissingTerminator) {
  ByteVec p;
  put_u16(p, 3);
  put_u16(p, 0);
  put_str(p, "user");
  put_str(p, "alice");  // no final NUL
  auto r = decode(untyped(p));
  EXPECT_EQ(r.status, Status::error);
  ByteVec q;
  put_u16(q, 3);
  put_u16(q, 0);
  q.insert(q.end(), {'u', 's', 'e', 'r'});  // name without NUL
  EXPECT_EQ(decode(untyped(q)).status, Status::error);
}

TEST(DecodeStartup, RejectsParameterWithoutValue) {
  ByteVec p;
  put_u16(p, 3);
  put_u16(p, 0);
  put_str(p, "user");
  p.push_back(0);  // terminator where the value should be: "user" = "" then no terminator
  auto r = decode(untyped(p));
  EXPECT_EQ(r.status, Status::error);
  ByteVec q;
  put_u16(q, 3);
  put_u16(q, 0);
  put_str(q, "user");  // the packet ends after the name
  EXPECT_EQ(decode(untyped(q)).status, Status::error);
}

TEST(DecodeStartup, RejectsTrailingGarbageInsideThePacket) {
  ByteVec p;
  put_u16(p, 3);
  put_u16(p, 0);
  put_str(p, "user");
  put_str(p, "alice");
  p.push_back(0);
  p.push_back('x');
  EXPECT_EQ(decode(untyped(p)).status, Status::error);
  ByteVec two_terminators = p;
  two_terminators.back() = 0;
  EXPECT_EQ(decode(untyped(two_terminators)).status, Status::error);
}

TEST(DecodeStartup, NeedsMoreAtEveryPrefix) {
  expect_need_more_at_every_prefix(startup_packet(3, 0, {{"user", "alice"}, {"database", "app"}}));
  expect_need_more_at_every_prefix(startup_packet(3, 2, {{"user", "bob"}}));
  expect_need_more_at_every_prefix(ByteVec{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f});
  expect_need_more_at_every_prefix(ByteVec{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30});
  expect_need_more_at_every_prefix(cancel_packet(42, 4));
  expect_need_more_at_every_prefix(cancel_packet(42, 256));
}

TEST(DecodeStartup, RoundTripsEncoders) {
  StartupMessage m;
  m.major = 3;
  m.minor = 2;
  m.parameters = {{"user", "alice"}, {"database", "db"}, {"options", "-c work_mem=64MB"}, {"x", ""}};
  auto bytes = encode_startup(m);
  auto r = decode(bytes);
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(r.consumed, bytes.size());
  EXPECT_EQ(as_startup(r).parameters, m.parameters);
  EXPECT_EQ(as_startup(r).minor, 2);
  EXPECT_EQ(bytes, startup_packet(3, 2, m.parameters));

  for (std::size_t key : {4u, 32u, 256u}) {
    CancelRequest c;
    c.process_id = 0xfffffffe;
    c.secret.assign(key, 0xab);
    auto cb = encode_cancel(c);
    auto cr = decode(cb);
    ASSERT_EQ(cr.status, Status::complete) << key;
    const auto& back = std::get<CancelRequest>(cr.packet);
    EXPECT_EQ(back.process_id, c.process_id);
    EXPECT_EQ(back.secret, c.secret);
  }

  auto ssl = encode_ssl_request();
  EXPECT_EQ(ssl, (ByteVec{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}));
  auto sr = decode(ssl);
  ASSERT_EQ(sr.status, Status::complete);
  EXPECT_TRUE(std::holds_alternative<SslRequest>(sr.packet));
}

TEST(DecodeStartup, EncodeStartupCutsEmbeddedNuls) {
  StartupMessage m;
  m.parameters = {{"user", std::string("al\0ice", 6)}};
  auto r = decode(encode_startup(m));
  ASSERT_EQ(r.status, Status::complete) << r.error;
  EXPECT_EQ(as_startup(r).parameters[0].second, "al");
}
