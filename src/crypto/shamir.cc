#include "crypto/shamir.h"

#include <array>
#include <numeric>
#include <string>

namespace vigie::crypto {

namespace internal {

// Shift-and-add ("Russian peasant") multiplication. Each step's choices are made with masks
// derived from the operand bits, so timing and memory access do not depend on the values.
uint8_t GfMul(uint8_t a, uint8_t b) {
  uint8_t product = 0;
  for (int i = 0; i < 8; ++i) {
    product ^= static_cast<uint8_t>(a & (0u - (b & 1u)));
    const uint8_t carry = static_cast<uint8_t>(0u - (a >> 7));  // 0xff if the top bit is set
    a = static_cast<uint8_t>((a << 1) ^ (0x1b & carry));        // reduce by 0x11B
    b >>= 1;
  }
  return product;
}

// a^254 = a^-1 in GF(2^8)* (order 255), by a fixed chain of squarings: 254 = 2+4+...+128.
uint8_t GfInv(uint8_t a) {
  uint8_t power = GfMul(a, a);  // a^2
  uint8_t result = power;
  for (int i = 0; i < 6; ++i) {
    power = GfMul(power, power);  // a^4, a^8, ..., a^128
    result = GfMul(result, power);
  }
  return result;
}

}  // namespace internal

namespace {

using internal::GfInv;
using internal::GfMul;

tl::unexpected<Error> Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

Result<std::vector<SecretBytes>> ShamirSplit(const SecretBytes& secret, int shares, int threshold,
                                             Random& random) {
  if (secret.empty()) return Invalid("Shamir split: the secret is empty");
  if (threshold < 2) {
    return Invalid("Shamir split: threshold " + std::to_string(threshold) +
                   " must be at least 2 (one share would be the secret itself)");
  }
  if (shares < threshold) {
    return Invalid("Shamir split: " + std::to_string(shares) + " shares is fewer than threshold " +
                   std::to_string(threshold));
  }
  if (shares > kShamirMaxShares) {
    return Invalid("Shamir split: " + std::to_string(shares) +
                   " shares requested, GF(2^8) allows at most 255");
  }

  // Distinct non-zero x coordinates: the first `shares` entries of a uniformly shuffled 1..255
  // (Fisher-Yates driven by the Env's Random). x values are public, so no constant-time need.
  std::array<uint8_t, kShamirMaxShares> xs;
  std::iota(xs.begin(), xs.end(), uint8_t{1});
  for (int i = 0; i < shares; ++i) {
    const int j = i + static_cast<int>(random.Uniform(static_cast<uint32_t>(kShamirMaxShares - i)));
    std::swap(xs[i], xs[j]);
  }

  const size_t len = secret.size();
  std::vector<SecretBytes> out;
  out.reserve(static_cast<size_t>(shares));
  for (int i = 0; i < shares; ++i) {
    out.emplace_back(len + 1);
    out.back().data()[len] = xs[i];
  }

  // coefficients[0] is the secret byte, coefficients[1..threshold-1] are uniform random.
  SecretBytes coefficients(static_cast<size_t>(threshold));
  for (size_t b = 0; b < len; ++b) {
    coefficients.data()[0] = secret.data()[b];
    random.Fill(coefficients.mutable_span().subspan(1));
    for (int i = 0; i < shares; ++i) {
      // Horner's rule from the highest-degree coefficient down.
      uint8_t y = coefficients.data()[threshold - 1];
      for (int k = threshold - 2; k >= 0; --k) y = GfMul(y, xs[i]) ^ coefficients.data()[k];
      out[i].data()[b] = y;
    }
  }
  return out;
}

Result<SecretBytes> ShamirCombine(const std::vector<SecretBytes>& shares) {
  if (shares.size() < 2) {
    return Invalid("Shamir combine: " + std::to_string(shares.size()) +
                   " share(s) given, at least 2 are needed");
  }
  if (shares.size() > static_cast<size_t>(kShamirMaxShares)) {
    return Invalid("Shamir combine: more than 255 shares given");
  }
  const size_t share_len = shares[0].size();
  if (share_len < 2) {
    return Invalid("Shamir combine: share 1 is " + std::to_string(share_len) +
                   " byte(s); a share is at least 2 bytes (secret bytes + x coordinate)");
  }
  std::array<bool, 256> seen{};
  std::vector<uint8_t> xs(shares.size());
  for (size_t i = 0; i < shares.size(); ++i) {
    if (shares[i].size() != share_len) {
      return Invalid("Shamir combine: share " + std::to_string(i + 1) + " is " +
                     std::to_string(shares[i].size()) + " bytes but share 1 is " +
                     std::to_string(share_len) + "; all shares of one secret have the same length");
    }
    const uint8_t x = shares[i].data()[share_len - 1];
    if (x == 0) {
      return Invalid("Shamir combine: share " + std::to_string(i + 1) +
                     " has x coordinate 0, which no split produces; the share is corrupt");
    }
    if (seen[x]) {
      return Invalid("Shamir combine: share " + std::to_string(i + 1) +
                     " repeats the x coordinate of an earlier share (the same share given twice?)");
    }
    seen[x] = true;
    xs[i] = x;
  }

  // Lagrange basis at 0: l_i(0) = prod_{j != i} x_j / (x_i - x_j); subtraction is XOR. The
  // weights depend only on the public x coordinates, so they are computed once.
  std::vector<uint8_t> weights(shares.size());
  for (size_t i = 0; i < shares.size(); ++i) {
    uint8_t w = 1;
    for (size_t j = 0; j < shares.size(); ++j) {
      if (i == j) continue;
      w = GfMul(w, GfMul(xs[j], GfInv(xs[i] ^ xs[j])));
    }
    weights[i] = w;
  }

  SecretBytes secret(share_len - 1);
  for (size_t b = 0; b < secret.size(); ++b) {
    uint8_t acc = 0;
    for (size_t i = 0; i < shares.size(); ++i) acc ^= GfMul(shares[i].data()[b], weights[i]);
    secret.data()[b] = acc;
  }
  return secret;
}

}  // namespace vigie::crypto
