// The engine: what one enforcing session knows of its conversation with the server,
// with no I/O (docs/architecture.md). The proxy's Session feeds it the client's and the
// server's messages as protocol::FrameScanner reports them and asks it what to do; the
// engine keeps
//  - what the server has yet to answer, in the order it was sent (the expected-response
//    queue), and the outcome of every tracked statement (executed, rolled back, failed);
//  - the prepared statements and portals it must know (allowed controlled statements,
//    statements with a session effect, statements recorded at their Parse), by the name
//    the server keys them with;
//  - the open block's savepoints, and which pending outcomes a ROLLBACK TO undoes;
//  - the client messages dropped after a refused Parse or Execute, up to their Sync;
//  - the lexing-state model (protocol/lexing_state.h) fed by both directions;
//  - the denials the server is to raise for ddlgate, rewritten to ddlgate's fields.
// Side effects (spending or releasing a reserved approval, an outcome record, a counter)
// go through Host. Decisions themselves are pure functions (decide.h).
#pragma once

#include <array>
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

#include "ddlgate/protocol/frame.h"
#include "ddlgate/protocol/lexing_state.h"
#include "ddlgate/protocol/messages.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::engine {

// What the engine learned about a tracked statement once its transaction ended or it failed.
struct Outcome {
  enum class Kind { executed, rolled_back, failed };
  Kind kind = Kind::executed;
  std::string hash;
  std::string detail;  // executed: the command tag; failed: the SQLSTATE
};

// The engine's side effects, carried out by its host (the session).
class Host {
 public:
  // A reserved approval (replay protection) is spent for good / free again.
  virtual void spend_approval(const std::string& key) = 0;
  virtual void release_approval(const std::string& key) = 0;
  // An outcome to record (not waited for: the decision was durable already).
  virtual void record_outcome(const Outcome& outcome) = 0;
  // The server answered something the engine did not expect: outcomes may be missing
  // from here on. Tests assert it never happens.
  virtual void out_of_step(std::string_view what) = 0;
  // From now on messages of this client type must reach the engine whole (a scanner setting).
  virtual void read_whole(std::uint8_t type) = 0;

 protected:
  ~Host() = default;
};

// A confirmation the database's guard holds for this session (issue 25, docs/guard.md):
// released (the function given, once) when what it confirmed is done with: its Query's
// ReadyForQuery, or its prepared statement closed, deallocated, replaced or the session's
// end. Shared by the copies of a Prepared; the last one releases it.
class ConfirmationHold {
 public:
  explicit ConfirmationHold(std::function<void()> release) : release_(std::move(release)) {}
  ConfirmationHold(const ConfirmationHold&) = delete;
  ConfirmationHold& operator=(const ConfirmationHold&) = delete;
  ~ConfirmationHold() {
    if (release_) release_();
  }

 private:
  std::function<void()> release_;
};

// A statement's sql::SessionEffect, followed once the server completes it: savepoints
// (SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT/ROLLBACK AND CHAIN) and the prepared statements
// the server drops (DEALLOCATE, DISCARD ALL).
struct EffectStep {
  sql::SessionEffect effect = sql::SessionEffect::none;
  std::string name;
  // deallocate, deallocate_all: the generation when it went to the server; a statement
  // prepared after it (a higher generation) is not the one it drops.
  std::uint64_t generation = 0;
};

// A statement that needed no decision and was recorded at its Parse (full-statement
// logging, or an open break-glass token): that record stands for its first execution,
// and each later one is recorded at its Execute.
struct Recorded {
  std::string hash;
  sql::StatementClass cls{};
  std::string display_sql;
  std::uint64_t executions = 0;  // portals of it the session has run so far
};

