// protocol/multibyte.h: PostgreSQL 15's checks of each encoding's bytes, case by
// case (the exhaustive comparison with the server is tests/integration/multibyte_test.cpp),
// and how read_as_server applies them to ASCII-safe client encodings.
#include <gtest/gtest.h>

#include "ddlgate/protocol/encoding.h"
#include "ddlgate/protocol/multibyte.h"

namespace ddlgate::protocol {
namespace {

bool valid(std::string_view encoding, std::string_view text) {
  auto e = pg_encoding(encoding);
  EXPECT_TRUE(e.has_value()) << encoding;
  return e && pg_valid(*e, text);
}

ServerText read(std::string_view text, std::string_view client, std::string_view server) {
  std::string out;
  return read_as_server(text, client, server, out);
}

TEST(Multibyte, KnowsEveryNamePostgresqlReportsAndNoOther) {
  for (std::size_t i = 0; i < kPgEncodingCount; ++i) {
    const auto e = static_cast<PgEncoding>(i);
    EXPECT_EQ(pg_encoding(pg_encoding_name(e)), e) << pg_encoding_name(e);
  }
  EXPECT_EQ(pg_encoding("KOI8U"), PgEncoding::koi8u);
  EXPECT_FALSE(client_only(PgEncoding::koi8u));
  EXPECT_TRUE(client_only(PgEncoding::sjis));
  // Aliases and lower case are what a client may send, never what the server reports.
  for (const char* name : {"utf8", "UTF-8", "ISO_8859_1", "WIN", "SHIFT_JIS", ""}) EXPECT_FALSE(pg_encoding(name)) << name;
}

// The case the last session found: EUC_JP has no character that starts with 0xFF
// (pg_eucjp_verifychar wants 0xA1-0xFE), so PostgreSQL refuses it, in every database.
TEST(Multibyte, EucJpRefusesByteFF) {
  EXPECT_FALSE(valid("EUC_JP", "select '\xFF'"));
  EXPECT_FALSE(valid("EUC_JP", "select '\xFF\xA1'"));
  EXPECT_FALSE(valid("EUC_JIS_2004", "\xFF\xA1"));
  EXPECT_TRUE(valid("EUC_JP", "select '\xA4\xA2'"));
  EXPECT_EQ(read("select '\xFF'", "EUC_JP", "UTF8"), ServerText::invalid);
  EXPECT_EQ(read("select '\xFF'", "EUC_JP", "SQL_ASCII"), ServerText::invalid);
  EXPECT_EQ(read("select '\xFF'", "EUC_JP", "EUC_JP"), ServerText::invalid);
  EXPECT_EQ(read("select '\xA4\xA2'", "EUC_JP", "EUC_JP"), ServerText::converted);
  EXPECT_EQ(read("select '\xA4\xA2'", "EUC_JP", "SQL_ASCII"), ServerText::as_is);
}

// In a UTF8 database the server parses the converted text, and so must ddlgate. A
// LATIN1 client's C3 A9 is "Ã©" (C3 83 C2 A9) to the server, not the "é" its bytes
// spell in UTF-8, and 61 'a' then E9 'b' 'c' names "a...aé" (63 bytes after the
// server's cut at NAMEDATALEN - 1), where libpg_query, cutting the raw bytes at a
// UTF-8 character boundary, would name "a...a" (61 bytes).
TEST(Multibyte, AsciiSafeClientsAreConvertedForAUtf8DatabaseAsTheServerConverts) {
  std::string out;
  EXPECT_EQ(read_as_server("DROP TABLE \"caf\xC3\xA9\"", "LATIN1", "UTF8", out), ServerText::converted);
  EXPECT_EQ(out, "DROP TABLE \"caf\xC3\x83\xC2\xA9\"");
  EXPECT_EQ(read_as_server(std::string(61, 'a') + "\xE9" + "bc", "LATIN1", "UTF8", out), ServerText::converted);
  EXPECT_EQ(out, std::string(61, 'a') + "\xC3\xA9" + "bc");
  // Through PostgreSQL's maps: WIN1252's 0x80 is the euro sign, 0x81 has no mapping.
  EXPECT_EQ(read_as_server("'\x80'", "WIN1252", "UTF8", out), ServerText::converted);
  EXPECT_EQ(out, "'\xE2\x82\xAC'");
  EXPECT_EQ(read_as_server("'\x81'", "WIN1252", "UTF8", out), ServerText::invalid);
  EXPECT_EQ(read_as_server("'\xC1'", "KOI8R", "UTF8", out), ServerText::converted);
  EXPECT_EQ(out, "'\xD0\xB0'");  // а, CYRILLIC SMALL LETTER A
  EXPECT_EQ(read_as_server("'\xA4\xA2'", "EUC_JP", "UTF8", out), ServerText::converted);
  EXPECT_EQ(out, "'\xE3\x81\x82'");
  EXPECT_EQ(read_as_server("'\xB0\xA1'", "EUC_KR", "UTF8", out), ServerText::converted);
  EXPECT_EQ(out, "'\xEA\xB0\x80'");  // 가
  // Other databases: the bytes as they came, once checked.
  EXPECT_EQ(read_as_server("'\xE9'", "LATIN1", "SQL_ASCII", out), ServerText::as_is);
  EXPECT_EQ(read_as_server("'\xE9'", "LATIN1", "LATIN1", out), ServerText::as_is);
}

TEST(Multibyte, EucCharactersEndWhereThePostgresqlsDo) {
  // EUC_JP: SS2 takes kana 0xA1-0xDF, SS3 two more bytes; a lead byte alone at the end is half a character.
  EXPECT_TRUE(valid("EUC_JP", "\x8E\xA1\x8F\xA1\xA1"));
  EXPECT_FALSE(valid("EUC_JP", "\x8E\xE0"));
  EXPECT_FALSE(valid("EUC_JP", "\xA4"));
  EXPECT_EQ(pg_valid_prefix(PgEncoding::euc_jp, "ab\xA4\xA2\xA4'"), 4u);
  // EUC_KR and EUC_CN: no SS2 or SS3 characters at all, though mblen gives EUC_CN's 3.
  EXPECT_FALSE(valid("EUC_KR", "\x8E\xA1"));
  EXPECT_FALSE(valid("EUC_CN", "\x8E\xA1\xA1"));
  EXPECT_EQ(pg_mblen(PgEncoding::euc_cn, "\x8E"), 3);
  EXPECT_EQ(pg_mblen(PgEncoding::euc_kr, "\x8E"), 2);
  // EUC_TW: four bytes behind SS2 (planes 0xA1-0xA7), SS3 never, and any lead byte >= 0x80 for two.
  EXPECT_TRUE(valid("EUC_TW", "\x8E\xA2\xA1\xA1"));
  EXPECT_FALSE(valid("EUC_TW", "\x8E\xA8\xA1\xA1"));
  EXPECT_FALSE(valid("EUC_TW", "\x8F\xA1\xA1"));
  EXPECT_TRUE(valid("EUC_TW", "\x80\xA1"));
  EXPECT_TRUE(valid("EUC_TW", "\xFF\xFE"));
  EXPECT_EQ(pg_mblen(PgEncoding::euc_tw, "\x8E"), 4);
  EXPECT_EQ(pg_mblen(PgEncoding::euc_tw, "\x8F"), 3);
}

TEST(Multibyte, Utf8IsCheckedAsPostgresqlChecksIt) {
  EXPECT_TRUE(valid("UTF8", "caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(valid("UTF8", "\xC0\xAF"));          // overlong
  EXPECT_FALSE(valid("UTF8", "\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(valid("UTF8", "\xF4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(valid("UTF8", "\xE3\x81"));          // cut short
  EXPECT_FALSE(valid("UTF8", "\xFF"));
  EXPECT_EQ(pg_mblen(PgEncoding::utf8, "\xFF"), 1);
  EXPECT_EQ(pg_mblen(PgEncoding::utf8, "\xF0"), 4);
  // A UTF8 client in a UTF8 database: the text is only checked, and invalid text is refused.
  EXPECT_EQ(read("select '\xC3\xA9'", "UTF8", "UTF8"), ServerText::as_is);
  EXPECT_EQ(read("select '\xC3'", "UTF8", "UTF8"), ServerText::invalid);
  // A SQL_ASCII client is checked in the database's encoding, a SQL_ASCII database checks in the client's.
  EXPECT_EQ(read("select '\xC3'", "SQL_ASCII", "UTF8"), ServerText::invalid);
  EXPECT_EQ(read("select '\xC3'", "SQL_ASCII", "SQL_ASCII"), ServerText::as_is);
  EXPECT_EQ(read("select '\xC3'", "UTF8", "SQL_ASCII"), ServerText::invalid);
  EXPECT_EQ(read("select '\xC3'", "LATIN1", "SQL_ASCII"), ServerText::as_is);
}

TEST(Multibyte, MuleInternalTakesUnknownHighBytesAlone) {
  // pg_mule_mblen: bytes that lead no MULE character count as one ("assume ASCII").
  EXPECT_TRUE(valid("MULE_INTERNAL", "\xFF\xA0\x80"));
  EXPECT_TRUE(valid("MULE_INTERNAL", "\x81\xA1\x9A\xA1\xA1\x92\xA1\xA1\x9C\xA1\xA1\xA1"));
  EXPECT_FALSE(valid("MULE_INTERNAL", "\x81\x41"));
  EXPECT_FALSE(valid("MULE_INTERNAL", "\x9C\xA1\xA1"));
}

TEST(Multibyte, SingleByteEncodingsRefuseOnlyNul) {
  for (std::size_t i = static_cast<std::size_t>(PgEncoding::latin1); i <= static_cast<std::size_t>(PgEncoding::koi8u); ++i) {
    const auto e = static_cast<PgEncoding>(i);
    EXPECT_TRUE(pg_valid(e, "\x80\xFF\xA4\x27")) << pg_encoding_name(e);
    EXPECT_EQ(pg_valid_prefix(e, std::string_view("ab\0c", 4)), 2u) << pg_encoding_name(e);
    EXPECT_EQ(pg_mblen(e, "\xFF"), 1) << pg_encoding_name(e);
  }
  EXPECT_TRUE(valid("SQL_ASCII", "\xFF"));
}

// The client-only encodings: a second byte may be an ASCII quote or backslash.
TEST(Multibyte, ClientOnlyEncodingsSecondBytes) {
  EXPECT_TRUE(valid("SJIS", "\x95\x5C"));
  EXPECT_FALSE(valid("SJIS", "\x95\x27"));  // ' is no SJIS trail byte
  EXPECT_TRUE(valid("SJIS", "\xA1"));       // half-width katakana
  EXPECT_TRUE(valid("BIG5", "\xA4\x27"));   // any second byte but NUL
  EXPECT_FALSE(valid("BIG5", "\x8D "));     // the pair PostgreSQL reserves as invalid
  EXPECT_FALSE(valid("GBK", "\x81"));
  EXPECT_TRUE(valid("GB18030", "\x81\x30\x81\x30"));
  EXPECT_FALSE(valid("GB18030", "\x81\x30\x81"));
  EXPECT_EQ(pg_mblen(PgEncoding::gb18030, "\x81\x30"), 4);
  EXPECT_EQ(pg_mblen(PgEncoding::gb18030, "\x81"), 2);  // a missing second byte counts as NUL
  EXPECT_TRUE(valid("JOHAB", "\x8F\xA1\xA1"));
  EXPECT_FALSE(valid("JOHAB", "\x88\x61"));
  EXPECT_EQ(pg_mblen(PgEncoding::johab, "\x8E"), 2);
}

TEST(Multibyte, ANameNoServerReportsIsNotReadAsIs) {
  EXPECT_EQ(read("select '\xC3\xA9'", "utf-8", "UTF8"), ServerText::unsupported);
  EXPECT_EQ(read("select 1", "utf-8", "UTF8"), ServerText::as_is);
}

}  // namespace
}  // namespace ddlgate::protocol
