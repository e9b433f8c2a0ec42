// What the ledger's writer has done, for the proxy's /metrics: relaxed atomics
// written by the writer thread only and read by anyone. The ledger knows nothing
// of the metrics format; the proxy reads these and renders them.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ddlgate::ledger {

// A histogram with fixed upper bounds; per-bucket (not cumulative) counts, the
// last bucket above every bound. One writer thread.
template <std::size_t N>
struct FixedHistogram {
  std::array<std::atomic<std::uint64_t>, N + 1> buckets{};
  std::atomic<std::uint64_t> sum{0};  // in the unit of the observations

  void observe(std::uint64_t v, const std::array<std::uint64_t, N>& bounds) {
    std::size_t i = 0;
    while (i < N && v > bounds[i]) ++i;
    buckets[i].store(buckets[i].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum.store(sum.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
  }
};

struct LedgerStats {
  // Upper bounds of the group-commit batch size histogram (records per fdatasync).
  static constexpr std::array<std::uint64_t, 10> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  // Upper bounds of the fdatasync latency histogram, in microseconds.
  static constexpr std::array<std::uint64_t, 14> kFsyncBoundsUs = {100,   250,    500,    1000,   2500,
                                                                   5000,  10000,  25000,  50000,  100000,
                                                                   250000, 500000, 1000000, 2500000};

  std::atomic<std::uint64_t> records_durable{0};  // records written and fdatasync'ed (checkpoint records included)
  std::atomic<std::uint64_t> records_failed{0};   // appends answered with an error
  std::atomic<std::uint64_t> checkpoints{0};      // signed checkpoints written
  std::atomic<std::uint64_t> segment_bytes{0};    // bytes in the segment files (after recovery; durable)
  FixedHistogram<kBatchBounds.size()> batch_records;
  FixedHistogram<kFsyncBoundsUs.size()> fsync_us;
};

}  // namespace ddlgate::ledger
