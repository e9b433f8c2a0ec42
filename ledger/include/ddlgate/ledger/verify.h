// Offline verification of a ledger directory or an export, and the export itself
// (docs/ledger.md, "Verification" and "Export").
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/merkle.h"
#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/segments.h"

namespace ddlgate::ledger {

struct VerifyOptions {
  // Another copy of the checkpoints file (e.g. the shipped one); checked against the ledger too,
  // which is what detects a local checkpoints file rolled back together with the segments.
  std::filesystem::path extra_checkpoints;
  // The origin to pin (with the key): a checkpoint or seal under any other origin fails. Empty:
  // the ledger's own notes must agree on one origin.
  std::string origin;
};

struct VerifyReport {
  std::uint64_t records = 0;      // records read (committed)
  std::uint64_t checkpoints = 0;  // signed checkpoints checked
  std::uint64_t covered = 0;      // records covered by a verified signature (checkpoint or batch seal)
  std::uint64_t sealed = 0;       // tree size of the last batch seal (0: none, an older ledger)
  std::string origin;             // the origin the notes were verified under
  std::size_t keys = 1;           // keys followed: the pinned one and those it rotated to
  std::uint64_t in_flight = 0;    // frames of an unfinished batch at the end (not counted)
  std::optional<Error> problem;   // the first problem; empty when everything verified
  bool ok() const { return !problem.has_value(); }
};

// Verifies a ledger directory: frames, sequence, payloads, every checkpoint's signature and
// root, checkpoint records against the checkpoints file, truncation below a checkpoint.
VerifyReport verify_directory(const std::filesystem::path& dir, const NoteVerifier& key,
                              const VerifyOptions& options = {});

// Verifies a JSON-lines export: checkpoint signatures, consistency between checkpoints and
// each record's inclusion proof.
VerifyReport verify_export(const std::filesystem::path& file, const NoteVerifier& key, const std::string& origin = {});

// Which records an export holds; every set field must match.
struct ExportFilter {
  std::optional<std::string> from, to;  // RFC 3339 times, inclusive (compared as UTC text)
  std::optional<RecordType> type;
  std::optional<std::string> decision, user, database, session;
  bool matches(const ParsedRecord& r) const;
};

enum class ExportFormat { jsonl, csv };

// Writes the export of dir to out. The ledger must verify first (the export is of a sound
// ledger only); a problem is returned as the Error. It is read_export_source then write_export.
Status export_ledger(const std::filesystem::path& dir, const ExportFilter& filter, ExportFormat format,
                     std::ostream& out);

// What an export is written from: the picked records in sequence order, the signed notes that
// may prove them, and the tree (of the whole ledger, or an evidence pack's frontier plus its
// records, docs/evidence.md: the pack's export is this function's output, so `evidence verify`
// recomputes it with whatever columns the export has).
struct ExportSource {
  FullTree tree;
  std::vector<Checkpoint> checkpoints;  // by tree size; those beyond tree.size() are left out
  std::vector<std::pair<std::uint64_t, std::string>> picked;  // seq, payload
  std::vector<ParsedRecord> parsed_picked;                     // the same records, parsed
};

// Reads dir's records (those filter picks), checkpoints file and last batch seal.
Result<ExportSource> read_export_source(const std::filesystem::path& dir, const ExportFilter& filter);

// Writes the export of src in format: the proofs go to the largest checkpoint src's tree reaches.
Status write_export(const ExportSource& src, ExportFormat format, std::ostream& out);

// One record handed to a streamed export: its payload and, when the feed was asked to parse, the
// parsed record (else null). Both are valid during the call only.
using ExportRecordSink = std::function<void(std::uint64_t seq, std::string_view payload, const ParsedRecord* parsed)>;
// Hands each picked record, in sequence order, to the sink (parsed when `parse`); an error stops it.
using ExportRecordFeed = std::function<Status(bool parse, const ExportRecordSink& sink)>;

// The same bytes as write_export, with the records fed one at a time rather than held (an
// evidence pack's export, docs/evidence.md): tree_size stands for src.tree.size() (tree may hold
// more leaves; only those below tree_size are used), count is how many records feed gives.
Status write_export_streamed(const FullTree& tree, std::uint64_t tree_size, const std::vector<Checkpoint>& checkpoints,
                             std::uint64_t count, const ExportRecordFeed& feed, ExportFormat format, std::ostream& out);

// Calls sink for each committed record, in order, for `tail`; stops at damage.
Status read_records(const std::filesystem::path& dir, std::uint64_t from_seq,
                    const std::function<void(const ParsedRecord&)>& sink, std::uint64_t* next_seq);

}  // namespace ddlgate::ledger
