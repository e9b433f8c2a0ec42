#include "ddlgate/ops/webhook.h"

#include <gtest/gtest.h>

using namespace ddlgate::ops;

TEST(Hmac, MatchesRfc4231TestCase2) {
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, MatchesTheWellKnownFoxVector) {
  EXPECT_EQ(hmac_sha256_hex("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST(WebhookSignature, SignsTimestampDotBody) {
  // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret   (docs/operations.md)
  EXPECT_EQ(webhook_signature("s3cret", "1700000000", R"({"a":1})"),
            "sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940");
  EXPECT_NE(webhook_signature("s3cret", "1700000001", R"({"a":1})"),
            webhook_signature("s3cret", "1700000000", R"({"a":1})"));
}

TEST(WebhookBody, HasSlackTextAndStructuredFields) {
  Event e;
  e.name = "statement.denied";
  e.text = "ddlgate denied DROP TABLE users";
  e.details = {{"user", "app"}, {"statement", "DROP TABLE users"}};
  e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  auto j = nlohmann::json::parse(webhook_body(e, "db1-proxy"));
  EXPECT_EQ(j["text"], "ddlgate denied DROP TABLE users");
  EXPECT_EQ(j["event"], "statement.denied");
  EXPECT_EQ(j["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(j["instance"], "db1-proxy");
  EXPECT_EQ(j["details"]["statement"], "DROP TABLE users");
}

TEST(WebhookBody, InvalidUtf8IsReplacedNotThrown) {
  Event e;
  e.name = "statement.denied";
  e.text = std::string("bad \xff byte");
  EXPECT_NO_THROW(nlohmann::json::parse(webhook_body(e, "x")));
}

TEST(Webhook, EventFilter) {
  EXPECT_TRUE(event_selected({}, "ledger.failed"));
  EXPECT_TRUE(event_selected({"ledger.failed", "statement.denied"}, "ledger.failed"));
  EXPECT_FALSE(event_selected({"statement.denied"}, "ledger.failed"));
}

TEST(Webhook, BackoffDoublesUpToTheCap) {
  using std::chrono::milliseconds;
  EXPECT_EQ(backoff_delay(1, milliseconds(100), milliseconds(1000)), milliseconds(100));
  EXPECT_EQ(backoff_delay(2, milliseconds(100), milliseconds(1000)), milliseconds(200));
  EXPECT_EQ(backoff_delay(4, milliseconds(100), milliseconds(1000)), milliseconds(800));
  EXPECT_EQ(backoff_delay(5, milliseconds(100), milliseconds(1000)), milliseconds(1000));
  EXPECT_EQ(backoff_delay(1000, milliseconds(100), milliseconds(1000)), milliseconds(1000));
}

TEST(Webhook, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("token-1", "token-1"));
  EXPECT_FALSE(constant_time_equal("token-1", "token-2"));
  EXPECT_FALSE(constant_time_equal("token", "token-1"));
  EXPECT_TRUE(constant_time_equal("", ""));
}
