// Counters behind /metrics (docs/operations.md, "Metrics"). The statement path
// only touches its own worker's counters: a relaxed load and store each, no lock
// and no shared cache line. The admin thread sums the workers when scraped.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <utility>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/ledger/record.h"
#include "ddlgate/ops/counters.h"
#include "ddlgate/sql/statement_cache.h"
#include "ddlgate/sql/statement_class.h"

namespace ddlgate::proxy {

// Why a statement was refused, as a metric label.
enum class DenialReason : unsigned char { not_approved, ledger_unavailable };
inline constexpr std::size_t kDenialReasonCount = 2;
inline constexpr std::size_t kDecisionCount = 4;  // ledger::Decision's values

// One worker's counters; written on that worker's thread only.
struct alignas(64) WorkerCounters {
  ops::LocalCounter sessions_opened;
  ops::LocalCounter bytes_client_to_server;
  ops::LocalCounter bytes_server_to_client;
  ops::LocalCounter messages_client_to_server;
  ops::LocalCounter messages_server_to_client;
  ops::LocalCounter upstream_errors;
  ops::LocalCounter outcomes_out_of_step;  // the server answered what a session did not await
  ops::LocalCounter cache_hits;    // mirrors the worker's StatementCache
  ops::LocalCounter cache_misses;
  std::array<std::array<ops::LocalCounter, kDecisionCount>, sql::kStatementClassCount> decisions;
  std::array<ops::LocalCounter, kDenialReasonCount> denials;
  ops::LocalCounter refusals_paced;       // refusals that waited for limits.denials_per_second
  ops::LocalCounter refusals_over_pace;   // sessions closed instead: the wait would be too long
  // Messages to inspect that waited for limits.inspection_budget: admitted after the
  // wait, or refused (53200) when it did not free up in time.
  ops::LocalCounter inspection_admitted_after_wait;
  ops::LocalCounter inspection_refusals;
  ops::LocalCounter statements_streamed;  // large Query texts streamed while scanned as plain DML
  ops::LocalCounter streams_cut;          // of those, cut off because they were not
  ops::LocalCounter fast_lane_reads;        // reads started by established plaintext sessions
  ops::LocalCounter fast_lane_empty_reads;  // recv(2) calls of those that found the socket empty

  void count_decision(sql::StatementClass cls, ledger::Decision d) {
    decisions[static_cast<std::size_t>(cls)][static_cast<std::size_t>(d)].add();
  }
  // The cache keeps plain counters for its own thread; copy them where the admin thread can read.
  void sync_cache(const sql::StatementCache::Stats& s) {
    cache_hits.add(s.hits - cache_hits.value());
    cache_misses.add(s.misses - cache_misses.value());
  }
};

// Counters by two labels (rare events, any thread): a lock per add is fine.
class LabeledCounters {
 public:
  void add(std::string_view a, std::string_view b) {
    std::lock_guard lk(mu_);
    ++values_[{std::string(a), std::string(b)}];
  }
  std::map<std::pair<std::string, std::string>, std::uint64_t> values() const {
    std::lock_guard lk(mu_);
    return values_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> values_;
};

// Counters of rare, process-wide events, written from any thread.
struct ProcessCounters {
  ops::SharedCounter breakglass_opened;  // break-glass sessions opened
  ops::SharedCounter breakglass_closed;
  ops::SharedCounter bundles_accepted;
  ops::SharedCounter bundles_rejected;
  ops::SharedCounter config_reloads;
  ops::SharedCounter config_reload_failures;
  LabeledCounters out_of_band;  // ddlgate_out_of_band_total{database,source}
};

}  // namespace ddlgate::proxy
