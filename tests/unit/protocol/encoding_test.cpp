#include <gtest/gtest.h>

#include "ddlgate/protocol/encoding.h"

namespace ddlgate::protocol {
namespace {

// The reading and its text (the input itself when it is read as it is).
std::pair<ServerText, std::string> read(std::string_view text, std::string_view client, std::string_view server) {
  std::string out = "untouched";
  ServerText r = read_as_server(text, client, server, out);
  return {r, r == ServerText::as_is ? std::string(text) : r == ServerText::converted ? out : std::string()};
}

std::pair<ServerText, std::string> server_bytes(std::string_view text, std::string_view client, std::string_view server) {
  std::string out;
  ServerText r = to_server_encoding(text, client, server, out);
  return {r, r == ServerText::as_is ? std::string(text) : r == ServerText::converted ? out : std::string()};
}

using R = ServerText;

TEST(ProtocolEncoding, OnlyTheClientOnlyEncodingsHideAscii) {
  for (auto e : kAsciiHidingEncodings) EXPECT_TRUE(hides_ascii(e)) << e;
  for (const char* e : {"UTF8", "SQL_ASCII", "LATIN1", "EUC_JP", "EUC_CN", "WIN1252", "sjis", ""}) {
    EXPECT_FALSE(hides_ascii(e)) << e;
  }
}

TEST(ProtocolEncoding, ConvertsSjisSoATrailingBackslashBecomesPartOfTheCharacter) {
  // 0x95 0x5C is U+8868 in SJIS; the backslash byte is gone after conversion.
  EXPECT_EQ(read("E'\x95\\'", "SJIS", "UTF8"), std::pair(R::converted, std::string("E'\xE8\xA1\xA8'")));
  // Half a character, and a byte that is no lead byte in SJIS.
  EXPECT_EQ(read("abc\x95", "SJIS", "UTF8").first, R::invalid);
  EXPECT_EQ(read("\xFF\xFF", "SJIS", "UTF8").first, R::invalid);
  // ASCII text is never converted, in any pair.
  for (auto e : kAsciiHidingEncodings) {
    EXPECT_EQ(read("select 1; \\", e, "UTF8"), std::pair(R::as_is, std::string("select 1; \\"))) << e;
    EXPECT_EQ(read("select 1; \\", e, "MULE_INTERNAL").first, R::as_is) << e;
  }
}

// PostgreSQL's map, not glibc's: SHIFT_JIS_2004's 0x81 0x5F is an ASCII backslash
// in a UTF8 database, and the JOHAB and SHIFT_JIS_2004 byte 0x5C stays a backslash.
TEST(ProtocolEncoding, ReadsWithPostgresqlsMapsNotGlibcs) {
  EXPECT_EQ(read("'\x81\x5F'", "SHIFT_JIS_2004", "UTF8"), std::pair(R::converted, std::string("'\\'")));
  EXPECT_EQ(read("\x82\xA0\\", "SHIFT_JIS_2004", "UTF8"), std::pair(R::converted, std::string("\xE3\x81\x82\\")));
  // A combined character: one SHIFT_JIS_2004 code, two code points (U+304B U+309A).
  EXPECT_EQ(read("\x82\xF5", "SHIFT_JIS_2004", "UTF8"), std::pair(R::converted, std::string("\xE3\x81\x8B\xE3\x82\x9A")));
  // JOHAB: PostgreSQL's verifier wants every further byte in 0xA1-0xFE.
  EXPECT_EQ(read("\x88\x61", "JOHAB", "UTF8").first, R::invalid);
  EXPECT_EQ(read("\x88\x61\\", "JOHAB", "UTF8").first, R::invalid);
  // GB18030 four-byte characters: one from the map's ranges, one beyond Unicode.
  EXPECT_EQ(read("\x81\x30\x81\x30", "GB18030", "UTF8"), std::pair(R::converted, std::string("\xC2\x80")));
  EXPECT_EQ(read("\x90\x30\x81\x30", "GB18030", "UTF8"), std::pair(R::converted, std::string("\xF0\x90\x80\x80")));
  EXPECT_EQ(read("\xE3\x32\x9A\x36", "GB18030", "UTF8").first, R::invalid);
  EXPECT_EQ(read("\x84\x31\xA5\x30", "GB18030", "UTF8").first, R::invalid);
}

// The same bytes mean something else in another database: SHIFT_JIS_2004 to
// EUC_JIS_2004 is computed, and gives the full-width backslash.
TEST(ProtocolEncoding, TheServerEncodingDecidesTheReading) {
  EXPECT_EQ(server_bytes("'\x81\x5F'", "SHIFT_JIS_2004", "EUC_JIS_2004"), std::pair(R::converted, std::string("'\xA1\xC0'")));
  EXPECT_EQ(read("'\x81\x5F'", "SHIFT_JIS_2004", "EUC_JIS_2004"), std::pair(R::converted, std::string("'\xEF\xBC\xBC'")));
  // SJIS to EUC_JP: a kanji by formula, then EUC_JP's map to UTF-8.
  EXPECT_EQ(server_bytes("\x95\\", "SJIS", "EUC_JP"), std::pair(R::converted, std::string("\xC9\xBD")));
  EXPECT_EQ(read("\x95\\", "SJIS", "EUC_JP"), std::pair(R::converted, std::string("\xE8\xA1\xA8")));
  // An EUC_JP client in its own database: only checked by the server, read in UTF-8 here.
  EXPECT_EQ(read("\xC9\xBD", "EUC_JP", "EUC_JP"), std::pair(R::converted, std::string("\xE8\xA1\xA8")));
  EXPECT_EQ(read("\xC9", "EUC_JP", "EUC_JP").first, R::invalid);
  // SQL_ASCII converts nothing and refuses a client-only encoding's non-ASCII bytes.
  EXPECT_EQ(read("\x95\\", "SJIS", "SQL_ASCII").first, R::invalid);
  EXPECT_EQ(read("caf\xC3\xA9", "UTF8", "SQL_ASCII").first, R::as_is);
  // BIG5 to EUC_TW through the CNS 11643 tables: U+4E00 is CNS plane 1 0x4421.
  EXPECT_EQ(server_bytes("\xA4\x40", "BIG5", "EUC_TW"), std::pair(R::converted, std::string("\xC4\xA1")));
  EXPECT_EQ(read("\xA4\x40", "BIG5", "EUC_TW"), std::pair(R::converted, std::string("\xE4\xB8\x80")));
  // Pairs ddlgate does not model: refused only when a byte is >= 0x80.
  EXPECT_EQ(read("\xA4\x40", "BIG5", "MULE_INTERNAL").first, R::unsupported);
  EXPECT_EQ(read("\x95\\", "SJIS", "MULE_INTERNAL").first, R::unsupported);
  // ASCII-safe encodings are converted to a UTF8 database as the server converts them.
  EXPECT_EQ(read("caf\xE9", "LATIN1", "UTF8"), std::pair(R::converted, std::string("caf\xC3\xA9")));
  EXPECT_EQ(read("caf\xC3\xA9", "UTF8", "UTF8").first, R::as_is);
}

TEST(ProtocolEncoding, WhichClientEncodingsAServerAccepts) {
  for (auto e : kAsciiHidingEncodings) {
    EXPECT_TRUE(client_encoding_settable(e, "UTF8")) << e;
    EXPECT_TRUE(client_encoding_settable(e, "SQL_ASCII")) << e;
    EXPECT_FALSE(client_encoding_settable(e, "LATIN1")) << e;
  }
  EXPECT_TRUE(client_encoding_settable("SHIFT_JIS_2004", "EUC_JIS_2004"));
  EXPECT_FALSE(client_encoding_settable("SJIS", "EUC_JIS_2004"));
  EXPECT_TRUE(client_encoding_settable("SJIS", "EUC_JP"));
  EXPECT_TRUE(client_encoding_settable("BIG5", "EUC_TW"));
  EXPECT_TRUE(client_encoding_settable("LATIN1", "UTF8"));
}

TEST(ProtocolEncoding, NonAsciiDetection) {
  EXPECT_FALSE(has_non_ascii("select 1; \\ '"));
  EXPECT_TRUE(has_non_ascii("select '\xC3\xA9'"));
  EXPECT_FALSE(has_non_ascii(""));
}

}  // namespace
}  // namespace ddlgate::protocol
