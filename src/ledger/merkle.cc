#include "ledger/merkle.h"

#include <fmt/format.h>

#include <bit>

namespace vigie::ledger {

namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

// The largest power of two strictly smaller than n. REQUIRES: n >= 2.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

}  // namespace

Hash TreeHasher::HashLeaf(std::span<const uint8_t> leaf) {
  hasher_.Update(std::span<const uint8_t>(&kLeafPrefix, 1));
  hasher_.Update(leaf);
  return hasher_.Finish();
}

Hash TreeHasher::HashNode(const Hash& left, const Hash& right) {
  uint8_t buf[1 + 2 * crypto::kSha256Size];
  buf[0] = kNodePrefix;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 1 + left.size());
  hasher_.Update(buf);
  return hasher_.Finish();
}

Hash TreeHasher::EmptyRoot() { return crypto::Sha256({}); }

void CompactRange::Append(const Hash& leaf_hash, TreeHasher& hasher) {
  Hash current = leaf_hash;
  // Each trailing 1 bit of the old size is a perfect subtree that the new leaf completes.
  for (uint64_t n = size_; n & 1; n >>= 1) {
    current = hasher.HashNode(stack_.back(), current);
    stack_.pop_back();
  }
  stack_.push_back(current);
  ++size_;
}

Hash CompactRange::Root(TreeHasher& hasher) const {
  if (stack_.empty()) return TreeHasher::EmptyRoot();
  Hash root = stack_.back();
  for (size_t i = stack_.size() - 1; i-- > 0;) root = hasher.HashNode(stack_[i], root);
  return root;
}

void MerkleTree::Append(const Hash& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  for (size_t h = 0; levels_[h].size() % 2 == 0; ++h) {
    if (levels_.size() == h + 1) levels_.emplace_back();
    const auto& level = levels_[h];
    Hash parent = hasher_.HashNode(level[level.size() - 2], level[level.size() - 1]);
    levels_[h + 1].push_back(parent);
  }
}

Hash MerkleTree::SubtreeHash(uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n == 0) return TreeHasher::EmptyRoot();
  if (std::has_single_bit(n) && begin % n == 0) {
    const int h = std::countr_zero(n);
    return levels_[h][begin >> h];
  }
  const uint64_t k = SplitPoint(n);
  return hasher_.HashNode(SubtreeHash(begin, begin + k), SubtreeHash(begin + k, end));
}

Result<Hash> MerkleTree::Root(uint64_t tree_size) {
  if (tree_size > size()) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("tree size {} is larger than the ledger ({} entries)", tree_size, size()));
  }
  return SubtreeHash(0, tree_size);
}

void MerkleTree::Path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>& out) {
  const uint64_t n = end - begin;
  if (n <= 1) return;
  const uint64_t k = SplitPoint(n);
  if (m < k) {
    Path(m, begin, begin + k, out);
    out.push_back(SubtreeHash(begin + k, end));
  } else {
    Path(m - k, begin + k, end, out);
    out.push_back(SubtreeHash(begin, begin + k));
  }
}

Result<std::vector<Hash>> MerkleTree::InclusionProof(uint64_t index, uint64_t tree_size) {
  if (tree_size > size() || index >= tree_size) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("no inclusion proof for entry {} in a tree of size {} (the "
                                 "ledger holds {} entries)",
                                 index, tree_size, size()));
  }
  std::vector<Hash> out;
  Path(index, 0, tree_size, out);
  return out;
}

void MerkleTree::SubProof(uint64_t m, uint64_t begin, uint64_t end, bool complete,
                          std::vector<Hash>& out) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!complete) out.push_back(SubtreeHash(begin, end));
    return;
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    SubProof(m, begin, begin + k, complete, out);
    out.push_back(SubtreeHash(begin + k, end));
  } else {
    SubProof(m - k, begin + k, end, false, out);
    out.push_back(SubtreeHash(begin, begin + k));
  }
}

Result<std::vector<Hash>> MerkleTree::ConsistencyProof(uint64_t old_size, uint64_t new_size) {
  if (new_size > size() || old_size > new_size) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("no consistency proof from size {} to size {} (the ledger "
                                 "holds {} entries)",
                                 old_size, new_size, size()));
  }
  std::vector<Hash> out;
  if (old_size == 0 || old_size == new_size) return out;
  SubProof(old_size, 0, new_size, true, out);
  return out;
}

bool VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t tree_size,
                     std::span<const Hash> proof, const Hash& root) {
  if (index >= tree_size) return false;
  TreeHasher hasher;
  uint64_t fn = index;
  uint64_t sn = tree_size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = hasher.HashNode(p, r);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = hasher.HashNode(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                       const Hash& new_root, std::span<const Hash> proof) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (old_size == 0) return proof.empty();
  // RFC 9162 §2.1.4.2 from here on: 0 < old_size < new_size.
  if (proof.empty()) return false;
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());

  TreeHasher hasher;
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = hasher.HashNode(c, fr);
      sr = hasher.HashNode(c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = hasher.HashNode(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == new_root && sn == 0;
}

}  // namespace vigie::ledger
