// Signed migration bundles (docs/bundles.md): the manifest, building a bundle from a
// migration directory, signing it, and loading + verifying it against a trust policy.
// Errors from files and signatures are values (base::Problem), never exceptions.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ddlgate/base/ed25519.h"
#include "ddlgate/base/result.h"
#include "ddlgate/base/time.h"
#include "ddlgate/config/config.h"
#include "ddlgate/sql/statement_class.h"

namespace ddlgate::bundle {

using base::Clock;
using base::Problem;
using base::PublicKey;
using base::SigningKey;
using base::TimePoint;
using sql::StatementClass;

// A revocation file's format, the prefix its signatures cover ("ddlgate revocation v1\nrole
// registry\n" || bytes), and its size cap.
inline constexpr std::string_view kRevocationFormat = "ddlgate-revocation/1";
inline constexpr std::string_view kRevocationSignatureDomain = "ddlgate revocation v1\n";
inline constexpr std::uint64_t kMaxRevocationBytes = 64 * 1024;
// The manifest formats this code accepts (docs/bundles.md); `bundle build` writes format 2.
inline constexpr std::string_view kBundleFormat1 = "ddlgate-bundle/1";
inline constexpr std::string_view kBundleFormat2 = "ddlgate-bundle/2";
inline constexpr std::string_view kBundleFormat = kBundleFormat2;
// Prefixed to the raw manifest bytes before signing, so that a bundle signature can
// never be replayed as any other kind of ddlgate signature (or vice versa). Format 2
// signs the signer's role too: "ddlgate bundle manifest v2\nrole <role>\n" || bytes.
inline constexpr std::string_view kManifestSignatureDomain = "ddlgate bundle manifest v1\n";
inline constexpr std::string_view kManifestSignatureDomain2 = "ddlgate bundle manifest v2\n";
// The version of the tool profiles (bookkeeping statements) `bundle build` writes; a format-2
// manifest names the profile version it was built with. Profile 1 (dbmate, golang-migrate and
// goose with their default history tables) keeps loading; any other version is refused.
// Profile 2: sixteen tools, history table names chosen at build time (docs/bundles.md).
inline constexpr std::uint32_t kToolProfileVersion = 2;
inline constexpr std::uint32_t kToolProfileVersionOldest = 1;
// The analysis that gives each statement its risk tier and rule ids (lint::lint over the
// bundle's files, built-in rules only): `bundle build` writes it as the manifest's "analysis",
// verification recomputes the tiers with it and refuses a manifest built with another one
// (docs/bundles.md, "Risk tiers"). A change to how lint tiers statements is a new version.
inline constexpr std::string_view kTierAnalysis = "ddlgate-lint/1";
// Caps checked before anything is read into memory.
inline constexpr std::uint64_t kDefaultMaxManifestBytes = 16u * 1024 * 1024;
inline constexpr std::uint64_t kMaxSignatureFileBytes = 4096;
inline constexpr std::uint64_t kMaxMigrationFileBytes = 64u * 1024 * 1024;
inline constexpr std::size_t kDefaultMaxSignatures = 32;

// The migration tools `bundle build` knows: a directory layout (which files, in which
// order, what their "up" part is) and a bookkeeping profile each. The ORMs (alembic,
// django, rails, knex, sequelize, typeorm) keep their migrations as code: their layout is
// plain, SQL files their offline modes wrote; `recorded` is what `bundle record` captured from
// any tool (ddlgate/bundle/recorded.h).
enum class MigrationTool {
  plain, atlas, golang_migrate, goose, flyway, dbmate, sqitch,
  liquibase, alembic, django, rails, knex, sequelize, typeorm, node_pg_migrate, sql_migrate, prisma,
  recorded,
};
std::string_view to_string(MigrationTool tool);  // "golang-migrate"
std::optional<MigrationTool> tool_from_string(std::string_view name);
// Every tool with a layout and a bookkeeping profile, in declaration order (not `recorded`).
const std::vector<MigrationTool>& all_tools();

// The tool's history table as the bundle was built for: empty parts mean the tool's
// default (HistoryDefaults). Format 2 records it in the manifest's tool object.
struct HistoryTable {
  std::string schema;
  std::string table;
  bool empty() const { return schema.empty() && table.empty(); }
  bool operator==(const HistoryTable&) const = default;
};
// A tool's default history table, and which of its parts the tool lets you choose.
struct HistoryDefaults {
  std::string_view schema;  // "" : the tool does not qualify its table by default
  std::string_view table;   // "" : the tool has no one table (sqitch: a registry schema)
  bool schema_configurable = false;
  bool table_configurable = false;
};
HistoryDefaults history_defaults(MigrationTool tool);
// Whether history names a table this tool can be told to use, in a form ddlgate's
// profiles support (lower-case a-z 0-9 _ names only).
base::Status check_history_table(MigrationTool tool, const HistoryTable& history);

// One statement of a migration file's "up" part, as recorded in the manifest.
struct ManifestStatement {
  std::size_t index = 0;  // 1-based position in the file's up part
  StatementClass cls = StatementClass::unknown;
  std::string hash;       // "sha256:<hex>" (docs/hash.md)
  std::string sql;        // display SQL; verify holds it to the file's statement
  // Format 2, optional: the search_path this statement was reviewed under when it is not the
  // manifest's (a recorded statement the tool ran under another one), in normal form
  // (sql::normalize_search_path); verification refuses any other form.
  std::optional<std::string> search_path;
  // Format 2, optional (issue 28): the statement's risk tier (config::kRiskTiers) and the ids of
  // the built-in lint rules that flag it, as the manifest's "analysis" computed them. Verification
  // recomputes both and refuses a lower tier or other rules; a higher tier only asks for more
  // signatures. Without "analysis" neither is written; `rules` is then informational.
  std::string tier;
  std::vector<std::string> rules;
  // Format 2, optional, informational only: the "risk" (low, medium, high) of manifests written
  // before tiers; parsed so that they keep loading, never written, never enforced.
  std::string risk;
};

// Format 2: the "down" part of a migration (issue 26 item 6): separate approvals that only
// a role in enforcement.deployers may use (docs/bundles.md, "Down parts").
struct DownPart {
  std::string path;    // the file that holds it (the same file for dbmate and goose; down_path)
  std::string sha256;
  std::vector<ManifestStatement> statements;
};

struct ManifestFile {
  std::string path;    // relative to the bundle's files/ directory, '/'-separated
  std::string sha256;  // hex of the file's exact bytes
  std::vector<ManifestStatement> statements;
  std::optional<DownPart> down;  // format 2 only
};

// What a revocation withdraws (issue 26 item 7): exactly one is set. A manifest's "revokes"
// (format 2) is parsed but not carried out: a bundle that carries one is refused, and a
// revocation file (RevocationFile) is the carrier (docs/bundles.md, "Revocation").
struct Revocation {
  std::uint64_t version = 0;  // this one version
  std::uint64_t below = 0;    // every version below this one
};

// A statement the migration tool itself sends (history table, advisory lock),
// approved as repeatable: it may run any number of times.
struct BookkeepingStatement {
  std::string tool;
  StatementClass cls = StatementClass::unknown;
  std::string hash;
  std::string sql;
  std::optional<std::string> search_path;  // format 2, optional: as ManifestStatement's
};

struct BundleSource {
  std::string repository, commit, pull_request, ci_run;
  bool empty() const { return repository.empty() && commit.empty() && pull_request.empty() && ci_run.empty(); }
};

// manifest.json, typed.
struct Manifest {
  std::string format{kBundleFormat};
  std::string app;
  std::uint64_t version = 0;
  std::string environment;
  // The scope: the databases it approves statements in, or every database of the
  // environment. Format 2 says which ({"databases": [...]} or {"any_database": true});
  // a format-1 manifest with an empty list means any database.
  std::vector<std::string> databases;
  bool any_database = false;
  TimePoint not_before{};
  TimePoint not_after{};
  MigrationTool tool = MigrationTool::plain;
  std::uint32_t tool_profile = kToolProfileVersion;  // format 2 "tool": {"profile"}; format 1: 1
  HistoryTable history;                               // format 2 "tool": {"history"}, optional
  BundleSource source;
  std::string hash_definition;
  std::vector<ManifestFile> files;
  std::vector<BookkeepingStatement> bookkeeping;
  std::vector<Revocation> revocations;  // format 2 "revokes"
  // Format 2, optional: the search_path the bundle's statements were reviewed under, in normal
  // form (sql::normalize_search_path); a statement's own search_path overrides it. `bundle build`
  // always writes it; absent, the statements carry none (docs/bundles.md, "search_path").
  std::optional<std::string> search_path;
  // Format 2, optional: the analysis that tiered the statements (kTierAnalysis); empty: the
  // statements carry no tier (a bundle built before tiers) and the verifier's own analysis decides.
  std::string analysis;
  bool format2() const { return format == kBundleFormat2; }
};

// Parses manifest bytes strictly: valid UTF-8 JSON, no duplicate key anywhere, no
// unknown key, every field of the right type. Problems are appended to *problems.
std::optional<Manifest> parse_manifest(std::string_view bytes, std::vector<Problem>* problems);
// The manifest as JSON text (what `bundle build` writes; signatures cover these exact bytes).
std::string serialize_manifest(const Manifest& manifest);

// The part of a migration file that a tool applies when migrating up (docs/bundles.md):
// the whole file, or the text between the tool's up and down markers.
base::Result<std::string> up_part(MigrationTool tool, std::string_view content);
// The part of a file that the tool applies when migrating down: the text after the down
// marker (dbmate, goose; empty without one) or the whole file (a golang-migrate .down.sql,
// a sqitch revert/ script).
base::Result<std::string> down_part(MigrationTool tool, std::string_view content);
// Which file holds the down part of the migration file up_path: the same file (dbmate, goose),
// <v>_<name>.down.sql (golang-migrate), revert/<change>.sql (sqitch); nullopt for layouts
// without down parts.
std::optional<std::string> down_path(MigrationTool tool, std::string_view up_path);
// The 1-based line of the file on which each statement of its up part starts;
// empty when the up part cannot be found or does not parse.
std::vector<std::size_t> statement_lines(MigrationTool tool, std::string_view content);

// The tool's own bookkeeping statements for that history table and profile version, as
// read from its source (docs/bundles.md); empty for an unknown profile or a history table
// check_history_table refuses (profile 1 knew only the default names).
std::vector<std::string> bookkeeping_sql(MigrationTool tool, const HistoryTable& history = {},
                                         std::uint32_t profile = kToolProfileVersion);

// The search_path a tool runs its migrations under when nothing else sets one, normalised
// (docs/bundles.md, "search_path"): the server's default `"$user", public` for most tools;
// node-pg-migrate sets its schema (`public`), Flyway puts its default schema first.
std::string default_search_path(MigrationTool tool, const HistoryTable& history = {});
// Which search_path each statement of a resolved manifest was reviewed under: its own, else
// the manifest's, else none (nullopt: only schema-qualified statements can be confirmed).
std::optional<std::string> statement_search_path(const Manifest& m, const ManifestStatement& st);
std::optional<std::string> statement_search_path(const Manifest& m, const BookkeepingStatement& st);

// Which layout a directory has: atlas.sum, sqitch.plan, *.up.sql, V<n>__*.sql,
// goose or dbmate markers, else plain.
MigrationTool detect_tool(const std::filesystem::path& src_dir);
// Every layout whose marks the directory has, each with what was seen ("a -- migrate:up
// line in 001_x.sql"); empty when none (plain). `--tool auto` refuses to pick among several.
std::vector<std::pair<MigrationTool, std::string>> detect_tools(const std::filesystem::path& src_dir);

struct BuildOptions {
  std::filesystem::path src_dir;
  std::filesystem::path out_dir;  // must not exist yet
  std::string app;
  std::uint64_t version = 0;
  std::string environment;
  std::vector<std::string> databases;  // the scope: these databases,
  bool any_database = false;           // or, said explicitly, every one; exactly one of the two
  std::optional<MigrationTool> tool;  // nullopt: detect; refused when several layouts fit
  HistoryTable history;               // --history-schema / --history-table; empty: the tool's default
  // --search-path: the search_path the statements are reviewed under (any spelling; written
  // normalised); nullopt: the tool's default (default_search_path). Format 2 only.
  std::optional<std::string> search_path;
  std::string_view format = kBundleFormat;  // format 1 only for tests of older bundles
  TimePoint not_before{};
  std::chrono::seconds valid_for{30 * 24 * 3600};
  BundleSource source;
};

struct BuildResult {
  Manifest manifest;
  std::string tool_choice;  // how the tool was chosen ("dbmate: named by --tool", "auto: ...")
  std::vector<Problem> problems;  // empty on success
  bool ok() const { return problems.empty(); }
};

// Reads src_dir in the tool's order, splits and hashes each file's up part, and writes
// out_dir/{manifest.json, files/...}. Nothing is written when a problem is found.
BuildResult build_bundle(const BuildOptions& options);

// The detached signature file signatures/<key id without "ed25519:">.sig.
struct SignatureFile {
  std::string key_id;
  PublicKey public_key{};
  std::string role;       // informational: the trust policy decides which role a key has
  std::string signature;  // 64 raw bytes
};
base::Result<SignatureFile> parse_signature_file(std::string_view bytes);
std::string serialize_signature_file(const SignatureFile& sig);
// Whether one signature file's key signed these manifest bytes, as the manifest's format says
// (format 2: with the role the file claims). Only that: whether the key is trusted, and for
// which role, is the trust policy's question (verify_bundle).
base::Status check_signature_file(std::string_view manifest_bytes, std::string_view signature_file);

// Signs bundle_dir/manifest.json's raw bytes (domain-prefixed) and writes the signature
// file; returns its path, or nullopt with *why.
base::Result<std::filesystem::path> sign_bundle(const std::filesystem::path& bundle_dir, const SigningKey& key,
                                                 std::string_view role);

// The trust policy with its keys decoded.
struct TrustAnchors {
  struct Role {
    std::string name;
    std::uint32_t threshold = 1;  // the base threshold, for every statement
    std::vector<PublicKey> keys;
    // Per key, the name the policy gives it: the file name without ".pub" when the policy
    // lists the key as a .pub file ("alice" for "keys/alice.pub"); empty for inline keys.
    std::vector<std::string> names;
  };
  std::vector<Role> roles;
  // [tiers.<tier>] <role> = N: more signatures for a statement of that tier (per role, the
  // larger of N and the role's threshold counts). Empty: every statement needs the same.
  std::vector<config::TierRequirement> tiers;