struct Prepared {
  std::string hash;
  sql::StatementClass cls{};  // its statement class, for a ledger record
  std::string display_sql;    // the same
  bool once = false;          // its approval applies once (replay protection)
  bool executed = false;      // a portal bound to it has been executed
  EffectStep effect_step;     // SAVEPOINT, RELEASE, ROLLBACK TO, AND CHAIN, DEALLOCATE (hash empty)
  // Allowed by this break-glass token (its ID) only: runs while the token is open.
  std::string break_glass_token;
  std::shared_ptr<Recorded> recorded;  // shared with the portals bound to it
  std::uint64_t generation = 0;        // tells it from a later one of the same name
  std::shared_ptr<const ConfirmationHold> confirmation;  // the guard's, while the server may run it
};

struct Portal {
  std::string statement;  // the prepared statement's name
  std::string hash;
  bool executed = false;  // a later Execute of it continues the same run
  EffectStep effect_step;
  std::string break_glass_token;       // its statement's, when it was bound
  std::shared_ptr<Recorded> recorded;  // its statement's, when it was bound
  std::uint64_t generation = 0;        // as Prepared's
};

// What a decision allowed for the message being decided, taken when it goes on (allowed()).
struct Staged {
  std::vector<std::string> hashes;      // a Query's statements by position ("" untracked); a Parse's one
  std::vector<std::string> spend_keys;  // reserved approvals by position, or empty
  std::vector<EffectStep> effects;      // by position, or empty
  std::optional<Prepared> parse;        // an allowed controlled Parse (or one the guard confirmed), kept by its name
  std::shared_ptr<Recorded> recorded;   // a Parse whose statement was recorded
  // The guard's confirmation of the message (issue 25): a Query's until its ReadyForQuery,
  // a Parse's with its prepared statement (allowed() hands it on).
  std::shared_ptr<const ConfirmationHold> confirmation;
  void clear() {
    hashes.clear();
    spend_keys.clear();
    effects.clear();
    parse.reset();
    recorded.reset();
    confirmation.reset();
  }
};

// Why a complete Execute must be refused: it would run a once-only prepared statement a
// second time (a new portal of it; replay protection), or a statement that only a
// break-glass token allowed after that token has ended.
enum class ExecuteRefusal { none, replayed, break_glass_ended };

class Engine {
 public:
  // replay_protection: approvals are reserved and spent (enforcement.spend_approvals_once).
  Engine(Host& host, bool replay_protection) : host_(host), replay_protection_(replay_protection) {}

  // ---- Client side, for every message that goes upstream (or is dropped). ----
  // A client message starts: false when it is dropped (a refused Parse or Execute came
  // earlier in its batch, up to the batch's Sync, which goes on).
  bool begin_client_message(std::uint8_t type) {
    if (skipping_ && type == protocol::fe::kSync) skipping_ = false;
    if (skipping_) return false;
    lexing_.on_client(type);  // widens the lexing settings until a ReadyForQuery answers everything sent
    return true;
  }
  // A step of a client message goes upstream untouched: the names of Bind and Execute are
  // read as they pass, and what the server is to answer is queued (a Query's where it was
  // decided: forward_undecided(), allowed(), replaced(), stream_started()).
  void forward(const protocol::ScanStep& step);
  // A whole Query or Parse that needed no decision goes upstream: `analysis` (its first
  // reading, or null) gives the session effects to follow. Instead of forward().
  void forward_undecided(const protocol::ScanStep& step, const sql::Analysis* analysis);
  // A decided Query or Parse goes upstream as allowed: takes staged(). Then forward().
  void allowed(const protocol::ScanStep& step);
  // ddlgate sent a Query of its own instead of a client message of `original_type`; in
  // the extended protocol (skip_to_sync) the client's messages up to Sync are dropped, and
  // the Query's ReadyForQuery is not passed on (the batch's own Sync gets one).
  void replaced(std::uint8_t original_type, bool skip_to_sync);
  // The Query about to be replaced raises `spec` (ErrorResponse rewritten to exactly it).
  void denial_sent(protocol::ErrorSpec spec);
  // A large Query streams through as one plain statement: nothing tracked.
  void stream_started() { expect_query({}, {}, {}); }
  // The decision's hand-over for the message being decided.
  Staged& staged() { return staged_; }

