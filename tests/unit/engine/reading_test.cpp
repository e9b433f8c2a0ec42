// ServerReader (engine/reading.h) and StreamedQuery (engine/stream.h), fed texts and
// ParameterStatus bytes: no socket, no server.
#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ddlgate/engine/reading.h"
#include "ddlgate/engine/stream.h"
#include "ddlgate/protocol/messages.h"

namespace ddlgate::engine {
namespace {

struct Caches {
  sql::StatementCache standard{sql::Policy{}, 1 << 20, sql::ParseOptions{.standard_conforming_strings = true}};
  sql::StatementCache nonstandard{sql::Policy{}, 1 << 20, sql::ParseOptions{.standard_conforming_strings = false}};
  ServerReader::Caches both() { return {standard, nonstandard}; }
};

// A server message's body (after type and length).
std::vector<std::uint8_t> body_of(const std::vector<std::uint8_t>& message) {
  return {message.begin() + 5, message.end()};
}

// The state after startup: the server reported both settings and the first ReadyForQuery.
protocol::LexingState settled(std::string_view encoding, bool standard_strings, bool pinned) {
  protocol::LexingState lexing({.standard_strings_pinned = pinned, .client_encoding_pinned = pinned});
  std::vector<std::uint8_t> m;
  protocol::append_parameter_status(m, "standard_conforming_strings", standard_strings ? "on" : "off");
  lexing.on_server('S', body_of(m));
  m.clear();
  protocol::append_parameter_status(m, "client_encoding", encoding);
  lexing.on_server('S', body_of(m));
  m.clear();
  protocol::append_ready_for_query(m, 'I');
  lexing.on_server('Z', body_of(m));
  return lexing;
}

TEST(ServerReader, AnAsciiTextWithoutABackslashHasOneReading) {
  Caches c;
  ServerReader reader;
  protocol::LexingState lexing;  // nothing reported yet: every setting possible
  reader.read("CREATE TABLE t (a int)", lexing, c.both());
  ASSERT_EQ(reader.readings().size(), 1u);
  EXPECT_TRUE(reader.readings()[0]->any_controlled());
  EXPECT_TRUE(reader.deferred().empty());
}

TEST(ServerReader, ABackslashIsReadUnderBothStringSettingsWhileEitherIsPossible) {
  Caches c;
  ServerReader reader;
  // Under standard_conforming_strings = off, 'a\' is an unfinished literal that swallows the
  // quote and reads "'; DROP TABLE t; --" as part of it; under on, DROP TABLE is a statement.
  const std::string text = "SELECT 'a\\'; DROP TABLE t; --'";
  protocol::LexingState unknown;
  reader.read(text, unknown, c.both());
  ASSERT_EQ(reader.readings().size(), 2u);
  EXPECT_NE(reader.readings()[0]->any_controlled(), reader.readings()[1]->any_controlled());

  // Settled and pinned: one reading, the reported one.
  protocol::LexingState known = settled("UTF8", true, true);
  reader.read(text, known, c.both());
  ASSERT_EQ(reader.readings().size(), 1u);
  EXPECT_TRUE(reader.readings()[0]->any_controlled());
  protocol::LexingState off = settled("UTF8", false, true);
  reader.read(text, off, c.both());
  ASSERT_EQ(reader.readings().size(), 1u);
  EXPECT_FALSE(reader.readings()[0]->any_controlled());
}

TEST(ServerReader, NonAsciiTextIsReadUnderEveryAsciiHidingEncodingTheDatabaseAllows) {
  Caches c;
  ServerReader reader;
  protocol::LexingState unknown;
  reader.read("SELECT '\xc3\xa9'", unknown, c.both());
  // The reported reading, the other string setting, then UTF8-like and the ASCII-hiding
  // encodings under each: more than two readings.
  EXPECT_GT(reader.readings().size(), 2u);
  protocol::LexingState known = settled("UTF8", true, true);
  reader.read("SELECT '\xc3\xa9'", known, c.both());
  EXPECT_EQ(reader.readings().size(), 1u);
}

TEST(ServerReader, TextTheServerCannotConvertIsARefusedReading) {
  Caches c;
  ServerReader reader;
  // SJIS to a UTF8 database: 0xFF starts no SJIS character, so the server refuses the text.
  protocol::LexingState known = settled("SJIS", true, true);
  reader.read("SELECT '\xff\xff'", known, c.both());
  ASSERT_EQ(reader.readings().size(), 1u);
  ASSERT_FALSE(reader.readings()[0]->ok());
  EXPECT_NE(reader.readings()[0]->error->message.find("not valid SJIS"), std::string::npos);
  std::string buffer;
  auto text = reader.reported_text("SELECT '\xff\xff'", known, &buffer);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().reason.find("not valid SJIS"), std::string::npos);
  auto plain = reader.reported_text("SELECT 1", known, &buffer);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "SELECT 1");
  // A valid SJIS character is converted: the reading is of the UTF8 text.
  auto converted = reader.reported_text("SELECT '\x82\xa0'", known, &buffer);
  ASSERT_TRUE(converted.ok());
  EXPECT_EQ(*converted, "SELECT '\xe3\x81\x82'");
}

