#include "ddlgate/ledger/ledger.h"

#include <openssl/rand.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <optional>

#include "ddlgate/base/hex.h"
#include "ddlgate/ledger/frame.h"
#include "ddlgate/ledger/keys.h"
#include "ddlgate/ledger/segments.h"

namespace ddlgate::ledger {
namespace {

std::int64_t off(std::uint64_t v) { return static_cast<std::int64_t>(v); }

// Single-writer increment (the writer thread): see stats.h.
void bump(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) {
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

Error closed_error() { return Error{"the ledger is closed"}; }

// A C2SP signed-note key name, which the origin is: not empty, no spaces or control
// characters, no '+' (https://c2sp.org/signed-note).
bool valid_origin(std::string_view o) {
  if (o.empty() || o.size() > 255) return false;
  for (unsigned char c : o) {
    if (c <= 0x20 || c == 0x7F || c == '+') return false;
  }
  return true;
}

std::string default_instance_name() {
  char host[256] = {};
  std::string out;
  if (::gethostname(host, sizeof host - 1) == 0) {
    for (const char* p = host; *p; ++p) {
      char c = *p;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-') out += c;
    }
  }
  return out.empty() ? std::string("ddlgate") : out;
}

// The ledger's origin: the one stored beside it; for a ledger from before origins were stored,
// the origin of its checkpoints; else the configured one; else "<instance>/ddlgate/<random id>",
// made once. It is then stored, so that the ledger keeps it whatever the configuration says later.
Result<std::string> resolve_origin(const LedgerConfig& config, FileSystem& fs) {
  const auto path = config.directory / kOriginFileName;
  std::string text;
  if (std::filesystem::exists(path)) {
    if (auto ec = fs.read_file(path, 4096, &text)) return Error{"cannot read the ledger's origin", path.string(), -1, ec};
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (!valid_origin(text)) return Error{"the ledger's origin file does not hold one valid origin line", path.string()};
    if (!config.origin.empty() && config.origin != text) {
      return Error{"the ledger's origin is " + text + " but the configuration says " + config.origin, path.string()};
    }
    return text;
  }
  std::string origin;
  auto cp_path = config.directory / kCheckpointsFileName;
  if (std::filesystem::exists(cp_path) && !fs.read_file(cp_path, kMaxSegmentReadSize, &text)) {
    auto parsed = parse_checkpoints(text);
    if (!parsed && parsed.error().offset > 0) parsed = parse_checkpoints(std::string_view(text).substr(0, parsed.error().offset));
    if (parsed && !parsed->empty()) origin = parsed->front().origin;
  }
  if (!origin.empty() && !config.origin.empty() && origin != config.origin) {
    return Error{"the ledger's checkpoints have origin " + origin + " but the configuration says " + config.origin,
                 cp_path.string()};
  }
  if (origin.empty()) origin = config.origin;
  if (origin.empty()) {
    std::string hex = base::random_hex(8);
    if (hex.empty()) return Error{"cannot make a random origin id"};
    origin = (config.instance_name.empty() ? default_instance_name() : config.instance_name) + "/ddlgate/" + hex;
  }
  if (!valid_origin(origin)) return Error{"origin " + origin + " is not a valid note key name (empty, space or '+')"};
  // Written whole, synced, then renamed into place: a crash leaves the old state or the new.
  auto tmp = config.directory / (std::string(kOriginFileName) + ".tmp");
  std::unique_ptr<WritableFile> f;
  if (auto e = fs.open_append(tmp, true, &f)) return Error{"cannot write the ledger's origin", tmp.string(), -1, e};
  std::string line = origin + "\n";
  if (auto e = f->truncate(0)) return Error{"cannot write the ledger's origin", tmp.string(), -1, e};
  if (auto e = write_all(*f, line.data(), line.size())) return Error{"cannot write the ledger's origin", tmp.string(), -1, e};
  if (auto e = f->sync_data()) return Error{"cannot sync the ledger's origin", tmp.string(), -1, e};
  f.reset();
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error{"cannot write the ledger's origin", path.string(), -1, ec};
  if (auto e = fs.sync_directory(config.directory)) return Error{"cannot sync the ledger directory", config.directory.string(), -1, e};
  return origin;
}

// A torn append leaves a prefix of a note: short, and missing its blank line or its final
// newline. A complete but wrong note (or a longer rest) is damage, not a torn write.
bool looks_torn(std::string_view rest) {
  return !rest.empty() && rest.size() <= 4096 && (rest.back() != '\n' || rest.find("\n\n") == std::string_view::npos);
}

// Reads `bytes` bytes of file at offset (the tail recovery is about to cut; the scan bounded it).
std::optional<std::string> read_range(const std::filesystem::path& file, std::uint64_t offset, std::uint64_t bytes) {
  if (bytes > kMaxTornTail + 4096) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(bytes, '\0');
  in.read(out.data(), static_cast<std::streamsize>(bytes));
  if (static_cast<std::uint64_t>(in.gcount()) != bytes) return std::nullopt;
  return out;
}

// Keeps bytes that recovery is about to cut from file at offset: DIR/quarantine/<name>.<offset>.cut
// (a free name: an earlier cut at the same offset keeps its own file), written and synced, with
// its name, before the cut. Returns the file's path.
Result<std::filesystem::path> quarantine(FileSystem& fs, const std::filesystem::path& dir,
                                         const std::filesystem::path& file, std::uint64_t offset,
                                         std::string_view bytes) {
  const auto qdir = dir / kQuarantineDirName;
  std::error_code ec;
  bool created = std::filesystem::create_directories(qdir, ec);
  if (ec) return Error{"cannot create the quarantine directory", qdir.string(), -1, ec};
  if (created) {
    if (auto e = fs.sync_directory(dir)) return Error{"cannot sync the ledger directory", dir.string(), -1, e};
  }
  const std::string base = file.filename().string() + "." + std::to_string(offset) + ".cut";
  auto path = qdir / base;
  for (int n = 1; std::filesystem::exists(path); ++n) {
    if (n > 1000) return Error{"too many quarantine files for one cut", path.string()};
    path = qdir / (base + "." + std::to_string(n));
  }
  std::unique_ptr<WritableFile> f;
  if (auto e = fs.open_append(path, true, &f)) return Error{"cannot create the quarantine file", path.string(), -1, e};
  if (auto e = write_all(*f, bytes.data(), bytes.size())) return Error{"cannot write the quarantine file", path.string(), -1, e};
  if (auto e = f->sync_data()) return Error{"cannot sync the quarantine file", path.string(), -1, e};
  if (auto e = fs.sync_directory(qdir)) return Error{"cannot sync the quarantine directory", qdir.string(), -1, e};
  return path;
}

}  // namespace

Ledger::Ledger(LedgerConfig config, std::shared_ptr<FileSystem> fs, NoteSigner signer)
    : config_(std::move(config)), fs_(std::move(fs)), signer_(std::move(signer)) {}

Result<std::unique_ptr<Ledger>> Ledger::open(const LedgerConfig& config, std::shared_ptr<FileSystem> fs) {
  if (config.directory.empty()) return Error{"no ledger directory configured"};
  if (config.checkpoint_every_records == 0) return Error{"checkpoint_every_records must be at least 1"};
  std::error_code ec;
  bool created = std::filesystem::create_directories(config.directory, ec);
  if (ec) return Error{"cannot create the ledger directory", config.directory.string(), -1, ec};
  if (created) {
    // A new directory's own name must be durable before anything in it is acknowledged.
    auto parent = std::filesystem::absolute(config.directory, ec).parent_path();
    if (auto e = fs->sync_directory(parent)) return Error{"cannot sync directory", parent.string(), -1, e};
  }
  auto lock = DirectoryLock::acquire(config.directory);
  if (!lock) return lock.error();
  LedgerConfig resolved = config;
  auto origin = resolve_origin(config, *fs);
  if (!origin) return origin.error();
  resolved.origin = *origin;
  auto signer = NoteSigner::load_pem(config.checkpoint_key_file, resolved.origin);
  if (!signer) return signer.error();
  std::unique_ptr<Ledger> l(new Ledger(std::move(resolved), std::move(fs), std::move(*signer)));
  l->lock_ = std::move(*lock);
  auto recovered = l->recover();
  // The readers are the caller's, for this call only: none is kept (or called) after it.
  l->config_.history_readers.clear();
  if (!recovered) return recovered.error();
  l->last_checkpoint_time_ = std::chrono::steady_clock::now();
  if (l->failure_) {
    // Held at open (see copy_mismatch()): no writer, so nothing is written or signed; every
    // append fails with the reason. The cuts above are logged and kept in quarantine.
    return l;
  }
  l->writer_ = std::thread([p = l.get()] { p->run(); });
  // The cut is itself recorded, so that what recovery did is in the tamper-evident history.
  for (const auto& action : l->recovery_actions_) {
    l->append(recovery_performed(action.file, action.offset, action.bytes, action.reason, action.quarantine), nullptr);
  }
  return l;
}

Status Ledger::recover() {
  const auto& dir = config_.directory;
  // The keys in force over the history (key rotations); the last must be this process's key.
  auto chain_loaded = KeyChain::load(dir, config_.origin, std::nullopt, signer_.public_key(), *fs_);
  if (!chain_loaded) return chain_loaded.error();
  KeyChain& chain = *chain_loaded;

  // 1. Checkpoints: a torn last note (a crash while appending it) is cut; anything else refuses.
  auto cp_path = dir / kCheckpointsFileName;
  std::string cp_text;
  std::vector<Checkpoint> checkpoints;
  bool have_cp_file = std::filesystem::exists(cp_path);
  if (have_cp_file) {
    if (auto ec = fs_->read_file(cp_path, kMaxSegmentReadSize, &cp_text)) {
      return Error{"cannot read checkpoints", cp_path.string(), -1, ec};
    }
    auto parsed = parse_checkpoints(cp_text);
    if (!parsed) {
      auto at = static_cast<std::uint64_t>(parsed.error().offset);
      std::string_view rest = std::string_view(cp_text).substr(at);
      if (!looks_torn(rest)) return Error{parsed.error().reason, cp_path.string(), off(at)};
      auto kept = quarantine(*fs_, dir, cp_path, at, rest);
      if (!kept) return kept.error();
      std::unique_ptr<WritableFile> f;
      if (auto e = fs_->open_append(cp_path, false, &f)) return Error{"cannot open checkpoints", cp_path.string(), -1, e};
      if (auto e = f->truncate(at)) return Error{"cannot cut the torn checkpoint", cp_path.string(), off(at), e};
      if (auto e = f->sync_data()) return Error{"cannot sync checkpoints", cp_path.string(), -1, e};
      recovery_actions_.push_back(
          {cp_path.string(), at, cp_text.size() - at, "torn checkpoint note cut: " + parsed.error().reason, kept->string()});
      cp_text.resize(at);
      parsed = parse_checkpoints(cp_text);
      if (!parsed) return Error{parsed.error().reason, cp_path.string(), parsed.error().offset};
    }
    checkpoints = std::move(*parsed);
  }
  std::map<std::uint64_t, const Checkpoint*> by_size;
  std::uint64_t prev = 0;
  for (const auto& cp : checkpoints) {
    if (!verify_checkpoint(cp, chain.for_size(cp.size)) || cp.origin != config_.origin) {
      return Error{"checkpoint for tree size " + std::to_string(cp.size) +
                       " is not signed by this ledger's key (in force at that size) under origin " + config_.origin,
                   cp_path.string()};
    }
    if (cp.size < prev) {
      return Error{"checkpoint tree sizes go backwards (" + std::to_string(prev) + " then " + std::to_string(cp.size) + ")",
                   cp_path.string()};
    }
    prev = cp.size;
    by_size[cp.size] = &cp;
  }

  // 1b. The checkpoint copy, to compare with the ledger's tree during the scan.
  std::map<std::uint64_t, Hash> copy_roots;
  if (auto e = load_copy(chain, checkpoints, copy_roots)) return *e;

  // 2. Segments: every record checked, the tree rebuilt, every checkpoint compared.
  const std::uint64_t max_cp = checkpoints.empty() ? 0 : checkpoints.back().size;
  std::uint64_t last_seal_size = 0;
  std::optional<std::pair<std::string, std::uint64_t>> uncovered_at_cp, uncovered_after_seal;  // file, offset
  auto scan = scan_segments(*fs_, dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    // As in verify_directory: the envelope for records a checkpoint covers, a full parse for
    // checkpoint records and for the uncovered tail.
    auto env = parse_envelope(r.payload);
    if (!env) return Error{"record " + std::to_string(r.seq) + ": " + env.error().reason};
    if (env->seq != r.seq) return Error{"record " + std::to_string(r.seq) + ": payload says sequence " + std::to_string(env->seq)};
    std::optional<ParsedRecord> parsed;
    auto parse = [&]() -> std::optional<Error> {
      if (parsed) return std::nullopt;
      auto rec = parse_payload(r.payload);
      if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
      parsed = std::move(*rec);
      return std::nullopt;
    };
    if (env->type == RecordType::checkpoint || env->type == RecordType::key_rotated || r.seq >= max_cp) {
      if (auto e = parse()) return e;
    }
    if (env->type == RecordType::key_rotated) {
      if (auto e = chain.check_record(r.seq, parsed->fields)) return e;
    }
    for (const auto& reader : config_.history_readers) {
      if (!reader.wants(env->type, r.payload)) continue;
      if (auto e = parse()) return e;
      reader.read(*parsed);
    }
    if (env->type == RecordType::checkpoint) {
      const auto* rec = &*parsed;
      auto size = rec->fields.value("tree_size", std::uint64_t{0});
      auto it = by_size.find(size);
      if (it == by_size.end() || rec->fields.value("note", std::string()) != it->second->text) {
        return Error{"record " + std::to_string(r.seq) + " is a checkpoint for tree size " + std::to_string(size) +
                     " that the checkpoints file does not hold (checkpoints file rolled back or rewritten)"};
      }
    }
    if (r.seq == max_cp) uncovered_at_cp = {r.file->string(), r.offset};
    if (!uncovered_after_seal) uncovered_after_seal = {r.file->string(), r.offset};
    tree_.append(leaf_hash(r.payload));
    if (auto it = by_size.find(tree_.size()); it != by_size.end() && it->second->root != tree_.root()) {
      return Error{"root of the first " + std::to_string(tree_.size()) +
                   " records does not match the signed checkpoint (records rewritten)"};
    }
    if (!copy_roots.empty() && !copy_mismatch_) {
      if (auto it = copy_roots.find(tree_.size()); it != copy_roots.end() && it->second != tree_.root()) {
        copy_mismatch_ = CopyMismatch{"fork",
                                      "the checkpoint copy signed tree size " + std::to_string(it->first) +
                                          " with another root than the ledger's first " + std::to_string(it->first) +
                                          " records (a fork: the ledger was rewritten or replaced)",
                                      it->first, it->second};
      }
    }
    return std::nullopt;
  }, 0, [&](const ScannedBatch& b) -> std::optional<Error> {
    if (!b.seal) return std::nullopt;  // a batch of an older ddlgate: a checkpoint must cover it
    // Below the last checkpoint, whose signature covers the same records, the seal's size,
    // origin and root are checked; above it, its signature too.
    if (auto e = check_seal(*b.seal, b.tree_size, tree_.root(), config_.origin,
                            b.tree_size > max_cp ? &chain.for_size(b.tree_size) : nullptr)) {
      return e;
    }
    last_seal_size = b.tree_size;
    uncovered_after_seal.reset();
    return std::nullopt;
  });
  if (scan.damage) return *scan.damage;
  if (auto e = chain.check_complete(scan.records)) return Error{e->reason, (dir / kKeysFileName).string()};
  // Every record must be covered by a signature (a batch seal or a checkpoint). Records that no
  // valid signature covers were appended without the key (or written by an older ddlgate that
  // stopped before its next checkpoint): they are not signed now, and the proxy does not start.
  const std::uint64_t covered = std::max(max_cp, last_seal_size);
  if (scan.records > covered) {
    auto at = max_cp >= last_seal_size ? uncovered_at_cp : uncovered_after_seal;
    return Error{"records " + std::to_string(covered) + ".." + std::to_string(scan.records - 1) +
                     " are covered by no signature (no batch seal or checkpoint; appended without the key, or left "
                     "by an older ddlgate that stopped before its next checkpoint); not signing them",
                 at ? at->first : dir.string(), at ? off(at->second) : -1};
  }
  if (!checkpoints.empty() && checkpoints.back().size > scan.records) {
    return Error{"a signed checkpoint covers " + std::to_string(checkpoints.back().size) + " records but the ledger holds " +
                     std::to_string(scan.records) + " (ledger truncated)",
                 dir.string()};
  }
  if (!checkpoints.empty()) {
    last_checkpoint_size_ = checkpoints.back().size;
  }
  if (!copy_mismatch_ && !copy_roots.empty() && copy_roots.rbegin()->first > scan.records) {
    const auto& [size, root] = *copy_roots.rbegin();
    copy_mismatch_ = CopyMismatch{"rollback",
                                  "the checkpoint copy signed tree size " + std::to_string(size) +
                                      " but the ledger holds " + std::to_string(scan.records) +
                                      " records (rolled back: restored from an older copy, or cut)",
                                  size, root};
  }
  if (copy_mismatch_) {
    copy_mismatch_->ledger_size = scan.records;
    copy_mismatch_->ledger_root = tree_.root();
    if (!config_.accept_copy_mismatch) {
      // Held, not stopped: other traffic flows, controlled statements get 58030, and nothing is
      // signed over the disputed history until an operator accepts it (ledgered).
      failure_ = Error{"the ledger disagrees with its checkpoint copy (" + copy_mismatch_->kind + "): " +
                           copy_mismatch_->detail + "; nothing is written until an operator runs `ddlgate ledger "
                           "accept-rollback --ledger " + dir.string() + " ...`",
                       (config_.checkpoint_copy_directory / kCheckpointsFileName).string()};
    }
  }
  records_since_checkpoint_ = scan.records - last_checkpoint_size_;
  next_seq_ = scan.records;
  durable_size_ = scan.records;

