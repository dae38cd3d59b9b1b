#pragma once
// Merkle trees with RFC 9162 (Certificate Transparency v2, §2.1) hashing:
//   leaf hash  = SHA-256(0x00 || leaf bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   empty tree = SHA-256("")
// The tree over n leaves splits at the largest power of two smaller than n (MTH in §2.1.1).
//
// - TreeHasher: the two hash functions above, reusing one SHA-256 context (fast for streaming).
// - CompactRange: the O(log n) stack of complete-subtree roots, enough to compute the root of
//   a growing tree (used by verify, which streams the ledger once).
// - MerkleTree: every level of the tree kept in memory (2 x 32 bytes per leaf), so appends are
//   amortised O(1) and roots and proofs for any tree size are O(log^2 n) without rehashing.
// - VerifyInclusion / VerifyConsistency: the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms.
//
// Thread-safety: none of these classes is thread-safe (callers lock); the free functions are.

#include <cstdint>
#include <span>
#include <vector>

#include "base/error.h"
#include "crypto/hash.h"

namespace vigie::ledger {

using Hash = crypto::Sha256Digest;

class TreeHasher {
 public:
  Hash HashLeaf(std::span<const uint8_t> leaf);
  Hash HashNode(const Hash& left, const Hash& right);
  static Hash EmptyRoot();

 private:
  crypto::Sha256Hasher hasher_;
};

class CompactRange {
 public:
  void Append(const Hash& leaf_hash, TreeHasher& hasher);
  uint64_t size() const { return size_; }
  // Root of the tree over every leaf appended so far (EmptyRoot() when none).
  Hash Root(TreeHasher& hasher) const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> stack_;  // roots of the perfect subtrees, largest (leftmost) first
};

class MerkleTree {
 public:
  void Append(const Hash& leaf_hash);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  const Hash& leaf(uint64_t index) const { return levels_[0][index]; }

  // Root of the tree over the first `tree_size` leaves.
  // Errors: kInvalidArgument if tree_size > size().
  Result<Hash> Root(uint64_t tree_size);
  // PATH(index, D[tree_size]) of RFC 9162 §2.1.3.1, leaf-to-root order.
  // Errors: kInvalidArgument unless index < tree_size <= size().
  Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t tree_size);
  // PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1. Empty when old_size is 0 or equals
  // new_size. Errors: kInvalidArgument unless old_size <= new_size <= size().
  Result<std::vector<Hash>> ConsistencyProof(uint64_t old_size, uint64_t new_size);

 private:
  Hash SubtreeHash(uint64_t begin, uint64_t end);
  void Path(uint64_t index, uint64_t begin, uint64_t end, std::vector<Hash>& out);
  void SubProof(uint64_t m, uint64_t begin, uint64_t end, bool complete, std::vector<Hash>& out);

  TreeHasher hasher_;
  // levels_[h][i] = root of the perfect subtree of 2^h leaves starting at leaf i * 2^h.
  std::vector<std::vector<Hash>> levels_;
};

// RFC 9162 §2.1.3.2: true iff `proof` proves that `leaf_hash` is leaf `index` of the tree of
// `tree_size` leaves whose root is `root`.
bool VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t tree_size,
                     std::span<const Hash> proof, const Hash& root);
// RFC 9162 §2.1.4.2 (with the trivial cases: equal sizes need an empty proof and equal roots;
// an empty old tree is consistent with anything, with an empty proof): true iff `proof` proves
// that the tree of `old_size` leaves with `old_root` is a prefix of the tree of `new_size`
// leaves with `new_root`.
bool VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                       const Hash& new_root, std::span<const Hash> proof);

}  // namespace vigie::ledger
