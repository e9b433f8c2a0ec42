// What the proxy tells operators about: each event is counted for /metrics,
// logged, and queued for the webhooks that want it. None of these blocks: they
// are safe on the statement path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/breakglass/breakglass.h"
#include "ddlgate/protocol/messages.h"
#include "metrics.h"
#include "webhooks.h"

namespace ddlgate::proxy {

// Operations state of one server: counters of rare events and the webhooks.
struct Ops {
  ProcessCounters counters;
  Webhooks webhooks;
};

// The session an event is about.
struct SessionRef {
  std::uint64_t id = 0;
  std::string_view peer;
  std::string_view user;
  std::string_view database;
  std::string_view application;
};

// A statement refused in enforce mode (policy or an unavailable ledger).
void report_denial(Ops& ops, WorkerCounters& counters, const SessionRef& session, const protocol::ErrorSpec& spec);

// Controlled statements allowed by a signed approval: one log line each.
void log_allowed(const SessionRef& session, const sql::Analysis& analysis);

// Break-glass sessions (for the proxy's break-glass support): counted in
// ddlgate_breakglass_sessions_total, logged, and sent to the webhooks. The
// claims are described; the token itself is never passed here.
void report_breakglass_opened(Ops& ops, const SessionRef& session, const breakglass::BreakGlassClaims& claims);
void report_breakglass_closed(Ops& ops, const SessionRef& session, const breakglass::BreakGlassClaims& claims,
                              std::string_view why);

void report_bundle_accepted(Ops& ops, std::string_view app, std::uint64_t version, std::string_view path,
                            std::size_t statements);
void report_bundle_rejected(Ops& ops, std::string_view path, std::string_view reasons);

// The ledger failed (fail closed until a restart); called on the ledger's writer thread.
void report_ledger_failed(Ops& ops, const ledger::Error& error);
// Recovery cut a torn tail at open.
void report_ledger_recovered(Ops& ops, const std::vector<ledger::RecoveryAction>& actions);
// The ledger's file system has less than `percent` of its size free (ledger.low_space).
void report_ledger_low_space(Ops& ops, std::string_view directory, std::uint64_t free_bytes, std::uint64_t size_bytes,
                             std::uint32_t percent);

// What the guard monitor found (change.out_of_band, guard.tampered, schema.drift): sent to the
// webhooks that want it (the monitor logs and counts it itself).
void report_guard_event(Ops& ops, std::string_view name, std::string text, nlohmann::json details);

}  // namespace ddlgate::proxy
