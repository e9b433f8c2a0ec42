// Break-glass claims: issuing, and every check verify_break_glass makes.
#include <array>

#include <gtest/gtest.h>

#include "ddlgate/breakglass/breakglass.h"
#include "ddlgate/breakglass/paseto.h"

using namespace ddlgate::breakglass;
using namespace ddlgate::base;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = *parse_time("2026-03-01T12:00:00Z");

class BreakGlass : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = SigningKey::generate();
    other_ = SigningKey::generate();
    ASSERT_TRUE(key_ && other_);
    claims_.issuer = "alice@example.com";
    claims_.subject = "oncall_admin";
    claims_.databases = {"shop", "billing"};
    claims_.environment = "prod";
    claims_.issued_at = kT0;
    claims_.not_before = kT0;
    claims_.expires = kT0 + 30min;
    claims_.token_id = new_break_glass_token_id();
    claims_.reason = "orders table locked by a runaway migration";
    claims_.ticket = "INC-1234";
  }

  std::string issue() {
    auto t = issue_break_glass(*key_, claims_);
    EXPECT_TRUE(t) << (t ? "" : t.error().reason);
    return t ? *t : "";
  }
  // Signs raw payload bytes as a break-glass token would be signed.
  std::string sign_raw(const std::string& payload) {
    return *paseto::sign_v4_public(*key_, payload, "", kBreakGlassImplicit);
  }
  BreakGlassResult verify(const std::string& token, BreakGlassExpectation e = {"oncall_admin", "shop", "prod"},
                          TimePoint now = kT0 + 5min, std::chrono::seconds cap = 1h) {
    std::array<PublicKey, 1> keys{key_->public_key()};
    return verify_break_glass(token, keys, e, now, cap, 60s);
  }
  std::string payload_with(const std::string& field_json) {
    // A valid payload with one field replaced or added (field_json is `"k":v`).
    std::string p = serialize_break_glass_claims(claims_);
    return p.substr(0, p.size() - 1) + "," + field_json + "}";
  }

  std::unique_ptr<SigningKey> key_, other_;
  BreakGlassClaims claims_;
};

}  // namespace

TEST_F(BreakGlass, TokenIdIs128RandomBitsInHex) {
  auto a = new_break_glass_token_id();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, new_break_glass_token_id());
}

TEST_F(BreakGlass, ValidTokenGivesItsClaims) {
  claims_.single_use = true;
  claims_.statements = {"sha256:" + std::string(64, 'a')};
  auto r = verify(issue());
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.claims->subject, "oncall_admin");
  EXPECT_EQ(r.claims->databases, claims_.databases);
  EXPECT_EQ(r.claims->token_id, claims_.token_id);
  EXPECT_TRUE(r.claims->single_use);
  EXPECT_EQ(r.claims->statements, claims_.statements);
  EXPECT_EQ(r.claims->expires, kT0 + 30min);
  EXPECT_EQ(r.signer, key_->public_key());
  // The second database is accepted too.
  EXPECT_TRUE(verify(issue(), {"oncall_admin", "billing", "prod"}).ok());
}

TEST_F(BreakGlass, TimeWindowWithSkew) {
  auto t = issue();
  EXPECT_TRUE(verify(t, {"oncall_admin", "shop", "prod"}, kT0 - 60s).ok());  // within skew before nbf
  auto early = verify(t, {"oncall_admin", "shop", "prod"}, kT0 - 61s);
  EXPECT_EQ(early.error, BreakGlassError::not_yet_valid);
  EXPECT_NE(early.detail.find("2026-03-01T12:00:00Z"), std::string::npos) << early.detail;
  EXPECT_TRUE(verify(t, {"oncall_admin", "shop", "prod"}, kT0 + 30min + 59s).ok());
  auto late = verify(t, {"oncall_admin", "shop", "prod"}, kT0 + 30min + 60s);
  EXPECT_EQ(late.error, BreakGlassError::expired);
  EXPECT_FALSE(late.ok());
}

