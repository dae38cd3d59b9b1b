#include "chain/keccak.h"

// Why a hand-written permutation: Ethereum needs the original Keccak padding, and none of the
// libraries vigie builds against offers it on Debian 12. OpenSSL 3.0 exposes only the FIPS 202
// SHA3 family (its "KECCAK-256" digest arrived in 3.2), and libsodium has no Keccak at all. The
// permutation below follows the Keccak reference specification (keccak.team, "The Keccak
// reference", §1.2) step by step, favouring clarity over speed: vigie hashes a few transactions,
// not a blockchain.

namespace vigie::chain {
namespace {

constexpr int kRounds = 24;

// Round constants for the iota step (the Keccak reference).
constexpr std::array<uint64_t, kRounds> kRoundConstants = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

// Rotation offsets r[x][y] of the rho step, indexed [x + 5y] (the Keccak reference).
constexpr std::array<int, 25> kRhoOffsets = {
    0,  1,  62, 28, 27,  // y = 0
    36, 44, 6,  55, 20,  // y = 1
    3,  10, 43, 25, 39,  // y = 2
    41, 45, 15, 21, 8,   // y = 3
    18, 2,  61, 56, 14,  // y = 4
};

constexpr uint64_t RotateLeft(uint64_t v, int n) { return n == 0 ? v : (v << n) | (v >> (64 - n)); }

constexpr size_t Index(size_t x, size_t y) { return (x % 5) + 5 * (y % 5); }

// Keccak-f[1600] applied in place to the 25 lanes.
void KeccakF1600(std::array<uint64_t, 25>& a) {
  for (int round = 0; round < kRounds; ++round) {
    // theta: xor each lane with the parities of two neighbouring columns.
    std::array<uint64_t, 5> c{};
    for (size_t x = 0; x < 5; ++x) {
      c[x] = a[Index(x, 0)] ^ a[Index(x, 1)] ^ a[Index(x, 2)] ^ a[Index(x, 3)] ^ a[Index(x, 4)];
    }
    for (size_t x = 0; x < 5; ++x) {
      const uint64_t d = c[(x + 4) % 5] ^ RotateLeft(c[(x + 1) % 5], 1);
      for (size_t y = 0; y < 5; ++y) a[Index(x, y)] ^= d;
    }

    // rho and pi: rotate every lane, then move lane (x, y) to (y, 2x + 3y).
    std::array<uint64_t, 25> b{};
    for (size_t x = 0; x < 5; ++x) {
      for (size_t y = 0; y < 5; ++y) {
        b[Index(y, 2 * x + 3 * y)] = RotateLeft(a[Index(x, y)], kRhoOffsets[Index(x, y)]);
      }
    }

    // chi: the only non-linear step, row by row.
    for (size_t x = 0; x < 5; ++x) {
      for (size_t y = 0; y < 5; ++y) {
        a[Index(x, y)] = b[Index(x, y)] ^ (~b[Index(x + 1, y)] & b[Index(x + 2, y)]);
      }
    }

    // iota: break the symmetry between rounds.
    a[0] ^= kRoundConstants[round];
  }
}

// XORs one byte into the state at byte position `pos` of the rate (lanes are little-endian, so
// this is independent of the host's byte order).
void XorByte(std::array<uint64_t, 25>& state, size_t pos, uint8_t byte) {
  state[pos / 8] ^= static_cast<uint64_t>(byte) << (8 * (pos % 8));
}

}  // namespace

void Keccak256Hasher::Update(std::span<const uint8_t> data) {
  for (uint8_t byte : data) {
    XorByte(state_, offset_, byte);
    if (++offset_ == kRate) {
      KeccakF1600(state_);
      offset_ = 0;
    }
  }
}

Hash256 Keccak256Hasher::Finish() {
  // Multi-rate padding pad10*1 with Keccak's domain bit: 0x01 after the message, 0x80 in the
  // last byte of the block (both land in one byte, 0x81, when a single byte of room is left).
  XorByte(state_, offset_, 0x01);
  XorByte(state_, kRate - 1, 0x80);
  KeccakF1600(state_);

  Hash256 out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(state_[i / 8] >> (8 * (i % 8)));
  }
  Reset();
  return out;
}

void Keccak256Hasher::Reset() {
  state_.fill(0);
  offset_ = 0;
}

Hash256 Keccak256(std::span<const uint8_t> data) {
  Keccak256Hasher hasher;
  hasher.Update(data);
  return hasher.Finish();
}

}  // namespace vigie::chain