  // ---- Questions about a whole client message. ----
  // The portal an Execute names, if the engine keeps it.
  const Portal* executed_portal(const protocol::ScanStep& step) const;
  // open_token: the break-glass token open now (not past its deadline), or empty.
  ExecuteRefusal refused_execute(const protocol::ScanStep& step, std::string_view open_token) const;
  // Whether this Execute starts a later run of a statement recorded at its Parse while
  // the session records every statement (record_all: full-statement logging or a token open).
  bool execution_to_record(const protocol::ScanStep& step, bool record_all) const;
  // The once-only statement (replay protection) that an SQL EXECUTE in any reading may
  // reach: a protocol Parse and SQL PREPARE share the server's namespace.
  const Prepared* executes_once_only(const std::vector<std::shared_ptr<const sql::Analysis>>& readings) const;
  // The once-only statement a Parse of this name would reuse the name of, while the
  // server may still hold it.
  const Prepared* once_only_named(std::string_view statement_name) const;
  // The prepared statement the engine keeps under this name (as the server keys it).
  const Prepared* prepared(const std::string& server_name) const {
    auto it = prepared_.find(server_name);
    return it == prepared_.end() ? nullptr : &it->second;
  }
  bool keeps_portals() const { return !portals_.empty(); }
  // Messages sent and not yet answered.
  bool awaiting_answers() const { return !expected_.empty(); }
  // Dropping client messages up to the next Sync.
  bool skipping() const { return skipping_; }

  // ---- Server side. ----
  // A server message (whole, or the start of one passed through) of an established
  // session. True: not passed on (the ReadyForQuery of a denial's Query).
  bool on_server(const protocol::ScanStep& step);
  // Whether on_server wants this step (cheap; the hot path asks it first).
  static bool reads_server(const protocol::ScanStep& step) {
    return kServerTypes[step.type] && (step.kind == protocol::ScanStep::Kind::message ||
                                       (step.kind == protocol::ScanStep::Kind::pass && step.starts_message));
  }
  // An ErrorResponse of the server (whole): the fields ddlgate chose for it when it is a
  // denial's, else nullopt.
  std::optional<std::vector<std::uint8_t>> rewrite_denial(const protocol::ScanStep& step);
  // A ParameterStatus or ReadyForQuery (whole) for the lexing model.
  void lexing_on_server(const protocol::ScanStep& step) { lexing_.on_server(step.type, step.body); }

  // The session ends: approvals reserved and not settled are spent (the server may still
  // run and commit what it was sent) or released (an open block with nothing in flight,
  // which the server rolls back; recorded as rolled back).
  void end_session();

  protocol::LexingState& lexing() { return lexing_; }
  const protocol::LexingState& lexing() const { return lexing_; }

  // An analysed message's EffectSteps by position; empty when it has none.
  static std::vector<EffectStep> effect_steps(const sql::Analysis& analysis);
  // PostgreSQL keys prepared statements and portals by their first NAMEDATALEN - 1 bytes
  // (63 in Debian's build): longer names on the wire are the same one.
  static constexpr std::size_t kNameBytes = 63;
  static std::string server_name(std::string_view name);

