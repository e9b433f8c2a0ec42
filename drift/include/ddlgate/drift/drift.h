// `ddlgate drift` (docs/drift.md): the live schema of a database against what the approved
// bundles produce when replayed into an empty scratch database. This module connects to
// PostgreSQL (libpq) but does not print: it returns values and errors; cli/ reports them.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/base/result.h"
#include "ddlgate/bundle/bundle.h"
#include "ddlgate/drift/schema.h"

namespace ddlgate::drift {

// A connection string with its password replaced by "********", for messages. A string that
// libpq cannot parse is not echoed at all (it may hold a password in a place we cannot find).
std::string redact_conninfo(std::string_view conninfo);

// One libpq connection (move-only). Errors name the side ("production", "scratch") and the
// redacted connection string.
class Connection {
 public:
  static base::Result<Connection> open(const std::string& conninfo, std::string_view side);
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();
  // Runs one or more statements as one simple Query; the error is the server's message.
  base::Status exec(std::string_view sql);
  // The SQLSTATE of the last exec() that failed on the server ("" if none did).
  const std::string& last_sqlstate() const { return sqlstate_; }
  // The rows of one query, every value as text (NULL as nullopt); parameters as text.
  base::Result<std::vector<std::vector<std::optional<std::string>>>> query(
      const std::string& sql, const std::vector<std::string>& params = {});
  std::string database() const;  // the database connected to
  const std::string& side() const { return side_; }
  const std::string& redacted() const { return redacted_; }

 private:
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl, std::string side, std::string redacted);
  std::unique_ptr<Impl> impl_;
  std::string side_, redacted_, sqlstate_;
};

// The canonical description of the connected database's schema (docs/drift.md, "What is
// compared"), read in one read-only snapshot. migrator_role: the role whose objects are
// "(migrator)" in the description (owners and grantees); it must exist.
base::Result<SchemaDescription> describe(Connection& conn, const std::string& migrator_role);

// The first object found in a database that should be empty ("table public.accounts"), or
// nullopt when it holds none (only the public schema and plpgsql, as CREATE DATABASE makes it).
base::Result<std::optional<std::string>> first_object(Connection& conn);

// What select_bundles found.
struct Selection {
  std::vector<bundle::Bundle> replay;   // per app the highest version whose scope covers the database, by app
  std::vector<std::string> skipped;     // "<dir>: environment is ..." / "<dir>: scope does not cover <db>" / "<dir>: version 3 of shop is not the highest (5)"
};
// Verifies every bundle directory directly under dir with load_bundle (the checks of `bundle
// verify` and the proxy's registry), with the validity window set aside: a migration applied
// while its bundle was valid stays part of the approved schema after the bundle expires.
// A bundle of another environment is skipped; any other refusal is an error (fail closed:
// the approved schema cannot be known). Two bundles with one app and version and different
// manifests are an error.
base::Result<Selection> select_bundles(const std::filesystem::path& dir, const bundle::TrustAnchors& trust,
                                       const bundle::VerifyOptions& options, const std::string& database);

// Applies a baseline schema (plain SQL, e.g. pg_dump --schema-only) on a connection of its own.
base::Status apply_baseline(const std::string& scratch_url, const std::filesystem::path& file);

// Replays, in order, the tools' own table-creating bookkeeping statements and the up part of
// every migration file of each bundle, one statement at a time. Each file is read again and
// held to the digest its verified manifest signs. Returns the number of statements run.
base::Result<std::size_t> replay(Connection& scratch, const std::vector<bundle::Bundle>& bundles);

}  // namespace ddlgate::drift
