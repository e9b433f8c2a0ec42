#include "alloc_probe.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> g_largest{0};
}  // namespace

namespace ddlgate::protocol::test {
void reset_largest_alloc() { g_largest.store(0); }
std::size_t largest_alloc() { return g_largest.load(); }
}  // namespace ddlgate::protocol::test

// Replaces the global allocation functions for the test binary (the array and
// sized forms forward to these by default).
void* operator new(std::size_t n) {
  std::size_t seen = g_largest.load(std::memory_order_relaxed);
  while (n > seen && !g_largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
