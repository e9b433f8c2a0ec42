// Reading a ledger directory: segment files "segment-<first seq, 20 digits>.log" in order,
// every frame checked, and the tail classified as clean, an in-flight batch, a torn tail
// (cut on recovery) or damage (refuse). Shared by recovery and verification.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/file_io.h"
#include "ddlgate/ledger/frame.h"

namespace ddlgate::ledger {

inline constexpr const char* kCheckpointsFileName = "checkpoints";
// The ledger's origin (one line), made at first start and kept for the ledger's life.
inline constexpr const char* kOriginFileName = "origin";
// Where recovery keeps the bytes it cuts, never destroying them: one file per cut,
// "<file name>.<offset>.cut" (".cut.1", ".cut.2", ... if taken), holding exactly the cut bytes.
inline constexpr const char* kQuarantineDirName = "quarantine";
// The writer closes a batch once it holds this many bytes, so one batch is at most this plus
// one maximal frame: the bound on what recovery may cut.
inline constexpr std::uint64_t kMaxBatchBytes = 1u << 20;
inline constexpr std::uint64_t kMaxTornTail = kMaxBatchBytes + kFrameHeaderSize + kMaxPayloadSize;
// A segment is never read whole if larger than this.
inline constexpr std::uint64_t kMaxSegmentReadSize = 1ull << 30;

// "segment-00000000000000000042.log"
std::string segment_name(std::uint64_t first_seq);

struct SegmentFile {
  std::filesystem::path path;
  std::uint64_t first_seq = 0;
};

// The segment files of dir sorted by first sequence; a file named like a segment but not
// parseable is an error.
Result<std::vector<SegmentFile>> list_segments(const std::filesystem::path& dir);

// One committed record as the scanner hands it over.
struct ScannedRecord {
  std::uint64_t seq = 0;
  std::string_view payload;  // valid during the callback only
  const std::filesystem::path* file = nullptr;
  std::uint64_t offset = 0;  // of the frame in file
};

// Bytes after the last complete batch of the last segment.
struct Tail {
  std::filesystem::path file;
  std::uint64_t offset = 0;     // where the last complete batch ends
  std::uint64_t bytes = 0;      // from offset to the end of the file
  std::uint64_t frames = 0;     // whole valid frames in it (an in-flight or torn batch)
  bool damaged = false;         // it holds bytes that are not valid frames
  std::string reason;
};

struct ScanOutcome {
  std::vector<SegmentFile> segments;
  std::uint64_t records = 0;          // committed records handed to the callback
  std::uint64_t next_seq = 0;         // sequence number after the last committed record
  std::optional<Error> damage;        // first damage that recovery must refuse
  std::optional<Tail> tail;           // set when the last segment has bytes after its last batch
};

// Callback for each committed record in order; returning an Error stops the scan with it
// (as damage at that record).
using RecordSink = std::function<std::optional<Error>(const ScannedRecord&)>;

// The end of one committed batch, after its records were handed over.
struct ScannedBatch {
  std::uint64_t tree_size = 0;              // records up to and including this batch
  std::optional<std::string_view> seal;     // the batch seal's note; none for an older ddlgate's batch
  const std::filesystem::path* file = nullptr;
  std::uint64_t offset = 0;                 // of the seal frame (or of the last record frame)
};
using BatchSink = std::function<std::optional<Error>(const ScannedBatch&)>;

// With start_seq > 0, whole segments that end before start_seq are skipped (not checked): for
// `tail --follow`, which must not re-read the whole ledger on every poll.
// batch_sink, if set, is called at the end of each committed batch.
ScanOutcome scan_segments(FileSystem& fs, const std::filesystem::path& dir, const RecordSink& sink,
                          std::uint64_t start_seq = 0, const BatchSink& batch_sink = {});

}  // namespace ddlgate::ledger
