#include "ledger/verify.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/encoding.h"
#include "base/env.h"
#include "ledger/frame.h"
#include "ledger/ledger.h"
#include "ledger/merkle.h"

namespace vigie::ledger {

using internal::Frame;
using internal::FrameReader;

std::string_view ProblemKindName(ProblemKind kind) {
  switch (kind) {
    case ProblemKind::kModified:
      return "modified";
    case ProblemKind::kDeleted:
      return "deleted";
    case ProblemKind::kReordered:
      return "reordered";
    case ProblemKind::kForgedHead:
      return "forged_head";
    case ProblemKind::kTornTail:
      return "torn_tail";
    case ProblemKind::kCorruptFrame:
      return "corrupt_frame";
  }
  return "unknown";
}

namespace {

// A shared flock on the ledger's LOCK file, taken with a bounded wait (30 s; writers hold the
// exclusive lock only for one append). No LOCK file (a ledger never opened for writing, or a
// copy): nothing to exclude.
class SharedLock {
 public:
  static Result<SharedLock> Acquire(const std::string& path) {
    SharedLock lock;
    lock.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (lock.fd_ < 0) {
      if (errno == ENOENT) return lock;
      return MakeError(ErrorCode::kIo, fmt::format("open {}: {}", path, std::strerror(errno)));
    }
    for (int waited_ms = 0;; waited_ms += 10) {
      if (::flock(lock.fd_, LOCK_SH | LOCK_NB) == 0) return lock;
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return MakeError(ErrorCode::kIo, fmt::format("flock {}: {}", path, std::strerror(errno)));
      }
      if (waited_ms >= 30000) {
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("{} is held by another vigie process for more than 30 s; "
                                     "retry when it has finished writing",
                                     path));
      }
      ::usleep(10000);
    }
  }
  SharedLock() = default;
  SharedLock(SharedLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  SharedLock& operator=(SharedLock&&) = delete;
  ~SharedLock() { Release(); }
  void Release() {
    if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

class Verifier {
 public:
  Verifier(std::string dir, const crypto::Ed25519PublicKey& key)
      : dir_(std::move(dir)),
        entries_path_(dir_ + "/" + std::string(kEntriesFile)),
        heads_path_(dir_ + "/" + std::string(kHeadsFile)),
        key_(key) {}

  Result<VerifyReport> Run() {
    // A consistent snapshot while other processes append (ledger.h: writes hold <dir>/LOCK
    // exclusively): under a shared lock, read the heads and open the entries file, whose size
    // at open bounds what is verified; then release, so writers wait at most for the opening.
    // Without the lock, a frame being appended could be mistaken for a torn tail.
    VIGIE_ASSIGN_OR_RETURN(SharedLock snapshot, SharedLock::Acquire(dir_ + "/LOCK"));
    VIGIE_RETURN_IF_ERROR(LoadHeads());
    auto opened = FrameReader::Open(entries_path_, internal::kEntryMagic);
    snapshot.Release();
    if (!opened) {
      if (opened.error().code == ErrorCode::kNotFound) {
        return MakeError(ErrorCode::kNotFound,
                         fmt::format("no ledger in {} ({} is missing)", dir_, kEntriesFile));
      }
      return tl::unexpected(opened.error());
    }
    reader_ = std::move(*opened);
    report_.bytes = reader_->file_size();
    if (CheckHeadsAt(0)) VIGIE_RETURN_IF_ERROR(StreamEntries());
    if (!report_.problem) CheckRemainingHeads();
    if (!report_.problem && heads_problem_) {
      heads_problem_->seq = n_;  // a damaged head record names no entry: point past the last
      report_.problem = std::move(heads_problem_);
    }
    report_.entries = n_;
    return std::move(report_);
  }

 private:
  void Report(ProblemKind kind, uint64_t seq, const std::string& file, uint64_t offset,
              std::string message, std::optional<uint64_t> head = std::nullopt) {
    report_.problem = Problem{kind, seq, head, file, offset, std::move(message)};
  }

  Status LoadHeads() {
    auto opened = FrameReader::Open(heads_path_, internal::kHeadMagic, 1 << 16);
    if (!opened) {
      if (opened.error().code == ErrorCode::kNotFound) return OkStatus();  // no head signed yet
      return tl::unexpected(opened.error());
    }
    auto& reader = *opened;
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader->Next());
      if (f.kind == Frame::Kind::kEnd) break;
      const uint64_t index = heads_.size();
      if (f.kind == Frame::Kind::kDamaged) {
        ProblemKind kind = f.at_tail         ? ProblemKind::kTornTail
                           : f.checksum_only ? ProblemKind::kForgedHead
                                             : ProblemKind::kCorruptFrame;
        heads_problem_ =
            Problem{kind,        0,        index,
                    heads_path_, f.offset, fmt::format("tree head #{}: {}", index, f.problem)};
        break;
      }
      auto head = DecodeTreeHead(f.payload);
      if (!head) {
        heads_problem_ = Problem{ProblemKind::kForgedHead,
                                 0,
                                 index,
                                 heads_path_,
                                 f.offset,
                                 fmt::format("tree head #{}: {}", index, head.error().message)};
        break;
      }
      heads_.push_back(*head);
      head_offsets_.push_back(f.offset);
    }
    order_.resize(heads_.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::stable_sort(order_.begin(), order_.end(),
                     [&](size_t a, size_t b) { return heads_[a].tree_size < heads_[b].tree_size; });
    return OkStatus();
  }

  // Signature check of head `i`; reports forged_head and returns false when it fails.
  bool HeadSignatureOk(size_t i) {
    if (VerifyTreeHead(heads_[i], key_)) return true;
    Report(ProblemKind::kForgedHead, heads_[i].tree_size, heads_path_, head_offsets_[i],
           fmt::format("tree head #{} (size {}) is not signed by the fleet key", i,
                       heads_[i].tree_size),
           i);
    return false;
  }

  // Checks every head of exactly `size` entries against the current compact range. Returns
  // false once a problem is reported.
  bool CheckHeadsAt(uint64_t size) {
    std::optional<Hash> root;
    for (; next_head_ < order_.size() && heads_[order_[next_head_]].tree_size == size;
         ++next_head_) {
      const size_t i = order_[next_head_];
      if (!HeadSignatureOk(i)) return false;
      if (!root) root = range_.Root(hasher_);
      if (*root != heads_[i].root) {
        ReportRootMismatch(i);
        return false;
      }
      ++report_.heads;
      report_.latest_head = heads_[i];
      last_good_size_ = size;
    }
    return true;
  }

  void ReportRootMismatch(size_t i) {
    const uint64_t size = heads_[i].tree_size;
    // Every chain link below `size` already held, so either the last covered entry changed
    // (its successor's prev_hash then disagrees) or a whole suffix was rewritten consistently.
    auto next = reader_->Next();
    if (next && next->kind == Frame::Kind::kRecord) {
      auto header = DecodeEntryHeader(next->payload);
      if (header && header->prev_hash != prev_) {
        Report(ProblemKind::kModified, size - 1, entries_path_, last_offset_,
               fmt::format("entry {} was modified: its hash matches neither tree head #{} nor "
                           "entry {}'s prev_hash",
                           size - 1, i, size),
               i);
        return;
      }
    }
    Report(ProblemKind::kModified, last_good_size_, entries_path_, first_offset_after_good_,
           fmt::format("entries {}..{} do not match tree head #{} (size {}): at least one of them "
                       "was modified (a consistent chain was rewritten from there)",
                       last_good_size_, size - 1, i, size),
           i);
  }

  Status StreamEntries() {
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader_->Next());
      if (f.kind == Frame::Kind::kEnd) return OkStatus();
      if (n_ == last_good_size_) first_offset_after_good_ = f.offset;
      if (f.kind == Frame::Kind::kDamaged) {
        ReportDamaged(f);
        return OkStatus();
      }
      auto header = DecodeEntryHeader(f.payload);
      if (!header) {
        Report(ProblemKind::kModified, n_, entries_path_, f.offset,
               fmt::format("entry {} was modified: {}", n_, header.error().message));
        return OkStatus();
      }
      if (header->seq != n_) return ResolveSeqAnomaly(f.offset, header->seq);
      if (header->prev_hash != prev_) {
        if (n_ == 0) {
          Report(ProblemKind::kModified, 0, entries_path_, f.offset,
                 "entry 0 was modified: its prev_hash is not the all-zero genesis value");
        } else {
          Report(ProblemKind::kModified, n_ - 1, entries_path_, last_offset_,
                 fmt::format("entry {} was modified: its hash no longer matches the prev_hash "
                             "recorded in entry {}",
                             n_ - 1, n_));
        }
        return OkStatus();
      }
      prev_ = hasher_.HashLeaf(f.payload);
      range_.Append(prev_, hasher_);
      last_offset_ = f.offset;
      ++n_;
      if (next_head_ < order_.size() && heads_[order_[next_head_]].tree_size == n_ &&
          !CheckHeadsAt(n_)) {
        return OkStatus();
      }
    }
  }

