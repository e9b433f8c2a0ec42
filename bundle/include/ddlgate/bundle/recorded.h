// A recorded bundle source (docs/bundles.md, "Recording what a tool sends"): what
// `ddlgate bundle record` captured from a migration tool, and what `bundle build --tool
// recorded` reads. The directory holds
//   recording.json   the index: every statement with its database, role, session,
//                    transaction and search_path, and its canonical hash
//   recorded.sql     the statements of the first run, in order, as display SQL
//   repeatable.sql   (only when not empty) what the tool sent again on a second run of
//                    the same command: its per-run bookkeeping, approved as repeatable
//   down.sql         (only with `bundle record --down`) what the tool's rollback of its last
//                    migration sent: the down part of recorded.sql, approved as `down`
// The SQL files are what an approver reads and what the bundle carries; recording.json
// is checked against them, statement by statement, when the bundle is built.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/base/result.h"
#include "ddlgate/bundle/bundle.h"

namespace ddlgate::bundle {

inline constexpr std::string_view kRecordingFormat = "ddlgate-recording/1";
inline constexpr std::string_view kRecordingIndex = "recording.json";
inline constexpr std::string_view kRecordedFile = "recorded.sql";
inline constexpr std::string_view kRepeatableFile = "repeatable.sql";
inline constexpr std::string_view kDownFile = "down.sql";
inline constexpr std::uint64_t kMaxRecordingIndexBytes = 64u * 1024 * 1024;

// One captured statement.
struct RecordedStatement {
  std::string database;
  std::string role;
  std::size_t session = 0;      // 1-based, in order of each session's first statement
  // 1-based within its session: statements with the same number ran in one transaction and
  // commit together; 0 when the event trigger did not see it (as search_path).
  std::size_t transaction = 0;
  // From the ddl_command_start trigger; nullopt when the trigger did not see it (roles,
  // databases and tablespaces fire no event trigger; a rolled-back transaction loses it).
  std::optional<std::string> search_path;
  StatementClass cls = StatementClass::unknown;
  std::string hash;  // "sha256:<hex>", of the statement as the tool sent it
  std::string sql;   // display SQL; its hash is `hash` (checked when recording)
};

struct Recording {
  std::vector<RecordedStatement> statements;  // first run, in order
  std::vector<RecordedStatement> repeatable;  // second run, in order
  // `bundle record --down`: what the rollback command sent (bookkeeping that is repeatable
  // left out), in order, and the statements of `statements` it undoes, 1-based and
  // inclusive: the last migration's, which the up command applied again after the rollback.
  // Empty and {0, 0} without --down; recording.json then has no "down" keys.
  std::vector<RecordedStatement> down;
  std::size_t down_undoes_first = 0, down_undoes_last = 0;
};

// The three files' bytes, deterministic: the same recording gives the same bytes.
std::string recording_index_json(const Recording& recording);
std::string recorded_sql_text(const std::vector<RecordedStatement>& statements, std::string_view title);

// Parses recording.json strictly (no unknown or duplicate key, every field typed).
base::Result<Recording> parse_recording_index(std::string_view bytes);

// For `bundle build --tool recorded`: the files to bundle, in order (recorded.sql, then
// repeatable.sql when the index has repeatable statements), and problems when
// recording.json is missing, malformed, or does not name exactly the statements of the
// SQL files (same count, hashes and classes, in order), down.sql included: it is not in
// the list, being recorded.sql's down part (down_path), but it is checked here.
std::vector<std::string> recorded_files(const std::filesystem::path& src_dir, std::vector<Problem>& problems);

// The bookkeeping statements of a recorded manifest: the display SQL of each statement of
// its repeatable.sql file (which is in the manifest, so an approver read it, and whose
// statements verify recomputes from the file). Empty for any other tool.
std::vector<std::string> recorded_bookkeeping_sql(const Manifest& manifest);

}  // namespace ddlgate::bundle