  // 3. The torn tail, bounded by one batch (scan_segments refused anything larger), is cut.
  if (scan.segments.empty()) {
    if (auto st = open_segment(0, true); !st) return st;
  } else {
    const auto& last = scan.segments.back();
    if (auto st = open_segment(last.first_seq, false); !st) return st;
    if (scan.tail) {
      // Never destroyed: the cut bytes are kept first (they are no acknowledged record, but they
      // may be evidence of what happened when the host died).
      auto bytes = read_range(last.path, scan.tail->offset, scan.tail->bytes);
      if (!bytes) return Error{"cannot read the torn tail to keep it", last.path.string(), off(scan.tail->offset)};
      auto kept = quarantine(*fs_, dir, last.path, scan.tail->offset, *bytes);
      if (!kept) return kept.error();
      if (auto e = segment_->truncate(scan.tail->offset)) {
        return Error{"cannot cut the torn tail", last.path.string(), off(scan.tail->offset), e};
      }
      if (auto e = segment_->sync_data()) return Error{"cannot sync after cutting", last.path.string(), -1, e};
      recovery_actions_.push_back(
          {last.path.string(), scan.tail->offset, scan.tail->bytes, "torn tail cut: " + scan.tail->reason, kept->string()});
      segment_bytes_ = scan.tail->offset;
    } else {
      std::error_code ec;
      segment_bytes_ = std::filesystem::file_size(last.path, ec);
    }
  }

