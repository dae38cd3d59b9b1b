#pragma once
// Ledger: the append-only, tamper-evident record of provisioning events (PROV_020) and, later,
// of every audit event (MAINT_043).
//
// Each entry is hash-chained to its predecessor (entry.h: prev_hash) and is a leaf of an
// RFC 9162 Merkle tree; the fleet key (Ed25519) signs tree heads; inclusion and consistency
// proofs are served for any entry / pair of tree sizes; anchors (anchor.h) publish heads.
//
// On disk, in `dir` (0700), three append-only files of CRC-framed records (frame.h):
//   entries.seg   one frame per entry (the canonical entry encoding, entry.h)
//   heads.seg     one frame per signed tree head (entry.h: EncodeTreeHead)
//   anchors.seg   one frame per anchor record (JSON, anchor.h)
// Appends go through Env's FileSystem (AppendFile with fdatasync): an entry is durable when
// Append returns. Open() rescans the files: a damaged final frame (a write torn by a crash) is
// truncated away with the warning log event "ledger.torn_tail_repaired" (file, offset,
// bytes_dropped); damage anywhere else, a broken chain, or a signed head that no longer
// matches the entries is tampering or corruption: Open fails with kIntegrity and nothing is
// appended (run VerifyLedger, verify.h, to name the first bad entry).
//
// Reads (Open's rescan, ReadEntry) use POSIX reads directly: FileSystem has no streaming read,
// and a ledger can be far larger than memory.
//
// Thread-safety: all methods may be called from several threads (one internal mutex). One
// Ledger at a time may have a directory open: Open takes an exclusive flock on `dir`/LOCK,
// released when the Ledger is destroyed (or its process dies); VerifyLedger needs no lock.

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "crypto/sign.h"
#include "ledger/anchor.h"
#include "ledger/entry.h"
#include "ledger/merkle.h"

namespace vigie::ledger {

inline constexpr std::string_view kEntriesFile = "entries.seg";
inline constexpr std::string_view kHeadsFile = "heads.seg";
inline constexpr std::string_view kAnchorsFile = "anchors.seg";

struct EntryRef {
  uint64_t seq = 0;
  Hash hash{};  // entry hash = Merkle leaf hash
  int64_t timestamp_ms = 0;
};

struct NewEntry {
  std::string kind;
  std::string site;
  std::string body_json;
};

struct InclusionProof {
  uint64_t seq = 0;
  uint64_t tree_size = 0;
  Hash leaf_hash{};
  std::vector<Hash> path;  // RFC 9162 inclusion path, leaf to root
};

struct ConsistencyProof {
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  std::vector<Hash> path;  // RFC 9162 consistency path
};

class Ledger {
 public:
  // Opens (creating if absent) the ledger in `dir`, repairing a torn final write.
  // `env` pointers must outlive the ledger. `signer` (not owned, may be null for a read-only
  // use: proofs, reads) is the fleet key; when given, every stored head must verify under it.
  // Errors: kIntegrity (tampering or corruption, with file, offset and entry);
  // kFailedPrecondition if another Ledger (in this or another process) has `dir` open; kIo.
  static Result<std::unique_ptr<Ledger>> Open(const std::string& dir, const Env& env,
                                              const crypto::SigningKey* signer);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends one entry, durable (fdatasync) when this returns. `body_json` must be one JSON value
  // and is stored in canonical form (compact, keys sorted).
  // Errors: kInvalidArgument (kind, site, body); kIo (the entry is not recorded; the ledger
  // rolls the file back, or refuses further appends with kFailedPrecondition until reopened if
  // even that fails).
  Result<EntryRef> Append(std::string_view kind, std::string_view site, std::string_view body_json);
  // Appends all of `entries` with one write and one fdatasync: all are recorded, or none.
  Result<std::vector<EntryRef>> AppendBatch(std::span<const NewEntry> entries);

  // Signs and stores a tree head over every entry so far (timestamp from env.clock).
  // Errors: kFailedPrecondition without a signer; kIo.
  Result<TreeHead> SignTreeHead();

  // Inclusion proof of entry `seq` in the tree of `tree_size` entries.
  // Errors: kInvalidArgument unless seq < tree_size <= size().
  Result<InclusionProof> ProveInclusion(uint64_t seq, uint64_t tree_size);
  // Consistency proof between two tree sizes. Errors: kInvalidArgument unless
  // old_size <= new_size <= size().
  Result<ConsistencyProof> ProveConsistency(uint64_t old_size, uint64_t new_size);
  // Root of the tree of the first `tree_size` entries. Errors: kInvalidArgument if too large.
  Result<Hash> Root(uint64_t tree_size);

  // Reads entry `seq` back from disk. Errors: kNotFound past the end; kIntegrity; kIo.
  Result<Entry> ReadEntry(uint64_t seq);
  // Number of entries.
  uint64_t size() const;
  std::vector<TreeHead> TreeHeads() const;
  std::optional<TreeHead> LatestTreeHead() const;

  // Persists an anchor record (one frame in anchors.seg, fdatasync'd). Errors: kIo.
  Status RecordAnchor(const AnchorRecord& record);
  std::vector<AnchorRecord> AnchorRecords() const;

  const std::string& dir() const { return dir_; }

  // Stateless RFC 9162 verifiers (merkle.h), exposed here for callers holding proofs.
  static bool VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t tree_size,
                              std::span<const Hash> proof, const Hash& root) {
    return ledger::VerifyInclusion(leaf_hash, index, tree_size, proof, root);
  }
  static bool VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                                const Hash& new_root, std::span<const Hash> proof) {
    return ledger::VerifyConsistency(old_size, new_size, old_root, new_root, proof);
  }

 private:
  Ledger(std::string dir, const Env& env, const crypto::SigningKey* signer);
  Status Load();
  Result<std::vector<EntryRef>> AppendLocked(std::span<const NewEntry> entries);
  // Appends `data` to `path` with fdatasync; on failure rolls the file back to `good_size`.
  Status DurableAppend(const std::string& path, std::string_view data, uint64_t good_size);

  const std::string dir_;
  const std::string entries_path_, heads_path_, anchors_path_;
  const Env env_;
  const crypto::SigningKey* const signer_;

  mutable std::mutex mu_;
  MerkleTree tree_;                    // GUARDED_BY(mu_)
  TreeHasher hasher_;                  // GUARDED_BY(mu_)
  std::vector<uint64_t> offsets_;      // GUARDED_BY(mu_): file offset of each entry's frame
  uint64_t entries_size_ = 0;          // GUARDED_BY(mu_): bytes of entries.seg that are committed
  uint64_t heads_size_ = 0;            // GUARDED_BY(mu_)
  uint64_t anchors_size_ = 0;          // GUARDED_BY(mu_)
  std::vector<TreeHead> heads_;        // GUARDED_BY(mu_)
  std::vector<AnchorRecord> anchors_;  // GUARDED_BY(mu_)
  int lock_fd_ = -1;                   // flock'd `dir`/LOCK, held for the Ledger's lifetime
  bool broken_ = false;                // GUARDED_BY(mu_): a failed write could not be rolled back
};

}  // namespace vigie::ledger
