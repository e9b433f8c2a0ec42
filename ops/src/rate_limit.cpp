#include "ddlgate/ops/rate_limit.h"

#include <algorithm>

namespace ddlgate::ops {

namespace {

double refilled(double tokens, TokenBuckets::Clock::time_point at, double rate, double burst,
                TokenBuckets::Clock::time_point now) {
  if (now > at) tokens += std::chrono::duration<double>(now - at).count() * rate;
  return std::min(tokens, burst);
}

}  // namespace

std::optional<TokenBuckets::Turn> TokenBuckets::reserve(std::string_view key, double rate, double burst,
                                                        Clock::duration max_wait, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= kPruneAbove) prune(rate, burst, now);
    it = buckets_.emplace(std::string(key), Bucket{burst, now, false}).first;
  }
  Bucket& b = it->second;
  b.tokens = refilled(b.tokens, b.at, rate, burst, now);
  b.at = std::max(b.at, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    b.waiting = false;
    return Turn{now, false};
  }
  // The token this event needs arrives once the queue ahead of it has been served.
  const auto wait = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>((1.0 - b.tokens) / rate));
  if (wait > max_wait) return std::nullopt;
  b.tokens -= 1.0;
  const bool first = !b.waiting;
  b.waiting = true;
  return Turn{now + wait, first};
}

void TokenBuckets::prune(double rate, double burst, Clock::time_point now) {
  std::erase_if(buckets_, [&](const auto& kv) { return refilled(kv.second.tokens, kv.second.at, rate, burst, now) >= burst; });
}

std::size_t TokenBuckets::size() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

}  // namespace ddlgate::ops