  // Decodes every key string (base64, PEM text, or a .pub file relative to base_dir).
  // Problems name the key ("roles.approver.keys[1]").
  static TrustAnchors from_config(const config::TrustPolicy& policy, std::vector<Problem>* problems);
};

struct VerifyOptions {
  std::string environment;  // empty: any environment (bundle verify without --environment)
  TimePoint now{};
  std::uint64_t max_manifest_bytes = kDefaultMaxManifestBytes;
  std::size_t max_signatures = kDefaultMaxSignatures;
  // Tolerated disagreement between the signer's and the verifier's clocks.
  std::chrono::seconds clock_skew{300};
  // Hex SHA-256s of manifests whose statements this process already recomputed (the
  // registry passes every bundle it accepted before). For those, files are still checked against
  // their signed digests, but not re-parsed: identical bytes give identical hashes.
  const std::vector<std::string>* statements_verified_for = nullptr;

  // The proxy's settings: [bundles] environment, max_manifest_bytes, max_signatures.
  static VerifyOptions from_config(const config::Bundles& bundles, TimePoint now) {
    VerifyOptions o;
    o.environment = bundles.environment;
    o.now = now;
    o.max_manifest_bytes = bundles.max_manifest_bytes;
    o.max_signatures = bundles.max_signatures;
    return o;
  }
};

// A valid signature found on a bundle.
struct Signer {
  PublicKey key{};
  std::string file;                // signatures/<name>.sig
  std::string claimed_role;        // as written in the signature file
  std::vector<std::string> roles;  // roles of the trust policy that list this key
  std::string name;                // the key's name in the trust policy (TrustAnchors::Role::names); may be empty
};

// A verified bundle.
struct Bundle {
  std::filesystem::path dir;
  std::string manifest_sha256;  // hex of manifest.json's bytes
  Manifest manifest;
  std::vector<Signer> signers;
  // Per manifest file (in its order): why its up part, and its down part, is not approved for
  // lack of its risk tiers' signatures ("statement 2 (destructive): destructive statement needs
  // 2 approver signatures, has 1"); empty when approved. A file is approved whole or not at all.
  std::vector<std::string> unapproved_up, unapproved_down;
};

struct LoadBundleResult {
  std::optional<Bundle> bundle;          // set only when problems is empty
  std::vector<Problem> problems;   // most important first
  bool ok() const { return problems.empty() && bundle.has_value(); }
};

// Runs every check of docs/bundles.md ("Verification"): sizes, signatures and thresholds,
// manifest syntax, environment, validity window, file set and digests, and every statement
// hash recomputed from the files with sql::analyze.
LoadBundleResult load_bundle(const std::filesystem::path& dir, const TrustAnchors& trust, const VerifyOptions& options);
inline LoadBundleResult load_bundle(const std::filesystem::path& dir, const TrustAnchors& trust,
                                    std::string environment, TimePoint now) {
  VerifyOptions o;
  o.environment = std::move(environment);
  o.now = now;
  return load_bundle(dir, trust, o);
}

// A revocation (docs/bundles.md, "Revocation"): a directory of the registry holding
// revocation.json and signatures/ by the registry role, which withdraws a version of an app
// (or every version below one) for good: the proxy records it in the ledger.
struct RevocationFile {
  std::string app;
  std::string environment;
  Revocation what;
  std::string reason;
  TimePoint issued_at{};
};
// Strict, as parse_manifest.
std::optional<RevocationFile> parse_revocation(std::string_view bytes, std::vector<Problem>* problems);
std::string serialize_revocation(const RevocationFile& revocation);
// Whether dir holds a revocation.json (and is a revocation, not a bundle).
bool is_revocation_dir(const std::filesystem::path& dir);

struct VerifiedRevocation {
  std::filesystem::path dir;
  std::string sha256;  // hex of revocation.json's bytes
  RevocationFile revocation;
  std::vector<Signer> signers;
};
struct LoadRevocationResult {
  std::optional<VerifiedRevocation> revocation;  // set only when problems is empty
  std::string app;                // the app it names, when that much can be read
  std::vector<Problem> problems;
  bool ok() const { return problems.empty() && revocation.has_value(); }
};
// Size, strict syntax, environment, and signatures: only the registry role's keys, signed as
// "registry", up to its threshold; any other signature is a problem.
LoadRevocationResult load_revocation(const std::filesystem::path& dir, const TrustAnchors& trust,
                                     const VerifyOptions& options);

// For `bundle inspect`: the manifest and the signature files, checked against the
// manifest bytes but not against any trust policy.
struct InspectResult {
  std::optional<Manifest> manifest;
  // Per manifest file, the line of each of its statements in files/ (empty when the
  // file is missing, changed or unreadable: its problem is in problems).
  std::vector<std::vector<std::size_t>> lines;
  std::vector<Signer> signers;          // signatures that verify
  std::vector<Problem> problems;  // unreadable or invalid parts
};
InspectResult inspect_bundle(const std::filesystem::path& dir, std::uint64_t max_manifest_bytes = kDefaultMaxManifestBytes);

// One approved statement of a manifest, where it is: for `bundle diff`.
struct StatementAt {
  std::string file;        // manifest path
  std::size_t index = 0;   // 1-based within the file's up part (or its down part)
  std::size_t line = 0;    // line in the file, 0 when not known
  bool down = false;       // a statement of files[].down: file is the down part's path
  StatementClass cls = StatementClass::unknown;
  std::string hash;
  std::string sql;
  std::optional<std::string> search_path;  // what it was reviewed under (statement_search_path)
};

// What a new version of a bundle approves that the old one did not, and the reverse.
// Statements are matched by file, part (up or down) and position: one at the same place with
// another hash is changed; one whose place exists in one version only is added or removed.
// A statement that moved is removed at its old place and added at its new one.
struct ManifestDiff {
  std::vector<std::string> header;  // "databases: shop -> shop, billing", one line each
  std::vector<StatementAt> added, removed;
  std::vector<std::pair<StatementAt, StatementAt>> changed;  // {old, new}
  std::vector<std::string> bookkeeping_added, bookkeeping_removed;  // sql
  bool empty() const {
    return header.empty() && added.empty() && removed.empty() && changed.empty() && bookkeeping_added.empty() &&
           bookkeeping_removed.empty();
  }
};
// old_lines / new_lines: InspectResult::lines of each (may be empty).
ManifestDiff diff_manifests(const Manifest& old_manifest, const std::vector<std::vector<std::size_t>>& old_lines,
                            const Manifest& new_manifest, const std::vector<std::vector<std::size_t>>& new_lines);

}  // namespace ddlgate::bundle
