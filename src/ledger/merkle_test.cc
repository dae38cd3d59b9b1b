#include "ledger/merkle.h"

#include <gtest/gtest.h>

#include "base/encoding.h"

namespace vigie::ledger {
namespace {

Hash H(std::string_view hex) {
  auto bytes = HexDecode(hex);
  EXPECT_TRUE(bytes && bytes->size() == 32) << hex;
  Hash h{};
  if (bytes && bytes->size() == 32) std::copy(bytes->begin(), bytes->end(), h.begin());
  return h;
}

// Certificate Transparency's standard 8-leaf test tree and its published values, from
// transparency-dev/merkle (the successor of google/certificate-transparency-go's merkle
// package): testonly/constants.go (LeafInputs, RootHashes) and proof/verify_test.go
// (inclusionProofs, consistencyProofs). RFC 6962 and RFC 9162 hash identically.
const std::vector<Bytes>& LeafInputs() {
  static const std::vector<Bytes> leaves = {
      *HexDecode(""),
      *HexDecode("00"),
      *HexDecode("10"),
      *HexDecode("2021"),
      *HexDecode("3031"),
      *HexDecode("40414243"),
      *HexDecode("5051525354555657"),
      *HexDecode("606162636465666768696a6b6c6d6e6f"),
  };
  return leaves;
}

// Root hashes indexed by tree size (0 = empty tree).
const std::vector<Hash>& Roots() {
  static const std::vector<Hash> roots = {
      H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
      H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
      H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
      H("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
      H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
      H("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
      H("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
      H("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
      H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
  };
  return roots;
}

struct InclusionVector {
  uint64_t index;  // 0-based (verify_test.go lists 1-based leaf numbers)
  uint64_t size;
  std::vector<Hash> path;
};

const std::vector<InclusionVector>& InclusionVectors() {
  static const std::vector<InclusionVector> v = {
      {0,
       8,
       {H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
      {5,
       8,
       {H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
      {2, 3, {H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")}},
      {1,
       5,
       {H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
      {0, 1, {}},
  };
  return v;
}

struct ConsistencyVector {
  uint64_t size1;
  uint64_t size2;
  std::vector<Hash> path;
};

const std::vector<ConsistencyVector>& ConsistencyVectors() {
  static const std::vector<ConsistencyVector> v = {
      {1, 1, {}},
      {1,
       8,
       {H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
      {6,
       8,
       {H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
      {2,
       5,
       {H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
      {6,
       7,
       {H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        H("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
  };
  return v;
}

MerkleTree BuildTestTree() {
  MerkleTree tree;
  TreeHasher hasher;
  for (const Bytes& leaf : LeafInputs()) tree.Append(hasher.HashLeaf(leaf));
  return tree;
}

TEST(MerkleTest, LeafAndEmptyHashesFollowRfc9162) {
  TreeHasher hasher;
  // Leaf 0 of the CT test tree is the empty string: SHA-256(0x00).
  EXPECT_EQ(hasher.HashLeaf({}), Roots()[1]);
  EXPECT_EQ(TreeHasher::EmptyRoot(), Roots()[0]);
}

TEST(MerkleTest, RootsMatchPublishedCtValuesForEveryTreeSize) {
  MerkleTree tree = BuildTestTree();
  TreeHasher hasher;
  CompactRange range;
  EXPECT_EQ(range.Root(hasher), Roots()[0]);
  for (uint64_t size = 0; size <= 8; ++size) {
    auto root = tree.Root(size);
    ASSERT_TRUE(root) << size;
    EXPECT_EQ(*root, Roots()[size]) << "tree size " << size;
    if (size > 0) {
      range.Append(tree.leaf(size - 1), hasher);
      EXPECT_EQ(range.Root(hasher), Roots()[size]) << "compact range, size " << size;
    }
  }
  EXPECT_FALSE(tree.Root(9));
}

TEST(MerkleTest, InclusionProofsMatchPublishedCtPaths) {
  MerkleTree tree = BuildTestTree();
  for (const auto& v : InclusionVectors()) {
    auto proof = tree.InclusionProof(v.index, v.size);
    ASSERT_TRUE(proof) << v.index << "/" << v.size;
    EXPECT_EQ(*proof, v.path) << "leaf " << v.index << " in tree " << v.size;
    EXPECT_TRUE(VerifyInclusion(tree.leaf(v.index), v.index, v.size, v.path, Roots()[v.size]));
  }
}

TEST(MerkleTest, ConsistencyProofsMatchPublishedCtPaths) {
  MerkleTree tree = BuildTestTree();
  for (const auto& v : ConsistencyVectors()) {
    auto proof = tree.ConsistencyProof(v.size1, v.size2);
    ASSERT_TRUE(proof) << v.size1 << "->" << v.size2;
    EXPECT_EQ(*proof, v.path) << v.size1 << "->" << v.size2;
    EXPECT_TRUE(VerifyConsistency(v.size1, v.size2, Roots()[v.size1], Roots()[v.size2], v.path))
        << v.size1 << "->" << v.size2;
  }
}

// The probes of verify_test.go's corruptInclusionProof: every one must be rejected.
TEST(MerkleTest, CorruptedInclusionProofsAreRejected) {
  MerkleTree tree = BuildTestTree();
  const Hash some = H("abacaba000000000000000000000000000000000000000000060061e00123456");
  for (const auto& v : InclusionVectors()) {
    if (v.path.empty()) continue;
    const Hash leaf = tree.leaf(v.index);
    const Hash& root = Roots()[v.size];
    EXPECT_FALSE(VerifyInclusion(leaf, v.index - 1, v.size, v.path, root));
    EXPECT_FALSE(VerifyInclusion(leaf, v.index + 1, v.size, v.path, root));
    EXPECT_FALSE(VerifyInclusion(leaf, v.index ^ 2, v.size, v.path, root));
    EXPECT_FALSE(VerifyInclusion(leaf, v.index, v.size * 2, v.path, root));
    EXPECT_FALSE(VerifyInclusion(leaf, v.index, v.size / 2, v.path, root));
    EXPECT_FALSE(VerifyInclusion(some, v.index, v.size, v.path, root));
    EXPECT_FALSE(VerifyInclusion(leaf, v.index, v.size, v.path, Roots()[0]));
    EXPECT_FALSE(VerifyInclusion(leaf, v.index, v.size, v.path, some));
    auto with = [&](std::vector<Hash> p) {
      return VerifyInclusion(leaf, v.index, v.size, p, root);
    };
    std::vector<Hash> p = v.path;
    p.push_back(root);
    EXPECT_FALSE(with(p)) << "trailing root";
    p = v.path;
    p.insert(p.begin(), root);
    EXPECT_FALSE(with(p)) << "preceding root";
    for (size_t i = 0; i < v.path.size(); ++i) {
      p = v.path;
      p[i][0] ^= 8;
      EXPECT_FALSE(with(p)) << "modified proof[" << i << "]";
    }
    p = v.path;
    p.pop_back();
    EXPECT_FALSE(with(p)) << "removed component";
  }
}

TEST(MerkleTest, CorruptedConsistencyProofsAreRejected) {
  const Hash some = H("abacaba000000000000000000000000000000000000000000060061e00123456");
  for (const auto& v : ConsistencyVectors()) {
    if (v.path.empty()) continue;
    const Hash& r1 = Roots()[v.size1];
    const Hash& r2 = Roots()[v.size2];
    auto ok = [&](uint64_t s1, uint64_t s2, const Hash& a, const Hash& b,
                  const std::vector<Hash>& p) { return VerifyConsistency(s1, s2, a, b, p); };
    EXPECT_FALSE(ok(v.size1 - 1, v.size2, r1, r2, v.path));
    EXPECT_FALSE(ok(v.size1 + 1, v.size2, r1, r2, v.path));
    EXPECT_FALSE(ok(v.size1 ^ 2, v.size2, r1, r2, v.path));
    EXPECT_FALSE(ok(v.size1, v.size2 * 2, r1, r2, v.path));
    EXPECT_FALSE(ok(v.size1, v.size2 / 2, r1, r2, v.path));
    EXPECT_FALSE(ok(v.size1, v.size2, some, r2, v.path));
    EXPECT_FALSE(ok(v.size1, v.size2, r1, some, v.path));
    EXPECT_FALSE(ok(v.size1, v.size2, r2, r1, v.path));
    EXPECT_FALSE(ok(v.size1, v.size2, r1, r2, {}));
    std::vector<Hash> p = v.path;
    p.push_back(r1);
    EXPECT_FALSE(ok(v.size1, v.size2, r1, r2, p)) << "trailing root1";
    p = v.path;
    p.insert(p.begin(), v.path[0]);
    EXPECT_FALSE(ok(v.size1, v.size2, r1, r2, p)) << "preceding proof[0]";
    p = v.path;
    p.pop_back();
    EXPECT_FALSE(ok(v.size1, v.size2, r1, r2, p)) << "truncated";
    for (size_t i = 0; i < v.path.size(); ++i) {
      p = v.path;
      p[i][0] ^= 16;
      EXPECT_FALSE(ok(v.size1, v.size2, r1, r2, p)) << "modified proof[" << i << "]";
    }
  }
}

TEST(MerkleTest, TrivialConsistencyCases) {
  const Hash a = Roots()[3];
  const Hash b = Roots()[5];
  EXPECT_TRUE(VerifyConsistency(0, 0, a, a, {}));
  EXPECT_TRUE(VerifyConsistency(0, 5, a, b, {}));
  EXPECT_TRUE(VerifyConsistency(3, 3, a, a, {}));
  EXPECT_FALSE(VerifyConsistency(3, 3, a, b, {}));
  EXPECT_FALSE(VerifyConsistency(5, 3, b, a, {}));
  EXPECT_FALSE(VerifyConsistency(3, 3, a, a, std::vector<Hash>{a}));
}

// Every proof the tree produces for every (index, size) and (size1, size2) up to 70 leaves
// verifies, against roots computed independently by a CompactRange.
TEST(MerkleTest, AllProofsRoundTripUpTo70Leaves) {
  MerkleTree tree;
  TreeHasher hasher;
  CompactRange range;
  std::vector<Hash> roots = {range.Root(hasher)};
  for (uint32_t i = 0; i < 70; ++i) {
    uint8_t data[4] = {static_cast<uint8_t>(i), 1, 2, 3};
    Hash leaf = hasher.HashLeaf(data);
    tree.Append(leaf);
    range.Append(leaf, hasher);
    roots.push_back(range.Root(hasher));
  }
  for (uint64_t size = 1; size <= 70; ++size) {
    ASSERT_EQ(*tree.Root(size), roots[size]);
    for (uint64_t index = 0; index < size; ++index) {
      auto proof = tree.InclusionProof(index, size);
      ASSERT_TRUE(proof);
      ASSERT_TRUE(VerifyInclusion(tree.leaf(index), index, size, *proof, roots[size]))
          << index << "/" << size;
      if (size > 1) {
        ASSERT_FALSE(
            VerifyInclusion(tree.leaf(index), (index + 1) % size, size, *proof, roots[size]));
      }
    }
    for (uint64_t old_size = 0; old_size <= size; ++old_size) {
      auto proof = tree.ConsistencyProof(old_size, size);
      ASSERT_TRUE(proof);
      ASSERT_TRUE(VerifyConsistency(old_size, size, roots[old_size], roots[size], *proof))
          << old_size << "->" << size;
      if (old_size > 0 && old_size < size) {
        ASSERT_FALSE(VerifyConsistency(old_size, size, roots[old_size - 1], roots[size], *proof));
      }
    }
  }
  EXPECT_FALSE(tree.InclusionProof(5, 71));
  EXPECT_FALSE(tree.InclusionProof(5, 5));
  EXPECT_FALSE(tree.ConsistencyProof(6, 5));
}

}  // namespace
}  // namespace vigie::ledger
