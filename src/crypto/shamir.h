#pragma once
// Shamir secret sharing over GF(2^8), byte-compatible with HashiCorp Vault's shamir package
// (the format of Vault unseal and recovery keys):
//   - field GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11B);
//   - one random polynomial per secret byte, the byte as constant term, degree threshold - 1;
//   - share = y bytes (one per secret byte) followed by the x coordinate byte, so a share is
//     one byte longer than the secret (33 bytes for a 32-byte key);
//   - x coordinates distinct, non-zero, in random order.
// Shares made here combine in Vault (and in the npm `shamir-secret-sharing` package, which
// follows Vault's format; see the cross-check test), and vice versa.
//
// SECURITY: field arithmetic on secret bytes is constant-time (no table lookups indexed by, and
// no branches on, secret data). Combine cannot tell a wrong or insufficient set of shares from
// the right one: with fewer than `threshold` shares it returns an unrelated value. Callers verify
// the result (e.g. against a stored hash or by unsealing).
//
// Thread-safety: stateless functions; safe from any thread given a thread-safe Random.

#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::crypto {

inline constexpr int kShamirMaxShares = 255;

// Splits `secret` into `shares` shares, any `threshold` of which reconstruct it. Coefficients
// and x coordinates come from `random` (the Env seam).
// Errors: kInvalidArgument if secret is empty or unless 2 <= threshold <= shares <= 255.
Result<std::vector<SecretBytes>> ShamirSplit(const SecretBytes& secret, int shares, int threshold,
                                             Random& random);

// Reconstructs the secret from shares in the format above (Lagrange interpolation at x = 0).
// Errors: kInvalidArgument if fewer than 2 shares, lengths differ, a share is shorter than 2
// bytes, two shares have the same x coordinate, or a share has x = 0 (no split produces it).
Result<SecretBytes> ShamirCombine(const std::vector<SecretBytes>& shares);

namespace internal {
// GF(2^8) arithmetic (AES polynomial), exposed for tests. Constant-time in both operands.
uint8_t GfMul(uint8_t a, uint8_t b);
// Multiplicative inverse as a^254; GfInv(0) == 0.
uint8_t GfInv(uint8_t a);
}  // namespace internal

}  // namespace vigie::crypto
