// RFC 6962 consistency proofs made from a ledger directory, for the witness client.
#include <bit>

#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/witness.h"

namespace ddlgate::ledger {
namespace {

// RFC 6962 section 2.1.2, SUBPROOF(m, D[begin:end], whole), recording the ranges whose
// subtree hashes it emits instead of the hashes (as FullTree::subproof does with them).
void subproof_ranges(std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool whole,
                     std::vector<std::pair<std::uint64_t, std::uint64_t>>& out) {
  std::uint64_t n = end - begin;
  if (m == n) {
    if (!whole) out.emplace_back(begin, end);
    return;
  }
  std::uint64_t k = std::bit_floor(n - 1);
  if (m <= k) {
    subproof_ranges(m, begin, begin + k, whole, out);
    out.emplace_back(begin + k, end);
  } else {
    subproof_ranges(m - k, begin + k, end, false, out);
    out.emplace_back(begin, begin + k);
  }
}

}  // namespace

std::vector<std::pair<std::uint64_t, std::uint64_t>> consistency_proof_ranges(std::uint64_t m, std::uint64_t n) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  if (m > 0 && m < n) subproof_ranges(m, 0, n, true, out);
  return out;
}

Result<LedgerProof> consistency_proof_from_ledger(const std::filesystem::path& dir, std::uint64_t m, std::uint64_t n) {
  if (m > n) return Error{"old size " + std::to_string(m) + " is above the new size " + std::to_string(n)};
  auto ranges = consistency_proof_ranges(m, n);
  // Each range is a run of consecutive leaves: its subtree hash is the root of a compact tree
  // fed with those leaves, so one pass in sequence order computes every proof hash.
  std::vector<CompactTree> trees(ranges.size());
  CompactTree all;
  bool done = n == 0;
  const Error stop{"(stop)"};
  auto fs = posix_file_system();
  auto scan = scan_segments(*fs, dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    if (r.seq >= n) {
      done = true;
      return stop;
    }
    Hash leaf = leaf_hash(r.payload);
    all.append(leaf);
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      if (r.seq >= ranges[i].first && r.seq < ranges[i].second) trees[i].append(leaf);
    }
    if (r.seq + 1 == n) {
      done = true;
      return stop;
    }
    return std::nullopt;
  });
  if (scan.damage && !done) return *scan.damage;
  if (!done || all.size() != n) {
    return Error{"the ledger holds " + std::to_string(all.size()) + " record(s), fewer than " + std::to_string(n), dir.string()};
  }
  LedgerProof out;
  out.root_n = all.root();
  for (const auto& t : trees) out.proof.push_back(t.root());
  return out;
}

}  // namespace ddlgate::ledger

namespace ddlgate::ledger {

LedgerProofSource::LedgerProofSource(std::filesystem::path dir, unsigned chunk_bits)
    : dir_(std::move(dir)), chunk_size_(std::uint64_t{1} << chunk_bits) {}

Status LedgerProofSource::extend(std::uint64_t n) {
  const std::uint64_t want = n / chunk_size_;
  if (chunks_.size() >= want) return Ok{};
  const std::uint64_t from = chunks_.size() * chunk_size_;
  CompactTree chunk;
  bool done = false;
  const Error stop{"(stop)"};
  auto fs = posix_file_system();
  // Whole segments before `from` are skipped; the one that holds it is read from its start.
  auto scan = scan_segments(*fs, dir_, [&](const ScannedRecord& r) -> std::optional<Error> {
    if (r.seq < from) return std::nullopt;
    ++records_read_;
    chunk.append(leaf_hash(r.payload));
    if (chunk.size() == chunk_size_) {
      chunks_.push_back(chunk.root());
      chunk = CompactTree();
      if (chunks_.size() == want) {
        done = true;
        return stop;
      }
    }
    return std::nullopt;
  }, from);
  if (scan.damage && !done) return *scan.damage;
  if (!done) return Error{"the ledger holds fewer than " + std::to_string(n) + " record(s)", dir_.string()};
  return Ok{};
}

Result<std::vector<Hash>> LedgerProofSource::chunk_leaves(std::uint64_t chunk, std::uint64_t n) {
  if (auto it = leaves_.find(chunk); it != leaves_.end()) return it->second;
  const std::uint64_t from = chunk * chunk_size_;
  const std::uint64_t to = std::min(from + chunk_size_, n);
  std::vector<Hash> out;
  const Error stop{"(stop)"};
  auto fs = posix_file_system();
  auto scan = scan_segments(*fs, dir_, [&](const ScannedRecord& r) -> std::optional<Error> {
    if (r.seq < from) return std::nullopt;
    ++records_read_;
    out.push_back(leaf_hash(r.payload));
    return out.size() == to - from ? std::optional<Error>(stop) : std::nullopt;
  }, from);
  if (out.size() != to - from) {
    if (scan.damage && scan.damage->reason != stop.reason) return *scan.damage;
    return Error{"the ledger holds fewer than " + std::to_string(n) + " record(s)", dir_.string()};
  }
  leaves_[chunk] = out;
  return out;
}

Result<Hash> LedgerProofSource::subtree(std::uint64_t begin, std::uint64_t end, std::uint64_t n) {
  const std::uint64_t size = end - begin;
  if (size == 0) return empty_tree_hash();
  const std::uint64_t first = begin / chunk_size_;
  if (begin % chunk_size_ == 0 && size == chunk_size_) return chunks_[first];
  if ((end - 1) / chunk_size_ == first) {
    // Inside one chunk: from its leaves.
    auto leaves = chunk_leaves(first, n);
    if (!leaves) return leaves.error();
    CompactTree t;
    for (std::uint64_t i = begin; i < end; ++i) t.append((*leaves)[i - first * chunk_size_]);
    return t.root();
  }
  // RFC 6962's split at the largest power of two below the size.
  const std::uint64_t k = std::bit_floor(size - 1);
  auto left = subtree(begin, begin + k, n);
  if (!left) return left;
  auto right = subtree(begin + k, end, n);
  if (!right) return right;
  return node_hash(*left, *right);
}

Result<LedgerProof> LedgerProofSource::prove(std::uint64_t m, std::uint64_t n) {
  if (m > n) return Error{"old size " + std::to_string(m) + " is above the new size " + std::to_string(n)};
  if (auto st = extend(n); !st) return st.error();
  leaves_.clear();
  LedgerProof out;
  for (const auto& [b, e] : consistency_proof_ranges(m, n)) {
    auto h = subtree(b, e, n);
    if (!h) return h.error();
    out.proof.push_back(*h);
  }
  auto root = subtree(0, n, n);
  if (!root) return root.error();
  out.root_n = *root;
  leaves_.clear();
  return out;
}

}  // namespace ddlgate::ledger
