// limits.inspection_budget (docs/operations.md, "What is buffered when"): the bytes of
// messages that sessions hold whole to read them, shared by all sessions of the process.
// One InspectionBudget is a session's share: the bytes it holds for the message being
// collected, and for messages complete but not yet handled (given back once the input they
// came in has been sent on).
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

namespace ddlgate::proxy {

class InspectionBudget {
 public:
  // A message up to this size is read even when the budget is full (counted all the same):
  // a few clients that hold large messages half-sent must not refuse everyone's ordinary
  // statements, and these add at most limits.max_connections times this.
  static constexpr std::uint32_t kAlwaysAdmitted = 64 * 1024;

  explicit InspectionBudget(std::atomic<std::uint64_t>& held) : held_(held) {}
  InspectionBudget(const InspectionBudget&) = delete;
  InspectionBudget& operator=(const InspectionBudget&) = delete;
  ~InspectionBudget() { release_all(); }

  // Takes `bytes` of a budget of `budget` now if they are free.
  bool reserve(std::uint64_t bytes, std::uint64_t budget) {
    std::uint64_t now = held_.load(std::memory_order_relaxed);
    do {
      if (bytes > budget || now > budget - bytes) return false;
    } while (!held_.compare_exchange_weak(now, now + bytes, std::memory_order_relaxed));
    collecting_ += bytes;
    return true;
  }
  // Takes them whatever the budget holds (a message up to kAlwaysAdmitted).
  void force(std::uint64_t bytes) {
    held_.fetch_add(bytes, std::memory_order_relaxed);
    collecting_ += bytes;
  }
  // Gives back what complete messages held; still_collecting: the scanner is still
  // collecting the message the last reservation was for.
  void release(bool still_collecting) {
    if (collecting_ != 0 && !still_collecting) [[unlikely]] done_ += std::exchange(collecting_, 0);
    if (done_ == 0) return;
    held_.fetch_sub(done_, std::memory_order_relaxed);
    done_ = 0;
  }
  // The session ends: everything goes back.
  void release_all() {
    done_ += std::exchange(collecting_, 0);
    release(true);
  }

 private:
  std::atomic<std::uint64_t>& held_;
  std::uint64_t collecting_ = 0;
  std::uint64_t done_ = 0;
};

}  // namespace ddlgate::proxy
