#pragma once
// Anonymous public-key encryption ("sealed boxes": X25519 + XSalsa20-Poly1305, libsodium
// crypto_box_seal). Anyone holding a site's public key can seal a package to it; only the
// holder of the secret key can open it, and any alteration is detected. This is how
// credentials leave the fleet manager (PROV_003): sealed to the site's enrollment key.
//
// Thread-safety: stateless functions, safe from any thread.

#include <array>
#include <cstdint>
#include <span>

#include "base/encoding.h"
#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::crypto {

inline constexpr size_t kBoxPublicKeySize = 32;
inline constexpr size_t kBoxSecretKeySize = 32;
inline constexpr size_t kSealOverhead = 48;  // ephemeral public key (32) + Poly1305 tag (16)
using BoxPublicKey = std::array<uint8_t, kBoxPublicKeySize>;

struct BoxKeyPair {
  BoxPublicKey public_key{};
  SecretBytes secret_key;  // 32-byte X25519 scalar
};

// A fresh key pair derived (crypto_box_seed_keypair) from a 32-byte seed drawn from `random`,
// so the Env seam controls the randomness.
BoxKeyPair GenerateBoxKeyPair(Random& random);
// Rebuilds the pair from a stored secret key (the public key is recomputed).
// Errors: kInvalidArgument if secret_key is not 32 bytes.
Result<BoxKeyPair> BoxKeyPairFromSecretKey(const SecretBytes& secret_key);

// Seals `plaintext` to `recipient`. The output is plaintext.size() + kSealOverhead bytes.
// The ephemeral key comes from libsodium's CSPRNG (crypto_box_seal offers no seam for it).
// SECURITY: the caller wipes its own plaintext copy if it is secret.
Bytes Seal(const BoxPublicKey& recipient, std::span<const uint8_t> plaintext);

// Opens a sealed box addressed to `key_pair`.
// Errors: kIntegrity when the ciphertext was not sealed to this key, was altered or truncated.
Result<SecretBytes> Open(const BoxKeyPair& key_pair, std::span<const uint8_t> ciphertext);

}  // namespace vigie::crypto
