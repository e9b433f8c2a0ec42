#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "ddlgate/protocol/codes.h"
#include "ddlgate/protocol/lexing_state.h"
#include "test_bytes.h"

namespace ddlgate::protocol {
namespace {

using test::ByteVec;

// A backend message: type, length, body.
ByteVec message(char type, const ByteVec& body) {
  ByteVec out{static_cast<std::uint8_t>(type)};
  test::put_u32(out, static_cast<std::uint32_t>(body.size() + 4));
  test::put_bytes(out, body);
  return out;
}
ByteVec parameter_status(std::string_view name, std::string_view value) {
  ByteVec body;
  test::put_str(body, name);
  test::put_str(body, value);
  return message('S', body);
}
ByteVec ready(char status = 'I') { return message('Z', {static_cast<std::uint8_t>(status)}); }
ByteVec other(char type) { return message(type, {}); }

// Splits a byte stream of whole backend messages and feeds each to the model.
void feed_server(LexingState& s, const ByteVec& wire) {
  std::size_t at = 0;
  while (at + 5 <= wire.size()) {
    std::uint32_t len = (std::uint32_t{wire[at + 1]} << 24) | (std::uint32_t{wire[at + 2]} << 16) |
                        (std::uint32_t{wire[at + 3]} << 8) | wire[at + 4];
    s.on_server(wire[at], std::span<const std::uint8_t>(wire).subspan(at + 5, len - 4));
    at += 1 + len;
  }
  ASSERT_EQ(at, wire.size());
}
ByteVec cat(std::initializer_list<ByteVec> parts) {
  ByteVec out;
  for (const auto& p : parts) test::put_bytes(out, p);
  return out;
}
// Client message types, in order ("PBES").
void feed_client(LexingState& s, std::string_view types) {
  for (char t : types) s.on_client(static_cast<std::uint8_t>(t));
}

constexpr LexingState::Startup kPinned{.standard_strings_pinned = true,
                                       .client_encoding_pinned = true,
                                       .backslash_quote = static_cast<std::uint8_t>(BackslashQuote::safe_encoding)};

// A session as ddlgate starts it, after its startup ReadyForQuery.
LexingState started(LexingState::Startup startup = kPinned, std::string_view standard = "on",
                    std::string_view encoding = "UTF8") {
  LexingState s(startup);
  feed_client(s, "pp");  // SASL exchange
  feed_server(s, cat({other('R'), parameter_status("client_encoding", encoding),
                      parameter_status("standard_conforming_strings", standard), other('K'), ready()}));
  return s;
}

bool narrow_on(const LexingState& s) {
  auto b = s.possible_standard_strings();
  return b.on && !b.off;
}
bool narrow_off(const LexingState& s) {
  auto b = s.possible_standard_strings();
  return !b.on && b.off;
}
bool wide(const LexingState& s) { return s.possible_standard_strings().wide() && s.possible_encodings().wide; }

TEST(LexingState, WideBeforeStartupEnds) {
  LexingState s(kPinned);
  EXPECT_TRUE(wide(s));
  feed_server(s, parameter_status("standard_conforming_strings", "on"));
  EXPECT_TRUE(wide(s));
}

TEST(LexingState, StartupReadyForQueryNarrowsPinnedSettings) {
  LexingState s = started(kPinned, "off", "SJIS");
  EXPECT_TRUE(s.settled());
  EXPECT_TRUE(narrow_off(s));
  auto e = s.possible_encodings();
  EXPECT_FALSE(e.wide);
  EXPECT_EQ(e.reported, "SJIS");
  EXPECT_TRUE(e.contains("SJIS"));
  EXPECT_FALSE(e.contains("UTF8"));
}

TEST(LexingState, UnpinnedSettingsStayWideWhileIdle) {
  // A reload of postgresql.conf can change them while the session is idle, and the
  // server reports it only at the next ReadyForQuery.
  LexingState s = started({.standard_strings_pinned = false, .client_encoding_pinned = false});
  EXPECT_TRUE(s.settled());
  EXPECT_TRUE(s.possible_standard_strings().wide());
  EXPECT_TRUE(s.possible_encodings().wide);
  EXPECT_EQ(s.possible_encodings().reported, "UTF8");
  // Only client_encoding unpinned: standard_conforming_strings narrows.
  LexingState t = started({.standard_strings_pinned = true, .client_encoding_pinned = false});
  EXPECT_TRUE(narrow_on(t));
  EXPECT_TRUE(t.possible_encodings().wide);
}

TEST(LexingState, QueryWidensUntilItsReadyForQuery) {
  LexingState s = started();
  feed_client(s, "Q");
  EXPECT_TRUE(wide(s));
  // The report comes just before ReadyForQuery; alone it narrows nothing.
  feed_server(s, cat({other('C'), parameter_status("standard_conforming_strings", "off")}));
  EXPECT_TRUE(wide(s));
  EXPECT_FALSE(s.reported_standard_strings());
  feed_server(s, ready());
  EXPECT_TRUE(narrow_off(s));
}

TEST(LexingState, ExecuteAndFlushStayWideWithoutReadyForQuery) {
  LexingState s = started();
  feed_client(s, "PBEH");
  feed_server(s, cat({other('1'), other('2'), other('C')}));
  EXPECT_TRUE(wide(s));  // SET LOCAL or set_config() may have run; no report until Sync
  feed_client(s, "S");
  EXPECT_TRUE(wide(s));
  feed_server(s, ready('T'));
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, PipelineNarrowsOnlyAtTheLastReadyForQuery) {
  LexingState s = started();
  feed_client(s, "PBESPBESQ");
  EXPECT_EQ(s.outstanding(), 3u);
  feed_server(s, cat({other('1'), other('2'), other('C'), ready()}));
  EXPECT_TRUE(wide(s));
  feed_server(s, cat({other('1'), other('2'), other('C'), ready()}));
  EXPECT_TRUE(wide(s));
  feed_server(s, cat({other('C'), parameter_status("client_encoding", "BIG5"), ready()}));
  EXPECT_TRUE(narrow_on(s));
  EXPECT_EQ(s.possible_encodings().reported, "BIG5");
  EXPECT_FALSE(s.possible_encodings().wide);
}

TEST(LexingState, ReadyForQueryWithMessagesSentAfterTheLastSyncPointStaysWide) {
  LexingState s = started();
  feed_client(s, "QPB");  // Parse and Bind after the Query: answered at a later Sync
  feed_server(s, cat({other('C'), ready()}));
  EXPECT_EQ(s.outstanding(), 0u);
  EXPECT_TRUE(wide(s));
  feed_client(s, "EH");
  feed_server(s, cat({other('1'), other('2'), other('C')}));
  EXPECT_TRUE(wide(s));
  feed_client(s, "S");
  feed_server(s, ready());
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, FlushAfterTheLastSyncChangesNothing) {
  LexingState s = started();
  feed_client(s, "PBESH");
  feed_server(s, cat({other('1'), other('2'), other('C'), ready()}));
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, ErrorMidBatchEndsAtItsSync) {
  // The server skips to the Sync after an error and answers it with one ReadyForQuery.
  LexingState s = started();
  feed_client(s, "PBEPBES");
  feed_server(s, cat({other('1'), other('2'), other('E'), ready()}));
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, QuerySkippedAfterAnExtendedErrorKeepsItWide) {
  // P B E fails, the server skips the Query up to the Sync: one ReadyForQuery for two
  // sync points. The model cannot tell from the messages, counts one too many and stays
  // wide (wider than needed, never narrower).
  LexingState s = started();
  feed_client(s, "PBEQS");
  feed_server(s, cat({other('1'), other('2'), other('E'), ready()}));
  EXPECT_TRUE(wide(s));
  feed_client(s, "Q");
  feed_server(s, cat({other('C'), ready()}));
  EXPECT_TRUE(wide(s));
}

TEST(LexingState, ReadyForQueryInsideABlockNarrowsToo) {
  // SET LOCAL inside BEGIN: the server reports the local value before ReadyForQuery 'T',
  // and the revert at COMMIT before the next one.
  LexingState s = started();
  feed_client(s, "Q");
  feed_server(s, cat({other('C'), other('C'), parameter_status("standard_conforming_strings", "off"), ready('T')}));
  EXPECT_TRUE(narrow_off(s));
  feed_client(s, "Q");
  EXPECT_TRUE(wide(s));
  feed_server(s, cat({other('C'), parameter_status("standard_conforming_strings", "on"), ready('I')}));
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, FunctionCallIsASyncPoint) {
  LexingState s = started();
  feed_client(s, "F");
  EXPECT_TRUE(wide(s));
  feed_server(s, cat({other('V'), ready()}));
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, SimpleCopyFromStdinEndsWithItsQuery) {
  LexingState s = started();
  feed_client(s, "Q");
  feed_server(s, other('G'));
  feed_client(s, "dddc");
  EXPECT_TRUE(wide(s));
  feed_server(s, cat({other('C'), ready()}));
  EXPECT_TRUE(narrow_on(s));
  // CopyFail likewise.
  feed_client(s, "Qdf");
  feed_server(s, cat({other('G'), other('E'), ready()}));
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, ExtendedCopyStaysWideOnTheSafeSide) {
  // libpq sends P B D E S, then the data and another S; the server reads the first S
  // during COPY as nothing. One ReadyForQuery for two Syncs: the model stays wide.
  LexingState s = started();
  feed_client(s, "PBDES");
  feed_server(s, cat({other('1'), other('2'), other('n'), other('G')}));
  feed_client(s, "ddcS");
  feed_server(s, cat({other('C'), ready()}));
  EXPECT_TRUE(wide(s));
}

TEST(LexingState, StrayCopyMessagesWidenUntilTheNextReadyForQuery) {
  LexingState s = started();
  feed_client(s, "d");
  EXPECT_TRUE(wide(s));
  feed_client(s, "S");
  feed_server(s, ready());
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, PasswordMessagesAndStartupAnswerNothing) {
  // A Sync pipelined behind the startup packet is answered after the startup's
  // ReadyForQuery, not by it.
  LexingState s(kPinned);
  feed_client(s, "pS");
  feed_server(s, cat({parameter_status("standard_conforming_strings", "on"),
                      parameter_status("client_encoding", "UTF8"), ready()}));
  EXPECT_TRUE(wide(s));
  feed_server(s, ready());
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, UnexpectedReadyForQueryDoesNotUnderflow) {
  LexingState s = started();
  feed_server(s, ready());
  EXPECT_EQ(s.outstanding(), 0u);
  EXPECT_TRUE(narrow_on(s));
  feed_client(s, "Q");
  EXPECT_EQ(s.outstanding(), 1u);
}

TEST(LexingState, MalformedParameterStatusIsIgnored) {
  LexingState s = started();
  s.on_server('S', std::span<const std::uint8_t>());
  ByteVec junk = test::bytes_of("standard_conforming_strings");  // no NULs
  s.on_server('S', junk);
  EXPECT_TRUE(narrow_on(s));
}

TEST(LexingState, BackslashQuoteIsKnownOnlyUntilTheFirstMessage) {
  LexingState s = started();
  auto b = s.possible_backslash_quote();
  EXPECT_TRUE(b.contains(BackslashQuote::safe_encoding));
  EXPECT_FALSE(b.contains(BackslashQuote::on));
  EXPECT_FALSE(b.contains(BackslashQuote::off));
  // Never reported: after any message it may be anything, for good.
  feed_client(s, "Q");
  feed_server(s, cat({other('C'), ready()}));
  b = s.possible_backslash_quote();
  EXPECT_TRUE(b.contains(BackslashQuote::on) && b.contains(BackslashQuote::off) &&
              b.contains(BackslashQuote::safe_encoding));
  // Not in the startup packet: a reload can change it.
  LexingState t = started({.standard_strings_pinned = true, .client_encoding_pinned = true});
  EXPECT_EQ(t.possible_backslash_quote().mask, 7);
}

TEST(LexingState, ParsesBackslashQuoteLikeTheServer) {
  EXPECT_EQ(parse_backslash_quote("safe_encoding"), static_cast<std::uint8_t>(BackslashQuote::safe_encoding));
  EXPECT_EQ(parse_backslash_quote("SAFE_Encoding"), static_cast<std::uint8_t>(BackslashQuote::safe_encoding));
  for (const char* on : {"on", "true", "yes", "1", "ON", "Yes"}) {
    EXPECT_EQ(parse_backslash_quote(on), static_cast<std::uint8_t>(BackslashQuote::on)) << on;
  }
  for (const char* off : {"off", "false", "no", "0", "OFF"}) {
    EXPECT_EQ(parse_backslash_quote(off), static_cast<std::uint8_t>(BackslashQuote::off)) << off;
  }
  // The server refuses these (enum names are matched whole).
  for (const char* bad : {"", "t", "y", "safe", "on ", "2"}) EXPECT_EQ(parse_backslash_quote(bad), 0) << bad;
}

}  // namespace
}  // namespace ddlgate::protocol
