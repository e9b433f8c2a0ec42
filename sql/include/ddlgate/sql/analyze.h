// Parsing a SQL string (one Query message, one Parse message, one migration file)
// into statements, each with its class, whether it needs approval, its canonical
// hash and its display SQL. See docs/hash.md for the hash definition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/sql/statement_class.h"

namespace ddlgate::sql {

// Why a SQL string does not parse: PostgreSQL's message and a 1-based character
// position in the input (0 when PostgreSQL gives none), as in an ErrorResponse's P field.
struct ParseError {
  std::string message;
  std::size_t position = 0;
};

// What a statement does to session state the proxy follows once the server has
// completed it. The savepoints of its transaction block, for ledger outcomes
// (docs/enforcement.md, "Outcomes"); `chain`: COMMIT or ROLLBACK AND CHAIN, which
// end the transaction and open the next block at once. And the prepared statements
// the server forgets, for full-statement logging: `deallocate` (DEALLOCATE name;
// the name in effect_name) and `deallocate_all` (DEALLOCATE ALL, DISCARD ALL).
enum class SessionEffect : std::uint8_t { none, define, release, rollback_to, chain, deallocate, deallocate_all };

// One statement of the input.
struct Statement {
  StatementClass cls = StatementClass::unknown;
  bool controlled = true;
  bool temporary = false;   // it only creates a temporary object (see Policy::allow_temporary_objects)
  std::string hash;         // "sha256:<64 hex>"; empty when not computed (see Detail)
  std::string display_sql;  // deparsed SQL with secrets redacted; empty when not computed
  // Where the statement's own text lies in the input (bytes). That text is the
  // client's, secrets included: log display_sql, never the source text.
  std::size_t offset = 0;
  std::size_t length = 0;
  // SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT/ROLLBACK AND CHAIN, DEALLOCATE, DISCARD ALL;
  // none for others.
  SessionEffect session_effect = SessionEffect::none;
  std::string effect_name;  // as the server folds it (define, release, rollback_to, deallocate)
  // PREPARE or DECLARE CURSOR: what it wraps (and is classified by) runs later, by
  // EXECUTE or FETCH, possibly after whatever allowed it has ended.
  bool deferred = false;
  // The prepared statements an EXECUTE anywhere in it runs (EXECUTE, EXPLAIN ANALYZE
  // EXECUTE, CREATE TABLE AS EXECUTE), named as the server's parser folds and truncates
  // them. A protocol Parse and SQL PREPARE share one namespace on the server, so this is
  // how SQL text reaches a statement prepared with Parse (replay protection).
  std::vector<std::string> executes;
  // PostgreSQL 15's command tag for it (CreateCommandTag in src/backend/tcop/utility.c), as an
  // event trigger's TG_TAG and CommandComplete name it: "CREATE TABLE", "ALTER TABLE", "GRANT", ...;
  // set for every controlled statement (and for all with Detail::all), empty when unknown.
  std::string command_tag;
  // Every name in it that PostgreSQL resolves through search_path (relations, types, functions,
  // operators, collations, the objects of DROP/COMMENT/ALTER ... and the target schema of what it
  // creates) is schema-qualified, so the search_path it runs under cannot change what it does.
  // Conservative: false whenever unsure (a statement kind not handled, an unqualified operator
  // such as `>` in a CHECK, CREATE EXTENSION without SCHEMA, ...).
  bool names_qualified = false;
  // PostgreSQL 15 may fire event triggers for it, so the database's guard may check it at
  // ddl_command_start: its command tag is event_trigger_ok in cmdtaglist.h. Set with
  // command_tag. Never false for a statement the server fires them for; true also for a
  // GRANT, COMMENT or SECURITY LABEL on a shared object (a database, role, tablespace or
  // parameter), which PostgreSQL skips. Besides controlled statements, REFRESH MATERIALIZED
  // VIEW and temporary objects a policy releases are such statements
  // (Analysis::any_uncontrolled_event).
  bool fires_event_triggers = false;
  // The command tags of what PostgreSQL runs inside it, through SPI, with event triggers of
  // their own under its text (REFRESH MATERIALIZED VIEW CONCURRENTLY: CREATE TABLE, ALTER
  // TABLE, DROP TABLE of its temporary diff table). Set with command_tag.
  std::vector<std::string> nested_tags;
};

// The result of analyze(): either a parse error or the statements, in order.
struct Analysis {
  std::optional<ParseError> error;
  std::vector<Statement> statements;

