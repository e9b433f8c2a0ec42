// State shared by every session of a server, and each worker's own state.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <semaphore>
#include <thread>
#include <unordered_set>

#include <boost/asio/detail/concurrency_hint.hpp>
#include <boost/asio/io_context.hpp>

#include "ddlgate/config/config.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ops/rate_limit.h"
#include "ddlgate/bundle/registry.h"
#include "ddlgate/sql/statement_cache.h"
#include "events.h"
#include "metrics.h"
#include "tls.h"

namespace ddlgate::monitor {
class Monitor;
}

namespace ddlgate::proxy {

class Session;
class Approvals;
class SpentApprovals;
class BreakGlassRegistry;
class WitnessClient;
class GuardConfirmer;

// Read-only after start, except for the atomics.
struct SharedState {
  // The configuration as started: what needs a restart to change (listeners,
  // TLS, upstream, ledger, workers) is read from here.
  config::Config config;
  // The configuration in force: replaced whole by a reload (SIGHUP). A session
  // takes its snapshot when it starts and keeps it, so it never sees half of a change.
  std::atomic<std::shared_ptr<const config::Config>> live_config;
  Ops ops;  // counters of rare events and the webhooks (events.h)
  TlsContexts tls;
  std::atomic<std::uint32_t> admitted{0};     // sessions counted against max_connections
  std::atomic<std::uint64_t> next_session_id{1};
  std::string instance_id;  // random per process, so session ids differ across restarts in the ledger
  std::atomic<std::size_t> live{0};            // sessions in existence, admitted or not
  std::atomic<bool> draining{false};
  Approvals* approvals = nullptr;      // null without [bundles]: nothing is approved
  ledger::Ledger* ledger = nullptr;    // null without [ledger]
  WitnessClient* witnesses = nullptr;  // null without [[ledger.witnesses]]
  SpentApprovals* spent = nullptr;     // null unless enforcement.spend_approvals_once
  monitor::Monitor* monitor = nullptr; // null without guard.databases: /readyz asks it
  // Statements too large to parse on a worker thread are parsed elsewhere, this many at once.
  std::counting_semaphore<1024> large_analyses{std::clamp(std::thread::hardware_concurrency(), 1u, 1024u)};
  std::atomic<int> large_analyses_running{0};  // threads that will still post to a worker
  // Bytes of inspected messages held whole by all sessions now (limits.inspection_budget).
  std::atomic<std::uint64_t> inspection_held{0};
  sql::Policy policy;               // which classes are controlled
  BreakGlassRegistry* break_glass = nullptr;  // null without [break_glass]: every token is refused
  // [guard] confirm: each allowed controlled statement is confirmed to its database's
  // guard first (guard_confirm.h); null otherwise. Shared: a confirmation held by a
  // session's engine releases through it, whenever the session ends.
  std::shared_ptr<GuardConfirmer> guard;
  // Refused statements and tokens per user (limits.denials_per_second): paced, not dropped.
  ops::TokenBuckets denial_pace;
};

// One thread with its own io_context: the sessions it runs need no locks.
struct Worker {
  std::thread thread;
  std::unordered_set<Session*> sessions;  // touched only on this worker's thread
  // Per-thread statement cache: a hit takes no lock (docs/classification.md).
  std::unique_ptr<sql::StatementCache> cache;
  // The same for sessions whose server has standard_conforming_strings off.
  std::unique_ptr<sql::StatementCache> cache_nonstandard_strings;
  // This worker's copy of the approvals snapshot, refreshed when the generation moves.
  std::shared_ptr<const bundle::ApprovedSet> approved;
  std::uint64_t approved_generation = ~std::uint64_t{0};
  WorkerCounters counters;  // /metrics; written on this worker's thread only
  // Only this worker's thread starts I/O on its sockets (accepted sockets reach it by
  // post; shutdown aborts by post), so the reactor's per-descriptor locking is off;
  // the scheduler stays locked, since the ledger and reload threads post to it.
  // Declared last, so destroyed first: handlers still queued when the worker stops
  // hold sessions, whose destructors use the members above.
  boost::asio::io_context ctx{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
};

}  // namespace ddlgate::proxy
