// ddlgate's configuration: the typed form of the TOML file and the loader that
// reports every problem with the key it belongs to.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/config/problem.h"
#include "ddlgate/config/trust.h"

namespace ddlgate::config {

// A place to listen on or connect to: TCP host:port or a Unix socket path.
struct Endpoint {
  enum class Kind { tcp, unix_socket };
  Kind kind = Kind::tcp;
  std::string host;     // tcp: a name or an address; IPv6 without brackets
  std::uint16_t port = 0;
  std::string path;     // unix_socket: the socket file's full path

  // "host:port", "[v6]:port" or the socket path, for messages and logs.
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

// Parses "host:port" or "[v6addr]:port"; nullopt with a reason in *why if malformed.
base::Result<Endpoint> parse_host_port(std::string_view text);

// An http:// or https:// URL, split for a client (webhooks).
struct HttpUrl {
  bool https = false;
  std::string host;     // a name or an address; IPv6 without brackets
  std::uint16_t port = 0;  // 80 or 443 when the URL names none
  std::string target;   // path and query, "/" when empty
};

// Parses an absolute http(s) URL without user info or fragment; nullopt with a reason in *why.
base::Result<HttpUrl> parse_http_url(std::string_view text);

// TLS on the leg between clients and ddlgate.
enum class ClientTlsMode {
  disable,  // SSLRequest is answered 'N'
  allow,    // SSLRequest is answered 'S'; plaintext clients are accepted too
  require,  // plaintext startups are refused (28000), like a hostssl-only pg_hba
};

// TLS on the leg between ddlgate and the upstream server (libpq's sslmode names).
enum class UpstreamTlsMode { disable, prefer, require, verify_full };

struct ClientTls {
  ClientTlsMode mode = ClientTlsMode::disable;
  std::string cert_file;  // PEM certificate chain ddlgate presents
  std::string key_file;   // PEM private key
  bool operator==(const ClientTls&) const = default;
};

struct UpstreamTls {
  UpstreamTlsMode mode = UpstreamTlsMode::disable;
  std::string ca_file;      // trust anchors for verify-full
  std::string server_name;  // name checked against the certificate; defaults to the upstream host
  bool operator==(const UpstreamTls&) const = default;
};

struct Limits {
  std::uint32_t max_connections = 1000;
  // PostgreSQL's own cap on a startup packet is 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
  std::uint32_t max_startup_packet = 10000;
  // Messages ddlgate must read whole to inspect (Query, Parse, ...) above this are refused.
  std::uint32_t max_inspected_message = 64u * 1024 * 1024;
  // The bytes of inspected messages held whole at once by all sessions together (a
  // message that arrived in one read is never counted); a message that does not fit
  // waits up to inspection_wait_ms, then is refused with 53200. At least max_inspected_message.
  std::uint64_t inspection_budget = 256u * 1024 * 1024;
  std::uint32_t inspection_wait_ms = 2000;
  // Refused statements (and break-glass tokens) recorded per second per user, after a
  // burst; beyond it a refusal waits its turn. 0 = no limit.
  std::uint32_t denials_per_second = 10;
  std::uint32_t denial_burst = 100;
  bool operator==(const Limits&) const = default;
};

struct Timeouts {
  std::uint32_t connect_ms = 5000;    // connecting to the upstream
  std::uint32_t startup_ms = 60000;   // client startup and authentication (PostgreSQL's authentication_timeout)
  std::uint32_t idle_ms = 0;          // an idle client session is closed after this; 0 = never
  std::uint32_t shutdown_ms = 30000;  // SIGTERM: how long sessions may finish before they are closed
  bool operator==(const Timeouts&) const = default;
};

// Signed migration bundles (docs/bundles.md). Absent section: no bundle is loaded
// and nothing controlled is approved.
struct Bundles {
  bool enabled = false;          // true when [bundles] is present
  std::string registry_dir;      // directory of bundle directories
  std::string environment;       // only bundles for this environment are accepted
  // Exactly one of: the inline [bundles.trust.roles.<name>] tables, or trust_file.
  TrustPolicy trust;             // inline policy, or the one loaded from trust_file
  std::string trust_file;
  // A manifest.json larger than this is refused before it is read (16 MiB).
  std::uint32_t max_manifest_bytes = 16u * 1024 * 1024;
  std::uint32_t max_signatures = 32;  // signature files per bundle
  bool operator==(const Bundles&) const = default;
};

// What ddlgate does with a controlled statement (product.md, "Modes").
enum class EnforcementMode {
  off,      // no [enforcement] section: every statement is relayed (a transparent proxy)
  monitor,  // allow everything, record what would have been denied
  enforce,  // deny what no signed bundle approves
};
// "off", "monitor" or "enforce", as the configuration spells it.
constexpr std::string_view to_string(EnforcementMode m) {
  return m == EnforcementMode::enforce ? "enforce" : m == EnforcementMode::monitor ? "monitor" : "off";
}

struct Enforcement {
  EnforcementMode mode = EnforcementMode::off;
  // Mode overrides for one database or one user; a user's wins over a database's.
  std::map<std::string, EnforcementMode, std::less<>> database_modes;
  std::map<std::string, EnforcementMode, std::less<>> user_modes;
  // When not empty, only these users may connect; any other is refused at startup
  // (in enforce mode) or logged (in monitor mode).
  std::vector<std::string> users;
  // When not empty, controlled statements are allowed only for these users (the
  // deploy job's roles), even when a bundle approves them.
  std::vector<std::string> deployers;
  // Replay protection: each approval (bundle, version, file, statement) applies
  // at most once per database; a tool's bookkeeping statements are exempt
  // (docs/enforcement.md, "Replay protection").
  bool spend_approvals_once = false;
  // Full-statement logging: every statement of every session is recorded in the ledger
  // (session_statement), durable before it is forwarded, not only controlled ones.
  bool record_all_statements = false;
  // Users whose sessions are enforced as everyone's while PostgreSQL reports them
  // superusers (is_superuser). Any other superuser session has every statement decided
  // as controlled: a superuser changes the server with plain reads and writes.
  std::vector<std::string> superusers;
  // Settings that a startup packet may set although they are dangerous (superuser-only,
  // loading code, session_replication_role: sql::dangerous_settings()); any other
  // such setting in the startup packet is refused in enforce mode.
  std::vector<std::string> allowed_startup_settings;
  // lock_timeout_for_blocking (issue 28 item 3, docs/guard.md "Lock safety"): with the guard,
  // the lock_timeout in milliseconds the guard sets for a confirmed statement that blocks reads
  // or writes of an existing table, when the transaction has none; 0 when absent (off).
  std::uint32_t lock_timeout_for_blocking_ms = 0;