  // Every older segment ends at a batch end (scan_segments refused anything else), so its
  // size is its committed bytes; the last one's is segment_bytes_.
  std::uint64_t total = segment_bytes_;
  for (std::size_t i = 0; i + 1 < scan.segments.size(); ++i) {
    std::error_code ec;
    auto size = std::filesystem::file_size(scan.segments[i].path, ec);
    if (!ec) total += size;
  }
  stats_.segment_bytes.store(total, std::memory_order_relaxed);

  // 4. The checkpoints file (and its copy) open for appending.
  if (auto e = fs_->open_append(cp_path, true, &checkpoints_)) return Error{"cannot open checkpoints", cp_path.string(), -1, e};
  if (!have_cp_file) {
    if (auto e = fs_->sync_directory(dir)) return Error{"cannot sync the ledger directory", dir.string(), -1, e};
  }
  if (!config_.checkpoint_copy_directory.empty() && !copy_mismatch_) {
    const auto& copy_dir = config_.checkpoint_copy_directory;
    std::error_code ec;
    std::filesystem::create_directories(copy_dir, ec);
    if (ec) return Error{"cannot create the checkpoint copy directory", copy_dir.string(), -1, ec};
    auto copy = copy_dir / kCheckpointsFileName;
    bool existed = std::filesystem::exists(copy);
    if (auto e = fs_->open_append(copy, true, &checkpoints_copy_)) return Error{"cannot open checkpoints copy", copy.string(), -1, e};
    if (!existed) {
      if (auto e = fs_->sync_directory(copy_dir)) return Error{"cannot sync directory", copy_dir.string(), -1, e};
    }
  }
  return Ok{};
}

std::optional<Error> Ledger::load_copy(const KeyChain& chain, const std::vector<Checkpoint>& local,
                                      std::map<std::uint64_t, Hash>& copy_roots) {
  if (config_.checkpoint_copy_directory.empty()) return std::nullopt;
  const auto copy_dir = config_.checkpoint_copy_directory;
  const auto path = copy_dir / kCheckpointsFileName;
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::string text;
  if (auto ec = fs_->read_file(path, kMaxSegmentReadSize, &text)) return Error{"cannot read the checkpoint copy", path.string(), -1, ec};
  auto mismatch = [&](std::string kind, std::string detail) {
    copy_mismatch_ = CopyMismatch{std::move(kind), path.string() + ": " + std::move(detail)};
    return std::nullopt;
  };
  auto parsed = parse_checkpoints(text);
  if (!parsed) {
    // A torn note (the host died while the writer appended it) is repaired, but only when it
    // provably is one: the writer appends a note to the copy after the ledger's own file holds it
    // whole, so the rest must be a proper prefix of the ledger's next note. Anything else is
    // a mismatch, never repaired.
    auto at = static_cast<std::uint64_t>(parsed.error().offset);
    std::string_view rest = std::string_view(text).substr(at);
    auto before = parse_checkpoints(std::string_view(text).substr(0, at));
    bool torn = before && looks_torn(rest) && before->size() < local.size() &&
                local[before->size()].text.size() > rest.size() &&
                std::string_view(local[before->size()].text).substr(0, rest.size()) == rest;
    if (!torn) {
      return mismatch("damaged_copy", "not a list of whole checkpoint notes at offset " + std::to_string(at) + ": " +
                                          parsed.error().reason);
    }
    auto kept = quarantine(*fs_, copy_dir, path, at, rest);
    if (!kept) return kept.error();
    std::unique_ptr<WritableFile> f;
    if (auto e = fs_->open_append(path, false, &f)) return Error{"cannot open the checkpoint copy", path.string(), -1, e};
    if (auto e = f->truncate(at)) return Error{"cannot cut the torn note of the checkpoint copy", path.string(), off(at), e};
    if (auto e = f->sync_data()) return Error{"cannot sync the checkpoint copy", path.string(), -1, e};
    recovery_actions_.push_back({path.string(), at, rest.size(), "torn checkpoint note of the copy cut: " +
                                 parsed.error().reason, kept->string()});
    parsed = std::move(before);
  }
  for (const auto& cp : *parsed) {
    if (cp.origin != config_.origin || !verify_checkpoint(cp, chain.for_size(cp.size))) {
      return mismatch("foreign_copy", "the checkpoint for tree size " + std::to_string(cp.size) +
                                          " is not signed by this ledger's key under origin " + config_.origin);
    }
    if (auto it = copy_roots.find(cp.size); it != copy_roots.end() && it->second != cp.root) {
      return mismatch("fork", "two checkpoints for tree size " + std::to_string(cp.size) + " with different roots");
    }
    copy_roots[cp.size] = cp.root;
  }
  return std::nullopt;
}

Status Ledger::open_segment(std::uint64_t first_seq, bool create) {
  auto path = config_.directory / segment_name(first_seq);
  std::unique_ptr<WritableFile> f;
  if (auto e = fs_->open_append(path, create, &f)) return Error{"cannot open segment", path.string(), -1, e};
  if (create) {
    // The new name must survive a crash too: fsync the directory (see fsync(2), NOTES).
    if (auto e = fs_->sync_directory(config_.directory)) {
      return Error{"cannot sync the ledger directory", config_.directory.string(), -1, e};
    }
  }
  segment_ = std::move(f);
  segment_bytes_ = 0;
  segment_path_ = path;
  return Ok{};
}

Ledger::~Ledger() { close(); }

std::optional<Ledger::FileSystemSpace> Ledger::filesystem_space() const {
  struct statvfs fs {};
  if (::statvfs(config_.directory.c_str(), &fs) != 0) return std::nullopt;
  return FileSystemSpace{static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize,
                         static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize};
}

void Ledger::enqueue_locked(RecordType type, std::string fields_json, DurableCallback done) {
  std::uint64_t seq = next_seq_++;
  std::string payload = serialize_payload(type, fields_json, seq, format_time(std::chrono::system_clock::now()));
  queued_bytes_ += payload.size();
  queue_.push_back(Pending{seq, type == RecordType::checkpoint, std::move(payload), std::move(done)});
}

void Ledger::append(Record r, DurableCallback on_durable) {
  if (config_.on_append) config_.on_append(r);
  // The JSON work happens outside the lock; only seq and time are assigned under it, so that
  // sequence order and time order agree.
  std::string fields = serialize_fields(r.fields);
  std::optional<Error> refused;
  {
    std::lock_guard lk(mu_);
    if (failure_) {
      refused = Error{"ledger failed: " + failure_->to_string()};
    } else if (stopping_) {
      refused = closed_error();
    } else if (fields.size() + 256 > kMaxPayloadSize) {
      refused = Error{"record larger than the 16 MiB cap"};
    } else if (queued_bytes_ + fields.size() > config_.max_queued_bytes) {
      refused = Error{"ledger queue full: " + std::to_string(queued_bytes_) + " bytes waiting for the disk"};
    } else {
      enqueue_locked(r.type, std::move(fields), std::move(on_durable));
      cv_.notify_one();
      return;
    }
  }
  stats_.records_failed.fetch_add(1, std::memory_order_relaxed);  // any caller's thread
  if (on_durable) on_durable(AppendResult(*refused));
}

std::future<AppendResult> Ledger::append(Record r) {
  auto promise = std::make_shared<std::promise<AppendResult>>();
  auto fut = promise->get_future();
  append(std::move(r), [promise](const AppendResult& res) { promise->set_value(res); });
  return fut;
}

AppendResult Ledger::append_durable(Record r) { return append(std::move(r)).get(); }

std::optional<Error> Ledger::failure() const {
  std::lock_guard lk(mu_);
  return failure_;
}

std::uint64_t Ledger::durable_size() const {
  std::lock_guard lk(mu_);
  return durable_size_;
}

void Ledger::fail(Error e, std::vector<Pending>& batch) {
  // Fail closed: record the error once, fail this batch and everything queued; never retry
  // (after a failed fsync the page cache may already have dropped the dirty pages).
  std::deque<Pending> rest;
  bool first = false;
  {
    std::lock_guard lk(mu_);
    if (!failure_) {
      failure_ = e;
      first = true;
    }
    rest.swap(queue_);
    queued_bytes_ = 0;
  }
  if (first && config_.on_failure) config_.on_failure(e);
  stats_.records_failed.fetch_add(batch.size() + rest.size(), std::memory_order_relaxed);
  AppendResult res{Error{"ledger failed: " + e.to_string()}};
  for (auto& p : batch) {
    if (p.done) p.done(res);
  }
  batch.clear();
  for (auto& p : rest) {
    if (p.done) p.done(res);
  }
}

Status Ledger::write_batch(std::vector<Pending>& batch) {
  frame_buf_.clear();
  for (auto& p : batch) {
    append_frame(frame_buf_, p.seq, p.payload, false);
    tree_.append(leaf_hash(p.payload));
  }
  // The batch seal: a signed checkpoint of the tree with this batch, written with the batch
  // and synced by the same fdatasync, so that no record is durable (or acknowledged) before a
  // signature covers it. If the write fails the ledger fails, so the tree running ahead of the
  // disk is never used again.
  std::string seal = signer_.sign(checkpoint_body(config_.origin, tree_.size(), tree_.root()));
  if (seal.empty()) return Error{"signing the batch seal failed"};
  append_seal_frame(frame_buf_, tree_.size(), seal);
  if (segment_bytes_ > 0 && segment_bytes_ + frame_buf_.size() > config_.segment_max_bytes) {
    if (auto st = open_segment(batch.front().seq, true); !st) return st;
  }
  if (auto e = write_all(*segment_, frame_buf_.data(), frame_buf_.size())) {
    return Error{"write failed", segment_path_.string(), off(segment_bytes_), e};
  }
  segment_bytes_ += frame_buf_.size();
  auto sync_started = std::chrono::steady_clock::now();
  if (auto e = segment_->sync_data()) return Error{"fdatasync failed", segment_path_.string(), -1, e};
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - sync_started);
  stats_.fsync_us.observe(static_cast<std::uint64_t>(us.count()), LedgerStats::kFsyncBoundsUs);
  stats_.batch_records.observe(batch.size(), LedgerStats::kBatchBounds);
  bump(stats_.records_durable, batch.size());
  bump(stats_.segment_bytes, frame_buf_.size());
  for (auto& p : batch) {
    if (!p.is_checkpoint) ++records_since_checkpoint_;
  }
  return Ok{};
}

