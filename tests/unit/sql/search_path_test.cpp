// normalize_search_path: PostgreSQL's SplitIdentifierString for search_path, written back as
// quote_ident writes each name (tests/integration/search_path_test.cpp checks it against a server).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ddlgate/sql/search_path.h"

namespace ddlgate::sql {
namespace {

std::string norm(std::string_view v) {
  auto r = normalize_search_path(v);
  return r ? *r : "ERROR: " + r.error().reason;
}

TEST(SearchPath, TheBriefsExamples) {
  EXPECT_EQ(norm("\"$user\", public"), "\"$user\", public");
  EXPECT_EQ(norm(" Public ,X"), "public, x");
  EXPECT_EQ(norm("\"A b\""), "\"A b\"");
  EXPECT_EQ(norm(""), "");
}

TEST(SearchPath, WhitespaceIsTheLexersOnly) {
  EXPECT_EQ(norm(" \t\r\n\f"), "");
  EXPECT_EQ(norm("\ta\n,\fb\r"), "a, b");
  // A vertical tab is not whitespace to the lexer: it is part of the name.
  EXPECT_EQ(norm("a\v"), "\"a\v\"");
  EXPECT_EQ(norm("a,b,c"), "a, b, c");
  EXPECT_EQ(norm("a ,  b"), "a, b");
}

TEST(SearchPath, UnquotedNamesAreDowncasedInAsciiOnly) {
  EXPECT_EQ(norm("SHOP"), "shop");
  EXPECT_EQ(norm("ÉCOLE"), "\"École\"");  // É is not downcased in a UTF-8 database, C O L E are
  EXPECT_EQ(norm("école"), "\"école\"");  // and quoted: not a-z
  EXPECT_EQ(norm("$user"), "\"$user\"");
  EXPECT_EQ(norm("a\"b"), "\"a\"\"b\"");  // a quote inside an unquoted name is part of it
  EXPECT_EQ(norm("a\"\""), "\"a\"\"\"\"\"");
}

TEST(SearchPath, QuotedNamesKeepTheirCaseAndCollapseDoubledQuotes) {
  EXPECT_EQ(norm("\"Shop\""), "\"Shop\"");
  EXPECT_EQ(norm("\"shop\""), "shop");  // needs no quotes
  EXPECT_EQ(norm("\"a\"\"b\""), "\"a\"\"b\"");
  EXPECT_EQ(norm("\"a,b\" , c"), "\"a,b\", c");
  EXPECT_EQ(norm("\" x \""), "\" x \"");
  auto names = split_search_path("\"a\"\"b\", C");
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"a\"b", "c"}));
}

TEST(SearchPath, KeywordsOtherThanUnreservedOnesAreQuoted) {
  EXPECT_EQ(norm("user"), "\"user\"");        // reserved
  EXPECT_EQ(norm("Table, int"), "\"table\", \"int\"");
  EXPECT_EQ(norm("between"), "\"between\"");  // column-name keyword
  EXPECT_EQ(norm("authorization"), "\"authorization\"");  // type/function-name keyword
  EXPECT_EQ(norm("public, schema, abort"), "public, schema, abort");  // unreserved
  EXPECT_EQ(norm("_x1"), "_x1");
  EXPECT_EQ(norm("1x"), "\"1x\"");
}

TEST(SearchPath, NamesAreTruncatedTo63BytesAtACharacterBoundary) {
  EXPECT_EQ(norm(std::string(70, 'a')), std::string(63, 'a'));
  EXPECT_EQ(norm("\"" + std::string(70, 'B') + "\""), "\"" + std::string(63, 'B') + "\"");
  std::string e;
  for (int i = 0; i < 40; ++i) e += "é";  // 2 bytes each: 31 fit in 63 bytes
  std::string want;
  for (int i = 0; i < 31; ++i) want += "é";
  EXPECT_EQ(norm(e), "\"" + want + "\"");
}

TEST(SearchPath, MalformedValuesAreRefused) {
  const std::vector<std::string> malformed = {"a,",      ",a",       "a,,b",      "a b",
                                             "\"a",     "\"a\"b",   "\"a\" b",   "a, ",
                                             "\"\"",    "a, \"\"",  "\"a\"\"",    std::string("a\0b", 3),
                                             "\xff",    "a\xc3"};
  for (const std::string& v : malformed) {
    EXPECT_FALSE(normalize_search_path(v)) << v;
  }
  EXPECT_EQ(norm("a b"), "ERROR: search_path: unexpected 'b' at offset 2 after a name (names are separated by commas)");
  EXPECT_EQ(norm("\"a"), "ERROR: search_path: the quoted name at offset 0 has no closing quote");
  EXPECT_EQ(norm("a,,b"), "ERROR: search_path: an empty element at offset 2");
  EXPECT_EQ(norm("x, \"\""), "ERROR: search_path: a zero-length quoted name (\"\") at offset 3");
}

TEST(SearchPath, TheNormalFormIsAFixedPoint) {
  const std::vector<std::string> values = {"\"$user\", public", " Public ,X", "\"A b\"", "a\"b", "\"a,b\",c",
                                          "user,Table",        "ÉCOLE",      std::string(70, 'z')};
  for (const std::string& v : values) {
    const std::string once = norm(v);
    EXPECT_EQ(norm(once), once) << v;
  }
}

}  // namespace
}  // namespace ddlgate::sql
