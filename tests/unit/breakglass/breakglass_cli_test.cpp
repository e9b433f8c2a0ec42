// `ddlgate breakglass issue|inspect` through the built binary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ddlgate/testing/process.h"

using ddlgate::testing::CommandResult;
using ddlgate::testing::run_command;
using ddlgate::testing::TempDir;

namespace {

CommandResult run_ddlgate(std::vector<std::string> args, std::string_view stdin_text = {}) {
  args.insert(args.begin(), DDLGATE_BIN);
  return run_command(args, stdin_text);
}

class BreakGlassCli : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : {"bg", "other"}) {
      auto r = run_ddlgate({"keygen", "--out", (dir() / k).string()});
      ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    }
  }
  std::string path(const std::string& name) const { return (dir() / name).string(); }
  const std::filesystem::path& dir() const { return tmp_.path(); }

  CommandResult issue(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"breakglass", "issue", "--key", path("bg.key"), "--user", "oncall_admin",
                                     "--database", "shop", "--database", "billing", "--environment", "prod",
                                     "--reason", "orders table locked", "--ticket", "INC-1234"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ddlgate(args);
  }
  std::string token() {
    auto r = issue({"--lifetime", "30m", "--single-use"});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    std::string t = r.stdout_text;
    EXPECT_FALSE(t.empty());
    EXPECT_EQ(t.back(), '\n');
    t.pop_back();
    return t;
  }

  TempDir tmp_{"ddlgate-breakglass"};
};

}  // namespace

TEST_F(BreakGlassCli, IssuePrintsOnlyTheTokenOnStdout) {
  auto r = issue();
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text.rfind("v4.public.", 0), 0u) << r.stdout_text;
  EXPECT_EQ(r.stdout_text.find('\n'), r.stdout_text.size() - 1);  // one line
  EXPECT_EQ(r.stdout_text.find(' '), std::string::npos);
  EXPECT_NE(r.stderr_text.find("oncall_admin"), std::string::npos) << r.stderr_text;
  EXPECT_EQ(r.stderr_text.find("PRIVATE"), std::string::npos);
  EXPECT_EQ(r.stderr_text.find("v4.public."), std::string::npos);  // the token only on stdout
}

TEST_F(BreakGlassCli, InspectWithTheRightKeyVerifies) {
  auto t = token();
  auto r = run_ddlgate({"breakglass", "inspect", t, "--pubkey", path("bg.pub")});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("signature:   verified"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("user:        oncall_admin"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("shop, billing"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("single use:  yes"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("valid now"), std::string::npos) << r.stdout_text;

  auto j = run_ddlgate({"breakglass", "inspect", "-", "--pubkey", path("bg.pub"), "--json"}, t + "\n");
  ASSERT_EQ(j.exit_code, 0) << j.stderr_text;
  auto doc = nlohmann::json::parse(j.stdout_text);
  EXPECT_EQ(doc["verified"], true);
  EXPECT_EQ(doc["claims"]["sub"], "oncall_admin");
  EXPECT_EQ(doc["claims"]["aud"], "ddlgate");
  EXPECT_EQ(doc["claims"]["single_use"], true);
  EXPECT_EQ(doc["claims"]["jti"].get<std::string>().size(), 32u);
}

TEST_F(BreakGlassCli, InspectWithAnotherKeyFails) {
  auto t = token();
  auto r = run_ddlgate({"breakglass", "inspect", t, "--pubkey", path("other.pub")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stdout_text.find("NOT VERIFIED"), std::string::npos) << r.stdout_text;
  // The token is a secret: at most its first 16 characters appear in messages.
  EXPECT_EQ(r.stderr_text.find(t.substr(0, 17)), std::string::npos) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find(t.substr(0, 16)), std::string::npos) << r.stderr_text;
}

TEST_F(BreakGlassCli, InspectWithoutKeyIsLabelledUnverified) {
  auto r = run_ddlgate({"breakglass", "inspect", token()});
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("UNVERIFIED"), std::string::npos) << r.stdout_text;
  auto j = run_ddlgate({"breakglass", "inspect", token(), "--json"});
  EXPECT_EQ(nlohmann::json::parse(j.stdout_text)["signature"], "UNVERIFIED");
}

TEST_F(BreakGlassCli, TamperedOrMalformedTokensFail) {
  auto t = token();
  std::string bad = t;
  bad[30] = bad[30] == 'x' ? 'y' : 'x';
  EXPECT_EQ(run_ddlgate({"breakglass", "inspect", bad, "--pubkey", path("bg.pub")}).exit_code, 1);
  auto big = run_ddlgate({"breakglass", "inspect", "-"}, t + std::string(20000, 'A'));
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_NE(big.stderr_text.find("longer than 8 KiB"), std::string::npos) << big.stderr_text;
  auto m = run_ddlgate({"breakglass", "inspect", "v4.public.not*base64*at*all*" + t.substr(40)});
  EXPECT_EQ(m.exit_code, 1);
  EXPECT_NE(m.stderr_text.find("base64url"), std::string::npos) << m.stderr_text;
  EXPECT_EQ(m.stderr_text.find(t.substr(40)), std::string::npos) << m.stderr_text;
}

TEST_F(BreakGlassCli, UsageErrors) {
  EXPECT_EQ(issue({"--lifetime", "25h"}).exit_code, 2);
  EXPECT_EQ(issue({"--lifetime", "soon"}).exit_code, 2);
  EXPECT_EQ(issue({"--statement", "sha256:nothex"}).exit_code, 2);
  EXPECT_EQ(run_ddlgate({"breakglass", "issue", "--key", path("bg.key"), "--user", "u"}).exit_code, 2);
  EXPECT_EQ(run_ddlgate({"breakglass", "issue", "--key", path("missing.key"), "--user", "u", "--database", "d",
                         "--environment", "e", "--reason", "r", "--ticket", "t"}).exit_code, 2);
  EXPECT_EQ(run_ddlgate({"breakglass", "inspect", token(), "--pubkey", path("missing.pub")}).exit_code, 2);
  auto h = issue({"--lifetime", "24h"});
  EXPECT_EQ(h.exit_code, 0) << h.stderr_text;
}

// Item 10 of issue 26: a signing key others can read is refused; a public key that says
// it is for another use is refused where a break-glass key is expected.
TEST_F(BreakGlassCli, IssueRefusesAKeyFileGroupOrOthersCanReadAndInspectChecksTheKeysUse) {
  std::filesystem::permissions(path("bg.key"), std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  auto r = issue();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.stderr_text.find("bg.key: mode 0640 gives group or others access to a private key; refusing to use it"),
            std::string::npos)
      << r.stderr_text;
  EXPECT_TRUE(r.stdout_text.empty());
  std::filesystem::permissions(path("bg.key"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const std::string t = token();

  ASSERT_EQ(run_ddlgate({"keygen", "--out", path("approver"), "--use", "approver"}).exit_code, 0);
  auto wrong = run_ddlgate({"breakglass", "inspect", t, "--pubkey", path("approver.pub")});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.stderr_text.find("the key is for 'approver' use, and it is listed here for 'break-glass'"),
            std::string::npos)
      << wrong.stderr_text;
  ASSERT_EQ(run_ddlgate({"keygen", "--out", path("bg2"), "--use", "break-glass"}).exit_code, 0);
  auto other = run_ddlgate({"breakglass", "inspect", t, "--pubkey", path("bg2.pub")});
  EXPECT_EQ(other.exit_code, 1) << other.stderr_text;  // the right use, another key: the signature fails
}
