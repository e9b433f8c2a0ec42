// State shared by every session of a server, and each worker's own state.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <unordered_set>

#include <boost/asio/io_context.hpp>

#include "ddlgate/config/config.h"
#include "tls.h"

namespace ddlgate::proxy {

class Session;

// Read-only after start, except for the atomics.
struct SharedState {
  config::Config config;
  TlsContexts tls;
  std::atomic<std::uint32_t> admitted{0};     // sessions counted against max_connections
  std::atomic<std::uint64_t> next_session_id{1};
  std::atomic<std::size_t> live{0};            // sessions in existence, admitted or not
  std::atomic<bool> draining{false};
};

// One thread with its own io_context: the sessions it runs need no locks.
struct Worker {
  boost::asio::io_context ctx{1};
  std::thread thread;
  std::unordered_set<Session*> sessions;  // touched only on this worker's thread
};

}  // namespace ddlgate::proxy