TEST_F(BreakGlass, WrongScopeIsNamed) {
  auto t = issue();
  auto u = verify(t, {"mallory", "shop", "prod"});
  EXPECT_EQ(u.error, BreakGlassError::wrong_user);
  EXPECT_EQ(u.detail, "token is for user \"oncall_admin\", not \"mallory\"");
  EXPECT_EQ(verify(t, {"oncall_admin", "hr", "prod"}).error, BreakGlassError::wrong_database);
  EXPECT_EQ(verify(t, {"oncall_admin", "shop", "staging"}).error, BreakGlassError::wrong_environment);
  EXPECT_EQ(verify(t, {"ONCALL_ADMIN", "shop", "prod"}).error, BreakGlassError::wrong_user);  // exact match
}

TEST_F(BreakGlass, WrongAudience) {
  std::string p = serialize_break_glass_claims(claims_);
  p.replace(p.find("\"aud\":\"ddlgate\""), 15, "\"aud\":\"other\"");
  EXPECT_EQ(verify(sign_raw(p)).error, BreakGlassError::wrong_audience);
  // issue refuses it outright
  claims_.audience = "other";
  EXPECT_FALSE(issue_break_glass(*key_, claims_));
}

TEST_F(BreakGlass, LifetimeOverTheProxyCap) {
  claims_.expires = kT0 + 2h;
  auto r = verify(issue(), {"oncall_admin", "shop", "prod"}, kT0 + 5min, 1h);
  EXPECT_EQ(r.error, BreakGlassError::lifetime_too_long);
  EXPECT_TRUE(verify(issue(), {"oncall_admin", "shop", "prod"}, kT0 + 5min, 2h).ok());
  claims_.expires = kT0 + 24h + 1s;
  auto refused = issue_break_glass(*key_, claims_);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().reason.find("24h"), std::string::npos) << refused.error().reason;
}

TEST_F(BreakGlass, WrongKeyAndNoKeys) {
  std::array<PublicKey, 1> wrong{other_->public_key()};
  auto r = verify_break_glass(issue(), wrong, {"oncall_admin", "shop", "prod"}, kT0, 1h, 60s);
  EXPECT_EQ(r.error, BreakGlassError::bad_signature);
  std::array<PublicKey, 2> both{other_->public_key(), key_->public_key()};
  EXPECT_TRUE(verify_break_glass(issue(), both, {"oncall_admin", "shop", "prod"}, kT0, 1h, 60s).ok());
  EXPECT_EQ(verify_break_glass(issue(), {}, {"oncall_admin", "shop", "prod"}, kT0, 1h, 60s).error,
            BreakGlassError::no_trusted_keys);
}

TEST_F(BreakGlass, SignatureFromAnotherContextIsRefused) {
  // Same key, same payload, but not signed with the break-glass implicit assertion.
  auto t = paseto::sign_v4_public(*key_, serialize_break_glass_claims(claims_), "", "");
  EXPECT_EQ(verify(*t).error, BreakGlassError::bad_signature);
}

TEST_F(BreakGlass, TamperedPayloadFooterOrTruncated) {
  auto t = issue();
  auto dot = t.find('.', 10);
  ASSERT_NE(dot, std::string::npos);
  std::string payload_byte = t;
  payload_byte[20] = payload_byte[20] == 'x' ? 'y' : 'x';
  EXPECT_EQ(verify(payload_byte).error, BreakGlassError::bad_signature);
  std::string footer = t;
  footer[dot + 3] = footer[dot + 3] == 'x' ? 'y' : 'x';
  EXPECT_FALSE(verify(footer).ok());
  EXPECT_EQ(verify(t.substr(0, dot)).error, BreakGlassError::bad_signature);  // footer removed
  EXPECT_FALSE(verify(t.substr(0, dot - 10) + t.substr(dot)).ok());            // truncated
  EXPECT_EQ(verify(t.substr(0, 12)).error, BreakGlassError::malformed);
  EXPECT_EQ(verify("").error, BreakGlassError::malformed);
  EXPECT_EQ(verify("v4.local." + t.substr(10)).error, BreakGlassError::malformed);
  EXPECT_EQ(verify(t + std::string(9000, 'A')).error, BreakGlassError::malformed);
}

