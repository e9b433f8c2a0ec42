// A cache of analyze() results keyed by the exact statement text, for the proxy's
// hot path where applications send the same texts again and again.
//
// One cache per worker thread: the proxy runs one io_context per thread and a
// session never leaves its thread, so a cache with no sharing needs no lock at
// all, on a hit or a miss. The price is that each thread warms its own copy,
// which for the few hundred distinct texts of an application is cheap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ddlgate/sql/analyze.h"

namespace ddlgate::sql {

// Not thread-safe by design (see above): use one instance per thread.
class StatementCache {
 public:
  // capacity_bytes bounds keys, results and bookkeeping together. A text whose
  // entry would exceed capacity_bytes / 8 is analysed but not cached.
  // options: how texts are read (one cache per setting; see ParseOptions).
  StatementCache(Policy policy, std::size_t capacity_bytes, ParseOptions options = {});

  // The analysis of sql under this cache's policy, from the cache or computed
  // (Detail::controlled_only) and inserted, evicting least recently used entries.
  // When neither read nor write is controlled, a text that plain_dml_class()
  // recognises is answered before any lookup, without parsing, and never inserted
  // (new literals in application statements would only churn the cache); its one
  // Statement has the class and offset 0, length 0, no hash.
  std::shared_ptr<const Analysis> get(std::string_view sql);

  // Whether get(sql) answers without parsing (plain_dml_class() applies).
  bool answers_without_parsing(std::string_view sql) const { return dml_uncontrolled_ && plain_dml_class(sql); }
  // Whether a text plain_dml_class() (or PlainDmlStream) settles needs no decision.
  bool plain_dml_uncontrolled() const { return dml_uncontrolled_; }
  const ParseOptions& options() const { return options_; }
  // Counters for metrics and tests.
  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t evictions = 0;
    std::uint64_t plain_dml = 0;  // answered by plain_dml_class(), counted in neither hits nor misses
  };
  const Stats& stats() const { return stats_; }
  std::size_t entries() const { return index_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::size_t capacity_bytes() const { return capacity_; }
  const Policy& policy() const { return policy_; }

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const Analysis> value;
    std::size_t bytes = 0;
  };
  using Lru = std::list<Entry>;  // front: most recently used

  void evict_until_fits(std::size_t incoming);

  Policy policy_;
  ParseOptions options_;
  bool dml_uncontrolled_;  // neither read nor write is controlled: plain_dml_class() applies
  std::size_t capacity_;
  std::size_t bytes_ = 0;
  Lru lru_;
  std::unordered_map<std::string_view, Lru::iterator> index_;  // views into Entry::key
  Stats stats_;
};

// An estimate of the heap bytes an Analysis holds, for the cache's accounting.
std::size_t analysis_bytes(const Analysis& analysis);

}  // namespace ddlgate::sql
