// Counters for /metrics that cost next to nothing on the statement path.
#pragma once

#include <atomic>
#include <cstdint>

namespace ddlgate::ops {

// A counter written by one thread only (a worker's): a relaxed load and store,
// no locked instruction; any thread may read it.
class LocalCounter {
 public:
  void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// A counter written from any thread (rare events: bundles, webhooks, break-glass).
class SharedCounter {
 public:
  void add(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace ddlgate::ops
