#pragma once
// Authenticated encryption with associated data: XChaCha20-Poly1305-IETF (libsodium). The
// 24-byte nonce is random, which is safe at any volume with XChaCha's nonce size, and is
// prefixed to the ciphertext: output = nonce (24) || ciphertext || tag (16).
//
// Use for data at rest under a symmetric key (store rows, backup chunks). `associated_data`
// binds the ciphertext to its context (e.g. "site/42/db_password") so it cannot be moved to
// another record undetected.
//
// Thread-safety: stateless functions, safe from any thread.

#include <cstdint>
#include <span>

#include "base/encoding.h"
#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 24;
inline constexpr size_t kAeadOverhead = 40;  // nonce (24) + Poly1305 tag (16)

// Encrypts `plaintext` under `key`, authenticating `associated_data` too; the nonce comes from
// `random` (the Env seam).
// Errors: kInvalidArgument if key is not 32 bytes.
// SECURITY: the caller wipes its own plaintext copy if it is secret.
Result<Bytes> AeadSeal(const SecretBytes& key, std::span<const uint8_t> plaintext,
                       std::span<const uint8_t> associated_data, Random& random);

// Decrypts what AeadSeal produced with the same key and associated data.
// Errors: kInvalidArgument if key is not 32 bytes; kIntegrity if the ciphertext is truncated,
// altered, or was sealed under another key or other associated data.
Result<SecretBytes> AeadOpen(const SecretBytes& key, std::span<const uint8_t> ciphertext,
                             std::span<const uint8_t> associated_data);

}  // namespace vigie::crypto
