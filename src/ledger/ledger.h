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
// Append returns. Open() scans the files: a damaged final frame (a write torn by a crash) is
// truncated away with the warning log event "ledger.torn_tail_repaired" (file, offset,
// bytes_dropped); damage anywhere else, a broken chain, or a signed head that no longer
// matches the entries is tampering or corruption: Open fails with kIntegrity and nothing is
// appended (run VerifyLedger, verify.h, to name the first bad entry).
//
// Several processes share one ledger (`vigie server` anchors while `vigie site provision` and
// `vigie vault bootstrap` append provisioning events). `dir`/LOCK arbitrates with flock(2),
// taken per operation, never for the Ledger's life:
//   - every mutating operation (Append, AppendBatch, SignTreeHead, RecordAnchor) and Open take
//     it exclusively, catch up with what other processes appended since this Ledger last looked
//     (incremental: only the new frames of each file are read and checked, chain link, head
//     root and signature, from the last known offsets), then append and fdatasync, then
//     release it. A frame is therefore complete and synced before anyone else can read it;
//   - reads (size, proofs, roots, ReadEntry, heads, anchors) first compare the three file sizes
//     with the known ones (three stat calls, no lock); only when a file grew do they take the
//     lock shared and catch up the same way. The shared lock, rather than lock-free reading,
//     is what keeps a reader from adopting a frame whose append is in progress (partly copied,
//     or complete but about to be rolled back because its fdatasync failed).
// A torn tail is repaired only under the exclusive lock: under it no append is in progress, so
// a damaged final frame really is a crashed writer's. A reader under the shared lock stops
// before such a frame and leaves it to the next writer.
// Lock waits are bounded (LedgerOptions::lock_timeout, 30 s by default, measured on the real
// monotonic clock: the holder is another process, which no fake clock drives), then the
// operation fails with kUnavailable naming the lock file.
//
// Reads (catching up, ReadEntry) use POSIX reads directly: FileSystem has no streaming read,
// and a ledger can be far larger than memory.
//
// Thread-safety: all methods may be called from several threads (one internal mutex, held
// across the flock wait). Several Ledgers, in one process or several, may have a directory
// open at once: flock locks belong to the open file description, and each Ledger opens LOCK
// itself, so two Ledgers in one process exclude each other like two processes do.
// VerifyLedger takes the lock shared only while it snapshots the files (verify.cc).
//
// Integrity failures found while catching up (tampering, a file that shrank or vanished) are
// sticky: every later operation returns the same kIntegrity error.

#include <chrono>
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

struct LedgerOptions {
  // How long an operation waits for `dir`/LOCK while another Ledger (usually another vigie
  // process) holds it, before failing with kUnavailable.
  Duration lock_timeout = std::chrono::seconds(30);
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
  // Errors: kIntegrity (tampering or corruption, with file, offset and entry); kUnavailable
  // if another process holds `dir`/LOCK for longer than options.lock_timeout; kIo.
  static Result<std::unique_ptr<Ledger>> Open(const std::string& dir, const Env& env,
                                              const crypto::SigningKey* signer,
                                              LedgerOptions options = {});
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends one entry, durable (fdatasync) when this returns. `body_json` must be one JSON value
  // and is stored in canonical form (compact, keys sorted).
  // Entries appended meanwhile by other processes come first (the new entry chains to them).
  // Errors: kInvalidArgument (kind, site, body); kUnavailable (lock wait, see LedgerOptions);
  // kIntegrity (what catching up found); kIo (the entry is not recorded; the ledger rolls the
  // file back, or refuses further appends with kFailedPrecondition until reopened if even that
  // fails).
  Result<EntryRef> Append(std::string_view kind, std::string_view site, std::string_view body_json);
  // Appends all of `entries` with one write and one fdatasync: all are recorded, or none.
  Result<std::vector<EntryRef>> AppendBatch(std::span<const NewEntry> entries);

  // Signs and stores a tree head over every entry so far, including those other processes
  // appended (timestamp from env.clock).
  // Errors: kFailedPrecondition without a signer; kUnavailable; kIntegrity; kIo.
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

  // Catches up with what other processes appended (see the file comment). Every method does
  // this itself; Refresh only reports the outcome. Errors: kUnavailable; kIntegrity; kIo.
  Status Refresh();
  // Number of entries, heads and anchor records, after catching up. If catching up fails these
  // return what was known before and log "ledger.refresh_failed" (the Result-returning methods
  // report the error).
  uint64_t size();
  std::vector<TreeHead> TreeHeads();
  std::optional<TreeHead> LatestTreeHead();

  // Persists an anchor record (one frame in anchors.seg, fdatasync'd).
  // Errors: kUnavailable; kIntegrity; kIo.
  Status RecordAnchor(const AnchorRecord& record);
  std::vector<AnchorRecord> AnchorRecords();

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
  class FileLock;
  Ledger(std::string dir, const Env& env, const crypto::SigningKey* signer, LedgerOptions options);
  Status Load();
  // Takes `dir`/LOCK (LOCK_EX or LOCK_SH), waiting up to options_.lock_timeout. REQUIRES mu_.
  Result<FileLock> LockDir(int operation);
  // Exclusive lock + catch up, for a mutating operation. REQUIRES mu_.
  Result<FileLock> LockForWrite();
  // Catches up for a read: nothing to do if no file grew, else under the shared lock. REQUIRES mu_.
  Status RefreshForRead();
  // Reads and checks the frames appended after the known sizes; under the exclusive lock also
  // repairs a torn tail. REQUIRES mu_ and the flock (exclusive iff `exclusive`).
  Status CatchUp(bool exclusive);
  Status CatchUpImpl(bool exclusive);
  // size() etc.: catch up, or log why not and go on with what is known. REQUIRES mu_.
  void RefreshOrLog();
  Result<std::vector<EntryRef>> AppendLocked(std::span<const NewEntry> entries);
  // Appends `data` to `path` with fdatasync; on failure rolls the file back to `good_size`.
  Status DurableAppend(const std::string& path, std::string_view data, uint64_t good_size);

  const std::string dir_;
  const std::string entries_path_, heads_path_, anchors_path_;
  const Env env_;
  const crypto::SigningKey* const signer_;
  const LedgerOptions options_;

  mutable std::mutex mu_;
  MerkleTree tree_;                    // GUARDED_BY(mu_)
  TreeHasher hasher_;                  // GUARDED_BY(mu_)
  std::vector<uint64_t> offsets_;      // GUARDED_BY(mu_): file offset of each entry's frame
  uint64_t entries_size_ = 0;          // GUARDED_BY(mu_): bytes of entries.seg that are committed
  uint64_t heads_size_ = 0;            // GUARDED_BY(mu_)
  uint64_t anchors_size_ = 0;          // GUARDED_BY(mu_)
  std::vector<TreeHead> heads_;        // GUARDED_BY(mu_)
  std::vector<AnchorRecord> anchors_;  // GUARDED_BY(mu_)
  int lock_fd_ = -1;             // `dir`/LOCK, open for the Ledger's life, flock'd per operation
  bool broken_ = false;          // GUARDED_BY(mu_): a failed write could not be rolled back
  std::optional<Error> failed_;  // GUARDED_BY(mu_): sticky integrity failure found catching up
};

}  // namespace vigie::ledger