TEST_F(BreakGlass, DuplicateKeysAreRefused) {
  auto r = verify(sign_raw(payload_with("\"sub\":\"mallory\"")));
  EXPECT_EQ(r.error, BreakGlassError::bad_claims);
  EXPECT_NE(r.detail.find("duplicate key \"sub\""), std::string::npos) << r.detail;
}

TEST_F(BreakGlass, UnknownFieldsAreRefused) {
  auto r = verify(sign_raw(payload_with("\"read_only\":true")));
  EXPECT_EQ(r.error, BreakGlassError::bad_claims);
  EXPECT_NE(r.detail.find("unknown field \"read_only\""), std::string::npos) << r.detail;
}

TEST_F(BreakGlass, TypesAndShapesAreChecked) {
  auto bad = [&](std::string from, std::string to) {
    std::string p = serialize_break_glass_claims(claims_);
    auto at = p.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    p.replace(at, from.size(), to);
    auto r = verify(sign_raw(p));
    EXPECT_EQ(r.error, BreakGlassError::bad_claims) << to;
    return r.detail;
  };
  EXPECT_NE(bad("\"single_use\":false", "\"single_use\":\"false\"").find("single_use"), std::string::npos);
  bad("\"databases\":[\"shop\",\"billing\"]", "\"databases\":\"shop\"");
  bad("\"databases\":[\"shop\",\"billing\"]", "\"databases\":[]");
  bad("\"databases\":[\"shop\",\"billing\"]", "\"databases\":[\"shop\",1]");
  bad("\"sub\":\"oncall_admin\"", "\"sub\":[\"oncall_admin\"]");
  bad("\"sub\":\"oncall_admin\"", "\"sub\":\"\"");
  bad("\"reason\":\"", "\"reason\":\"\\u001b[2J");
  bad("\"exp\":\"2026-03-01T12:30:00Z\"", "\"exp\":\"2026-03-01T13:30:00+01:00\"");
  bad("\"exp\":\"2026-03-01T12:30:00Z\"", "\"exp\":1772368200");
  bad("\"exp\":\"2026-03-01T12:30:00Z\"", "\"exp\":\"2026-03-01T11:30:00Z\"");  // before nbf
  bad("\"jti\":\"", "\"jti\":\"XYZ");
  EXPECT_EQ(verify(sign_raw("[1,2]")).error, BreakGlassError::bad_claims);
  EXPECT_EQ(verify(sign_raw("{")).error, BreakGlassError::bad_claims);
  EXPECT_TRUE(verify(sign_raw(payload_with("\"statements\":[\"sha256:" + std::string(64, '0') + "\"]"))).ok());
  EXPECT_EQ(verify(sign_raw(payload_with("\"statements\":[\"sha256:ABC\"]"))).error, BreakGlassError::bad_claims);
}

TEST_F(BreakGlass, TimesAreRfc3339UtcInThePayload) {
  std::string p = serialize_break_glass_claims(claims_);
  EXPECT_NE(p.find("\"iat\":\"2026-03-01T12:00:00Z\""), std::string::npos) << p;
  EXPECT_NE(p.find("\"exp\":\"2026-03-01T12:30:00Z\""), std::string::npos) << p;
  // +00:00, as the PASETO spec writes times, is read too.
  std::string q = p;
  q.replace(q.find("12:30:00Z"), 9, "12:30:00+00:00");
  EXPECT_TRUE(verify(sign_raw(q)).ok());
}
