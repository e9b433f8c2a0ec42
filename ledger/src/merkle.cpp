#include "ddlgate/ledger/merkle.h"

#include "ddlgate/base/hex.h"

#include <openssl/evp.h>

#include <bit>
#include <memory>
#include <stdexcept>

namespace ddlgate::ledger {
namespace {

// One-shot SHA-256 over up to three parts. The digest is fetched once (OpenSSL 3 would
// otherwise look it up on every init) and each thread reuses one context; SHA-256 cannot fail
// short of memory exhaustion, which is an environment error, not input, so it throws.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct CtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

Hash digest(std::string_view a, std::string_view b = {}, std::string_view c = {}) {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx(EVP_MD_CTX_new());
  Hash out{};
  if (!ctx || sha256_md() == nullptr || EVP_DigestInit_ex(ctx.get(), sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), c.data(), c.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  return out;
}

// The largest power of two strictly smaller than n (n >= 2): RFC 6962's split point k.
std::uint64_t split(std::uint64_t n) { return std::bit_floor(n - 1); }

}  // namespace

Hash sha256(std::string_view data) { return digest(data); }

Hash leaf_hash(std::string_view payload) {
  static constexpr char kLeafPrefix = 0x00;
  return digest(std::string_view(&kLeafPrefix, 1), payload);
}

Hash node_hash(const Hash& left, const Hash& right) {
  // A single buffer keeps this at one EVP update, it is the hot path of verification.
  char buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  return digest(std::string_view(buf, sizeof buf));
}

Hash empty_tree_hash() { return digest({}); }

std::string to_hex(const Hash& h) { return base::hex_encode(h.data(), h.size()); }

std::optional<Hash> hash_from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Hash h{};
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    h[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return h;
}

void CompactTree::append(const Hash& leaf) {
  // Like a binary counter: merge complete subtrees of equal size while the carry ripples.
  Hash carry = leaf;
  std::size_t level = 0;
  while ((size_ >> level) & 1) {
    carry = node_hash(frontier_[level], carry);
    ++level;
  }
  if (frontier_.size() <= level) frontier_.resize(level + 1);
  frontier_[level] = carry;
  ++size_;
}

Hash CompactTree::root() const {
  if (size_ == 0) return empty_tree_hash();
  // The smallest complete subtree is the rightmost; fold leftwards (RFC 6962 splits at the
  // largest power of two, so every left child is one of the frontier's complete subtrees).
  std::optional<Hash> acc;
  for (std::size_t level = 0; level < frontier_.size(); ++level) {
    if (!((size_ >> level) & 1)) continue;
    acc = acc ? node_hash(frontier_[level], *acc) : frontier_[level];
  }
  return *acc;
}

void FullTree::append(const Hash& leaf) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf);
  std::size_t k = 0;
  // A new complete subtree at level k+1 appears whenever level k gets an even count.
  while (levels_[k].size() % 2 == 0) {
    const auto& lv = levels_[k];
    Hash h = node_hash(lv[lv.size() - 2], lv[lv.size() - 1]);
    if (levels_.size() <= k + 1) levels_.emplace_back();
    levels_[k + 1].push_back(h);
    ++k;
  }
}

Hash FullTree::subtree(std::uint64_t begin, std::uint64_t end) const {
  std::uint64_t n = end - begin;
  if (n == 0) return empty_tree_hash();
  if (std::has_single_bit(n) && begin % n == 0) {
    auto k = static_cast<std::size_t>(std::countr_zero(n));
    return levels_[k][begin >> k];
  }
  std::uint64_t k = split(n);
  return node_hash(subtree(begin, begin + k), subtree(begin + k, end));
}

Hash FullTree::root(std::uint64_t n) const { return subtree(0, n); }

void FullTree::path(std::uint64_t m, std::uint64_t begin, std::uint64_t end, std::vector<Hash>& out) const {
  std::uint64_t n = end - begin;
  if (n <= 1) return;
  std::uint64_t k = split(n);
  if (m < k) {
    path(m, begin, begin + k, out);
    out.push_back(subtree(begin + k, end));
  } else {
    path(m - k, begin + k, end, out);
    out.push_back(subtree(begin, begin + k));
  }
}

std::vector<Hash> FullTree::inclusion_proof(std::uint64_t index, std::uint64_t n) const {
  std::vector<Hash> out;
  if (index < n && n <= size()) path(index, 0, n, out);
  return out;
}

void FullTree::subproof(std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool whole,
                        std::vector<Hash>& out) const {
  std::uint64_t n = end - begin;
  if (m == n) {
    if (!whole) out.push_back(subtree(begin, end));
    return;
  }
  std::uint64_t k = split(n);
  if (m <= k) {
    subproof(m, begin, begin + k, whole, out);
    out.push_back(subtree(begin + k, end));
  } else {
    subproof(m - k, begin + k, end, false, out);
    out.push_back(subtree(begin, begin + k));
  }
}

std::vector<Hash> FullTree::consistency_proof(std::uint64_t m, std::uint64_t n) const {
  std::vector<Hash> out;
  if (m > 0 && m <= n && n <= size()) subproof(m, 0, n, true, out);
  return out;
}

std::vector<Hash> FullTree::frontier(std::uint64_t n) const {
  std::vector<Hash> out;
  if (n > size()) return out;
  for (int k = 63; k >= 0; --k) {
    if ((n >> k) & 1) out.push_back(levels_[static_cast<std::size_t>(k)][(n >> k) - 1]);
  }
  return out;
}

std::optional<FullTree> FullTree::from_frontier(std::uint64_t n, const std::vector<Hash>& hashes) {
  if (hashes.size() != static_cast<std::size_t>(std::popcount(n))) return std::nullopt;
  FullTree t;
  if (n == 0) return t;
  // Every level keeps its invariant size (n >> k); the frontier's subtrees sit at the last index
  // of their level, the rest are placeholders that no root or proof from n on reads (a subtree
  // left of leaf n that such a proof needs is either a frontier subtree or contains leaf n).
  const auto levels = static_cast<std::size_t>(std::bit_width(n));
  t.levels_.resize(levels);
  for (std::size_t k = 0; k < levels; ++k) t.levels_[k].assign(n >> k, Hash{});
  std::size_t i = 0;
  for (int k = 63; k >= 0; --k) {
    if ((n >> k) & 1) t.levels_[static_cast<std::size_t>(k)][(n >> k) - 1] = hashes[i++];
  }
  return t;
}

bool verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t n, const std::vector<Hash>& proof,
                      const Hash& root) {
  if (index >= n) return false;
  std::uint64_t fn = index, sn = n - 1;
  Hash r = leaf;
  for (const auto& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = node_hash(p, r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool verify_consistency(std::uint64_t m, std::uint64_t n, const Hash& root1, const Hash& root2,
                        const std::vector<Hash>& proof) {
  if (m > n) return false;
  if (m == n) return proof.empty() && root1 == root2;
  if (m == 0) return proof.empty();  // the empty tree is a prefix of every tree
  std::vector<Hash> path;
  if (std::has_single_bit(m)) path.push_back(root1);
  path.insert(path.end(), proof.begin(), proof.end());
  if (path.empty()) return false;
  std::uint64_t fn = m - 1, sn = n - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == root1 && sr == root2 && sn == 0;
}

}  // namespace ddlgate::ledger
