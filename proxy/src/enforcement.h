// The decisions of one session (enforce.cpp, break_glass.cpp; docs/enforcement.md): for
// each Query or Parse that needs one, what to forward, what to refuse and what to record,
// through the session's engine (engine/engine.h) and the pure decision (engine/decide.h);
// break-glass tokens; monitor mode's pace. The Session it belongs to does the I/O: its
// sockets, timers and the waits for the ledger (record_durably, pace_refusal) and for a
// parse thread (run_elsewhere), which these coroutines call.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/system_timer.hpp>

#include "ddlgate/engine/decide.h"
#include "ddlgate/engine/engine.h"
#include "ddlgate/engine/reading.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/protocol/messages.h"
#include "ddlgate/protocol/startup.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::proxy {

namespace asio = boost::asio;
class Session;
struct BreakGlassOpen;  // break_glass.h

class Enforcement {
 public:
  explicit Enforcement(Session& session) : s_(session) {}
  Enforcement(const Enforcement&) = delete;
  Enforcement& operator=(const Enforcement&) = delete;

  // What the enforcer decided for one Query or Parse.
  struct Verdict {
    enum class Kind { forward, replace, close };
    Kind kind = Kind::forward;
    std::vector<std::uint8_t> bytes;  // replace: what goes to the server instead
    bool skip_to_sync = false;        // replace: drop client messages until Sync (extended protocol)
  };

  // A ledger is configured and has not failed: decisions can be recorded.
  bool ledger_working() const;
  // Decides a Query or Parse that needs_decision() returned true for: records the
  // decision durably and says what to send.
  asio::awaitable<Verdict> enforce(const protocol::ScanStep& step);

  // Monitor mode's pace: whether this message's would_deny records are written (never waits,
  // never closes). Beyond the pace they are counted, and the count goes on the next written one.
  bool would_deny_turn(std::vector<ledger::Record>& records);
  // At the session's end (close()): the last would_deny records not written, with the count
  // of the earlier ones, so that a count still pending is not lost.
  void record_pending_would_deny();
  std::uint64_t would_deny_unrecorded_ = 0;  // would_deny decisions beyond the pace (would_deny_turn())
  std::vector<ledger::Record> last_unrecorded_;  // the last of them (record_pending_would_deny())
  // A Query / Parse+Bind+Execute that makes the server itself raise `spec`, so that
  // its transaction state, pipeline skipping and ReadyForQuery are PostgreSQL's own.
  // report: counted and sent to webhooks as a policy denial (not for a refusal for lack of memory).
  Verdict deny(const protocol::ErrorSpec& spec, bool extended, bool report = true);
  // deny() with 58030: the ledger cannot record a decision, so `refused` (what is
  // refused, for the message) does not run.
  Verdict deny_ledger_unavailable(std::string_view refused, bool extended);

  // The break-glass token open now and not past its deadline, or empty.
  std::string_view open_token() const;
  // Every statement is recorded now: full-statement logging, or a break-glass token is open.
  bool record_all_now() const;
  // Records it durably; the Verdict to give (forward, or 58030 without a ledger in enforce mode).
  asio::awaitable<Verdict> record_execution(const protocol::ScanStep& step);
  // Records the refusal of such an Execute and says what to send instead.
  asio::awaitable<Verdict> deny_execute(const protocol::ScanStep& step, engine::ExecuteRefusal why);
  // Why a Query or Parse is refused for a once-only statement this session keeps: it
  // holds an EXECUTE that may reach it, or it is a Parse that gives its name to another
  // statement while the server may still hold it (ddlgate would lose track of one of them).
  enum class OnceOnlyRefusal { sql_execute, name_in_use };
  // Records such a refusal and says what to send instead.
  asio::awaitable<Verdict> deny_once_only(const engine::Prepared& statement, bool extended, OnceOnlyRefusal why);
  // Whether a whole FunctionCall must be refused: it calls a function that
  // sql::fast_path_functions() does not list (one ddlgate cannot name: the message
  // has an OID, no text), or any function in a superuser's session (reader_.superuser()).
  bool function_call_refused(const protocol::ScanStep& step) const;
  // Records its refusal (class server_admin) and says what to send instead.
  asio::awaitable<Verdict> deny_function_call(const protocol::ScanStep& step);
  // The refusal of a prepared statement that may not run (again): a denied or would_deny
  // record (reason), paced; the client's ErrorResponse says "is not approved: " + why.
  // `what` names it in the log line when the ledger cannot record it.
  asio::awaitable<Verdict> refuse_prepared(engine::Prepared statement, bool extended, std::string reason, std::string why,
                                           std::string hint, std::string_view what);

