// The witness client (docs/operations.md, "Witnesses"): a thread of its own watches the ledger's
// checkpoints file and pushes each new checkpoint, with a consistency proof from the size each
// witness last cosigned, to the configured witnesses (C2SP tlog-witness add-checkpoint). Every
// cosignature returned is verified against the configured witness key and then appended to the
// cosignatures file beside the checkpoints. Nothing on the statement path waits for it: a witness
// that is down or refuses is a log line, a counter and a retry with backoff.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "ddlgate/config/config.h"
#include "ddlgate/ops/counters.h"

namespace ddlgate::ledger {
class LedgerProofSource;
}

namespace ddlgate::proxy {

class WitnessClient {
 public:
  // Parses every witness's vkey and URL and reads what the cosignatures file says each one
  // cosigned (cutting a torn last note); throws std::runtime_error naming the problem.
  WitnessClient(std::filesystem::path ledger_dir, const std::vector<config::Witness>& witnesses,
                std::chrono::milliseconds retry);
  ~WitnessClient();
  WitnessClient(const WitnessClient&) = delete;
  WitnessClient& operator=(const WitnessClient&) = delete;

  void start();
  // Stops the thread; a push in flight is abandoned (its witness state is unchanged).
  void stop();
  // After stop() and the ledger's close: one last pass, so that the shutdown checkpoint is
  // pushed too; bounded by the witnesses' timeouts.
  void final_pass();

  struct Stats {
    ops::SharedCounter cosigned;         // checkpoints cosigned (one per witness and checkpoint)
    ops::SharedCounter unreachable;      // pushes that failed otherwise: no answer, timeout, a bad answer
    ops::SharedCounter refused;          // 422 (proof refused), 403/404, or a 409 at the same size: a fork or rollback
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Target;
  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<void> pass(bool ignore_backoff);
  boost::asio::awaitable<void> push(Target& t, const std::string& note);
  boost::asio::awaitable<std::string> post(Target& t, const std::string& body, unsigned* status, std::string* answer);
  void append_cosigned(const std::string& note);

  std::filesystem::path dir_;
  std::chrono::milliseconds retry_;
  std::unique_ptr<ledger::LedgerProofSource> proofs_;  // chunk hashes kept between pushes
  std::vector<std::unique_ptr<Target>> targets_;
  std::uintmax_t seen_checkpoints_bytes_ = 0;
  std::string latest_note_;
  Stats stats_;
  // Replaced for the final pass: destroying it destroys a push abandoned by stop() (never resumed).
  std::unique_ptr<boost::asio::io_context> ctx_ = std::make_unique<boost::asio::io_context>(1);
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace ddlgate::proxy