  bool ok() const { return !error.has_value(); }
  // Whether any statement needs approval (a parse error counts as controlled).
  bool any_controlled() const;
  // Whether a statement that needs no approval still fires event triggers (REFRESH
  // MATERIALIZED VIEW; a released temporary object): the database's guard must be told.
  bool any_uncontrolled_event() const;
  // Whether any statement has a SessionEffect.
  bool any_session_effect() const;
};

// How much analyze() computes for statements that are not controlled.
enum class Detail {
  controlled_only,  // the proxy's hot path: hash and display SQL only for controlled statements
  all,              // `ddlgate hash`, bundle building: hash and display SQL for every statement
  hashes,           // bundle verification: a hash for every statement, display SQL for none
};

// Server settings that change how PostgreSQL's grammar reads a string.
struct ParseOptions {
  // standard_conforming_strings: when off, a backslash in a plain '...' literal is
  // an escape, so `'a\' ; DROP ...'` hides no statement from a reader that
  // assumes it on, but the server then runs the DROP. Read a session's text the
  // way its server will.
  bool standard_conforming_strings = true;
  bool operator==(const ParseOptions&) const = default;
};

// The largest input analyze() accepts; a larger one is refused as a ParseError.
inline constexpr std::size_t kMaxAnalyzedBytes = 8u * 1024 * 1024;

// Parses sql with PostgreSQL 15's grammar (libpg_query) and classifies, hashes and
// deparses each statement. Never throws on bad SQL: errors are in Analysis::error.
// Inputs above 16 KiB are parsed on a helper thread with a stack sized to the input
// (libpg_query recurses once per tree level), so analyze() is safe on any text.
Analysis analyze(std::string_view sql, const Policy& policy = Policy{},
                 Detail detail = Detail::controlled_only, ParseOptions options = {});

// The proxy's shortcut for the commonest cache miss, an application statement
// with new literals in it: read, when sql is certainly one SELECT, write when it
// is certainly one INSERT, UPDATE or DELETE, judged from its bytes in one pass
// with no parse; nullopt whenever it is not sure, and then analyze() decides.
// "Certainly" is conservative: the first word (after whitespace only, no
// comment) is the keyword; no ';' other than a trailing one; no "into" anywhere
// (any case, even inside a literal or name) except INSERT's own; no NUL byte; and
// nothing that may make it server_admin (server_admin.h): no '(' after a listed
// function's name or after a comment, no U&"...", and in INSERT/UPDATE/DELETE no
// word starting pg_ or information_. Such a text can only be that statement, read
// or write (it may still fail to parse, and the server then refuses it).
// SELECT ... FOR UPDATE reads as read here (write in analyze()), so callers use
// this only when neither class is controlled.
std::optional<StatementClass> plain_dml_class(std::string_view sql);

// plain_dml_class() over a text that arrives in parts and is not kept: the proxy
// streams a large statement to the server while it is scanned (docs/operations.md,
// "What is buffered when"). It keeps a window of about 1 KiB before the next byte to
// scan; a look back from '(' or '_' that reaches before that window, or leading
// whitespace over 4 KiB, answers "not plain". Never plain where plain_dml_class()
// would not be (PlainDmlStream tests check this at every split).
class PlainDmlStream {
 public:
  // The next bytes of the text; false once it cannot be plain DML (and then always).
  bool feed(std::string_view part);
  // The text is complete: its class when it is plain DML, else nullopt.
  std::optional<StatementClass> finish();

 private:
  static constexpr std::size_t kPrefix = 4096;  // bytes to read the leading keywords in
  static constexpr std::size_t kBack = 1024;    // bytes kept before the next one to scan
  static constexpr std::size_t kAhead = 4;      // bytes held back for the looks ahead
  bool run(bool final);
  bool fail();
  std::string window_;
  std::size_t next_ = 0;  // window_ index of the next byte to scan
  bool cut_ = false;      // window_ no longer begins at the text's first byte
  bool started_ = false;  // the leading keywords have been read
  bool failed_ = false;
  bool after_semicolon_ = false;
  bool line_comment_seen_ = false;
  StatementClass cls_ = StatementClass::write;
};

// The hash version tag that prefixes every hash input (docs/hash.md).
extern const std::string_view kHashVersionTag;

// The classifier's rule for a statement-level parse node, by its libpg_query
// message name ("SelectStmt"): a fixed class, or "inspected" when the class depends
// on the node's content. nullopt means the classifier has no rule for it (it would
// be classified unknown). Used by the test that checks every PG15 statement node.
struct NodeRule {
  std::optional<StatementClass> fixed;  // nullopt: decided by looking inside the node
  std::string_view why;
};
std::optional<NodeRule> node_rule(std::string_view node_type_name);

}  // namespace ddlgate::sql
