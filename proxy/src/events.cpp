// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include "events.h"

#include <spdlog/spdlog.h>

#include "ddlgate/ops/webhook.h"
#include "sqlstate.h"

namespace ddlgate::proxy {
namespace {

nlohmann::json session_json(const SessionRef& s) {
  char id[24];
  std::snprintf(id, sizeof id, "%llx", static_cast<unsigned long long>(s.id));
  return {{"session", id},
          {"peer", std::string(s.peer)},
          {"user", std::string(s.user)},
          {"database", std::string(s.database)},
          {"application", std::string(s.application)}};
}

ops::Event make_event(std::string name, std::string text, nlohmann::json details) {
  ops::Event e;
  e.name = std::move(name);
  e.text = std::move(text);
  e.details = std::move(details);
  return e;
}

}  // namespace

void report_denial(Ops& ops, WorkerCounters& counters, const SessionRef& session, const protocol::ErrorSpec& spec) {
  bool ledger = spec.sqlstate == kLedgerUnavailable;
  counters.denials[static_cast<std::size_t>(ledger ? DenialReason::ledger_unavailable : DenialReason::not_approved)]
      .add();
  // The parser's error for an unparseable statement may quote the client's text
  // (a password, say): it goes to the client only, as in the ledger.
  constexpr std::string_view kUnparseable = "ddlgate: unparseable statement is not approved";
  std::string message = std::string_view(spec.message).starts_with(kUnparseable) ? std::string(kUnparseable) : spec.message;
  auto details = session_json(session);
  details["sqlstate"] = spec.sqlstate;
  details["message"] = message;
  details["statement"] = spec.detail;  // the display form: passwords already redacted by the policy
  details["reason"] = ledger ? "ledger_unavailable" : "not_approved";
  std::string text = "ddlgate denied a statement of " + std::string(session.user) + " on " +
                     std::string(session.database) + ": " + message;
  ops.webhooks.emit(make_event("statement.denied", std::move(text), std::move(details)));
}

void log_allowed(const SessionRef& session, const sql::Analysis& analysis) {
  for (const auto& st : analysis.statements) {
    if (!st.controlled) continue;
    spdlog::info("session {:x}: allowed user={} database={} class={} hash={}", session.id, session.user,
                 session.database, sql::to_string(st.cls), st.hash);
  }
}

void report_breakglass_opened(Ops& ops, const SessionRef& session, const breakglass::BreakGlassClaims& claims) {
  ops.counters.breakglass_opened.add();
  auto details = session_json(session);
  details["token_id"] = claims.token_id;
  details["issuer"] = claims.issuer;
  details["reason"] = claims.reason;
  details["ticket"] = claims.ticket;
  details["expires"] = ops::format_rfc3339(std::chrono::time_point_cast<std::chrono::system_clock::duration>(claims.expires));
  ops.webhooks.emit(make_event("breakglass.opened",
                               "ddlgate: break-glass session opened by " + std::string(session.user) + " on " +
                                   std::string(session.database) + " (ticket " + claims.ticket + ": " +
                                   claims.reason + ")",
                               std::move(details)));
}

void report_breakglass_closed(Ops& ops, const SessionRef& session, const breakglass::BreakGlassClaims& claims,
                              std::string_view why) {
  ops.counters.breakglass_closed.add();
  auto details = session_json(session);
  details["token_id"] = claims.token_id;
  details["ticket"] = claims.ticket;
  details["why"] = std::string(why);
  ops.webhooks.emit(make_event("breakglass.closed",
                               "ddlgate: break-glass session of " + std::string(session.user) + " on " +
                                   std::string(session.database) + " closed (" + std::string(why) + ")",
                               std::move(details)));
}

void report_bundle_accepted(Ops& ops, std::string_view app, std::uint64_t version, std::string_view path,
                            std::size_t statements) {
  ops.counters.bundles_accepted.add();
  nlohmann::json details = {{"app", std::string(app)},
                            {"version", version},
                            {"path", std::string(path)},
                            {"statements", statements}};
  ops.webhooks.emit(make_event("bundle.accepted",
                               "ddlgate: bundle " + std::string(app) + " v" + std::to_string(version) + " accepted",
                               std::move(details)));
}

void report_bundle_rejected(Ops& ops, std::string_view path, std::string_view reasons) {
  ops.counters.bundles_rejected.add();
  nlohmann::json details = {{"path", std::string(path)}, {"reasons", std::string(reasons)}};
  ops.webhooks.emit(make_event("bundle.rejected",
                               "ddlgate: bundle " + std::string(path) + " rejected: " + std::string(reasons),
                               std::move(details)));
}

void report_ledger_failed(Ops& ops, const ledger::Error& error) {
  spdlog::critical("ledger failed: {}; controlled statements are refused until the cause is fixed and ddlgate "
                   "restarted (a rollback or fork found at start: until `ddlgate ledger accept-rollback`)",
                   error.to_string());
  nlohmann::json details = {{"reason", error.reason}, {"file", error.file}, {"offset", error.offset}};
  if (error.code) details["os_error"] = error.code.message();
  ops.webhooks.emit(make_event("ledger.failed",
                               "ddlgate: the decision ledger failed (" + error.to_string() +
                                   "); controlled statements are refused",
                               std::move(details)));
}

void report_ledger_low_space(Ops& ops, std::string_view directory, std::uint64_t free_bytes, std::uint64_t size_bytes,
                             std::uint32_t percent) {
  std::string text = "ddlgate: the ledger's file system (" + std::string(directory) + ") has " +
                     std::to_string(free_bytes) + " of " + std::to_string(size_bytes) +
                     " bytes free, below " + std::to_string(percent) +
                     "%; when it is full, controlled statements are refused";
  spdlog::warn("{}", text.substr(std::string_view("ddlgate: ").size()));
  ops.webhooks.emit(make_event("ledger.low_space", std::move(text),
                               {{"directory", std::string(directory)},
                                {"free_bytes", free_bytes},
                                {"size_bytes", size_bytes},
                                {"threshold_percent", percent}}));
}

void report_guard_event(Ops& ops, std::string_view name, std::string text, nlohmann::json details) {
  ops.webhooks.emit(make_event(std::string(name), std::move(text), std::move(details)));
}

void report_ledger_recovered(Ops& ops, const std::vector<ledger::RecoveryAction>& actions) {
  if (actions.empty()) return;
  nlohmann::json cuts = nlohmann::json::array();
  for (const auto& a : actions) {
    cuts.push_back({{"file", a.file}, {"offset", a.offset}, {"bytes", a.bytes}, {"reason", a.reason}});
  }
  ops.webhooks.emit(make_event("ledger.recovered",
                               "ddlgate: ledger recovery cut " + std::to_string(actions.size()) +
                                   " torn tail(s) at start",
                               {{"actions", std::move(cuts)}}));
}

}  // namespace ddlgate::proxy