// While the client encoding may have changed unseen, the text is also read in every
// ASCII-safe encoding, which takes it as it is when it takes it at all. 0x82 0xA0 is
// SJIS's "あ" and two LATIN1 characters, but no UTF-8: that reading must not stand for
// UTF8 alone, or it would refuse a text other ASCII-safe encodings take.
TEST(ServerReader, AnyAsciiSafeEncodingReadsTheTextAsItIs) {
  Caches c;
  ServerReader reader;
  protocol::LexingState wide = settled("SJIS", true, false);
  ASSERT_TRUE(wide.possible_encodings().wide);
  reader.read("SELECT '\x82\xa0'", wide, c.both());
  ASSERT_GT(reader.readings().size(), 2u);
  std::size_t readable = 0;
  for (const auto& r : reader.readings()) {
    ASSERT_NE(r, nullptr);
    if (r->ok()) {
      ++readable;
    } else {
      EXPECT_EQ(r->error->message.find("UTF8"), std::string::npos) << r->error->message;
    }
  }
  EXPECT_GE(readable, 2u);  // SJIS as reported, and as it is
}

// Outside a UTF8 database the server cuts a long name at 63 bytes of its own text and
// libpg_query at a UTF-8 boundary of ddlgate's reading: in LATIN1, U&"\00e9" x 32 is 32
// bytes to the server and "é" x 31 (62 bytes, the rest cut) to libpg_query, the tree of
// an approved 31-character name. Such a text is refused; ASCII names and UTF8
// databases are read as before.
TEST(ServerReader, ALongNameANonUtf8DatabaseMayCutOtherwiseIsRefused) {
  Caches c;
  ServerReader reader;
  reader.set_server_encoding("LATIN1");
  protocol::LexingState latin1 = settled("LATIN1", true, true);
  std::string escapes;
  for (int i = 0; i < 32; ++i) escapes += "\\00e9";
  const std::string sneaky = "CREATE TABLE U&\"" + escapes + "\" (id int)";
  reader.read(sneaky, latin1, c.both());
  ASSERT_EQ(reader.readings().size(), 1u);
  ASSERT_FALSE(reader.readings()[0]->ok());
  EXPECT_NE(reader.readings()[0]->error->message.find("cuts a long name"), std::string::npos);
  std::string buffer;
  EXPECT_FALSE(reader.reported_text(sneaky, latin1, &buffer).ok());
  // Raw non-ASCII bytes too: 61 'a', then 0xE9 "bc", cut after the 61 'a' by libpg_query.
  reader.read("CREATE TABLE " + std::string(61, 'a') + "\xE9" + "bc (id int)", latin1, c.both());
  EXPECT_FALSE(reader.readings()[0]->ok());
  // A short escaped name, a long ASCII one and a long one in a UTF8 database are read.
  reader.read("CREATE TABLE U&\"\\00e9t\\00e9\" (id int)", latin1, c.both());
  EXPECT_TRUE(reader.readings()[0]->ok());
  reader.read("CREATE TABLE " + std::string(70, 'a') + " (id int)", latin1, c.both());
  EXPECT_TRUE(reader.readings()[0]->ok());
  ServerReader utf8_reader;
  protocol::LexingState utf8 = settled("UTF8", true, true);
  utf8_reader.read(sneaky, utf8, c.both());
  EXPECT_TRUE(utf8_reader.readings()[0]->ok());
}

