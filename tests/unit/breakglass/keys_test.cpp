// The trusted keys of [break_glass] and the token digest the ledger keeps.
#include <gtest/gtest.h>

#include "ddlgate/base/base64.h"
#include "ddlgate/breakglass/breakglass.h"

namespace ddlgate::breakglass {
namespace {

using base::base64_encode;
using base::Problem;

TEST(BreakGlassKeys, DecodesAndNamesBadOnes) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key);
  config::BreakGlass settings;
  settings.keys = {base64_encode(std::string(reinterpret_cast<const char*>(key->public_key().data()), 32)),
                   key->public_pem(), "no-such-file.pub"};
  std::vector<Problem> problems;
  auto keys = break_glass_keys(settings, &problems);
  EXPECT_EQ(keys.size(), 1u);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].where, "keys[1]");
  EXPECT_NE(problems[0].message.find("listed twice"), std::string::npos);
  EXPECT_EQ(problems[1].where, "keys[2]");
}

// A key that says it is for another use is not a break-glass key (issue 26 item 10).
TEST(BreakGlassKeys, AKeyDeclaringAnotherUseIsRefused) {
  auto key = SigningKey::generate();
  auto other = SigningKey::generate();
  ASSERT_TRUE(key && other);
  config::BreakGlass settings;
  settings.keys = {"ddlgate-key-use: break-glass\n" + key->public_pem(), "ddlgate-key-use: registry\n" + other->public_pem()};
  std::vector<Problem> problems;
  auto keys = break_glass_keys(settings, &problems);
  EXPECT_EQ(keys.size(), 1u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].where, "keys[1]");
  EXPECT_EQ(problems[0].message, "the key is for 'registry' use, and it is listed here for 'break-glass'");
}

TEST(BreakGlassDigest, IsAHashNotTheToken) {
  auto d = break_glass_token_digest("v4.public.secret");
  EXPECT_EQ(d.rfind("sha256:", 0), 0u);
  EXPECT_EQ(d.size(), 7u + 64u);
  EXPECT_EQ(d.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace ddlgate::breakglass
