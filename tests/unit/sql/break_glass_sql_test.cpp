// Finding SET / RESET ddlgate.break_glass in statement texts, the token digest, and the
// configured keys.
#include <gtest/gtest.h>

#include "ddlgate/sql/break_glass_sql.h"

namespace ddlgate::sql {
namespace {

using Kind = BreakGlassSql::Kind;

TEST(BreakGlassSql, FindsTheSetInEverySpelling) {
  for (std::string sql : {"SET ddlgate.break_glass = 'v4.public.abc'", "set ddlgate.break_glass to 'v4.public.abc'",
                          "SET SESSION ddlgate.break_glass TO 'v4.public.abc';", "SET \"ddlgate\".\"break_glass\" = 'v4.public.abc'",
                          "SET DDLGATE.BREAK_GLASS = 'v4.public.abc'",
                          "SET U&\"ddlgate.br!0065ak_glass\" UESCAPE '!' = 'v4.public.abc'", "/* c */ SET ddlgate.break_glass\n= 'v4.public.abc'"}) {
    auto r = scan_break_glass_sql(sql, false);
    EXPECT_EQ(r.kind, Kind::set) << sql;
    EXPECT_EQ(r.token, "v4.public.abc") << sql;
    EXPECT_EQ(r.statements, 1u) << sql;
  }
}

TEST(BreakGlassSql, CountsStatementsSoAMixedQueryCanBeRefused) {
  auto r = scan_break_glass_sql("select 1; SET ddlgate.break_glass = 'T'", false);
  EXPECT_EQ(r.kind, Kind::set);
  EXPECT_EQ(r.statements, 2u);
}

TEST(BreakGlassSql, UnusableSets) {
  for (std::string sql : {"SET LOCAL ddlgate.break_glass = 'T'", "SET U&\"ddlgate\".\"break\\005fglass\" = 'T'",
                          "SET ddlgate.break_glass = 'a', 'b'",
                          "SET ddlgate.break_glass = 42", "SET ddlgate.break_glass FROM CURRENT"}) {
    auto r = scan_break_glass_sql(sql, false);
    EXPECT_EQ(r.kind, Kind::bad_set) << sql;
    EXPECT_TRUE(r.token.empty()) << sql;
    EXPECT_FALSE(r.detail.empty()) << sql;
  }
}

// set_config() would hand the token to the server as a plain setting: refused like an
// unusable SET, wherever the call is.
TEST(BreakGlassSql, SetConfigOfTheSettingIsAnUnusableSet) {
  for (std::string sql : {"select set_config('ddlgate.break_glass', 'v4.public.abc', false)",
                          "SELECT pg_catalog.set_config('DDLGATE.BREAK_GLASS', 'v4.public.abc', false)",
                          "select set_config('ddlgate.break_glass'::text, $1, false)",
                          "with t as (select set_config('ddlgate.break_glass', 'v4.public.abc', true) as v) select v from t",
                          "select 1 where set_config('ddlgate.break_glass', 'v4.public.abc', false) is not null"}) {
    auto r = scan_break_glass_sql(sql, false);
    EXPECT_EQ(r.kind, Kind::bad_set) << sql;
    EXPECT_TRUE(r.token.empty()) << sql;
    EXPECT_NE(r.detail.find("set_config"), std::string::npos) << sql;
  }
  for (std::string sql : {"select set_config('application_name', 'break_glass', false)",
                          "select current_setting('ddlgate.break_glass', true)",
                          "select my_set_config('ddlgate.break_glass', 'x')"}) {
    EXPECT_EQ(scan_break_glass_sql(sql, false).kind, Kind::none) << sql;
  }
}

TEST(BreakGlassSql, Resets) {
  EXPECT_EQ(scan_break_glass_sql("RESET ddlgate.break_glass", false).kind, Kind::reset);
  EXPECT_EQ(scan_break_glass_sql("set ddlgate.break_glass to default", false).kind, Kind::reset);
  EXPECT_EQ(scan_break_glass_sql("RESET ALL", true).detail, "RESET ALL");
  EXPECT_EQ(scan_break_glass_sql("select 1; discard all", true).detail, "DISCARD ALL");
  // Only looked for when asked (a session without break-glass has nothing to reset).
  EXPECT_EQ(scan_break_glass_sql("RESET ALL", false).kind, Kind::none);
  EXPECT_EQ(scan_break_glass_sql("DISCARD TEMP", true).kind, Kind::none);
}

TEST(BreakGlassSql, OtherTextsAreNone) {
  for (std::string sql : {"select 'ddlgate.break_glass'", "SET ddlgate.other = 'x'", "select 1",
                          "SET ddlgate.break_glass = 'unterminated", "SHOW ddlgate.break_glass", ""}) {
    EXPECT_EQ(scan_break_glass_sql(sql, true).kind, Kind::none) << sql;
  }
}

TEST(BreakGlassSql, LongTextsAreScannedToo) {
  std::string sql = "select 1 /*" + std::string(40000, 'x') + "*/; SET ddlgate.break_glass = 'T'";
  auto r = scan_break_glass_sql(sql, false);
  EXPECT_EQ(r.kind, Kind::set);
  EXPECT_EQ(r.statements, 2u);
}

}  // namespace
TEST(BreakGlassSql, TheHotPathCheckFindsEveryWayToNameTheSetting) {
  for (const char* sql : {"SET ddlgate.break_glass = 'x'", "set DDLGATE.BREAK_GLASS to 'x'", "set \"ddlgate\".\"Break_Glass\" = 'x'",
                          "reset ddlgate.break_glass", "set U&\"ddlgate\".\"break\\005fglass\" = 'x'",
                          "set u&\"d\\0064lgate\".x = 'x'", "break_glass"}) {
    EXPECT_TRUE(mentions_break_glass(sql)) << sql;
  }
  for (const char* sql : {"select 1", "select break_glasses_ from t", "select a_b from t where x = 'u&'", "",
                          "_glass", "break_", "select u& 'x'"}) {
    // "break_glasses_" still names break_glass: only a false positive costs a parse.
    if (std::string_view(sql).find("break_glass") != std::string_view::npos) continue;
    EXPECT_FALSE(mentions_break_glass(sql)) << sql;
  }
}

}  // namespace ddlgate::sql