Status Ledger::write_checkpoint(bool final_checkpoint) {
  std::uint64_t size = tree_.size();
  Hash root = tree_.root();
  std::string note = signer_.sign(checkpoint_body(config_.origin, size, root));
  if (note.empty()) return Error{"signing the checkpoint failed"};
  auto cp_path = config_.directory / kCheckpointsFileName;
  if (auto e = write_all(*checkpoints_, note.data(), note.size())) return Error{"write failed", cp_path.string(), -1, e};
  if (auto e = checkpoints_->sync_data()) return Error{"fdatasync failed", cp_path.string(), -1, e};
  if (checkpoints_copy_) {
    auto copy = config_.checkpoint_copy_directory / kCheckpointsFileName;
    if (auto e = write_all(*checkpoints_copy_, note.data(), note.size())) return Error{"write failed", copy.string(), -1, e};
    if (auto e = checkpoints_copy_->sync_data()) return Error{"fdatasync failed", copy.string(), -1, e};
  }
  bump(stats_.checkpoints);
  last_checkpoint_size_ = size;
  records_since_checkpoint_ = 0;
  last_checkpoint_time_ = std::chrono::steady_clock::now();
  if (!final_checkpoint) {
    // Also inside the ledger, so that rolling the checkpoints file back is detectable from
    // the records alone.
    Record r = checkpoint_record(size, to_hex(root), note);
    std::string fields = serialize_fields(r.fields);
    std::lock_guard lk(mu_);
    enqueue_locked(r.type, std::move(fields), nullptr);
  }
  return Ok{};
}

