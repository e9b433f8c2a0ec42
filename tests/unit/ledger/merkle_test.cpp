#include "ddlgate/ledger/merkle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <string>
#include <vector>

namespace ddlgate::ledger {
namespace {

// The eight leaves and tree heads of the Certificate Transparency / transparency-dev
// RFC 6962 test vectors.
const std::vector<std::string> kLeaves = {
    "",
    std::string(1, '\x00'),
    "\x10",
    "\x20\x21",
    "\x30\x31",
    "\x40\x41\x42\x43",
    "\x50\x51\x52\x53\x54\x55\x56\x57",
    "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
};
const std::vector<std::string> kRoots = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

std::vector<std::string> hexes(const std::vector<Hash>& hs) {
  std::vector<std::string> out;
  for (const auto& h : hs) out.push_back(to_hex(h));
  return out;
}

FullTree reference_tree() {
  FullTree t;
  for (const auto& l : kLeaves) t.append(leaf_hash(l));
  return t;
}

TEST(Merkle, RootsMatchRfc6962Vectors) {
  CompactTree compact;
  FullTree full;
  EXPECT_EQ(to_hex(compact.root()), kRoots[0]);
  for (std::size_t i = 0; i < kLeaves.size(); ++i) {
    compact.append(leaf_hash(kLeaves[i]));
    full.append(leaf_hash(kLeaves[i]));
    EXPECT_EQ(to_hex(compact.root()), kRoots[i + 1]) << "size " << i + 1;
  }
  for (std::size_t n = 0; n <= kLeaves.size(); ++n) EXPECT_EQ(to_hex(full.root(n)), kRoots[n]) << n;
}

TEST(Merkle, InclusionProofVectors) {
  auto t = reference_tree();
  EXPECT_EQ(hexes(t.inclusion_proof(0, 8)),
            (std::vector<std::string>{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                                      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(hexes(t.inclusion_proof(5, 8)),
            (std::vector<std::string>{"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                                      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                                      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  EXPECT_TRUE(t.inclusion_proof(0, 1).empty());
}

TEST(Merkle, ConsistencyProofVectors) {
  auto t = reference_tree();
  EXPECT_EQ(hexes(t.consistency_proof(2, 8)),
            (std::vector<std::string>{"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(hexes(t.consistency_proof(6, 8)),
            (std::vector<std::string>{"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                                      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                                      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  EXPECT_EQ(hexes(t.consistency_proof(2, 5)),
            (std::vector<std::string>{"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                                      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}));
  EXPECT_TRUE(t.consistency_proof(8, 8).empty());
}

TEST(Merkle, EveryProofVerifiesAndTamperedOnesDoNot) {
  FullTree t;
  for (int i = 0; i < 40; ++i) t.append(leaf_hash(std::string(1, static_cast<char>(i)) + "x"));
  for (std::uint64_t n = 1; n <= t.size(); ++n) {
    Hash root = t.root(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      auto proof = t.inclusion_proof(i, n);
      ASSERT_TRUE(verify_inclusion(t.leaf(i), i, n, proof, root)) << i << "/" << n;
      if (n > 1) {
        EXPECT_FALSE(verify_inclusion(t.leaf(i), (i + 1) % n, n, proof, root));
        EXPECT_FALSE(verify_inclusion(t.leaf((i + 1) % n), i, n, proof, root));
      }
      if (!proof.empty()) {
        auto bad = proof;
        bad[0][0] ^= 1;
        EXPECT_FALSE(verify_inclusion(t.leaf(i), i, n, bad, root));
        bad = proof;
        bad.pop_back();
        EXPECT_FALSE(verify_inclusion(t.leaf(i), i, n, bad, root));
      }
    }
    for (std::uint64_t m = 1; m <= n; ++m) {
      auto proof = t.consistency_proof(m, n);
      ASSERT_TRUE(verify_consistency(m, n, t.root(m), root, proof)) << m << "->" << n;
      if (m < n) {
        Hash wrong = t.root(m);
        wrong[5] ^= 0x40;
        EXPECT_FALSE(verify_consistency(m, n, wrong, root, proof));
        if (!proof.empty()) {
          auto bad = proof;
          bad.back()[0] ^= 1;
          EXPECT_FALSE(verify_consistency(m, n, t.root(m), root, bad));
        }
      }
    }
  }
}

TEST(Merkle, HexRoundTrip) {
  auto h = sha256("abc");
  EXPECT_EQ(to_hex(h), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_from_hex(to_hex(h)), h);
  EXPECT_FALSE(hash_from_hex("zz"));
}

TEST(Frontier, GivesEveryLaterRootAndProof) {
  FullTree full;
  for (int i = 0; i < 37; ++i) full.append(leaf_hash("leaf " + std::to_string(i)));
  for (std::uint64_t a = 0; a <= 37; ++a) {
    auto fr = full.frontier(a);
    ASSERT_EQ(fr.size(), static_cast<std::size_t>(std::popcount(a)));
    auto t = FullTree::from_frontier(a, fr);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->root(), full.root(a)) << a;
    for (std::uint64_t i = a; i < 37; ++i) t->append(full.leaf(i));
    for (std::uint64_t b = std::max<std::uint64_t>(a, 1); b <= 37; ++b) {
      ASSERT_EQ(t->root(b), full.root(b)) << a << " " << b;
      if (a > 0) {
        ASSERT_EQ(t->consistency_proof(a, b), full.consistency_proof(a, b)) << a << " " << b;
      }
      for (std::uint64_t i = a; i < b; ++i) ASSERT_EQ(t->inclusion_proof(i, b), full.inclusion_proof(i, b));
    }
  }
  EXPECT_FALSE(FullTree::from_frontier(5, {leaf_hash("x")}));  // 5 needs two subtrees
}

}  // namespace
}  // namespace ddlgate::ledger
