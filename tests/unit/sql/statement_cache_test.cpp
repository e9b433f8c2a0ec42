#include <string>

#include <gtest/gtest.h>

#include "ddlgate/sql/statement_cache.h"

namespace ddlgate::sql {
namespace {

// The texts below start with a comment so that plain_dml_class() does not take them.
TEST(StatementCache, SecondLookupIsAHitWithTheSameResult) {
  StatementCache cache(Policy{}, 1 << 20);
  auto first = cache.get("/**/SELECT 1");
  auto second = cache.get("/**/SELECT 1");
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.entries(), 1u);
  ASSERT_EQ(first->statements.size(), 1u);
  EXPECT_EQ(first->statements[0].cls, StatementClass::read);
}

TEST(StatementCache, KeyIsTheExactText) {
  StatementCache cache(Policy{}, 1 << 20);
  cache.get("/**/SELECT 1");
  cache.get("/**/select 1");
  cache.get("/**/SELECT 1 ");
  EXPECT_EQ(cache.stats().misses, 3u);
  EXPECT_EQ(cache.entries(), 3u);
}

TEST(StatementCache, CachesParseErrorsAndControlledResults) {
  StatementCache cache(Policy{}, 1 << 20);
  EXPECT_FALSE(cache.get("SELEC 1")->ok());
  EXPECT_FALSE(cache.get("SELEC 1")->ok());
  auto drop = cache.get("DROP TABLE t");
  EXPECT_TRUE(drop->statements[0].controlled);
  EXPECT_FALSE(drop->statements[0].hash.empty());
  EXPECT_EQ(cache.stats().hits, 1u);
}

TEST(StatementCache, StaysWithinItsByteBudgetEvictingLeastRecentlyUsed) {
  const std::size_t capacity = 16 * 1024;
  StatementCache cache(Policy{}, capacity);
  cache.get("/**/SELECT 0");
  for (int i = 1; i < 500; ++i) {
    cache.get("/**/SELECT 0");  // keep it recent
    cache.get("/**/SELECT " + std::to_string(i) + " FROM some_table_with_a_long_name WHERE a = $1");
    ASSERT_LE(cache.bytes(), capacity);
  }
  EXPECT_GT(cache.stats().evictions, 0u);
  EXPECT_LT(cache.entries(), 499u);
  auto before = cache.stats().hits;
  cache.get("/**/SELECT 0");
  EXPECT_EQ(cache.stats().hits, before + 1) << "the most recently used entry was evicted";
  before = cache.stats().misses;
  cache.get("/**/SELECT 1 FROM some_table_with_a_long_name WHERE a = $1");
  EXPECT_EQ(cache.stats().misses, before + 1) << "the oldest entry should have been evicted";
}

TEST(StatementCache, OversizedTextIsAnalysedButNotCached) {
  StatementCache cache(Policy{}, 8 * 1024);
  std::string big = "/**/SELECT '" + std::string(4000, 'x') + "'";
  auto a = cache.get(big);
  EXPECT_TRUE(a->ok());
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(StatementCache, UsesItsPolicy) {
  Policy p;
  p.set_controlled(StatementClass::write, true);
  StatementCache cache(p, 1 << 20);
  EXPECT_TRUE(cache.get("INSERT INTO t VALUES (1)")->statements[0].controlled);
}

TEST(StatementCache, PlainDmlIsAnsweredWithoutParsingAndNotCached) {
  StatementCache cache(Policy{}, 1 << 20);
  for (int i = 0; i < 100; ++i) {
    auto a = cache.get("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(i) + ";");
    ASSERT_EQ(a->statements.size(), 1u);
    EXPECT_EQ(a->statements[0].cls, StatementClass::read);
    EXPECT_FALSE(a->any_controlled());
  }
  EXPECT_EQ(cache.get("update t set a = 1")->statements[0].cls, StatementClass::write);
  EXPECT_EQ(cache.stats().plain_dml, 101u);
  EXPECT_EQ(cache.stats().misses, 0u);
  EXPECT_EQ(cache.entries(), 0u);
  // Anything else still goes through the full analysis and the cache.
  EXPECT_TRUE(cache.get("select 1; drop table t")->any_controlled());
  EXPECT_EQ(cache.entries(), 1u);
  // Not when the policy controls reads or writes.
  Policy p;
  p.set_controlled(StatementClass::read, true);
  StatementCache strict(p, 1 << 20);
  EXPECT_TRUE(strict.get("SELECT 1")->any_controlled());
  EXPECT_EQ(strict.stats().plain_dml, 0u);
}

}  // namespace
}  // namespace ddlgate::sql
