#pragma once
// Keccak-256 as Ethereum uses it: the Keccak submission with its original multi-rate padding
// (domain byte 0x01), NOT the FIPS 202 SHA3-256 (domain byte 0x06). The two differ on every
// input, so a SHA3-256 from a library cannot stand in for it. Addresses, transaction hashes and
// signing hashes are all Keccak-256.
//
// Thread-safety: Keccak256() is stateless and thread-safe. A Keccak256Hasher is not: use one per
// thread (distinct objects may be used concurrently).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace vigie::chain {

inline constexpr size_t kKeccak256Size = 32;
using Hash256 = std::array<uint8_t, kKeccak256Size>;

// One-shot Keccak-256 of `data`.
Hash256 Keccak256(std::span<const uint8_t> data);

// Incremental Keccak-256: Update() any number of times, then Finish() once. After Finish() the
// hasher is reset and may be reused for a new message. Copyable (the state is 200 bytes plus an
// offset), which lets a caller hash a common prefix once and fork it.
class Keccak256Hasher {
 public:
  // Sponge rate in bytes for a 256-bit output: (1600 - 2 * 256) / 8.
  static constexpr size_t kRate = 136;

  Keccak256Hasher() = default;

  void Update(std::span<const uint8_t> data);
  Hash256 Finish();

 private:
  void Reset();

  std::array<uint64_t, 25> state_{};  // lanes A[x + 5y], little-endian byte order within a lane
  size_t offset_ = 0;                 // bytes absorbed into the current block, < kRate
};

}  // namespace vigie::chain
