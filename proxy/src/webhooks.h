// Webhook delivery (docs/operations.md, "Webhooks"): events are queued per
// webhook (bounded: the oldest is dropped when full) and POSTed, signed, by a
// thread of their own with retries and exponential backoff, so that nothing on
// the statement path ever waits for a receiver.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "ddlgate/config/config.h"
#include "ddlgate/ops/counters.h"
#include "ddlgate/ops/webhook.h"

namespace ddlgate::proxy {

class Webhooks {
 public:
  Webhooks();
  ~Webhooks();
  Webhooks(const Webhooks&) = delete;
  Webhooks& operator=(const Webhooks&) = delete;

  // Sets the webhooks (at start and on reload). Reads each secret; a webhook
  // whose secret or CA file cannot be read is left out and named in the result.
  // A webhook whose settings did not change keeps its queue.
  std::vector<std::string> configure(const std::vector<config::Webhook>& hooks, std::string instance);
  void start();
  // Stops the delivery thread; what is still queued is dropped (and counted).
  void stop();

  // Queues the event for every webhook that wants it; returns at once.
  void emit(ops::Event event);

  struct Stats {
    ops::SharedCounter delivered;        // 2xx answers
    ops::SharedCounter failed_attempts;  // attempts that failed (then retried or given up)
    ops::SharedCounter failed;           // deliveries given up after max_attempts
    ops::SharedCounter dropped;          // events dropped from a full queue (or at reconfigure/stop)
  };
  const Stats& stats() const { return stats_; }
  // Events waiting, summed over the webhooks.
  std::size_t queued() const;

 private:
  struct Target;
  boost::asio::awaitable<void> deliver_loop(std::shared_ptr<Target> target);
  boost::asio::awaitable<std::string> post_once(Target& target, const std::string& body, const std::string& event);

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Target>> targets_;
  std::string instance_;
  Stats stats_;
  boost::asio::io_context ctx_{1};
  std::thread thread_;
};

}  // namespace ddlgate::proxy
