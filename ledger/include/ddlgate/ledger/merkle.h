// The RFC 6962 Merkle tree over ledger record payloads (section 2.1): tree hashes,
// inclusion proofs (2.1.1) and consistency proofs (2.1.2), and their verification
// following the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::ledger {

using Hash = std::array<std::uint8_t, 32>;

// SHA-256 of data (OpenSSL EVP).
Hash sha256(std::string_view data);
// RFC 6962: leaf hash = SHA-256(0x00 || payload).
Hash leaf_hash(std::string_view payload);
// RFC 6962: interior node = SHA-256(0x01 || left || right).
Hash node_hash(const Hash& left, const Hash& right);
// The hash of the empty tree, SHA-256 of the empty string.
Hash empty_tree_hash();

std::string to_hex(const Hash& h);
std::optional<Hash> hash_from_hex(std::string_view hex);

// An append-only tree that keeps only its right-edge frontier: O(log n) memory and
// O(log n) work per append, which is all the writer needs to sign checkpoints.
class CompactTree {
 public:
  void append(const Hash& leaf);
  std::uint64_t size() const { return size_; }
  // MTH of all leaves appended so far.
  Hash root() const;

 private:
  std::uint64_t size_ = 0;
  // frontier_[i] is the root of the complete subtree of 2^i leaves when bit i of size_ is set.
  std::vector<Hash> frontier_;
};

// A tree that keeps every complete subtree hash (about 2n hashes), so that roots at any
// earlier size and proofs cost O(log n) each. Used by verification and export.
class FullTree {
 public:
  void append(const Hash& leaf);
  std::uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  const Hash& leaf(std::uint64_t index) const { return levels_[0][index]; }
  // MTH(D[0:n]) for n <= size().
  Hash root(std::uint64_t n) const;
  Hash root() const { return root(size()); }
  // PATH(index, D[0:n]) of RFC 6962 section 2.1.1; requires index < n <= size().
  std::vector<Hash> inclusion_proof(std::uint64_t index, std::uint64_t n) const;
  // PROOF(m, D[0:n]) of RFC 6962 section 2.1.2; requires 0 < m <= n <= size().
  std::vector<Hash> consistency_proof(std::uint64_t m, std::uint64_t n) const;
  // The compact range of D[0:n] (n <= size()): the roots of the complete subtrees that make up
  // the first n leaves, largest first, one per set bit of n. Folded right to left they give
  // MTH(D[0:n]); with the leaves from n on they give every later root (an evidence pack's
  // "frontier", docs/evidence.md).
  std::vector<Hash> frontier(std::uint64_t n) const;
  // A tree of n leaves known only by their frontier (as returned by frontier(n)); nullopt when
  // the count of hashes is not the number of set bits of n. Appending to it gives exact roots,
  // inclusion proofs for leaves from n on, and consistency proofs from sizes >= n; the hashes
  // inside the frontier's subtrees (leaf(i) for i < n) are unknown and must not be asked for.
  static std::optional<FullTree> from_frontier(std::uint64_t n, const std::vector<Hash>& hashes);

 private:
  Hash subtree(std::uint64_t begin, std::uint64_t end) const;
  void path(std::uint64_t m, std::uint64_t begin, std::uint64_t end, std::vector<Hash>& out) const;
  void subproof(std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool whole,
                std::vector<Hash>& out) const;
  // levels_[k][i] is the hash of leaves [i*2^k, (i+1)*2^k).
  std::vector<std::vector<Hash>> levels_;
};

// True when proof shows that leaf sits at index in the tree of size n with that root.
bool verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t n, const std::vector<Hash>& proof,
                      const Hash& root);
// True when proof shows that the tree of size m with root1 is a prefix of the one of size n with root2.
bool verify_consistency(std::uint64_t m, std::uint64_t n, const Hash& root1, const Hash& root2,
                        const std::vector<Hash>& proof);

}  // namespace ddlgate::ledger
