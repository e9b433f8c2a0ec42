#include <gtest/gtest.h>

#include "ddlgate/protocol/encoding.h"

namespace ddlgate::protocol {
namespace {

TEST(ProtocolEncoding, OnlyTheClientOnlyEncodingsHideAscii) {
  for (auto e : kAsciiHidingEncodings) EXPECT_TRUE(hides_ascii(e)) << e;
  for (const char* e : {"UTF8", "SQL_ASCII", "LATIN1", "EUC_JP", "EUC_CN", "WIN1252", "sjis", ""}) {
    EXPECT_FALSE(hides_ascii(e)) << e;
  }
}

TEST(ProtocolEncoding, ConvertsSjisSoATrailingBackslashBecomesPartOfTheCharacter) {
  // 0x95 0x5C is U+8868 in SJIS; the backslash byte is gone after conversion.
  auto utf8 = to_utf8("E'\x95\\'", "SJIS");
  ASSERT_TRUE(utf8.has_value());
  EXPECT_EQ(*utf8, "E'\xE8\xA1\xA8'");
  EXPECT_EQ(to_utf8("plain ascii; \\", "BIG5"), "plain ascii; \\");
  // Half a character, and a byte that is no lead byte in SJIS.
  EXPECT_FALSE(to_utf8("abc\x95", "SJIS").has_value());
  EXPECT_FALSE(to_utf8("\xFF\xFF", "SJIS").has_value());
  // Not a converting encoding at all.
  EXPECT_FALSE(to_utf8("abc", "UTF8").has_value());
  for (auto e : kAsciiHidingEncodings) EXPECT_EQ(to_utf8("select 1", e), "select 1") << e;
}

TEST(ProtocolEncoding, NonAsciiDetection) {
  EXPECT_FALSE(has_non_ascii("select 1; \\ '"));
  EXPECT_TRUE(has_non_ascii("select '\xC3\xA9'"));
  EXPECT_FALSE(has_non_ascii(""));
}

}  // namespace
}  // namespace ddlgate::protocol