 private:
  struct Closing {
    bool portal = false;
    std::string name;
    std::uint64_t generation = 0;
  };
  struct Tracked {
    std::vector<std::string> hashes;      // by position; "" for a statement that is not tracked
    std::vector<std::string> spend_keys;  // reserved approvals by position, or empty
    std::vector<EffectStep> effects;      // by position, or empty
    std::size_t next = 0;
    Closing closing;  // close
    std::shared_ptr<const ConfirmationHold> confirmation;  // query: the guard's, until its ReadyForQuery
  };
  // Each entry ends with one server message:
  //  - extended: a run of `count` Parse, Bind, Describe, Close and untracked Executes,
  //    each ended by its completion (ParseComplete, BindComplete, CloseComplete,
  //    RowDescription or NoData; CommandComplete, EmptyQueryResponse or PortalSuspended);
  //  - execute: an Execute of a tracked statement, ended the same way;
  //  - query, function_call, sync: ended by ReadyForQuery; a Query's statements are
  //    matched to CommandComplete and ErrorResponse in order;
  //  - denial: ddlgate's Query in place of a refused extended-protocol message; its
  //    ReadyForQuery is not passed on (the client's Sync gets one);
  //  - close: a Close of a statement or portal the engine keeps, forgotten once the
  //    server's CloseComplete says it is gone, if the name was not reused in between.
  // An ErrorResponse to an extended-protocol message makes the server skip every message
  // up to the next Sync: their entries go with it.
  struct Expected {
    enum class Kind : std::uint8_t { extended, execute, query, function_call, sync, denial, close };
    Kind kind = Kind::extended;
    std::uint32_t count = 1;           // extended: completions still to come
    std::unique_ptr<Tracked> tracked;  // execute, query and close; null when nothing is tracked
  };
  struct PendingOutcome {
    std::string hash;
    std::string tag;
    std::string spend_key;  // a reserved approval, spent if the transaction commits
  };
  // The open block's savepoints, innermost last, each with the number of pending
  // outcomes executed before it: ROLLBACK TO undoes those after it.
  struct Savepoint {
    std::string name;
    std::size_t pending = 0;
  };

  static constexpr std::array<bool, 256> kServerTypes = [] {
    std::array<bool, 256> t{};
    namespace be = protocol::be;
    for (std::uint8_t type : {be::kCommandComplete, be::kErrorResponse, be::kReadyForQuery, be::kEmptyQueryResponse,
                              be::kPortalSuspended, be::kParseComplete, be::kBindComplete, be::kCloseComplete,
                              be::kNoData, be::kRowDescription}) {
      t[type] = true;
    }
    return t;
  }();

  void expect(Expected::Kind kind, std::unique_ptr<Tracked> tracked = nullptr);
  void expect_extended();
  bool expect_close(const protocol::ScanStep& step);
  void expect_query(std::vector<std::string> hashes, std::vector<std::string> spend_keys,
                    std::vector<EffectStep> effects, std::shared_ptr<const ConfirmationHold> confirmation = nullptr);
  void closed(const Closing& c);
  void remember_prepared(const protocol::ScanStep& step);
  void deallocated(const EffectStep& step);
  void on_session_effect(const EffectStep& step, std::string_view tag);
  bool on_outcome_message(const protocol::ScanStep& step);
  void skip_to_sync_entry();
  void settle_pending_outcomes(bool committed, std::size_t from = 0);
  void end_transaction(bool committed);
  void release_keys(const Tracked& t);
  void on_bind_or_execute_bytes(std::span<const std::uint8_t> body_part);
  void finish_names();

  Host& host_;
  const bool replay_protection_;
  std::deque<Expected> expected_;
  bool skipping_ = false;          // a Parse or Execute was denied: client messages are dropped until Sync
  bool skipping_to_sync_ = false;  // the server skips to a Sync not yet sent: messages up to it get no entry
  bool failed_ = false;            // an ErrorResponse since the last ReadyForQuery
  bool block_open_ = false;        // the previous ReadyForQuery said T or E
  std::string last_tag_;           // the latest CommandComplete tag
  std::vector<PendingOutcome> pending_outcomes_;  // executed, awaiting the transaction's end
  std::vector<Savepoint> savepoints_;
  std::unordered_map<std::string, Prepared> prepared_;
  std::unordered_map<std::string, Portal> portals_;
  std::uint64_t generations_ = 0;  // the last generation given to a Prepared or Portal
  Staged staged_;
  std::deque<protocol::ErrorSpec> denials_;  // errors the server is to raise for ddlgate
  protocol::LexingState lexing_;
  // The leading names of a Bind or Execute, read as its bytes pass (they are never
  // buffered whole: a Bind may carry up to 1 GiB of parameters).
  std::uint8_t names_type_ = 0;   // kBind or kExecute while reading, else 0
  std::uint32_t names_left_ = 0;  // body bytes of that message not yet seen
  std::array<std::string, 2> names_;  // the portal (and the Bind's statement) name, as the server keys it
  std::size_t names_seen_ = 0;
};

}  // namespace ddlgate::engine
