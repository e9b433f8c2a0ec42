// Ledger records: a JSON payload {"fields":{...},"seq":N,"time":"...","type":"..."}
// (docs/ledger.md, "Record schema"). Records are made only through the typed builders
// below, so that callers cannot misspell a type or a field.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ddlgate/ledger/error.h"

namespace ddlgate::ledger {

enum class RecordType {
  session_opened,
  session_closed,
  decision,
  outcome,
  bundle_accepted,
  bundle_rejected,
  config_reloaded,
  break_glass_opened,
  break_glass_closed,
  recovery_performed,
  checkpoint,
  break_glass_refused,
  session_statement,
  rollback_accepted,
  key_rotated,
  bundle_revoked,
  out_of_band,
  guard_tampered,
  schema_drift,
};

const char* to_string(RecordType t);
std::optional<RecordType> record_type_from_string(std::string_view s);

// What a caller hands to the ledger; the ledger adds seq and time.
struct Record {
  RecordType type;
  nlohmann::json fields;
};

// Who is on the other end of a session.
struct SessionInfo {
  std::string session_id;
  std::string user;
  std::string database;
  std::string client_address;
  std::string application_name;
};

enum class Decision { allowed, denied, would_deny, break_glass };
const char* to_string(Decision d);

// The signed bundle statement that approved a statement.
struct Approval {
  std::string bundle;    // application/name of the bundle
  std::string version;
  std::string file;      // migration file inside the bundle
  std::uint64_t statement = 0;  // index of the statement in that file
  bool down = false;  // a down (rollback) approval: recorded as "part": "down"
};

struct DecisionInfo {
  Decision decision = Decision::denied;
  SessionInfo session;
  std::string statement_hash;   // canonical hash, hex
  std::string statement_class;  // e.g. "ddl", "privilege"
  std::string display_sql;      // deparsed SQL; never contains secrets (policy's job)
  std::optional<Approval> approval;  // set when allowed by a bundle
  // Replay protection (enforcement.spend_approvals_once): when the approval is
  // spent, "at_decision" or "on_commit" (then an executed outcome spends it); empty
  // when approvals are not spent. Recorded only when set.
  std::string spend;
  std::string reason;           // why denied / would be denied
  std::string token_id;         // break_glass: the token's jti (the field is left out when empty)
};

// How much display SQL a record keeps (docs/ledger.md, "Bounded statement text"). A refusal
// costs a client nothing, so its record keeps little; statements a session ran under
// break-glass or full-statement logging are the audit trail and are cut only when huge.
// A cut record also holds the whole text's byte length and SHA-256.
inline constexpr std::size_t kRefusalSqlBytes = 4 * 1024;
inline constexpr std::size_t kStatementSqlBytes = 64 * 1024;

// The longest prefix of text of at most max_bytes that does not end inside a UTF-8
// sequence (it never splits a character; invalid bytes are left for serialization).
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

// A break-glass session that opened (docs/breakglass.md); never the token itself.
struct BreakGlassOpening {
  SessionInfo session;
  std::string token_id;      // jti
  std::string token_sha256;  // "sha256:<hex>" of the token text
  std::string key_id;        // the configured key that verified it ("ed25519:...")
  std::string issuer, reason, ticket;
  std::string not_before, expires;  // RFC 3339 UTC
  bool single_use = false;
  std::vector<std::string> statements;  // the allowed statement hashes; empty: any
  std::string source;        // "startup" (options / parameter) or "set"
};

// A token that was refused; token_id only when its signature verified (else it is the
// client's unverified claim and is left out).
struct BreakGlassRefusal {
  SessionInfo session;
  std::string token_id;
  std::string token_sha256;
  std::string check;   // which check failed: "expired", "wrong_user", "already_used", ...
  std::string detail;  // the message the client got
  std::string source;  // "startup" or "set"
};

Record session_opened(const SessionInfo& s);
Record session_closed(std::string_view session_id, std::string_view reason);
// A denied / would_deny decision keeps kRefusalSqlBytes of display_sql and always has
// display_sql_bytes and display_sql_sha256 (unless it has no statement hash: unparseable);
// a break_glass one is cut like session_statement; an allowed one (signed) is kept whole.
Record decision(const DecisionInfo& d);
// Monitor mode's pacing: `count` would_deny decisions of the session before this record were
// not recorded one by one (limits.denials_per_second). Only on a would_deny decision.
void set_suppressed(Record& would_deny, std::uint64_t count);
Record outcome_executed(std::string_view session_id, std::string_view statement_hash, std::string_view command_tag);
Record outcome_failed(std::string_view session_id, std::string_view statement_hash, std::string_view sqlstate);
Record outcome_rolled_back(std::string_view session_id, std::string_view statement_hash);
// A valid signature on an accepted bundle, as the trust policy knew its key then.
struct BundleSigner {
  std::string key_id;              // "ed25519:<16 hex>"
  std::vector<std::string> roles;  // the trust policy's roles that list the key
  std::string name;                // the key's name in the trust policy; empty for an inline key
};
// What the ledger keeps of an accepted bundle: enough to say who approved a change and where
// it was reviewed after the registry directory (and the bundle) is pruned.
struct BundleAcceptance {
  std::string bundle;           // the app
  std::string version;
  std::string manifest_sha256;  // hex
  std::string source;           // the bundle's directory
  std::string repository, commit, pull_request, ci_run;  // the manifest's source
  std::vector<BundleSigner> signers;
};
Record bundle_accepted(const BundleAcceptance& a);
Record bundle_rejected(std::string_view bundle, std::string_view version, std::string_view reason);
// A signed revocation (docs/bundles.md, "Revocation") that this ledger did not hold yet:
// read back at every start, so that it outlives its file and the process.
struct BundleRevocation {
  std::string bundle;              // the app
  std::uint64_t version = 0;       // this one version, or
  std::uint64_t below = 0;         // every version below this one
  std::string revocation_sha256;   // hex of revocation.json's bytes
  std::string source;              // the revocation's directory
  std::string reason;              // as the revocation says it
  std::vector<BundleSigner> signers;
};
Record bundle_revoked(const BundleRevocation& r);
// The configuration ddlgate runs with: at start, and after each SIGHUP that read a
// changed file. Enough to tell, from the ledger alone, which enforcement was in force.
struct ConfigChange {
  std::string event;   // "start" or "sighup"
  std::string path;    // the configuration file; empty without --config
  std::string sha256;  // "sha256:<hex>" of the file's bytes; empty without one
  std::vector<std::string> applied;        // keys that took effect (sighup)
  std::vector<std::string> needs_restart;  // keys that changed but wait for a restart
  std::string mode;                        // enforcement.mode in force after it
  std::vector<std::pair<std::string, std::string>> database_modes, user_modes;  // name, mode
  bool spend_approvals_once = false;
  bool record_all_statements = false;
};
Record config_reloaded(const ConfigChange& c);
Record break_glass_opened(const BreakGlassOpening& o);
Record break_glass_refused(const BreakGlassRefusal& r);
Record break_glass_closed(std::string_view session_id, std::string_view token_id, std::string_view reason);
// A statement that needed no decision (a read, a write, a SET) of a session recorded in
// full (break-glass, full-statement logging). display_sql has secrets redacted.
// `execution` > 0: a later execution of a prepared statement (2 for its second run),
// recorded at its Execute; 0 (no field): the statement as the session sent it.
// Display SQL over kStatementSqlBytes is cut, with display_sql_bytes and display_sql_sha256.
Record session_statement(const SessionInfo& s, std::string_view token_id, std::string_view statement_hash,
                         std::string_view statement_class, std::string_view display_sql,
                         std::uint64_t execution = 0);
Record recovery_performed(std::string_view file, std::uint64_t offset, std::uint64_t bytes_cut,
                          std::string_view reason, std::string_view quarantine = {});
// What `ddlgate ledger accept-rollback` accepted: the ledger no longer holds (or contradicts) a
// checkpoint of the copy. Sizes, roots (hex), the superseded copy (path, sha256) and who and why.
struct RollbackAccepted {
  std::string kind;    // rollback, fork, damaged_copy, foreign_copy
  std::string detail;  // the mismatch as ddlgate reported it
  std::uint64_t copy_size = 0;
  std::string copy_root;
  std::uint64_t ledger_size = 0;
  std::string ledger_root;
  std::string copy_file;  // where the superseded copy was kept
  std::string copy_sha256;
  std::string by;  // the OS user who ran the command
  std::string reason;
};
Record rollback_accepted(const RollbackAccepted& a);
// `ddlgate ledger rotate-key`: old_key and new_key (base64 of the raw Ed25519 public keys), the
// new key's endorsement (a signed note of key_rotation_body, see keys.h) and the OS user.
Record key_rotated(std::string_view old_key_b64, std::string_view new_key_b64, std::string_view endorsement,
                   std::string_view by);
// A change made around ddlgate, found by watching the in-database guard (docs/guard.md,
// "What serve watches"). source "guard": a row of ddlgate.changes (change_id its id);
// "guard_refusal": the guard's refusal sequence advanced (refusals: by how much);
// "catalog": a difference between two catalog snapshots (object, attribute, before, after), or
// with baseline set the first snapshot of a start (objects: how many; nothing is compared).
// display_sql is the guard's redacted display text, cut to kRefusalSqlBytes.
struct OutOfBandChange {
  std::string database;
  std::string source;  // guard, guard_refusal, catalog
  // source guard
  std::uint64_t change_id = 0;
  std::string event;  // ddl_command_end, sql_drop, table_rewrite, install, kill_switch
  std::string user, session_user;  // the session's current_user and session_user
  std::int64_t backend_pid = 0;
  std::string backend_start, at;  // as the server printed them (ISO 8601 with offset)
  std::string command_tag, object_type, object_identity;
  std::string statement_sha256;  // hex, of the text the server ran (empty: unknown)
  std::string display_sql;
  std::string detail;
  // source guard_refusal
  std::uint64_t refusals = 0;      // refusals since the last look
  std::uint64_t refusals_total = 0;  // the sequence's value now
  // source catalog
  bool baseline = false;
  std::uint64_t objects = 0;  // baseline: catalog objects in the snapshot
  std::string object;         // "role alice", "setting work_mem"
  std::string change;         // created, dropped, changed
  std::string attribute, before, after;
  std::string reason;         // one line saying what changed
};
Record out_of_band(const OutOfBandChange& c);
// The guard of a database stopped being intact (state "tampered", failures: each failed check,
// one line each) or is intact again ("intact").
Record guard_tampered(std::string_view database, std::string_view state, const std::vector<std::string>& failures);
// A scheduled drift check (docs/drift.md) found the database's schema differs from what the
// approved bundles produce (state "drift": count, and the first difference lines, at most 1,000;
// bundles: "shop v3, ..."), or found it matching again after drift ("clear").
Record schema_drift(std::string_view database, std::string_view state, std::uint64_t count,
                    const std::vector<std::string>& differences, std::string_view bundles);

Record checkpoint_record(std::uint64_t tree_size, std::string_view root_hex, std::string_view note);

// RFC 3339 UTC with microseconds: 2026-11-25T22:29:10.123456Z.
std::string format_time(std::chrono::system_clock::time_point t);
// True when t has exactly the shape format_time writes. parse_envelope and parse_payload both
// refuse a record whose time does not, so the two readers accept the same records.
bool is_record_time(std::string_view t);

// The exact payload bytes for a record with seq and time (keys in nlohmann's sorted order).
std::string serialize_payload(const Record& r, std::uint64_t seq, std::string_view time);
// Same, with the fields already serialized (lets callers do the JSON work outside a lock).
std::string serialize_payload(RecordType type, std::string_view fields_json, std::uint64_t seq,
                              std::string_view time);
// fields serialized the way serialize_payload expects (invalid UTF-8 replaced, never throws).
std::string serialize_fields(const nlohmann::json& fields);

// A record read back from the ledger.
struct ParsedRecord {
  std::uint64_t seq = 0;
  std::string time;
  RecordType type = RecordType::checkpoint;
  nlohmann::json fields;
};

// The envelope of a payload: what verification needs from every record without parsing its
// fields (nlohmann parsing is the bottleneck of verification).
struct Envelope {
  std::uint64_t seq = 0;
  RecordType type = RecordType::checkpoint;
  std::string_view time;  // points into the payload given to parse_envelope
};

// Checks the payload's frame {"fields":{...},"seq":N,"time":"...","type":"..."} by reading the
// fixed-format tail; the fields are not validated. Used for records a signed checkpoint covers
// (their bytes are then exactly what the writer wrote); others get parse_payload.
Result<Envelope> parse_envelope(std::string_view payload);

// Parses and checks a payload: valid JSON, exactly the four keys with the right types, a known
// type, and canonical (re-serializing gives the same bytes, so nothing can hide in it).
Result<ParsedRecord> parse_payload(std::string_view payload);

}  // namespace ddlgate::ledger
