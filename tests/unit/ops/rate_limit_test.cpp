#include "ddlgate/ops/rate_limit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

using ddlgate::ops::TokenBuckets;
using namespace std::chrono_literals;

namespace {
const TokenBuckets::Clock::time_point t0{std::chrono::hours(1)};
}

TEST(TokenBuckets, TheBurstGoesAtOnceThenEachEventWaitsItsTurn) {
  TokenBuckets b;
  for (int i = 0; i < 3; ++i) {
    auto turn = b.reserve("alice", 2.0, 3.0, 10s, t0);
    ASSERT_TRUE(turn);
    EXPECT_EQ(turn->at, t0) << i;
    EXPECT_FALSE(turn->first_wait);
  }
  // At 2 per second, the 4th and 5th events queue 0.5 s apart.
  auto fourth = b.reserve("alice", 2.0, 3.0, 10s, t0);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->at, t0 + 500ms);
  EXPECT_TRUE(fourth->first_wait);
  auto fifth = b.reserve("alice", 2.0, 3.0, 10s, t0);
  ASSERT_TRUE(fifth);
  EXPECT_EQ(fifth->at, t0 + 1000ms);
  EXPECT_FALSE(fifth->first_wait);
  // Other keys have buckets of their own.
  auto bob = b.reserve("bob", 2.0, 3.0, 10s, t0);
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->at, t0);
  EXPECT_EQ(b.size(), 2u);
}

TEST(TokenBuckets, AReservationBeyondTheLongestWaitIsNotTaken) {
  TokenBuckets b;
  ASSERT_TRUE(b.reserve("u", 1.0, 1.0, 2s, t0));
  ASSERT_EQ(b.reserve("u", 1.0, 1.0, 2s, t0)->at, t0 + 1s);
  ASSERT_EQ(b.reserve("u", 1.0, 1.0, 2s, t0)->at, t0 + 2s);
  EXPECT_FALSE(b.reserve("u", 1.0, 1.0, 2s, t0));
  // Refused reservations do not lengthen the queue: once a second has passed, the
  // next turn is again 2 s out (behind the two queued events), not later.
  EXPECT_FALSE(b.reserve("u", 1.0, 1.0, 2s, t0));
  auto later = b.reserve("u", 1.0, 1.0, 2s, t0 + 1s);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->at, t0 + 3s);
}

TEST(TokenBuckets, TheBucketRefillsAtTheRateUpToTheBurst) {
  TokenBuckets b;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(b.reserve("u", 4.0, 4.0, 1s, t0)->at, t0);
  // A quarter second brings one token back.
  EXPECT_EQ(b.reserve("u", 4.0, 4.0, 1s, t0 + 250ms)->at, t0 + 250ms);
  EXPECT_EQ(b.reserve("u", 4.0, 4.0, 1s, t0 + 250ms)->at, t0 + 500ms);
  // An hour idle refills to the burst, not beyond it.
  const auto t1 = t0 + 1h;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(b.reserve("u", 4.0, 4.0, 1s, t1)->at, t1) << i;
  auto waited = b.reserve("u", 4.0, 4.0, 1s, t1);
  ASSERT_TRUE(waited);
  EXPECT_EQ(waited->at, t1 + 250ms);
  EXPECT_TRUE(waited->first_wait);
}

TEST(TokenBuckets, ALowerBurstAfterAReloadCapsWhatTheBucketHolds) {
  TokenBuckets b;
  ASSERT_EQ(b.reserve("u", 1.0, 100.0, 1s, t0)->at, t0);  // 99 left under the old burst
  ASSERT_EQ(b.reserve("u", 1.0, 2.0, 1s, t0)->at, t0);    // capped to 2, then 1 left
  EXPECT_EQ(b.reserve("u", 1.0, 2.0, 1s, t0)->at, t0);
  EXPECT_EQ(b.reserve("u", 1.0, 2.0, 1s, t0)->at, t0 + 1s);
}

TEST(TokenBuckets, FullBucketsAreForgottenWhenThereAreTooManyKeys) {
  TokenBuckets b;
  // One key with ten events queued (the last one 9 s out), then as many other keys
  // as the cap, each spending its one token.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(b.reserve("busy", 1.0, 1.0, 60s, t0));
  for (std::size_t i = 0; b.size() < TokenBuckets::kPruneAbove; ++i) {
    ASSERT_TRUE(b.reserve("k" + std::to_string(i), 1.0, 1.0, 60s, t0));
  }
  ASSERT_EQ(b.size(), TokenBuckets::kPruneAbove);
  // 5 s later the idle keys are full again and are forgotten; "busy" still owes 4 s.
  ASSERT_TRUE(b.reserve("new", 1.0, 1.0, 60s, t0 + 5s));
  EXPECT_EQ(b.size(), 2u);
  auto busy = b.reserve("busy", 1.0, 1.0, 60s, t0 + 5s);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->at, t0 + 10s);
  // A forgotten key starts again with a full bucket.
  EXPECT_EQ(b.reserve("k0", 1.0, 1.0, 60s, t0 + 5s)->at, t0 + 5s);
}