void Ledger::run() {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      auto ready = [&] { return !queue_.empty() || stopping_; };
      if (records_since_checkpoint_ > 0) {
        cv_.wait_until(lk, last_checkpoint_time_ + config_.checkpoint_interval, ready);
      } else {
        cv_.wait(lk, ready);  // nothing to cover: no timer
      }
      if (queue_.empty() && stopping_) break;
      std::uint64_t bytes = 0;
      while (!queue_.empty() && bytes < kMaxBatchBytes) {
        bytes += queue_.front().payload.size() + kFrameHeaderSize;
        queued_bytes_ -= queue_.front().payload.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (failure_) {
        lk.unlock();
        fail(*failure_, batch);
        continue;
      }
    }
    if (!batch.empty()) {
      if (auto st = write_batch(batch); !st) {
        fail(st.error(), batch);
        continue;
      }
      {
        std::lock_guard lk(mu_);
        durable_size_ = tree_.size();
      }
      for (auto& p : batch) {
        if (p.done) p.done(AppendResult(p.seq));
      }
      batch.clear();
    }
    bool due = records_since_checkpoint_ >= config_.checkpoint_every_records ||
               (records_since_checkpoint_ > 0 &&
                std::chrono::steady_clock::now() >= last_checkpoint_time_ + config_.checkpoint_interval);
    if (due) {
      if (auto st = write_checkpoint(false); !st) fail(st.error(), batch);
    }
  }
  // Shutdown: a last checkpoint covering everything, so that a cleanly closed ledger is
  // fully covered by a signature.
  bool healthy;
  {
    std::lock_guard lk(mu_);
    healthy = !failure_;
  }
  if (healthy && tree_.size() > last_checkpoint_size_) {
    if (auto st = write_checkpoint(true); !st) {
      std::lock_guard lk(mu_);
      failure_ = st.error();
    }
  }
}

