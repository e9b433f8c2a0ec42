// `ddlgate explain` (issue 26 item 8): why a statement is or is not approved, as a pure
// function of the statements the registry's bundles hold (in force or not, and why not)
// and which approvals the ledger shows spent. The CLI gathers those (cli/src/explain_cmd.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::engine {

// One statement a bundle of the registry approves, whether or not that bundle is in force.
struct KnownStatement {
  std::string hash;  // "sha256:<hex>"
  std::string sql;   // display SQL (the manifest's, which verification holds to the file's)
  std::string cls;
  std::string app;
  std::uint64_t version = 0;
  std::string file;        // manifest path; empty for a tool's bookkeeping statement
  std::size_t index = 0;   // 1-based within the file's up part; 0 for bookkeeping
  std::size_t line = 0;    // line in the file, 0 when not known
  bool repeatable = false; // bookkeeping: never spent
  bool down = false;       // a down part's statement (file is its down path): deployers only
  bool any_database = false;
  std::vector<std::string> databases;  // the bundle's scope when not any_database
  std::string environment;
  std::string not_before, not_after;  // RFC 3339
  // The bundle's standing under the configuration: in force, or why not.
  enum class Standing { in_force, other_environment, revoked, expired, not_yet_valid, not_in_force } standing =
      Standing::in_force;
  // for not_in_force: "a newer version is in force", the registry's reason; for revoked: which
  // revocation ("by registry/revoke-shop-3: <its reason>", "by a revocation the ledger records")
  std::string not_in_force_why;
};

enum class Verdict {
  approved,           // an approval in force covers the database and is not spent
  spent,              // approved, but every approval covering the database is spent there
  other_database,     // approved in force, for other databases only
  other_environment,  // a bundle of another environment approves it
  revoked,            // a bundle whose version a signed revocation withdrew approves it
  expired,            // a bundle whose validity has ended approves it
  not_yet_valid,      // a bundle whose validity has not begun approves it
  not_in_force,       // a bundle that is not the one in force (superseded, refused) approves it
  near_miss,          // an approved statement differs from it only in schema qualification or literals
  unknown,            // nothing approves it, nothing near it is approved
};
std::string_view to_string(Verdict v);  // "approved", "other_database", ...

struct Explanation {
  Verdict verdict = Verdict::unknown;
  std::string reason;                      // one sentence, naming the approval or the nearest statement
  const KnownStatement* nearest = nullptr; // the approval or near miss named, if any
};

// Whether the ledger shows the approval `k` spent in `database` (approval_key).
using SpentCheck = std::function<bool(const KnownStatement& k, std::string_view database)>;

// Explains the statement with this hash and display SQL (empty when only the hash is known:
// no near miss is looked for) in `database` (empty: any database; spent is then not checked).
Explanation explain(std::string_view hash, std::string_view display_sql, const std::vector<KnownStatement>& known,
                    std::string_view database, const SpentCheck& spent);

// What a near miss compares (display SQL, canonical): with `literals`, every string (quoted or
// dollar-quoted, so a comment inside one too) and number is "?"; with `schemas`, every qualifier
// ("x." before a name) is dropped. Quoted identifiers stay as they are.
std::string loose_form(std::string_view display_sql, bool literals, bool schemas);

}  // namespace ddlgate::engine
