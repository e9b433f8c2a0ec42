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
std::optional<Endpoint> parse_host_port(std::string_view text, std::string* why = nullptr);

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
};

struct UpstreamTls {
  UpstreamTlsMode mode = UpstreamTlsMode::disable;
  std::string ca_file;      // trust anchors for verify-full
  std::string server_name;  // name checked against the certificate; defaults to the upstream host
};

struct Limits {
  std::uint32_t max_connections = 1000;
  // PostgreSQL's own cap on a startup packet is 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
  std::uint32_t max_startup_packet = 10000;
  // Messages ddlgate must read whole to inspect (Query, Parse, ...) above this are refused.
  std::uint32_t max_inspected_message = 64u * 1024 * 1024;
};

struct Timeouts {
  std::uint32_t connect_ms = 5000;    // connecting to the upstream
  std::uint32_t startup_ms = 60000;   // client startup and authentication (PostgreSQL's authentication_timeout)
  std::uint32_t idle_ms = 0;          // an idle client session is closed after this; 0 = never
  std::uint32_t shutdown_ms = 30000;  // SIGTERM: how long sessions may finish before they are closed
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
};

// What ddlgate does with a controlled statement (product.md, "Modes").
enum class EnforcementMode {
  off,      // no [enforcement] section: every statement is relayed (a transparent proxy)
  monitor,  // allow everything, record what would have been denied
  enforce,  // deny what no signed bundle approves
};

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

  // The mode for a session of `user` on `database`.
  EnforcementMode mode_for(std::string_view user, std::string_view database) const;
};

// Where decisions are recorded (docs/ledger.md); required by [enforcement].
struct LedgerSettings {
  bool enabled = false;                // true when [ledger] is present
  std::string directory;               // segments, checkpoints, LOCK
  std::string checkpoint_key_file;     // PEM Ed25519 private key signing checkpoints
  std::string origin = "ddlgate.local/ledger";
  std::uint32_t checkpoint_every_records = 1000;
  std::uint32_t checkpoint_interval_ms = 60000;
  std::string checkpoint_copy_directory;  // optional second place for the checkpoints file
};

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

struct Config {
  std::vector<Endpoint> listen;  // TCP addresses and Unix socket paths
  Endpoint upstream;
  ClientTls client_tls;
  UpstreamTls upstream_tls;
  Limits limits;
  Timeouts timeouts;
  unsigned workers = 0;  // 0 = one per CPU core
  std::string log_level = "info";
  Bundles bundles;
  Enforcement enforcement;
  LedgerSettings ledger;
  BreakGlass break_glass;
};

struct LoadResult {
  Config config;
  std::vector<Problem> problems;  // empty when the configuration is usable
  bool ok() const { return problems.empty(); }
};

// Parses TOML text; `source` names it in messages (a file path).
LoadResult parse(std::string_view toml_text, std::string_view source = "config");

// Reads and parses a file; a missing or unreadable file is a problem, not an exception.
LoadResult load_file(const std::filesystem::path& path);

// Checks the semantic rules (listeners present, TLS files readable, ...) of a
// config assembled in code or after command-line overrides.
std::vector<Problem> validate(const Config& config);

}  // namespace ddlgate::config