  // The mode for a session of `user` on `database`.
  bool operator==(const Enforcement&) const = default;
  EnforcementMode mode_for(std::string_view user, std::string_view database) const;
};

// A checkpoint witness the proxy pushes checkpoints to ([[ledger.witnesses]], docs/operations.md
// "Witnesses"): C2SP tlog-witness add-checkpoint, off the statement path.
struct Witness {
  std::string url;                  // http(s)://host[:port][/prefix]; POSTs go to <url>/add-checkpoint
  std::string vkey;                 // the witness's name and Ed25519 key: <name>+<key id>+<base64(0x04 || key)>
  std::string ca_file;              // https: trust anchors; default: the system store
  std::uint32_t timeout_ms = 5000;  // one request: connect, TLS, request, response
  bool operator==(const Witness&) const = default;
};

// Where decisions are recorded (docs/ledger.md); required by [enforcement].
struct LedgerSettings {
  bool enabled = false;                // true when [ledger] is present
  std::string directory;               // segments, checkpoints, LOCK
  std::string checkpoint_key_file;     // PEM Ed25519 private key signing checkpoints
  std::string origin;                  // empty: the ledger's own, made at first start (docs/ledger.md)
  std::uint32_t checkpoint_every_records = 1000;
  std::uint32_t checkpoint_interval_ms = 60000;
  std::string checkpoint_copy_directory;  // optional second place for the checkpoints file
  // The ledger.low_space event and a warning when the free space of the ledger's file
  // system falls below this share of its size (checked every few seconds); 0: never.
  std::uint32_t low_space_percent = 10;
  std::vector<Witness> witnesses;       // [[ledger.witnesses]]; empty: no witness
  // After a failed push a witness is tried again after this, doubled per failure up to 60 s.
  std::uint32_t witness_retry_ms = 1000;
  bool operator==(const LedgerSettings&) const = default;
};

// The admin HTTP listener: /metrics, /healthz, /readyz (docs/operations.md).
// Absent section: no listener.
struct Admin {
  bool enabled = false;      // true when [admin] is present
  Endpoint listen;           // host:port (TCP only)
  // An optional bearer token for /metrics, read from a file or an environment
  // variable at start and on SIGHUP; never logged. At most one of the two.
  std::string token_file;
  std::string token_env;
  // /readyz's TCP probe of the upstream: its timeout, and how long a result is reused.
  std::uint32_t upstream_check_timeout_ms = 500;
  std::uint32_t upstream_check_cache_ms = 1000;
  bool operator==(const Admin&) const = default;
};

// Names of the events a webhook can be sent for (docs/operations.md, "Webhooks").
inline constexpr const char* kWebhookEvents[] = {
    "bundle.accepted", "bundle.rejected",  "statement.denied", "breakglass.opened",
    "breakglass.closed", "ledger.failed", "ledger.recovered", "ledger.low_space",
    "change.out_of_band", "guard.tampered", "schema.drift",
};

// One [[webhooks]] entry: a JSON POST, signed with HMAC-SHA256, per event.
struct Webhook {
  std::string url;                   // http://host[:port]/path or https://...
  std::string secret_file;           // the HMAC secret: a file (trailing newline ignored) ...
  std::string secret_env;            // ... or an environment variable; exactly one
  std::vector<std::string> events;   // empty: every event
  std::string ca_file;               // https: trust anchors; default: the system store
  std::uint32_t timeout_ms = 5000;   // one attempt: connect, TLS, request, response
  std::uint32_t max_attempts = 8;    // then the delivery is counted as failed and dropped
  std::uint32_t initial_backoff_ms = 1000;  // doubled after each failed attempt ...
  std::uint32_t max_backoff_ms = 60000;     // ... up to this
  std::uint32_t queue_size = 1000;   // events waiting beyond this: the oldest is dropped
  bool operator==(const Webhook&) const = default;
};

enum class LogFormat { text, json };
// Break-glass sessions (docs/breakglass.md): who may sign tokens and how far they reach.
// Absent section: every token presented is refused (no trusted key).
struct BreakGlass {
  bool enabled = false;           // true when [break_glass] is present
  // Each: base64 of a raw 32-byte Ed25519 public key, PEM text, or a path to a .pub PEM
  // file (relative paths are relative to base_dir, the configuration file's directory).
  std::vector<std::string> keys;
  std::filesystem::path base_dir;
  std::string environment;        // a token's "env" must equal it; default: bundles.environment
  std::uint32_t max_lifetime_s = 3600;  // tokens whose exp - iat is longer are refused (at most 24h)
  std::uint32_t clock_skew_s = 60;      // tolerance on nbf and exp
};

// Parses a duration such as "90s", "30m" or "1h" into seconds; nullopt if malformed.
std::optional<std::uint64_t> parse_duration_seconds(std::string_view text);

// The bounds of enforcement.lock_timeout_for_blocking, in milliseconds.
inline constexpr std::uint32_t kMinLockTimeoutMs = 1;
inline constexpr std::uint32_t kMaxLockTimeoutMs = 3600 * 1000;
// A lock_timeout as PostgreSQL 15 reads it (an integer or decimal number, optional spaces,
// then a unit us, ms, s, min, h or d; no unit: ms), in milliseconds rounded as the server
// rounds them; an error that says why for anything else, for a value the server would read
// otherwise (a leading 0 is octal to it, 0x hex) and for one outside kMin..kMaxLockTimeoutMs.
base::Result<std::uint32_t> parse_lock_timeout_ms(std::string_view text);

// A secret a configuration names by a file or an environment variable (exactly
// one of the two is non-empty): the variable's value, or the file's contents
// with trailing newlines (LF or CRLF) removed. A file of more than
// kMaxSecretBytes, an empty secret, an unset variable or an unreadable file is
// a problem, keyed by FILE_KEY or ENV_KEY under PREFIX. The secret is never part
// of a problem's message.
inline constexpr std::size_t kMaxSecretBytes = 4096;
// [guard]: ddlgate's side of the in-database guard (docs/guard.md, issue 25). Each database a
// session uses is reached over a control connection: a login that is a member of
// ddlgate_control, to the same upstream (and with the same TLS settings) as the sessions.
struct Guard {
  bool enabled = false;               // true when [guard] is present
  // Confirm each approved controlled statement to the database's guard before forwarding it;
  // a statement that cannot be confirmed (no control connection, no guard, a timeout) is refused.
  bool confirm = true;
  std::string control_user;           // required: a login role that is a member of ddlgate_control
  std::string control_password_file;  // its password: a file (trailing newline ignored) ...
  std::string control_password_env;   // ... or an environment variable; neither: no password
  std::uint32_t confirm_timeout_ms = 2000;  // one confirmation's round trip; then the statement is refused
  // Watched on the control connection every poll_interval_ms: the guard's out-of-band changes,
  // the catalog snapshot (roles, memberships, role settings, databases, tablespaces, ALTER
  // SYSTEM) and the watchdog (triggers, owners, function bodies, settings that switch them off).
  std::vector<std::string> databases;
  std::uint32_t poll_interval_ms = 2000;
  // Scheduled drift (ddlgate drift): 0 = none; else every drift_interval_ms for each database in
  // databases, replayed into drift_scratch_url (a libpq conninfo of an empty scratch database).
  std::uint32_t drift_interval_ms = 0;
  std::string drift_scratch_url;
  // The production role that runs migrations: its objects and grants compare as "(migrator)"
  // with the scratch side's (ddlgate drift --migrator); empty: control_user.
  std::string drift_migrator;
  bool operator==(const Guard&) const = default;
};

struct SecretRead {
  std::string value;               // empty when problem is set
  std::optional<Problem> problem;
};
SecretRead read_secret(std::string_view prefix, std::string_view file_key, const std::string& file,
                       std::string_view env_key, const std::string& env);

struct Config {
  std::vector<Endpoint> listen;  // TCP addresses and Unix socket paths
  Endpoint upstream;
  ClientTls client_tls;
  UpstreamTls upstream_tls;
  Limits limits;
  Timeouts timeouts;
  unsigned workers = 0;  // 0 = one per CPU core
  std::string log_level = "info";    // [log] level (or the older server.log_level)
  LogFormat log_format = LogFormat::text;
  std::string instance;              // server.instance: names this ddlgate in webhooks; default: the host name
  Admin admin;
  std::vector<Webhook> webhooks;
  Bundles bundles;
  Enforcement enforcement;
  LedgerSettings ledger;
  BreakGlass break_glass;
  Guard guard;
};

// The file a configuration was read from, for the ledger's config_reloaded records.
// A configuration holds no secrets (they are files or environment variables).
struct ConfigFile {
  std::string path;  // empty: no file (command-line flags only)
  std::string text;  // its bytes as read
};

struct LoadResult {
  Config config;
  std::vector<Problem> problems;  // empty when the configuration is usable
  ConfigFile file;                // set by load_file()
  bool ok() const { return problems.empty(); }
};

// Parses TOML text; `source` names it in messages (a file path).
LoadResult parse(std::string_view toml_text, std::string_view source = "config");

// Reads and parses a file; a missing or unreadable file is a problem, not an exception.
LoadResult load_file(const std::filesystem::path& path);

// What a reload (SIGHUP) does with a configuration read again from its file.
struct ReloadPlan {
  Config next;                             // the running config with every live change applied
  std::vector<std::string> applied;        // keys changed live ("enforcement", "log.level", ...)
  std::vector<std::string> needs_restart;  // keys that changed but keep their running value
};

// Compares the running configuration with a reloaded one, key by key.
ReloadPlan plan_reload(const Config& running, const Config& reloaded);

// Checks the semantic rules (listeners present, TLS files readable, ...) of a
// config assembled in code or after command-line overrides.
std::vector<Problem> validate(const Config& config);

}  // namespace ddlgate::config
