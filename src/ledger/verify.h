#pragma once
// Offline verification of a ledger directory (`vigie ledger verify`, MAINT_043, PROV_020).
//
// VerifyLedger streams entries.seg once (large sequential reads, one SHA-256 per entry, no
// allocation per entry), recomputing every entry hash, the hash chain and the Merkle root at
// every stored tree head, and checks every head's signature under the fleet key. It never
// modifies the directory. Other processes may append meanwhile: under a brief shared lock on
// <dir>/LOCK it reads the heads and fixes the entries file's size, and verifies that snapshot
// (kUnavailable if a writer holds the lock for more than 30 s). The first problem found (in file order) is reported:
//   modified      an entry's bytes changed: its checksum or its hash no longer matches (the
//                 next entry's prev_hash, or a signed head's root). `seq` is the changed entry
//                 (for a root mismatch with an intact chain: the first entry the head covers
//                 beyond the previous good head).
//   deleted       an entry is missing: a gap in seq, or a signed head covering more entries
//                 than remain. `seq` is the first missing entry.
//   reordered     entries out of order (swapped, moved or replayed). `seq` is the entry that
//                 belongs at the first out-of-order position.
//   forged_head   a tree head whose signature does not verify under the fleet key.
//   torn_tail     the final frame is incomplete or fails its checksum and no signed head
//                 covers it: a crash mid-append, which Ledger::Open repairs (with a warning).
//   corrupt_frame damaged framing (marker, length) followed by valid frames.
// Limits (by design of any hash chain): removing or altering entries after the latest signed
// head, together with their successors, is only detectable against an anchor (anchor.h).

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/sign.h"
#include "ledger/entry.h"

namespace vigie::ledger {

enum class ProblemKind { kModified, kDeleted, kReordered, kForgedHead, kTornTail, kCorruptFrame };
// "modified", "deleted", "reordered", "forged_head", "torn_tail", "corrupt_frame".
std::string_view ProblemKindName(ProblemKind kind);

struct Problem {
  ProblemKind kind = ProblemKind::kModified;
  uint64_t seq = 0;                    // the first bad entry (see above)
  std::optional<uint64_t> head_index;  // for problems found through a tree head
  std::string file;                    // the file at fault
  uint64_t offset = 0;                 // byte offset in `file`
  std::string message;                 // for a person
};

struct VerifyReport {
  uint64_t entries = 0;                 // entries verified (before the first problem)
  uint64_t heads = 0;                   // tree heads verified
  uint64_t bytes = 0;                   // bytes of entries.seg read
  std::optional<TreeHead> latest_head;  // the largest verified head
  std::optional<Problem> problem;
  bool ok() const { return !problem.has_value(); }
};

// Errors (the verification could not run): kNotFound if `dir` holds no ledger; kIo.
Result<VerifyReport> VerifyLedger(const std::string& dir,
                                  const crypto::Ed25519PublicKey& fleet_key);

// Reads the fleet public key from `path`: a PEM "PUBLIC KEY" (crypto::Ed25519PublicKeyToPem)
// or 64 hex digits. Errors: kInvalidArgument naming the file; kNotFound; kIo.
Result<crypto::Ed25519PublicKey> ReadFleetPublicKey(const std::string& path);

// The `vigie ledger verify` command body: prints a one-line result to `out`, returns 0 (all
// good), 1 (tampering or damage found: the first bad entry and its kind are printed) or 2 (the
// verification could not run: the error is printed).
int RunLedgerVerify(const std::string& dir, const std::string& fleet_pubkey_pem_or_hex_file,
                    std::FILE* out);

}  // namespace vigie::ledger
