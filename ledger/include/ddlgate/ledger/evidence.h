// Evidence packs (docs/evidence.md): every record between two signed checkpoints, the Merkle
// frontier at the first, the checkpoints (and witness cosignatures), the bundle manifests that
// approved the changes, and the ledger export of those records, in one stored ZIP archive.
// Verification recomputes the signed root from the frontier and the records (completeness, not
// only inclusion) and the export from the records (never trusting the pack's copy).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/witness.h"

namespace ddlgate::ledger {

// The format this code writes (evidence.json "format") for a range that holds records of serve's
// monitor (out_of_band, guard_tampered, schema_drift): as 2, with monitor.jsonl and monitor.csv.
// It reads this one and every earlier one.
inline constexpr std::string_view kEvidenceFormat = "ddlgate-evidence/3";
// The format this code writes for a range without such records (byte for byte the pack it wrote
// before format 3): as 1, with report.html. It cannot hold monitor records.
inline constexpr std::string_view kEvidenceFormatV2 = "ddlgate-evidence/2";
// The first format: as 2 without report.html.
inline constexpr std::string_view kEvidenceFormatV1 = "ddlgate-evidence/1";
// Cap on a pack file read by verify (ZIP without ZIP64 ends at 4 GiB anyway).
inline constexpr std::uint64_t kMaxEvidencePackBytes = 2ull * 1024 * 1024 * 1024;
// Caps on the bundle files an export copies (the registry's own caps, docs/bundles.md).
inline constexpr std::uint64_t kMaxEvidenceManifestBytes = 16ull * 1024 * 1024;
inline constexpr std::uint64_t kMaxEvidenceSignatureBytes = 4096;
inline constexpr std::size_t kMaxEvidenceSignatures = 32;

struct EvidenceExportOptions {
  // RFC 3339 UTC bounds, inclusive, compared as text with the records' times (full precision).
  std::string from, to;
  // Where bundle directories are looked up by name; empty: the path the ledger recorded.
  std::filesystem::path registry_dir;
};

struct EvidenceSummary {
  std::uint64_t start = 0, end = 0;  // the records [start, end)
  std::size_t bundles = 0;           // bundle manifests in the pack
  std::size_t cosignature_notes = 0;
  std::string origin;
  std::string first_time, last_time;  // of records start and end - 1 (empty when there are none)
  // The pack has no record after its range (the ledger ended there when it was exported), so
  // nothing shows that the range reaches the end of the period.
  bool open_end = false;
  std::size_t keys = 1;  // ledger keys followed: the pinned one and those it rotated to
};

// Builds the pack of dir for options: the ZIP bytes, and what is in them.
Result<std::string> build_evidence_pack(const std::filesystem::path& dir, const EvidenceExportOptions& options,
                                        EvidenceSummary* summary = nullptr);

// The same pack written to file (created or truncated) as it is made, entry by entry, so that the
// archive is never held whole (the same bytes as build_evidence_pack's). On an error file is left
// as far as it got: the caller removes it.
Result<EvidenceSummary> write_evidence_pack(const std::filesystem::path& dir, const EvidenceExportOptions& options,
                                            const std::filesystem::path& file);

struct EvidenceVerifyOptions {
  std::string origin;  // pinned origin; empty: the two checkpoints must agree on one
  // Checks one bundle signature file against the manifest's exact bytes: empty when it
  // verifies, else what is wrong (the bundle module's parser and key check, given by the CLI).
  std::function<std::string(std::string_view manifest, std::string_view signature_file)> check_bundle_signature;
  std::vector<VerifierKey> witness_keys;  // with witness_quorum: cosigners of the end checkpoint
  std::size_t witness_quorum = 0;
};

// Verifies pack bytes (name: the file, for messages). The error is one line naming what is wrong.
Result<EvidenceSummary> verify_evidence_pack(std::string_view pack, const NoteVerifier& key,
                                             const EvidenceVerifyOptions& options);

}  // namespace ddlgate::ledger
