// Microbenchmarks for the policy hot path and for hashing migration files.
// Goals (issue #3): cache hit <= 300 ns for a 100-byte statement; miss (parse +
// classify) <= 10 us for a pgbench SELECT; a 1,000-statement migration <= 50 ms.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/statement_cache.h"

namespace {

using ddlgate::sql::analyze;
using ddlgate::sql::Detail;
using ddlgate::sql::Policy;
using ddlgate::sql::StatementCache;

// Exactly 100 bytes; the leading comment keeps it from plain_dml_class(), so it is cached.
const std::string kHundredByteStatement =
    "/**/SELECT abalance, bid FROM pgbench_accounts WHERE aid = $1 AND bid = $2 AND abalance > 0 LIMIT 10";

void BM_CacheHit(benchmark::State& state) {
  StatementCache cache(Policy{}, 64u << 20);
  for (int i = 0; i < 1000; ++i) cache.get("/**/SELECT " + std::to_string(i) + " FROM t");  // a populated cache
  cache.get(kHundredByteStatement);
  for (auto _ : state) benchmark::DoNotOptimize(cache.get(kHundredByteStatement));
  state.counters["bytes"] = static_cast<double>(kHundredByteStatement.size());
}
BENCHMARK(BM_CacheHit);

void BM_MissParseClassify(benchmark::State& state) {
  const std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
  for (auto _ : state) benchmark::DoNotOptimize(analyze(sql, Policy{}, Detail::controlled_only));
}
BENCHMARK(BM_MissParseClassify)->Unit(benchmark::kMicrosecond);

// The proxy's commonest miss: an application statement with new literals,
// answered by plain_dml_class() without a parse.
void BM_MissPlainDml(benchmark::State& state) {
  StatementCache cache(Policy{}, 64u << 20);
  std::vector<std::string> texts;
  for (int i = 0; i < 4096; ++i) {
    texts.push_back("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(i * 7919) + ";");
  }
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(cache.get(texts[i++ & 4095]));
}
BENCHMARK(BM_MissPlainDml);

void BM_MissControlledDdl(benchmark::State& state) {
  const std::string sql = "ALTER TABLE pgbench_accounts ADD COLUMN note text DEFAULT ''";
  for (auto _ : state) benchmark::DoNotOptimize(analyze(sql, Policy{}, Detail::controlled_only));
}
BENCHMARK(BM_MissControlledDdl)->Unit(benchmark::kMicrosecond);

std::string migration_file(int statements) {
  std::string sql = "-- generated migration\n";
  for (int i = 0; i < statements; ++i) {
    std::string n = std::to_string(i);
    switch (i % 5) {
      case 0: sql += "CREATE TABLE events_" + n + " (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload jsonb);\n"; break;
      case 1: sql += "ALTER TABLE events_" + n + " ADD COLUMN kind varchar(32) NOT NULL DEFAULT 'x';\n"; break;
      case 2: sql += "CREATE INDEX CONCURRENTLY events_" + n + "_at ON events_" + n + " (at) WHERE kind <> 'y';\n"; break;
      case 3: sql += "GRANT SELECT, INSERT ON events_" + n + " TO app_rw;\n"; break;
      default: sql += "CREATE FUNCTION f_" + n + "(a int) RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN a + " + n + "; END$$;\n"; break;
    }
  }
  return sql;
}

void BM_HashMigration1000(benchmark::State& state) {
  const std::string sql = migration_file(1000);
  for (auto _ : state) {
    auto a = analyze(sql, Policy{}, Detail::all);
    if (a.statements.size() != 1000) state.SkipWithError("wrong statement count");
    benchmark::DoNotOptimize(a);
  }
  state.counters["input_bytes"] = static_cast<double>(sql.size());
}
// Inputs above 16 KiB are parsed on a helper thread: count the whole process's CPU time.
BENCHMARK(BM_HashMigration1000)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();
