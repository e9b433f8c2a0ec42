// Decisions as pure functions of (the server's possible readings of a text, the approvals
// in force, the session's facts): which statements are allowed, what is recorded, and
// the error a refusal raises. The session carries them out (records durably first).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ddlgate/bundle/registry.h"
#include "ddlgate/engine/engine.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/protocol/messages.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::engine {

inline constexpr const char* kHowToReapply =
    "Replay protection (enforcement.spend_approvals_once) lets each approved statement apply once per database; "
    "to apply it again, approve it again in a new bundle version.";
inline constexpr const char* kHowToRollBack =
    "A down (rollback) approval is for the deploy job: run it as a role named in enforcement.deployers.";
inline constexpr const char* kHowToConfirm =
    "The database's guard confirms only what it can check: a text the server sees as ddlgate does, statements "
    "whose command tags ddlgate knows, and either schema-qualified names or a bundle that records the search_path "
    "it was reviewed under (bundle format 2). See docs/guard.md.";
inline constexpr const char* kHowToReachGuard =
    "ddlgate's control connection to this database's guard is down or slow: see ddlgate's log, `ddlgate guard "
    "status`, and docs/guard.md.";
inline constexpr const char* kHowToApprove =
    "Put the statement in a migration, get it reviewed and merged so that CI signs a bundle for this "
    "environment, or open a break-glass session.";

// Replay protection (enforcement.spend_approvals_once): an approval's key in a database. A
// down approval has a key of its own (a dbmate file's up and down parts share the path).
std::string approval_key(std::string_view database, std::string_view app, std::string_view version,
                         std::string_view file, std::uint64_t statement, bool down = false);
std::string approval_key(std::string_view database, const bundle::Approval& a);

// The approvals reserved for statements about to run, shared by every session.
class Reservations {
 public:
  // False when the approval is spent or reserved by another statement.
  virtual bool reserve(const std::string& key) = 0;
  virtual void release(const std::string& key) = 0;

 protected:
  ~Reservations() = default;
};

// The approvals in force, as a decision asks them.
class ApprovalSource {
 public:
  // Every approval of `hash` ("sha256:<hex>") that covers `database`, in bundle order,
  // until f returns true: that one, or nullptr.
  virtual const bundle::Approval* find_if(std::string_view hash, std::string_view database,
                                          const std::function<bool(const bundle::Approval&)>& f) const = 0;
  // A statement a bundle lists in a file that is not approved for lack of its risk tiers'
  // signatures (Approval::unapproved), or nullptr: asked only to word a refusal.
  virtual const bundle::Approval* find_unapproved(std::string_view /*hash*/, std::string_view /*database*/) const {
    return nullptr;
  }

 protected:
  ~ApprovalSource() = default;
};

// The signed bundles in force (bundle/registry.h) as an ApprovalSource; set may be null.
class ApprovedSetSource final : public ApprovalSource {
 public:
  explicit ApprovedSetSource(const bundle::ApprovedSet* set) : set_(set) {}
  const bundle::Approval* find_if(std::string_view hash, std::string_view database,
                                  const std::function<bool(const bundle::Approval&)>& f) const override {
    return set_ ? set_->find_if(hash, database, f) : nullptr;
  }
  const bundle::Approval* find_unapproved(std::string_view hash, std::string_view database) const override {
    return set_ ? set_->find_unapproved(hash, database) : nullptr;
  }

 private:
  const bundle::ApprovedSet* set_;
};

// What a decision knows of the session.
struct Facts {
  ledger::SessionInfo who;  // user and database among them
  bool monitor = false;     // would_deny instead of denied, and nothing is refused
  bool may_deploy = true;   // enforcement.deployers lists the user (or is empty)
  // enforcement.deployers names the user: down approvals need it (an empty list names nobody).
  bool may_roll_back = false;
  bool extended = false;    // a Parse, else a Query
  // [guard] confirm (issue 25): an allowed message is confirmed to the database's guard
  // before it goes on (Decision::confirm), or refused when it cannot be.
  bool guard_confirms = false;
  // The SHA-256 (64 hex digits) of the bytes the server will see (its current_query()):
  // empty when ddlgate cannot know them (a client_encoding other than the server's and a
  // byte above 0x7F in the text).
  std::string server_text_sha256;
  // Why the guard could not confirm the message (the control connection is down, a
  // timeout, the guard refused): an otherwise allowed message is refused with 58000.
  std::string guard_unavailable;
  // enforcement.lock_timeout_for_blocking (issue 28 item 3), in ms; 0: off. A confirmed
  // message with a statement that blocks reads or writes of an existing table carries it.
  std::uint32_t lock_timeout_for_blocking_ms = 0;
};

// What the database's guard is asked to let this session's backend run (docs/guard.md):
// this exact text, these command tags, under this role and search_path.
struct Confirmation {
  std::string text_sha256;                 // 64 hex digits
  // The command tags, in order, of the controlled statements and of those the server fires
  // event triggers for that need no approval (REFRESH MATERIALIZED VIEW, a released temporary table).
  std::vector<std::string> tags;
  std::string role;                        // the session's user
  std::optional<std::string> search_path;  // normalised; nullopt: every name is schema-qualified
  // The lock_timeout (ms) the guard sets for it when the transaction has none; 0: none.
  std::uint32_t lock_timeout_ms = 0;
};