Status Ledger::close() {
  std::call_once(close_once_, [this] {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    std::lock_guard lk(mu_);
    if (failure_) close_status_ = *failure_;
  });
  return close_status_;
}

Result<std::uint64_t> rotate_key(LedgerConfig config, const std::filesystem::path& new_key_file, const std::string& by,
                                 std::shared_ptr<FileSystem> fs) {
  // Nothing may follow the record under the old key: no periodic checkpoint record.
  config.checkpoint_every_records = std::numeric_limits<std::uint64_t>::max();
  config.checkpoint_interval = std::chrono::hours(24);
  config.history_readers.clear();
  auto opened = Ledger::open(config, fs);
  if (!opened) return opened.error();
  auto& l = *opened;
  if (auto held = l->failure()) return *held;
  auto old_signer = NoteSigner::load_pem(config.checkpoint_key_file, l->origin());
  if (!old_signer) return old_signer.error();
  auto new_signer = NoteSigner::load_pem(new_key_file, l->origin());
  if (!new_signer) return new_signer.error();
  if (new_signer->public_key() == old_signer->public_key()) return Error{"the new key is the key in force", new_key_file.string()};
  const auto& o = old_signer->public_key();
  const auto& n = new_signer->public_key();
  const std::string old_b64 = base64_encode(std::string_view(reinterpret_cast<const char*>(o.data()), o.size()));
  const std::string new_b64 = base64_encode(std::string_view(reinterpret_cast<const char*>(n.data()), n.size()));
  const std::string endorsement = new_signer->sign(key_rotation_body(l->origin(), o, n));
  if (endorsement.empty()) return Error{"signing with the new key failed", new_key_file.string()};
  Record r = key_rotated(old_b64, new_b64, endorsement, by);
  nlohmann::json fields = r.fields;
  auto seq = l->append_durable(std::move(r));
  if (!seq) return seq.error();
  if (auto st = l->close(); !st) return st.error();
  // DIR/keys gains the line, written whole beside and renamed over it (a crash leaves the old
  // list or the new). Until it is in place the rotation is not in force: a record that no line
  // lists hands nothing over, so after a crash here the old key still opens the ledger and
  // rotate-key runs again (with a new record).
  const auto path = config.directory / kKeysFileName;
  std::string text;
  if (std::filesystem::exists(path)) {
    if (auto ec = fs->read_file(path, 1 << 20, &text)) return Error{"cannot read the keys file", path.string(), -1, ec};
  }
  text += nlohmann::json{{"seq", *seq}, {"fields", fields}}.dump() + "\n";
  const auto tmp = config.directory / (std::string(kKeysFileName) + ".tmp");
  std::unique_ptr<WritableFile> f;
  if (auto e = fs->open_append(tmp, true, &f)) return Error{"cannot write the keys file", tmp.string(), -1, e};
  if (auto e = f->truncate(0)) return Error{"cannot write the keys file", tmp.string(), -1, e};
  if (auto e = write_all(*f, text.data(), text.size())) return Error{"cannot write the keys file", tmp.string(), -1, e};
  if (auto e = f->sync_data()) return Error{"cannot sync the keys file", tmp.string(), -1, e};
  f.reset();
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error{"cannot write the keys file", path.string(), -1, ec};
  if (auto e = fs->sync_directory(config.directory)) return Error{"cannot sync the ledger directory", config.directory.string(), -1, e};
  return *seq;
}

