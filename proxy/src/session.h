// One client connection and its upstream connection, relayed by two coroutines
// (client to server, server to client) on one worker thread.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>

#include "channel.h"
#include "ddlgate/engine/engine.h"
#include "ddlgate/protocol/frame.h"
#include "ddlgate/protocol/lexing_state.h"
#include "ddlgate/protocol/messages.h"
#include "ddlgate/protocol/startup.h"
#include "reactor_read.h"
#include "shared_state.h"

namespace ddlgate::proxy {

struct BreakGlassOpen;  // break_glass.h

class Session : public std::enable_shared_from_this<Session>, public ReactorRead::Reader, private engine::Host {
 public:
  Session(SharedState& shared, Worker& worker, Socket client, std::string peer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The session's whole life: startup, upstream connection, relay, close.
  asio::awaitable<void> run();

  // Ends the session now (shutdown deadline): closes both sockets.
  void abort();

 private:
  enum class Phase { startup, authenticating, ready, closed };

  asio::awaitable<bool> read_startup(protocol::StartupMessage& startup);
  asio::awaitable<bool> handle_cancel(const protocol::CancelRequest& cancel);
  // Enforcing sessions: the settings that change how the server splits a text
  // (standard_conforming_strings, backslash_quote) go upstream in the startup packet,
  // the client's values or else PostgreSQL's defaults, so that a configuration reload
  // cannot change them under the session (a client's setting outranks the file's).
  // client_encoding is pinned when the client names it. False when the packet would
  // be too large (the session is closed).
  asio::awaitable<bool> pin_lexing_settings(protocol::StartupMessage& startup);
  // Enforcing sessions: a dangerous setting (sql::dangerous_settings()) in the startup
  // packet is refused with FATAL 42501 unless enforcement.allowed_startup_settings
  // names it (monitor mode: logged). False when the session was closed.
  asio::awaitable<bool> check_startup_settings(const protocol::StartupMessage& startup);
  asio::awaitable<bool> client_tls_handshake(bool direct);
  asio::awaitable<bool> connect_upstream(std::string& error);
  // The relay. Each direction runs in one of two forms, never both at once:
  //  - a coroutine (relay_client_to_server, relay_server_to_client) for whatever
  //    may wait: startup and authentication, TLS, enforcement decisions, a write
  //    the socket did not take at once, errors;
  //  - plain completion handlers (read_client, read_server) once the session is
  //    established over plaintext sockets (reads through reactor_read.h, which
  //    skips Asio's try-at-once read when the socket was just drained): a read's bytes are scanned and
  //    forwarded synchronously and the next read is started, with no coroutine
  //    frame or awaitable machinery per read (a third of the CPU per pgbench
  //    transaction). At the first step that must wait, the handler hands the
  //    step and the rest of its input to a new coroutine, which goes back to
  //    handlers when the wait is over.
  // Both forms scan with the same synchronous functions (scan_client_input,
  // scan_server_input), so they cannot drift apart.
  struct ClientResume {
    bool active = false;                      // false: start fresh (leftover_, then reads)
    std::optional<protocol::ScanStep> step;   // a step scan_client_input stopped at
    std::span<const std::uint8_t> input;      // the rest of the input after it
    bool needs_decision = false;              // needs_decision(step) already said true
  };
  asio::awaitable<void> relay_client_to_server(ClientResume resume);
  // resume_write: a handler left s2c_out_ partly written; finish it first.
  asio::awaitable<void> relay_server_to_client(bool resume_write);
  bool client_fast_lane() const;
  bool server_fast_lane() const;
  // Starts the coroutine form of a direction (from a handler, or at the start).
  void spawn_client_relay(ClientResume resume);
  void spawn_server_relay(bool resume_write);
  // A read's bytes: counters and the idle clock.
  void count_client_bytes(std::size_t n);
  void count_server_bytes(std::size_t n);
  void read_client();
  void on_client_read(const boost::system::error_code& ec, std::size_t n);
  // A fast-lane read's completion (kClientSide or kServerSide).
  static constexpr int kClientSide = 0;
  static constexpr int kServerSide = 1;
  void on_read(int side, const boost::system::error_code& ec, std::size_t n) override;
  void read_server();
  void on_server_read(const boost::system::error_code& ec, std::size_t n);
  // Scans client input and forwards (into c2s_out_) every step that needs no
  // waiting; returns the first step that does (input is then the rest after it).
  struct ClientStop {
    protocol::ScanStep step;
    bool needs_decision = false;
  };
  std::optional<ClientStop> scan_client_input(std::span<const std::uint8_t>& input);
  // The parts of handling one client step that never wait.
  // Inlined into both relay forms (session.cpp): it runs for every client message.
  [[gnu::always_inline]] inline void begin_client_message(const protocol::ScanStep& step);
  void forward_undecided(const protocol::ScanStep& step);
  void forward_client_step(const protocol::ScanStep& step);
  // Scans server input into s2c_out_. check_token: the server has just
  // authenticated the client and a startup break-glass token must be checked
  // before `held` (the ReadyForQuery) goes on.
  enum class ServerScan { done, error, check_token };
  ServerScan scan_server_input(std::span<const std::uint8_t>& input, std::span<const std::uint8_t>& held);
  std::vector<std::uint8_t> c2s_buf_;
  std::vector<std::uint8_t> s2c_buf_;
  std::vector<asio::const_buffer> c2s_out_;  // gather list of what one read sends on
  std::vector<asio::const_buffer> s2c_out_;
  asio::awaitable<void> watchdog();

  // Sends a FATAL ErrorResponse to the client (when no other write to it is in
  // flight and no server message is half-forwarded), then closes the session.
  asio::awaitable<void> fail(const std::string& sqlstate, const std::string& message,
                             const std::string& detail = "", const std::string& hint = "");
  // Closes both sides; the relay coroutines end on their next operation.
  void close();

  // Handles one client message the scanner reported; false ends the session.
  asio::awaitable<bool> on_client_message(const protocol::ScanStep& step);
  // What the enforcer decided for one Query or Parse.
  struct Verdict {
    enum class Kind { forward, replace, close };
    Kind kind = Kind::forward;
    std::vector<std::uint8_t> bytes;  // replace: what goes to the server instead
    bool skip_to_sync = false;        // replace: drop client messages until Sync (extended protocol)
  };
  bool enforcing() const { return mode_ != config::EnforcementMode::off; }
  // limits.inspection_budget (docs/operations.md, "What is buffered when"): the bytes of
  // it this session holds for the message being collected, and for messages complete
  // but not yet handled (released once the input they came in has been sent on).
  static constexpr std::uint32_t kAlwaysAdmitted = 64 * 1024;  // bytes: never waits for the budget
  std::uint64_t budget_collecting_ = 0;
  std::uint64_t budget_done_ = 0;
  // Takes `bytes` of the budget now if they are free.
  bool reserve_inspection(std::uint64_t bytes);
  void release_inspection();  // budget_done_
  // A hold step whose bytes were not free at once: waits up to limits.inspection_wait_ms,
  // then admits the message, or refuses it (53200, counted): nullopt when admitted or
  // dropped silently, else what to send instead (a close: the session has ended).
  asio::awaitable<std::optional<Verdict>> wait_for_inspection(const protocol::ScanStep& step);
  // Large statements streamed while they are scanned (docs/operations.md, "What is buffered
  // when"): a Query too large to be worth holding whole whose text sql::PlainDmlStream
  // reads as one plain INSERT, UPDATE, DELETE or SELECT as its bytes pass.
  bool may_stream(const protocol::ScanStep& hold) const;
  // scan_client_input's rare steps: a hold (stream, collect under the budget, or the cap's
  // error) and a streamed body's part (kind streamed). True: stop at `step` (changed to an error for the
  // cap or a cut-off stream; a hold that waits for the budget).
  [[gnu::noinline]] bool large_message_step(protocol::ScanStep& step);
  // Forwards its header (into c2s_out_) and starts the scan; its body follows as pass steps.
  void start_stream(const protocol::ScanStep& hold);
  // One part of its body: scanned, then forwarded; false when the text is not plain DML
  // (nothing of this part is forwarded, stream_failed_ says so).
  bool stream_bytes(const protocol::ScanStep& step);
  // The text turned out not to be plain DML with part of it at the server: the refusal is
  // recorded, the rest of the message read and dropped, then FATAL and the session closed,
  // so that the server gets the message cut off before its end and runs none of it.
  asio::awaitable<void> record_cut_stream();
  asio::awaitable<void> cut_stream();
  std::uint32_t stream_left_ = 0;   // body bytes of the streamed Query still to come; 0: none
  std::uint32_t stream_size_ = 0;   // its body length
  bool stream_non_ascii_ok_ = false;  // the client encoding is known and shows every ASCII byte
  bool stream_failed_ = false;
  bool stream_cut_recorded_ = false;
  std::uint32_t stream_cut_at_ = 0;  // body bytes forwarded before it was cut
  sql::PlainDmlStream stream_scan_;
  // A ledger is configured and has not failed: decisions can be recorded.
  bool ledger_working() const { return shared_.ledger && !shared_.ledger->failure(); }
  // Decides a Query or Parse that needs_decision() returned true for: records the
  // decision durably and says what to send.
  asio::awaitable<Verdict> enforce(const protocol::ScanStep& step);
  // Appends records to the ledger and waits until the last is durable; false if it failed.
  asio::awaitable<bool> record_durably(std::vector<ledger::Record> records);
  // Waits for this user's turn to have a refusal recorded (limits.denials_per_second; not
  // paced without a working ledger, which records nothing);
  // false when the session was closed instead (53400) or meanwhile.
  asio::awaitable<bool> pace_refusal();
  // Monitor mode's pace: whether this message's would_deny records are written (never waits,
  // never closes). Beyond the pace they are counted, and the count goes on the next written one.
  bool would_deny_turn(std::vector<ledger::Record>& records);
  // At the session's end (close()): the last would_deny records not written, with the count
  // of the earlier ones, so that a count still pending is not lost.
  void record_pending_would_deny();
  // A Query / Parse+Bind+Execute that makes the server itself raise `spec`, so that
  // its transaction state, pipeline skipping and ReadyForQuery are PostgreSQL's own.
  // report: counted and sent to webhooks as a policy denial (not for a refusal for lack of memory).
  Verdict deny(const protocol::ErrorSpec& spec, bool extended, bool report = true);
  // deny() with 58030: the ledger cannot record a decision, so `refused` (what is
  // refused, for the message) does not run.
  Verdict deny_ledger_unavailable(std::string_view refused, bool extended);
  // The engine (engine/engine.h): what the server has yet to answer and the outcomes,
  // prepared statements and portals, savepoints, the lexing-state model, denials.
  engine::Engine engine_;
  // engine::Host: its side effects.
  void spend_approval(const std::string& key) override;
  void release_approval(const std::string& key) override;
  void record_outcome(const engine::Outcome& outcome) override;
  void out_of_step(std::string_view what) override;
  void read_whole(std::uint8_t type) override;
  // PostgreSQL has reported is_superuser = on in this session and enforcement.superusers
  // does not list the user: every statement is decided as controlled (read_as_server).
  bool superuser_ = false;
  // The break-glass token open now and not past its deadline, or empty.
  std::string_view open_token() const;
  // Every statement is recorded now: full-statement logging, or a break-glass token is open.
  bool record_all_now() const { return config_->enforcement.record_all_statements || break_glass_ != nullptr; }
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
  // has an OID, no text), or any function in a superuser's session (superuser_).
  bool function_call_refused(const protocol::ScanStep& step) const;
  // Records its refusal (class server_admin) and says what to send instead.
  asio::awaitable<Verdict> deny_function_call(const protocol::ScanStep& step);
  // The refusal of a prepared statement that may not run (again): a denied or would_deny
  // record (reason), paced; the client's ErrorResponse says "is not approved: " + why.
  // `what` names it in the log line when the ledger cannot record it.
  asio::awaitable<Verdict> refuse_prepared(engine::Prepared statement, bool extended, std::string reason, std::string why,
                                           std::string hint, std::string_view what);
  // Handles one server message the scanner reported; returns the bytes to
  // forward (the message itself, or a rewritten one held in rewritten_).
  std::span<const std::uint8_t> on_server_message(const protocol::ScanStep& step);

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

  SharedState& shared_;
  Worker& worker_;
  // The fast lane's reads of each socket.
  ReactorRead client_read_{worker_.counters.fast_lane_empty_reads};
  ReactorRead server_read_{worker_.counters.fast_lane_empty_reads};
  // The configuration in force when the session started; a reload (SIGHUP) does not change it.
  std::shared_ptr<const config::Config> config_;
  Channel client_;
  std::unique_ptr<Channel> server_;
  std::string peer_;
  std::uint64_t id_;
  bool admitted_ = false;
  Phase phase_ = Phase::startup;

  std::string user_;
  std::string database_;
  std::string application_;
  std::vector<std::uint8_t> startup_bytes_;  // the packet to forward upstream
  std::vector<std::uint8_t> leftover_;       // client bytes read after the startup packet

  protocol::FrameScanner client_scanner_;
  protocol::FrameScanner server_scanner_;
  asio::steady_timer inspection_wait_;  // wait_for_inspection()
  bool client_writing_ = false;
  bool server_offered_plus_ = false;
  bool sasl_started_ = false;
  bool terminate_seen_ = false;
  bool closing_ = false;
  char tx_status_ = 'I';
  std::uint32_t backend_pid_ = 0;
  std::vector<unsigned char> upstream_cert_der_;
  std::vector<std::uint8_t> rewritten_;  // a server message ddlgate changed, until written

  // Enforcement state (docs/enforcement.md).
  bool drop_current_ = false;  // the client message being relayed is dropped
  std::uint64_t would_deny_unrecorded_ = 0;  // would_deny decisions beyond the pace (would_deny_turn())
  std::vector<ledger::Record> last_unrecorded_;  // the last of them (record_pending_would_deny())
  std::deque<std::vector<std::uint8_t>> c2s_arena_;  // replacement bytes until written
  std::deque<std::vector<std::uint8_t>> s2c_arena_;
  asio::steady_timer ledger_wait_;  // record_durably(), and pace_refusal()'s wait
  // Wakes a statement pipelined behind the startup packet once the session is
  // established (or closed): it is decided only after authentication.
  asio::steady_timer ready_wait_;
  // server_encoding, reported once at startup: how the server converts the client's
  // text depends on the pair (protocol::read_as_server).
  std::string server_encoding_ = "UTF8";
  // The text as the server reads it, for read_as_server's readings (kept for its capacity).
  std::string server_text_;
  // The analyses of a statement text as the server may read it: [0] under the
  // settings last reported, then the other readings lexing_ says are possible
  // (docs/enforcement.md, "Reading the text the way the server will").
  void read_as_server(std::string_view sql);
  // One reading for a superuser's session (superuser_): every statement controlled.
  std::shared_ptr<const sql::Analysis> read_as_superuser(std::string_view text, bool standard_strings) const;
  // Readings of texts too large to parse on the worker thread (see enforce.cpp):
  // readings_[index] is null until enforce() has them analysed elsewhere.
  struct Deferred {
    std::size_t index;
    std::string text;
    sql::ParseOptions options;
  };
  std::vector<Deferred> deferred_;
  asio::steady_timer analysis_wait_;
  // Texts up to this size are parsed on the worker thread (a few hundred
  // microseconds at most); larger ones on a thread of their own, so that one
  // session's statement never stalls the others of its worker.
  static constexpr std::size_t kParseOnWorkerBytes = 64 * 1024;
  // Runs a copy of work on a thread of its own (at most as many at once as there
  // are workers) and waits for it without blocking the worker. work must own what
  // it touches: it may outlive the wait when the session closes meanwhile.
  // Callers pass a named function object: GCC 12 may destroy a class-type
  // temporary of a co_await expression twice.
  enum class Elsewhere { done, no_thread, closed };
  asio::awaitable<Elsewhere> run_elsewhere(const std::function<void()>& work);
  // Analyses deferred_ elsewhere and fills readings; false if the session closed meanwhile.
  asio::awaitable<bool> analyze_elsewhere(std::vector<std::shared_ptr<const sql::Analysis>>& readings);
  std::vector<std::shared_ptr<const sql::Analysis>> readings_;  // set by read_as_server()
  // Reads a Query or Parse (read_as_server) and says whether enforce() must decide
  // it; false for reads and writes, which go on untouched without a coroutine call.
  bool needs_decision(const protocol::ScanStep& step);
  std::string session_id_;    // as recorded in the ledger
  // This session's mode: the global one, or an override for its user or database.
  config::EnforcementMode mode_ = config::EnforcementMode::off;

  asio::steady_timer watchdog_timer_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_activity_;
  std::uint64_t bytes_from_client_ = 0;
  std::uint64_t bytes_from_server_ = 0;
};

}  // namespace ddlgate::proxy
