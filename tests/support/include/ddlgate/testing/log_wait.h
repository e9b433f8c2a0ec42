// Waiting for a running ddlgate to log a line (a reload, a load, a refusal), for the
// integration tests that follow what serve does on its own (SIGHUP, registry changes).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

#include "ddlgate/testing/ddlgate_process.h"

namespace ddlgate::testing {

// Whether p's log holds needle after its first `from` bytes within timeout (polled every 50 ms).
inline bool wait_for_log(const DdlgateProcess& p, const std::string& needle, std::size_t from = 0,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string log = p.stderr_log();
    if (log.size() > from && log.find(needle, from) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace ddlgate::testing
