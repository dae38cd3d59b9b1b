#pragma once
// Ethereum accounts: secp256k1 private keys, addresses (EIP-55 checksummed text) and recoverable
// ECDSA signatures over 32-byte hashes, backed by libsecp256k1 (kept out of this header).
//
// SECURITY: the private key lives only in SecretBytes inside EthKey; it is never logged, printed
// or returned. Signatures use RFC 6979 deterministic nonces and are low-s normalised (EIP-2), so
// signing needs no randomness and cannot leak the key through a weak RNG.
//
// Thread-safety: an EthKey is immutable after construction; Sign() and the free functions may be
// called concurrently from any thread (they share one read-only, randomised libsecp256k1 context).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"
#include "chain/keccak.h"

namespace vigie::chain {

inline constexpr size_t kAddressSize = 20;
using Address = std::array<uint8_t, kAddressSize>;

// "0x" + 40 hex digits with the EIP-55 mixed-case checksum.
std::string FormatAddress(const Address& address);
// Parses "0x" + 40 hex digits (the "0x" is optional). All-lowercase or all-uppercase input is
// accepted as is; mixed case must carry a valid EIP-55 checksum. Errors: kInvalidArgument naming
// the problem (length, non-hex digit, bad checksum).
Result<Address> ParseAddress(std::string_view text);

// A recoverable secp256k1 signature: r and s big-endian, recovery id in [0, 3].
struct RecoverableSignature {
  std::array<uint8_t, 32> r{};
  std::array<uint8_t, 32> s{};
  uint8_t recovery_id = 0;
};

// The address whose key produced `signature` over `hash`. Errors: kIntegrity when the signature
// is malformed or recovers no key.
Result<Address> RecoverAddress(const Hash256& hash, const RecoverableSignature& signature);

class EthKey {
 public:
  // A fresh key from `random` (retrying in the negligible case of an out-of-range scalar).
  static EthKey Generate(Random& random);
  // REQUIRES nothing of `secret`; errors (kInvalidArgument) unless it is 32 bytes and a valid
  // secp256k1 scalar (non-zero, below the group order).
  static Result<EthKey> FromSecret(SecretBytes secret);
  // 64 hex digits, optional "0x" prefix, surrounding whitespace (e.g. a trailing newline) ignored.
  // SECURITY: the caller should wipe its copy of `hex` (WipeString) once done.
  static Result<EthKey> FromHex(std::string_view hex);

  EthKey(EthKey&&) noexcept = default;
  EthKey& operator=(EthKey&&) noexcept = default;

  const Address& address() const { return address_; }
  // The uncompressed public key without its 0x04 prefix (x || y, 64 bytes).
  const std::array<uint8_t, 64>& public_key() const { return public_key_; }

  // Signs the 32-byte `hash` (RFC 6979 nonce, low s). Errors: kInternal if libsecp256k1 refuses,
  // which cannot happen for a key that passed validation.
  Result<RecoverableSignature> Sign(const Hash256& hash) const;

 private:
  EthKey(SecretBytes secret, const std::array<uint8_t, 64>& public_key);

  SecretBytes secret_;  // 32-byte scalar
  std::array<uint8_t, 64> public_key_{};
  Address address_{};
};

// Loads a hex private key (as FromHex) from `path` through `fs`.
// SECURITY: refuses (kPermissionDenied) a file whose mode grants any access to group or others:
// the key moves funds. The mode is read with stat(2) on `path` because FileSystem has no
// permission query, so `path` must name a file on the real filesystem.
// Errors: kIo/kNotFound when the file cannot be read, kPermissionDenied for a loose mode,
// kInvalidArgument for malformed content (the message names the path, never the content).
Result<EthKey> LoadEthKeyFile(const std::string& path, FileSystem& fs);

}  // namespace vigie::chain
