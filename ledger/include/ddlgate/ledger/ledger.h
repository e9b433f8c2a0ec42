// The ledger writer: one thread appends framed records to segment files with group commit
// and fdatasync, maintains the RFC 6962 tree and writes signed checkpoints. Callers learn
// that their record is durable through a callback, a future or a blocking call.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/file_io.h"
#include "ddlgate/ledger/merkle.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/stats.h"

namespace ddlgate::ledger {

class KeyChain;

// Reads the ledger's history at start-up, during the scan that recovery makes anyway, so that
// a large ledger is read once and not once per reader. Each reader gets the records it wants,
// parsed and checked, in sequence order, before Ledger::open returns; records that recovery cuts
// (a torn tail) are never given. `wants` sees a record's type and its raw payload (canonical
// JSON) and must be cheap: a payload is parsed only if some reader wants it, and then once.
struct HistoryReader {
  std::function<bool(RecordType type, std::string_view payload)> wants;
  std::function<void(const ParsedRecord& record)> read;
};

// Ledger settings (moves into ddlgate::config when the TOML integration lands).
struct LedgerConfig {
  std::filesystem::path directory;            // segments, checkpoints, LOCK
  std::filesystem::path checkpoint_key_file;  // PEM Ed25519 private key that signs checkpoints
  // Checkpoint origin line and signature key name. Empty: the ledger's own (its origin file),
  // made at first start as "<instance_name>/ddlgate/<random id>". A ledger keeps its origin.
  std::string origin;
  std::string instance_name;  // empty: the host name
  std::uint64_t checkpoint_every_records = 1000;
  std::chrono::milliseconds checkpoint_interval{60'000};
  std::filesystem::path checkpoint_copy_directory;  // optional second place for the checkpoints file
  // Set only by accept_rollback(): a mismatch with the copy is reported by copy_mismatch() but
  // does not hold the ledger failed, and the copy is left alone (accept_rollback replaces it).
  bool accept_copy_mismatch = false;
  std::uint64_t segment_max_bytes = 64ull << 20;
  // Bytes of records waiting for the disk beyond which appends are refused (fail closed) rather
  // than letting memory grow without bound when the disk stalls.
  std::uint64_t max_queued_bytes = 64ull << 20;
  // Called once, on the writer thread, when an I/O or fsync error fails the ledger
  // (after which every append fails). Must be quick and must not call the ledger.
  std::function<void(const Error&)> on_failure;
  // Called with every record append() accepts, on the caller's thread, before it is queued
  // (serve's guard monitor keeps approved decisions). Must be quick; must not call the ledger.
  std::function<void(const Record&)> on_append;
  // Readers of the history, called during open() only and not kept after it.
  std::vector<HistoryReader> history_readers;
};

// One thing recovery did at start-up (it is also appended as a recovery_performed record).
struct RecoveryAction {
  std::string file;
  std::uint64_t offset = 0;  // where the cut starts
  std::uint64_t bytes = 0;   // how many bytes were cut
  std::string reason;
  std::string quarantine;    // the file that keeps the cut bytes (see kQuarantineDirName)
};

// What the start found when it compared the ledger with the checkpoint copy and they disagree:
// the copy signed a tree the ledger no longer holds (rollback), or one its records contradict
// (fork), or the copy is not a readable list of this ledger's notes.
struct CopyMismatch {
  std::string kind;  // rollback, fork, damaged_copy, foreign_copy
  std::string detail;
  std::uint64_t copy_size = 0;  // the copy's checkpoint that does not fit (its largest for a rollback)
  Hash copy_root{};
  std::uint64_t ledger_size = 0;  // the ledger's records
  Hash ledger_root{};             // the root of all of them
};

// The sequence number of a durable record, or why it is not durable.
using AppendResult = Result<std::uint64_t>;
// Called once per record, on the writer thread, when it is durable or has failed. It must be
// quick and must not block on the ledger (the proxy posts it back to its io_context).
using DurableCallback = std::function<void(const AppendResult&)>;

class Ledger {
 public:
  // Locks the directory, recovers (cutting only a torn tail, which is then recorded) and
  // starts the writer. Refuses, naming file, offset and reason, on any other damage.
  static Result<std::unique_ptr<Ledger>> open(const LedgerConfig& config,
                                              std::shared_ptr<FileSystem> fs = posix_file_system());
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Queues r; on_durable runs when it is on disk (or immediately, with the error, if the
  // ledger has failed or is closed).
  void append(Record r, DurableCallback on_durable);
  std::future<AppendResult> append(Record r);
  // Blocks the calling thread until r is durable.
  AppendResult append_durable(Record r);

  // Set once an I/O or fsync error happened, or at open when the checkpoint copy disagrees with
  // the ledger (copy_mismatch()); from then on every append fails.
  std::optional<Error> failure() const;
  // Set when open found the ledger rolled back or forked against the checkpoint copy. Unless
  // accept_copy_mismatch, the ledger is then held failed: nothing is written or signed until an
  // operator runs `ddlgate ledger accept-rollback`.
  const std::optional<CopyMismatch>& copy_mismatch() const { return copy_mismatch_; }
  // Writes what is queued, a final checkpoint, and stops the writer. Idempotent.
  Status close();
  // Number of durable records (the tree size).
  std::uint64_t durable_size() const;
  // What recovery did at open (empty when the ledger was clean).
  const std::vector<RecoveryAction>& recovery_actions() const { return recovery_actions_; }
  // Counters and histograms of the writer, readable from any thread.
  const LedgerStats& stats() const { return stats_; }
  // The ledger directory.
  const std::filesystem::path& directory() const { return config_.directory; }
  // The origin its checkpoints and batch seals are signed under (see LedgerConfig::origin).
  const std::string& origin() const { return config_.origin; }
  // The space of the file system the ledger directory is on (statvfs): what is left
  // before a full disk fails the ledger. nullopt when statvfs fails.
  struct FileSystemSpace {
    std::uint64_t free_bytes = 0;  // available to this process
    std::uint64_t size_bytes = 0;
  };
  std::optional<FileSystemSpace> filesystem_space() const;

 private:
  struct Pending {
    std::uint64_t seq;
    bool is_checkpoint;
    std::string payload;
    DurableCallback done;
  };

  Ledger(LedgerConfig config, std::shared_ptr<FileSystem> fs, NoteSigner signer);
  Status recover();
  // Reads the checkpoint copy (repairing a provably torn last note) into copy_roots; sets
  // copy_mismatch_ when it is damaged or not this ledger's. An Error only for I/O.
  std::optional<Error> load_copy(const KeyChain& chain, const std::vector<Checkpoint>& local,
                                 std::map<std::uint64_t, Hash>& copy_roots);
  std::optional<Error> load_copy(const NoteVerifier& verifier, std::map<std::uint64_t, Hash>& copy_roots);
  void enqueue_locked(RecordType type, std::string fields_json, DurableCallback done);
  void run();
  void fail(Error e, std::vector<Pending>& batch);
  Status write_batch(std::vector<Pending>& batch);
  Status write_checkpoint(bool final_checkpoint);
  Status open_segment(std::uint64_t first_seq, bool create);

  LedgerConfig config_;
  std::shared_ptr<FileSystem> fs_;
  NoteSigner signer_;
  std::unique_ptr<DirectoryLock> lock_;
  std::vector<RecoveryAction> recovery_actions_;
  std::optional<CopyMismatch> copy_mismatch_;

  // Shared between callers and the writer.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::uint64_t queued_bytes_ = 0;
  std::uint64_t next_seq_ = 0;
  bool stopping_ = false;
  std::optional<Error> failure_;
  std::uint64_t durable_size_ = 0;

  // Writer thread only.
  std::unique_ptr<WritableFile> segment_;
  std::uint64_t segment_bytes_ = 0;
  std::filesystem::path segment_path_;
  std::unique_ptr<WritableFile> checkpoints_;
  std::unique_ptr<WritableFile> checkpoints_copy_;
  CompactTree tree_;
  std::uint64_t last_checkpoint_size_ = 0;
  std::uint64_t records_since_checkpoint_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_time_;
  std::string frame_buf_;

  LedgerStats stats_;
  std::thread writer_;
  std::once_flag close_once_;
  Status close_status_ = Ok{};
};

// `ddlgate ledger accept-rollback`: opens the ledger (which must not be in use), and if it
// disagrees with its checkpoint copy, appends a rollback_accepted record saying what was accepted
// and by whom, closes it (the final checkpoint covers the record), moves the copy aside as
// "checkpoints.superseded-<UTC time>" and starts it again from the ledger's checkpoints file.
// An error when there is no copy or nothing to accept.
Result<RollbackAccepted> accept_rollback(LedgerConfig config, const std::string& by, const std::string& reason,
                                         std::shared_ptr<FileSystem> fs = posix_file_system());

// `ddlgate ledger rotate-key`: opens the ledger (not in use) with its current key, appends a
// key_rotated record introducing new_key_file's key (with that key's endorsement), closes it
// (the old key signs the tree that ends with the record, and nothing after), then lists the
// introduction in DIR/keys. From then on the ledger must be opened with the new key.
// Returns the record's sequence number.
Result<std::uint64_t> rotate_key(LedgerConfig config, const std::filesystem::path& new_key_file, const std::string& by,
                                 std::shared_ptr<FileSystem> fs = posix_file_system());

}  // namespace ddlgate::ledger