  // Break-glass sessions (break_glass.cpp, docs/breakglass.md). ---------------------------
  // Takes ddlgate.break_glass out of the startup packet (options or a parameter); it is
  // checked once the server has authenticated the client (check_startup_token).
  asio::awaitable<bool> break_glass_startup(protocol::StartupMessage& startup);
  // The tokens break_glass_startup() took out of the startup packet, checked by
  // check_startup_token() once the server has authenticated the client; empty after.
  std::vector<std::string> startup_tokens_;
  // Opens the session with the startup token, or sends FATAL and closes; false then.
  asio::awaitable<bool> check_startup_token();
  // Ends the open break-glass token if its deadline has passed (recorded as "expired").
  void end_break_glass_if_expired();
  // The server's reading of sql (its standard_conforming_strings and client encoding),
  // with a hash and display SQL for every statement, for a full record; a large text is
  // parsed on a thread of its own. Fills `out` and returns nullopt, or returns the Verdict
  // to give instead (the session closed, or no thread to parse on).
  asio::awaitable<std::optional<Verdict>> full_reading(std::string_view sql, bool extended, sql::Analysis& out);
  // enforcement.record_all_statements: records the statements of sql that need no decision
  // (session_statement), durably; nullopt when done, else the Verdict to give instead.
  asio::awaitable<std::optional<Verdict>> record_statements(std::string_view sql, bool extended);
  // SET / RESET ddlgate.break_glass, and every statement while a token is open: a verdict,
  // or nullopt to let the normal enforcement decide.
  // named_parse: a Parse of a named statement (one SQL EXECUTE can run later).
  asio::awaitable<std::optional<Verdict>> break_glass_statement(std::string_view sql, bool extended, bool named_parse);
  // Verifies a token and opens the session with it; the refusal's ErrorSpec otherwise.
  asio::awaitable<std::optional<protocol::ErrorSpec>> open_break_glass(std::string token, std::string_view source);
  // Refusal bookkeeping: ledger record (without the token), warning, alert.
  // Paced like a refused statement (pace_refusal()): the session may be closed meanwhile.
  asio::awaitable<void> refuse_break_glass(std::string_view token, std::string_view check, const std::string& detail,
                                           std::string_view source);
  // Closes an open token (RESET, expiry, session end) with a ledger record and an alert.
  void end_break_glass(std::string_view reason);
  // Ends the open token at its deadline, also in a session that sends nothing more.
  void arm_break_glass_expiry();
  ledger::SessionInfo session_info();
  std::shared_ptr<BreakGlassOpen> break_glass_;  // the open token, if any
  std::unique_ptr<asio::system_timer> break_glass_timer_;  // made when a token first opens
  // -------------------------------------------------------------------------------------

  // The readings of the statement text being decided (engine/reading.h).
  engine::ServerReader reader_;
  void read_as_server(std::string_view sql);  // reader_.read() through this worker's caches

  // Analyses deferred_ elsewhere and fills readings; false if the session closed meanwhile.
  asio::awaitable<bool> analyze_elsewhere(std::vector<std::shared_ptr<const sql::Analysis>>& readings);

  // Reads a Query or Parse (read_as_server) and says whether enforce() must decide
  // it; false for reads and writes, which go on untouched without a coroutine call.
  bool needs_decision(const protocol::ScanStep& step);

  std::string session_id_;    // as recorded in the ledger

  // The database's guard (issue 25, guard_confirm.cpp): confirms what a decision allowed
  // before it goes on; the hold to give the engine, or why it could not (the decision is
  // then made again with Facts::guard_unavailable, and refuses).
  struct GuardAnswer {
    std::shared_ptr<const engine::ConfirmationHold> hold;
    std::string why;  // empty when confirmed
    bool closed = false;  // the session closed meanwhile
  };
  asio::awaitable<GuardAnswer> confirm_with_guard(const engine::Confirmation& confirmation);
  // Facts::server_text_sha256 of a text (engine::ServerReader::server_bytes_sha256).
  std::string server_text_sha256(std::string_view sql) const;
  std::string guard_backend_start_;  // the backend's start, as the guard's control connection read it

 private:
  Session& s_;
};

}  // namespace ddlgate::proxy
