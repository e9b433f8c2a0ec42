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
