#pragma once
// Ed25519 signatures (RFC 8032, "pure" Ed25519), backed by libsodium.
//
// A SigningKey owns its secret key in SecretBytes (locked, wiped on destruction). Public keys
// and signatures are plain arrays: they are not secret. Public keys export to PEM
// (SubjectPublicKeyInfo, RFC 8410) so an operator can verify a vigie signature with stock
// tools:  openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg -sigfile sig
//
// Thread-safety: a SigningKey is immutable after construction; Sign() and public_key() may be
// called from several threads. The free functions are stateless.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::crypto {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
using Ed25519PublicKey = std::array<uint8_t, kEd25519PublicKeySize>;
using Ed25519Signature = std::array<uint8_t, kEd25519SignatureSize>;

class SigningKey {
 public:
  // A fresh key whose 32-byte seed comes from `random` (the Env seam: tests may substitute a
  // deterministic Random, production uses the libsodium CSPRNG).
  static SigningKey Generate(Random& random);
  // The key derived from an RFC 8032 32-byte private key ("seed").
  // Errors: kInvalidArgument if seed.size() != 32.
  static Result<SigningKey> FromSeed(const SecretBytes& seed);

  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;

  const Ed25519PublicKey& public_key() const { return public_key_; }
  // SECURITY: a copy of the 32-byte seed, for storing the key (encrypted) and reloading it with
  // FromSeed(). Never log or print it.
  SecretBytes Seed() const;
  // Deterministic Ed25519 signature over `message`.
  Ed25519Signature Sign(std::span<const uint8_t> message) const;

 private:
  SigningKey(SecretBytes secret_key, const Ed25519PublicKey& public_key);
  SecretBytes secret_key_;  // libsodium layout: seed (32) || public key (32)
  Ed25519PublicKey public_key_{};
};

// Verifies `signature` over `message` under `public_key`.
// Errors: kInvalidArgument if public_key is not 32 bytes or signature not 64 bytes;
// kIntegrity "signature does not verify" otherwise on any mismatch (including a public key that
// is not a valid curve point).
Status VerifyEd25519(std::span<const uint8_t> public_key, std::span<const uint8_t> message,
                     std::span<const uint8_t> signature);

// PEM "PUBLIC KEY" (SubjectPublicKeyInfo with id-Ed25519, OID 1.3.101.112), newline-terminated.
std::string Ed25519PublicKeyToPem(const Ed25519PublicKey& public_key);
// Parses what Ed25519PublicKeyToPem writes (and what `openssl pkey -pubout` writes for an
// Ed25519 key). Surrounding whitespace is ignored.
// Errors: kInvalidArgument naming what is wrong (markers, base64, not an Ed25519 key).
Result<Ed25519PublicKey> Ed25519PublicKeyFromPem(std::string_view pem);

}  // namespace vigie::crypto