  void ReportDamaged(const Frame& f) {
    if (f.at_tail) {
      // A signed head covering this entry proves it was complete once: not a torn write.
      if (next_head_ < order_.size()) {
        const size_t i = order_[next_head_];
        if (!HeadSignatureOk(i)) return;
        Report(ProblemKind::kModified, n_, entries_path_, f.offset,
               fmt::format("entry {} was modified: {} (it is covered by signed tree head #{}, "
                           "so this is not a torn write)",
                           n_, f.problem, i),
               i);
        return;
      }
      Report(ProblemKind::kTornTail, n_, entries_path_, f.offset,
             fmt::format("entry {} is a torn final write ({}, {} bytes); opening the ledger "
                         "repairs it with a warning",
                         n_, f.problem, reader_->file_size() - f.offset));
      return;
    }
    if (f.checksum_only) {
      Report(ProblemKind::kModified, n_, entries_path_, f.offset,
             fmt::format("entry {} was modified: {}", n_, f.problem));
      return;
    }
    Report(ProblemKind::kCorruptFrame, n_, entries_path_, f.offset,
           fmt::format("entry {}: {}, and valid entries follow", n_, f.problem));
  }

  // Position n_ holds entry `found` instead: missing (deleted) or out of order (reordered)?
  Status ResolveSeqAnomaly(uint64_t offset, uint64_t found) {
    if (found < n_) {
      Report(ProblemKind::kReordered, found, entries_path_, offset,
             fmt::format("entry {} is out of order: it appears again at position {}", found, n_));
      return OkStatus();
    }
    // Look for entry n_ further on.
    for (;;) {
      VIGIE_ASSIGN_OR_RETURN(Frame f, reader_->Next());
      if (f.kind != Frame::Kind::kRecord) break;
      auto header = DecodeEntryHeader(f.payload);
      if (header && header->seq == n_) {
        Report(ProblemKind::kReordered, n_, entries_path_, offset,
               fmt::format("entry {} is out of order: position {} holds entry {}, and entry {} "
                           "appears later at offset {}",
                           n_, n_, found, n_, f.offset));
        return OkStatus();
      }
    }
    Report(
        ProblemKind::kDeleted, n_, entries_path_, offset,
        found == n_ + 1
            ? fmt::format("entry {} was deleted: entry {} follows entry {}", n_, found,
                          n_ == 0 ? std::string("(none)") : std::to_string(n_ - 1))
            : fmt::format("entries {}..{} were deleted: entry {} follows entry {}", n_, found - 1,
                          found, n_ == 0 ? std::string("(none)") : std::to_string(n_ - 1)));
    return OkStatus();
  }