// Whether any of these statements, run in this order, takes a lock that blocks reads or
// writes of a table that exists before them (issue 28 item 3): lint's lock analysis
// (lint::lint's `strongest`, lint::blocks_reads / blocks_writes) over their display SQL.
// True when a statement has no display SQL or lint cannot read it: a lock_timeout is the
// safe side. Computed once per confirmed message, never for reads and writes.
bool blocks_existing_tables(const std::vector<const sql::Statement*>& statements);

struct Decision {
  // The reading decided: the first (the settings last reported) unless another reading the
  // server may make holds an unapproved controlled statement.
  std::shared_ptr<const sql::Analysis> analysis;
  // False: nothing controlled in the reading decided; the message goes on untouched and
  // nothing is recorded.
  bool controlled = false;
  std::vector<ledger::Record> records;  // to be durable before anything is acted on
  std::vector<std::pair<sql::StatementClass, ledger::Decision>> counted;  // for /metrics
  std::vector<std::string> reserved;        // approvals reserved (replay protection)
  std::vector<std::string> statement_keys;  // the same, by statement position
  std::optional<protocol::ErrorSpec> denial;  // the refusal (also in monitor mode: would_deny)
  std::string log_denial;  // what the log says instead of denial->message (which may quote client text)
  // Allowed with Facts::guard_confirms: what to confirm before the message goes on.
  std::optional<Confirmation> confirm;
};

// What to confirm to the guard (Facts::guard_confirms) for a message that needs no decision
// but holds a statement the server fires event triggers for (sql::Analysis::
// any_uncontrolled_event): its tags, under the session's user and any search_path. None
// when there is nothing to confirm or its bytes cannot be named (then the guard decides
// alone: an enforcing guard refuses it, a detecting one records it).
std::optional<Confirmation> uncontrolled_confirmation(const sql::Analysis& analysis, const Facts& facts);

// Decides a Query or Parse that holds a controlled statement in some reading (readings is
// never empty; none of them is null). reservations: null without replay protection.
// Reservations of a refused message are released before it returns. A reading without a
// controlled statement gives Decision::controlled false, and with Facts::guard_confirms the
// uncontrolled_confirmation() of a statement the server fires event triggers for.
Decision decide(const std::vector<std::shared_ptr<const sql::Analysis>>& readings, const ApprovalSource& approved,
                const Facts& facts, Reservations* reservations);

// An allowed decision, once durable: what the engine follows of it (staged()). Returns the
// approvals a Parse spends at once (its outcome is not followed).
std::vector<std::string> stage_allowed(const Decision& decision, bool extended, Staged& staged);

// A break-glass session's reading of a message (docs/breakglass.md): every statement is
// recorded; controlled ones are allowed as break_glass decisions only if all are within the
// token's scope. in_scope is false for a controlled statement outside the token's list, or
// one that could run after the token ends (SQL PREPARE, DECLARE CURSOR, a named Parse), or
// when another reading the server may make holds a controlled statement, or an EXECUTE may
// reach a once-only statement; then normal enforcement decides the message.
struct BreakGlassReading {
  bool in_scope = true;
  std::vector<ledger::Record> records;
};
BreakGlassReading read_under_token(const sql::Analysis& analysis,
                                   const std::vector<std::shared_ptr<const sql::Analysis>>& readings,
                                   const std::vector<std::string>& token_statements, std::string_view token_id,
                                   bool named_parse, bool executes_once_only, const ledger::SessionInfo& who);
// What the database's guard is asked to let a break-glass message run (issue 25): its
// controlled statements' tags and those of statements the server fires event triggers for,
// under the session's user and any search_path (the token names the statements; the
// session's search_path is the on-call engineer's). nullopt with *why when it cannot be asked
// (a tag ddlgate cannot name, or text_sha256 empty), or when the message holds no such
// statement (why stays empty).
std::optional<Confirmation> break_glass_confirmation(const sql::Analysis& analysis, const std::string& text_sha256,
                                                     const std::string& user, std::string* why);
// The records of a break-glass message the guard did not confirm: each controlled
// statement denied with the reason (the message does not run).
std::vector<ledger::Record> break_glass_unconfirmed(const sql::Analysis& analysis, std::string_view token_id,
                                                    const ledger::SessionInfo& who, const std::string& why);
// Its allowed statements, for the engine (staged()).
void stage_break_glass(const sql::Analysis& analysis, bool extended, std::string_view token_id, Staged& staged);

// The Query that makes the server itself raise `spec` (a DO block; the text travels
// base64-encoded, so no client text can end a literal).
std::string denial_query(const protocol::ErrorSpec& spec);
// What a refusal shows of its statement: the ledger's cut of a long one.
std::string refused_sql(std::string_view display_sql);
// What a refusal's primary message shows of its statement (issue 26 item 8): the display SQL
// on one line (each run of whitespace one space), cut on a UTF-8 boundary to at most
// kExcerptBytes bytes followed by "...". Display SQL has its passwords redacted already.
inline constexpr std::size_t kExcerptBytes = 60;
std::string statement_excerpt(std::string_view display_sql);
// The primary message of a refused statement: "ddlgate: <class> statement "<excerpt>" is not
// approved: <why> (<hash>)", so that a client showing only the primary message shows both the
// statement and the reason. hash may be empty.
std::string refusal_message(std::string_view cls, std::string_view display_sql, std::string_view hash,
                            std::string_view why);

}  // namespace ddlgate::engine