Result<RollbackAccepted> accept_rollback(LedgerConfig config, const std::string& by, const std::string& reason,
                                         std::shared_ptr<FileSystem> fs) {
  if (config.checkpoint_copy_directory.empty()) return Error{"no checkpoint copy directory: nothing to compare with"};
  config.accept_copy_mismatch = true;
  config.history_readers.clear();
  const auto copy = config.checkpoint_copy_directory / kCheckpointsFileName;
  auto opened = Ledger::open(config, fs);
  if (!opened) return opened.error();
  auto& l = *opened;
  if (!l->copy_mismatch()) {
    return Error{"the ledger agrees with its checkpoint copy: there is no rollback or fork to accept", copy.string()};
  }
  const CopyMismatch m = *l->copy_mismatch();
  // The superseded copy is kept, never destroyed, and named in the record.
  std::string old_copy;
  if (auto ec = fs->read_file(copy, kMaxSegmentReadSize, &old_copy)) return Error{"cannot read the checkpoint copy", copy.string(), -1, ec};
  std::string stamp = format_time(std::chrono::system_clock::now());
  std::erase_if(stamp, [](char c) { return c == ':' || c == '-'; });
  const auto kept = config.checkpoint_copy_directory / (std::string(kCheckpointsFileName) + ".superseded-" + stamp);
  RollbackAccepted a;
  a.kind = m.kind;
  a.detail = m.detail;
  a.copy_size = m.copy_size;
  a.copy_root = to_hex(m.copy_root);
  a.ledger_size = m.ledger_size;
  a.ledger_root = to_hex(m.ledger_root);
  a.copy_file = kept.string();
  a.copy_sha256 = "sha256:" + to_hex(sha256(old_copy));
  a.by = by;
  a.reason = reason;
  // Recorded (durable, sealed) first: a crash before the copy is replaced leaves the mismatch
  // in place, to be accepted again, never an accepted rollback without its record.
  if (auto r = l->append_durable(rollback_accepted(a)); !r) return r.error();
  if (auto st = l->close(); !st) return st.error();
  std::error_code ec;
  std::filesystem::rename(copy, kept, ec);
  if (ec) return Error{"cannot move the superseded checkpoint copy aside", copy.string(), -1, ec};
  // The copy starts again from the ledger's checkpoints file, which now covers the record.
  std::string local;
  const auto local_path = config.directory / kCheckpointsFileName;
  if (auto e = fs->read_file(local_path, kMaxSegmentReadSize, &local)) return Error{"cannot read checkpoints", local_path.string(), -1, e};
  const auto tmp = config.checkpoint_copy_directory / (std::string(kCheckpointsFileName) + ".tmp");
  std::unique_ptr<WritableFile> f;
  if (auto e = fs->open_append(tmp, true, &f)) return Error{"cannot write the checkpoint copy", tmp.string(), -1, e};
  if (auto e = f->truncate(0)) return Error{"cannot write the checkpoint copy", tmp.string(), -1, e};
  if (auto e = write_all(*f, local.data(), local.size())) return Error{"cannot write the checkpoint copy", tmp.string(), -1, e};
  if (auto e = f->sync_data()) return Error{"cannot sync the checkpoint copy", tmp.string(), -1, e};
  f.reset();
  std::filesystem::rename(tmp, copy, ec);
  if (ec) return Error{"cannot write the checkpoint copy", copy.string(), -1, ec};
  if (auto e = fs->sync_directory(config.checkpoint_copy_directory)) {
    return Error{"cannot sync directory", config.checkpoint_copy_directory.string(), -1, e};
  }
  return a;
}

}  // namespace ddlgate::ledger