TEST(ServerReader, ALargeTextIsDeferredWithItsIndex) {
  Caches c;
  ServerReader reader;
  protocol::LexingState known = settled("UTF8", true, true);
  std::string text = "CREATE TABLE t (a int) /*" + std::string(ServerReader::kParseOnWorkerBytes, 'x') + "*/";
  reader.read(text, known, c.both());
  ASSERT_EQ(reader.readings().size(), 1u);
  EXPECT_EQ(reader.readings()[0], nullptr);
  ASSERT_EQ(reader.deferred().size(), 1u);
  EXPECT_EQ(reader.deferred()[0].index, 0u);
  EXPECT_EQ(reader.deferred()[0].text, text);
  reader.clear();
  EXPECT_TRUE(reader.readings().empty());
  EXPECT_TRUE(reader.deferred().empty());
}

TEST(ServerReader, ASuperusersSessionReadsEveryStatementButTransactionControlAsControlled) {
  Caches c;
  ServerReader reader;
  protocol::LexingState known = settled("UTF8", true, true);
  reader.read("SELECT 1", known, c.both());
  EXPECT_FALSE(reader.readings()[0]->any_controlled());
  reader.set_superuser();
  reader.read("SELECT 1", known, c.both());
  EXPECT_TRUE(reader.readings()[0]->any_controlled());
  reader.read("BEGIN", known, c.both());
  EXPECT_FALSE(reader.readings()[0]->any_controlled());
  // Never deferred: too large to parse here is refused.
  reader.read("SELECT 1 /*" + std::string(ServerReader::kParseOnWorkerBytes, 'x') + "*/", known, c.both());
  ASSERT_NE(reader.readings()[0], nullptr);
  EXPECT_FALSE(reader.readings()[0]->ok());
}

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(StreamedQuery, PlainDmlGoesOnPartByPart) {
  const std::string text = std::string("INSERT INTO t VALUES ('") + std::string(1000, 'a') + "')";
  const std::string body = text + '\0';
  StreamedQuery s;
  s.start(static_cast<std::uint32_t>(body.size()), false);
  for (std::size_t at = 0; at < body.size(); at += 100) {
    EXPECT_TRUE(s.feed(bytes(std::string_view(body).substr(at, 100)))) << at;
  }
  EXPECT_TRUE(s.done());
  EXPECT_FALSE(s.failed());
  EXPECT_FALSE(s.take_cut_record());
}

TEST(StreamedQuery, TextThatTurnsOutNotToBePlainDmlFailsAtThatPart) {
  const std::string body = std::string("INSERT INTO t VALUES (1); DROP TABLE t; SELECT 1") + '\0';
  StreamedQuery s;
  s.start(static_cast<std::uint32_t>(body.size()), false);
  std::size_t at = 0;
  for (; at < body.size(); at += 10) {
    if (!s.feed(bytes(std::string_view(body).substr(at, 10)))) break;
  }
  ASSERT_LT(at, body.size()) << "a second statement after ';' was streamed whole";
  EXPECT_TRUE(s.failed());
  EXPECT_EQ(s.cut_at(), at);  // the bytes forwarded before the refused part
  EXPECT_TRUE(s.take_cut_record());
  EXPECT_FALSE(s.take_cut_record());  // recorded once
  const std::size_t rest = body.size() - std::min(body.size(), at + 10);
  EXPECT_EQ(s.done(), rest == 0);
  if (rest != 0) {
    EXPECT_TRUE(s.drop(rest));  // the rest read and dropped
  }
  EXPECT_TRUE(s.done());
}

TEST(StreamedQuery, ANonAsciiByteEndsItUnlessTheEncodingShowsEveryAsciiByte) {
  const std::string body = std::string("SELECT '\xc3\xa9'") + '\0';
  StreamedQuery narrow;
  narrow.start(static_cast<std::uint32_t>(body.size()), false);
  EXPECT_FALSE(narrow.feed(bytes(body)));
  StreamedQuery shown;
  shown.start(static_cast<std::uint32_t>(body.size()), true);
  EXPECT_TRUE(shown.feed(bytes(body)));
}

TEST(StreamedQuery, TheBodyMustEndWithItsOnlyNul) {
  const std::string body = std::string("SELECT 1") + '\0' + "DROP TABLE t" + '\0';
  StreamedQuery s;
  s.start(static_cast<std::uint32_t>(body.size()), false);
  EXPECT_FALSE(s.feed(bytes(body)));
  const std::string no_nul = "SELECT 1;";
  StreamedQuery t;
  t.start(static_cast<std::uint32_t>(no_nul.size()), false);
  EXPECT_FALSE(t.feed(bytes(no_nul)));
}

}  // namespace
}  // namespace ddlgate::engine
