#pragma once
// Ledger entries and signed tree heads: the data types and their canonical byte encodings.
// These encodings are what is hashed and signed; they are a stable wire format (golden vectors
// in entry_test.cc), so changing one means a new version byte.
//
// Entry encoding, version 1 (integers big-endian, strings UTF-8 without terminator):
//   offset  size  field
//   0       1     version = 0x01
//   1       8     seq           uint64, 0 for the first entry, +1 for each next one
//   9       8     timestamp_ms  int64, milliseconds since the Unix epoch (UTC)
//   17      32    prev_hash     entry hash of entry seq-1; 32 zero bytes for seq 0
//   49      2+K   kind          uint16 length K (1..128), then K bytes  [a-z0-9._-]
//   ..      2+S   site          uint16 length S (0..255), then S bytes  (empty: fleet-wide)
//   ..      4+B   body          uint32 length B, then B bytes: compact JSON, keys sorted
// entry hash = RFC 9162 Merkle leaf hash = SHA-256(0x00 || encoding). One hash serves both the
// hash chain (prev_hash) and the Merkle tree, so verify hashes each entry once.
//
// Tree head signature input (66 bytes): the 16-byte context "vigie-ledger-sth" followed by the
// RFC 6962 §3.5 TreeHeadSignature structure:
//   version uint8 = 0 (v1) | signature_type uint8 = 1 (tree_hash) | timestamp uint64 (ms) |
//   tree_size uint64 | sha256_root_hash 32 bytes
// signed with Ed25519 by the fleet key. The context keeps a tree-head signature from ever being
// mistaken for a signature the same key makes over something else (packages, PROV_023).
//   openssl pkeyutl -verify -pubin -inkey fleet.pem -rawin -in sth.bin -sigfile sth.sig
// A stored head record is the 50-byte structure followed by the 64-byte signature.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/sign.h"
#include "ledger/merkle.h"

namespace vigie::ledger {

inline constexpr uint8_t kEntryVersion = 1;
inline constexpr size_t kMaxKindSize = 128;
inline constexpr size_t kMaxSiteSize = 255;
inline constexpr size_t kMaxBodySize = 1u << 20;

struct Entry {
  uint64_t seq = 0;
  int64_t timestamp_ms = 0;
  Hash prev_hash{};
  std::string kind;  // e.g. "site.provisioned"
  std::string site;  // site id, empty for fleet-wide events
  std::string body;  // compact JSON
};

// The canonical encoding above. REQUIRES: fields within the limits (ValidateEntryFields).
std::string EncodeEntry(const Entry& entry);
// Parses an encoding. Errors: kIntegrity naming what is malformed.
Result<Entry> DecodeEntry(std::span<const uint8_t> bytes);
// Only the fixed-size prefix (version, seq, timestamp, prev_hash), without copying strings:
// what verify needs per entry. Errors: kIntegrity if too short or the version is unknown.
struct EntryHeader {
  uint64_t seq = 0;
  int64_t timestamp_ms = 0;
  Hash prev_hash{};
};
Result<EntryHeader> DecodeEntryHeader(std::span<const uint8_t> bytes);

// Checks kind, site and body limits and that body is one JSON value; returns the body in
// canonical form (compact, object keys sorted). Errors: kInvalidArgument naming the field.
Result<std::string> ValidateEntryFields(std::string_view kind, std::string_view site,
                                        std::string_view body_json);

struct TreeHead {
  uint64_t tree_size = 0;
  int64_t timestamp_ms = 0;
  Hash root{};
  crypto::Ed25519Signature signature{};
};

inline constexpr size_t kTreeHeadStructSize = 50;
inline constexpr size_t kTreeHeadRecordSize = kTreeHeadStructSize + crypto::kEd25519SignatureSize;

// The exact bytes signed for `head` (context || TreeHeadSignature), see above.
std::string TreeHeadSignedBytes(const TreeHead& head);
// Record encoding (struct || signature) and its parser (kIntegrity when malformed).
std::string EncodeTreeHead(const TreeHead& head);
Result<TreeHead> DecodeTreeHead(std::span<const uint8_t> bytes);
// Status of the head's signature under `fleet_key` (kIntegrity "signature does not verify").
Status VerifyTreeHead(const TreeHead& head, const crypto::Ed25519PublicKey& fleet_key);

}  // namespace vigie::ledger
