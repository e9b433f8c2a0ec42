// Reading a statement text the way the server will (docs/enforcement.md, "Reading the text
// the way the server will"): the server converts the client's bytes from its client_encoding
// to the database's encoding and splits them under its standard_conforming_strings, and
// either setting may have changed where the proxy cannot see it yet. ServerReader gives one
// analysis per reading the session's lexing state allows, through the worker's statement
// caches. Sans-IO: a text too large to parse on the caller's thread is handed back
// (deferred()) for the caller to analyse elsewhere.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/base/result.h"
#include "ddlgate/protocol/encoding.h"
#include "ddlgate/protocol/lexing_state.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/statement_cache.h"

namespace ddlgate::engine {

using Reading = std::shared_ptr<const sql::Analysis>;

class ServerReader {
 public:
  // Texts up to this size are parsed on the caller's thread (a few hundred microseconds
  // at most); larger ones are deferred, so that one session's statement never stalls the
  // others of its worker.
  static constexpr std::size_t kParseOnWorkerBytes = 64 * 1024;

  // A reading left to the caller: readings()[index] is null until it is analysed.
  struct Deferred {
    std::size_t index;
    std::string text;
    sql::ParseOptions options;
  };

  // The two caches of a worker: for standard_conforming_strings on and off.
  struct Caches {
    sql::StatementCache& standard;
    sql::StatementCache& nonstandard;
  };

  // Fills readings() (and deferred()): [0] under the settings last reported, then every
  // other reading `lexing` says is possible now. An ASCII text without a backslash reads
  // alike every way, so it has one reading.
  void read(std::string_view sql, const protocol::LexingState& lexing, Caches caches);

  // The text as the server converts it under the reported client encoding (into *buffer
  // when it changes), or why it cannot be read exactly.
  base::Result<std::string_view> reported_text(std::string_view sql, const protocol::LexingState& lexing,
                                               std::string* buffer) const;

  // The SHA-256 (64 hex digits) of the bytes the server will hold as this text's
  // current_query(), for the guard (issue 25): the text itself when it is ASCII, else its
  // conversion from the client encoding last reported, when that encoding is certain
  // (`lexing` is narrow) and PostgreSQL's conversion is modelled exactly; else empty.
  std::string server_bytes_sha256(std::string_view sql, const protocol::LexingState& lexing) const;

  std::vector<Reading>& readings() { return readings_; }
  const std::vector<Reading>& readings() const { return readings_; }
  std::vector<Deferred>& deferred() { return deferred_; }
  // Forgets the last reading (keeps the capacity: no allocation on the hot path).
  void clear() {
    readings_.clear();
    deferred_.clear();
  }

  // server_encoding, reported once at startup: how the server converts the client's text
  // depends on the pair.
  void set_server_encoding(std::string_view encoding) {
    server_encoding_ = encoding;
    server_utf8_ = encoding == "UTF8";
  }
  const std::string& server_encoding() const { return server_encoding_; }
  // PostgreSQL reported is_superuser = on and enforcement.superusers does not list the
  // user: every statement but transaction control is read as controlled, uncached.
  void set_superuser() { superuser_ = true; }
  bool superuser() const { return superuser_; }

 private:
  Reading read_one(std::string_view sql, bool non_ascii, bool standard_strings, std::string_view encoding,
                   Caches caches);
  Reading read_as_superuser(std::string_view text, bool standard_strings) const;
  // Why the server, in a database that is not UTF8, may cut a name of ddlgate's reading
  // `text` (of a client text with non-ASCII bytes or not) elsewhere than libpg_query cuts
  // it; none when it cannot.
  std::optional<std::string> names_cut_otherwise(std::string_view text, bool non_ascii) const;
  // names_cut_otherwise as a refused reading, or null (out of line: read_one's hot path skips it).
  [[gnu::cold, gnu::noinline]] Reading refuse_names_cut_otherwise(std::string_view text, bool non_ascii) const;

  std::vector<Reading> readings_;
  std::vector<Deferred> deferred_;
  std::string server_encoding_ = "UTF8";
  bool server_utf8_ = true;  // server_encoding_ is UTF8: names are cut exactly (names_cut_otherwise)
  std::string server_text_;  // the converted text (kept for its capacity)
  bool superuser_ = false;
};

// Why a text read_as_server could not read is refused.
std::string unreadable_text(protocol::ServerText why, std::string_view client_encoding);

}  // namespace ddlgate::engine
