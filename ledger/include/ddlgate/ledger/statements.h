// The auditor's view of a ledger: one row per controlled statement, its decision joined with
// what the ledger says elsewhere about it (docs/ledger.md, "Statement export"): the accepted
// bundle that approved it (source, signers), its outcome, and the break-glass token it ran under.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/verify.h"

namespace ddlgate::ledger {

// One controlled statement. Parts the ledger has nothing for are absent (an old ledger's
// bundle_accepted without source or signers simply has fewer fields).
struct StatementRow {
  ParsedRecord decision;                  // the decision record
  std::optional<ParsedRecord> approval;   // the bundle_accepted record of the approving bundle and version
  std::optional<ParsedRecord> outcome;    // the outcome record (executed, failed, rolled_back)
  std::optional<ParsedRecord> token;      // the break_glass_opened record of the decision's token
  // No outcome had come within the join's outcome window (JoinOptions): the statement may have
  // run, failed or still be running; `outcome` is then empty.
  bool outcome_unknown = false;
};

// How many records after its decision the join waits for an outcome (docs/ledger.md,
// "Statement export"): past that, the row goes out with its outcome unknown and a later outcome
// is dropped, so what the join holds does not grow with sessions that never settle.
inline constexpr std::uint64_t kOutcomeWindow = 10000;

struct JoinOptions {
  bool break_glass_statements = false;
  std::uint64_t outcome_window = kOutcomeWindow;  // 0: wait until the session ends, however long
  // When set: the most entries the join held at once (rows waiting to go out, and per session
  // and statement the decisions waiting for an outcome), for tests and benchmarks.
  std::size_t* peak_held = nullptr;
  // When set (join_statements only): each monitor record (monitor_rows.h: out_of_band,
  // guard_tampered, schema_drift) in sequence order, unfiltered, so that the report reads the
  // ledger once.
  std::function<void(const ParsedRecord&)> monitor;
};

// Reads dir once and calls sink for each decision the filter picks, in sequence order, joined:
// - outcome: the first outcome within options.outcome_window records after the decision with the same session_id and statement_hash
//   not taken by an earlier decision; a later outcome with none left (a prepared statement run
//   again) repeats the last such decision's row with that outcome. Denied decisions get none,
//   nor do decisions still waiting when their session closes or a new process starts
//   (config_reloaded at start: the previous process may have died with sessions open). A
//   decision still waiting outcome_window records after it goes out with outcome_unknown.
// - approval: the latest bundle_accepted before the decision with the approval's bundle and version.
// - token: the break_glass_opened of the decision's session with its token_id.
// The filter is applied to the decision (its type must be unset or decision), so a row is kept or
// dropped whole. Records are read as the export reads them (frames and CRCs); `ledger verify`
// checks the signatures.
// With break_glass_statements, the statements of break-glass sessions that needed no decision
// (session_statement records with a token_id) come as rows too, in their place: `decision` is
// then that record, with its token and no outcome (the session writes none for them).
Status join_statements(const std::filesystem::path& dir, const ExportFilter& filter,
                       const std::function<void(const StatementRow&)>& sink, const JoinOptions& options = {});

// The same join over records already read and checked elsewhere (an evidence pack's), given in
// sequence order (pointers, so that the caller's records are not copied whole). It waits for an
// outcome until the session ends (no outcome window): the records are in memory already, and an
// evidence pack's report, made with it, must stay the same for the packs written before the window.
void join_statement_records(const std::vector<const ParsedRecord*>& records, const ExportFilter& filter,
                            const std::function<void(const StatementRow&)>& sink, bool break_glass_statements = false);

// join_statement_records fed one record at a time, in sequence order, so that the caller need
// not hold the records (an evidence pack's report): the same rows for the same records.
class StatementJoin {
 public:
  StatementJoin(ExportFilter filter, std::function<void(const StatementRow&)> sink, bool break_glass_statements);
  ~StatementJoin();
  StatementJoin(const StatementJoin&) = delete;
  StatementJoin& operator=(const StatementJoin&) = delete;
  void add(const ParsedRecord& record);
  // The rows still waiting go out (as join_statement_records ends).
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The rows as JSON lines or CSV (docs/ledger.md, "Statement export").
Status export_statements(const std::filesystem::path& dir, const ExportFilter& filter, ExportFormat format,
                         std::ostream& out, const JoinOptions& options = {});

}  // namespace ddlgate::ledger
