#pragma once
// Helpers shared by the ledger tests: deterministic keys and raw access to the framed files,
// so tamper tests can edit bytes the way an attacker with file access would.

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "base/secret.h"
#include "crypto/sign.h"
#include "ledger/frame.h"

namespace vigie::ledger::testutil {

inline crypto::SigningKey TestKey(char seed_byte) {
  return *crypto::SigningKey::FromSeed(SecretBytes::CopyFrom(std::string(32, seed_byte)));
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// (offset, size) of each frame in a well-formed framed file.
inline std::vector<std::pair<size_t, size_t>> Frames(const std::string& data) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t pos = 0;
  while (pos + internal::kFrameHeaderSize <= data.size()) {
    uint32_t len = internal::GetU32(reinterpret_cast<const uint8_t*>(data.data()) + pos + 4);
    out.emplace_back(pos, internal::kFrameHeaderSize + len);
    pos += internal::kFrameHeaderSize + len;
  }
  return out;
}

// Recomputes the CRC of the frame at `offset` (an attacker who knows the format).
inline void FixCrc(std::string& data, size_t offset) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data()) + offset;
  uint32_t len = internal::GetU32(p + 4);
  uint32_t crc = internal::Crc32c(internal::Crc32c(0, std::span<const uint8_t>(p + 4, 4)),
                                  std::span<const uint8_t>(p + 12, len));
  std::string be;
  internal::PutU32(be, crc);
  data.replace(offset + 8, 4, be);
}

}  // namespace vigie::ledger::testutil
