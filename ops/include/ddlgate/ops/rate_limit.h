// Per-key token buckets that pace an event (a refused statement) instead of
// dropping it: over the rate, the caller learns when its turn comes.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ddlgate::ops {

// Each key may spend `burst` events at once, then `rate` per second. A reservation
// that would wait past max_wait is not taken. Thread-safe (one mutex: the events
// paced are rare, not the statement path's common case).
class TokenBuckets {
 public:
  using Clock = std::chrono::steady_clock;

  struct Turn {
    Clock::time_point at;  // when the event may happen (now when the bucket held a token)
    bool first_wait;       // the key's first wait since its bucket last held a token
  };

  // Reserves the key's next event: nullopt when its turn is more than max_wait away
  // (nothing reserved then). rate > 0, burst >= 1; they may differ between calls
  // (a reload), and a bucket never holds more than the burst of the call.
  std::optional<Turn> reserve(std::string_view key, double rate, double burst, Clock::duration max_wait,
                              Clock::time_point now);

  // Keys held now (full buckets are forgotten only above kPruneAbove).
  std::size_t size() const;

  // Above this many keys, full buckets are forgotten (they hold no state worth keeping).
  static constexpr std::size_t kPruneAbove = 4096;

 private:
  struct Bucket {
    double tokens;         // negative: reservations queued beyond the burst
    Clock::time_point at;  // when tokens was last brought up to date
    bool waiting;          // a reservation of this key has had to wait
  };
  void prune(double rate, double burst, Clock::time_point now);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace ddlgate::ops