  void CheckRemainingHeads() {
    for (; next_head_ < order_.size(); ++next_head_) {
      const size_t i = order_[next_head_];
      if (!HeadSignatureOk(i)) return;
      Report(ProblemKind::kDeleted, n_, entries_path_, reader_->file_size(),
             fmt::format("tree head #{} covers {} entries but the ledger holds {}: entries {}..{} "
                         "were deleted",
                         i, heads_[i].tree_size, n_, n_, heads_[i].tree_size - 1),
             i);
      return;
    }
  }

  const std::string dir_, entries_path_, heads_path_;
  const crypto::Ed25519PublicKey key_;
  std::unique_ptr<FrameReader> reader_;
  std::vector<TreeHead> heads_;
  std::vector<uint64_t> head_offsets_;
  std::vector<size_t> order_;  // head indices by tree size
  size_t next_head_ = 0;
  std::optional<Problem> heads_problem_;
  TreeHasher hasher_;
  CompactRange range_;
  Hash prev_{};
  uint64_t n_ = 0;
  uint64_t last_offset_ = 0;
  uint64_t last_good_size_ = 0;
  uint64_t first_offset_after_good_ = 0;
  VerifyReport report_;
};

}  // namespace

Result<VerifyReport> VerifyLedger(const std::string& dir,
                                  const crypto::Ed25519PublicKey& fleet_key) {
  Verifier v(dir, fleet_key);
  return v.Run();
}

Result<crypto::Ed25519PublicKey> ReadFleetPublicKey(const std::string& path) {
  auto text = RealFileSystem()->ReadFile(path);
  if (!text) return tl::unexpected(text.error().Wrap("fleet public key"));
  if (text->find("-----BEGIN") != std::string::npos) {
    auto key = crypto::Ed25519PublicKeyFromPem(*text);
    if (!key) return tl::unexpected(key.error().Wrap(fmt::format("fleet public key {}", path)));
    return *key;
  }
  std::string_view hex = *text;
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front())))
    hex.remove_prefix(1);
  auto bytes = HexDecode(hex);
  if (!bytes || bytes->size() != crypto::kEd25519PublicKeySize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("fleet public key {}: expected a PEM \"PUBLIC KEY\" or 64 hex "
                                 "digits (an Ed25519 public key)",
                                 path));
  }
  crypto::Ed25519PublicKey key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

int RunLedgerVerify(const std::string& dir, const std::string& fleet_pubkey_pem_or_hex_file,
                    std::FILE* out) {
  auto key = ReadFleetPublicKey(fleet_pubkey_pem_or_hex_file);
  if (!key) {
    fmt::print(out, "ledger verify: {}\n", key.error().ToString());
    return 2;
  }
  auto report = VerifyLedger(dir, *key);
  if (!report) {
    fmt::print(out, "ledger verify: {}\n", report.error().ToString());
    return 2;
  }
  if (const auto& p = report->problem) {
    fmt::print(out, "ledger {}: FAILED: entry {}: {}: {} ({} offset {})\n", dir, p->seq,
               ProblemKindName(p->kind), p->message, p->file, p->offset);
    return 1;
  }
  if (report->latest_head) {
    fmt::print(out,
               "ledger {}: OK: {} entries, {} signed tree heads verified; latest head: size {}, "
               "root {}\n",
               dir, report->entries, report->heads, report->latest_head->tree_size,
               HexEncode(report->latest_head->root));
  } else {
    fmt::print(out, "ledger {}: OK: {} entries, chain intact; no signed tree head yet\n", dir,
               report->entries);
  }
  return 0;
}

}  // namespace vigie::ledger
