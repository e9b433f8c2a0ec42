// The options startup parameter: split like pg_split_opts, ddlgate.break_glass taken out of
// it in every form PostgreSQL accepts, everything else kept.
#include <gtest/gtest.h>

#include "ddlgate/protocol/options.h"

namespace ddlgate::protocol {
namespace {

constexpr std::string_view kName = "ddlgate.break_glass";

std::vector<std::string> texts(std::string_view options) {
  std::vector<std::string> out;
  for (auto& a : split_options(options)) out.push_back(a.text);
  return out;
}

TEST(SplitOptions, WhitespaceSeparatesAndBackslashEscapes) {
  EXPECT_EQ(texts("  -c a=1\t--b=2  "), (std::vector<std::string>{"-c", "a=1", "--b=2"}));
  EXPECT_EQ(texts("-c search_path=a\\ b"), (std::vector<std::string>{"-c", "search_path=a b"}));
  EXPECT_EQ(texts("-c x=a\\\\b"), (std::vector<std::string>{"-c", "x=a\\b"}));
  EXPECT_EQ(texts("x\\"), (std::vector<std::string>{"x"}));  // a trailing backslash escapes nothing
  EXPECT_TRUE(texts("").empty());
  EXPECT_TRUE(texts("   ").empty());
}

TEST(SplitOptions, EscapeRoundTrips) {
  for (std::string s : {"a b", "a\\b", "tab\there", "plain", "\\ \\"}) {
    auto args = split_options(escape_option(s));
    ASSERT_EQ(args.size(), 1u) << s;
    EXPECT_EQ(args[0].text, s);
  }
}

TEST(ExtractSetting, DashCWithSeparateArgument) {
  auto r = extract_setting("-c ddlgate.break_glass=v4.public.abc", kName);
  EXPECT_EQ(r.values, (std::vector<std::string>{"v4.public.abc"}));
  EXPECT_EQ(r.rewritten, "");
}

TEST(ExtractSetting, OtherOptionsStayIntactWithTheirEscapes) {
  auto r = extract_setting("-c search_path=my\\ schema -c ddlgate.break_glass=TOK --statement-timeout=5s", kName);
  EXPECT_EQ(r.values, (std::vector<std::string>{"TOK"}));
  EXPECT_EQ(r.rewritten, "-c search_path=my\\ schema --statement-timeout=5s");
  // What PostgreSQL then reads is what it would have read, minus ddlgate's setting.
  EXPECT_EQ(texts(r.rewritten), (std::vector<std::string>{"-c", "search_path=my schema", "--statement-timeout=5s"}));
}

TEST(ExtractSetting, LongAttachedAndCaseAndDashForms) {
  EXPECT_EQ(extract_setting("--ddlgate.break_glass=T1", kName).values, std::vector<std::string>{"T1"});
  EXPECT_EQ(extract_setting("--ddlgate.break-glass=T2", kName).values, std::vector<std::string>{"T2"});
  EXPECT_EQ(extract_setting("-cddlgate.break_glass=T3", kName).values, std::vector<std::string>{"T3"});
  EXPECT_EQ(extract_setting("-c DDLGATE.Break_Glass=T4", kName).values, std::vector<std::string>{"T4"});
  EXPECT_EQ(extract_setting("-c ddlgate.break-glass=T5", kName).values, std::vector<std::string>{"T5"});
  EXPECT_EQ(extract_setting("-c ddlgate.break_glass=T\\6", kName).values, std::vector<std::string>{"T6"});
}

TEST(ExtractSetting, AClusterKeepsItsOtherFlags) {
  auto r = extract_setting("-ec ddlgate.break_glass=T -c a=b", kName);
  EXPECT_EQ(r.values, std::vector<std::string>{"T"});
  EXPECT_EQ(r.rewritten, "-e -c a=b");
  auto attached = extract_setting("-Ecddlgate.break_glass=T", kName);
  EXPECT_EQ(attached.values, std::vector<std::string>{"T"});
  EXPECT_EQ(attached.rewritten, "-E");
}

TEST(ExtractSetting, EveryOccurrenceIsTakenAndReported) {
  auto r = extract_setting("-c ddlgate.break_glass=A --ddlgate.break_glass=B", kName);
  EXPECT_EQ(r.values, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(r.rewritten, "");
}

TEST(ExtractSetting, WithoutAValueItIsStillTakenOut) {
  auto r = extract_setting("-c ddlgate.break_glass -c a=1", kName);
  EXPECT_EQ(r.values, std::vector<std::string>{""});
  EXPECT_EQ(r.rewritten, "-c a=1");
  // At the very end, -c has no argument: nothing to take.
  auto dangling = extract_setting("-c", kName);
  EXPECT_FALSE(dangling.found());
  EXPECT_EQ(dangling.rewritten, "-c");
}

TEST(ExtractSetting, LookalikesAndValuesAreNotTaken) {
  for (std::string_view s : {"-c ddlgate.break_glass_x=1", "-c xddlgate.break_glass=1", "-c a=ddlgate.break_glass=1",
                             "-B ddlgate.break_glass=1", "ddlgate.break_glass=1", "-- -c ddlgate.break_glass=1",
                             "-c application_name=-c\\ ddlgate.break_glass=1"}) {
    auto r = extract_setting(s, kName);
    EXPECT_FALSE(r.found()) << s;
    EXPECT_EQ(r.rewritten, s) << s;
  }
}

TEST(ExtractSetting, NothingFoundLeavesTheStringByteForByte) {
  std::string s = "  -c  a=1\t\t-c b=x\\ y ";
  EXPECT_EQ(extract_setting(s, kName).rewritten, s);
}

TEST(SameParameterName, CaseAndDash) {
  EXPECT_TRUE(same_parameter_name("DDLGATE.BREAK_GLASS", kName, false));
  EXPECT_FALSE(same_parameter_name("ddlgate.break-glass", kName, false));
  EXPECT_TRUE(same_parameter_name("ddlgate.break-glass", kName, true));
  EXPECT_FALSE(same_parameter_name("ddlgate.break_glas", kName, true));
}

}  // namespace
}  // namespace ddlgate::protocol
