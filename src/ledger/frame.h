#pragma once
// Record framing shared by the ledger's three append-only files (entries, tree heads, anchor
// records). Internal to src/ledger.
//
// Frame layout (all integers big-endian):
//   magic    4 bytes   "VLE1" (entries), "VLH1" (tree heads), "VLA1" (anchor records)
//   length   uint32    payload length in bytes (at most kMaxFramePayload)
//   crc      uint32    CRC-32C (Castagnoli) of the 4 length bytes followed by the payload
//   payload  `length` bytes
// The CRC is not a security mechanism (the hash chain, the Merkle tree and signed tree heads
// are); it tells a torn write (a crash mid-append) apart from a complete record.
//
// A damaged frame is "at the tail" when no valid frame follows it anywhere in the file: that is
// what a crash during the final append leaves, and only that is repairable. Damage followed by
// a valid frame is corruption.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace vigie::ledger::internal {

using Magic = std::array<uint8_t, 4>;
inline constexpr Magic kEntryMagic = {'V', 'L', 'E', '1'};
inline constexpr Magic kHeadMagic = {'V', 'L', 'H', '1'};
inline constexpr Magic kAnchorMagic = {'V', 'L', 'A', '1'};
inline constexpr size_t kFrameHeaderSize = 12;
inline constexpr uint32_t kMaxFramePayload = 16u << 20;

// CRC-32C (iSCSI polynomial 0x1EDC6F41, reflected), extending `crc` (0 to start).
uint32_t Crc32c(uint32_t crc, std::span<const uint8_t> data);

// Appends one frame holding `payload` to `out`. REQUIRES: payload.size() <= kMaxFramePayload.
void AppendFrame(const Magic& magic, std::span<const uint8_t> payload, std::string& out);

struct Frame {
  enum class Kind { kRecord, kEnd, kDamaged };
  Kind kind = Kind::kEnd;
  uint64_t offset = 0;               // file offset of the frame's first byte
  uint64_t size = 0;                 // whole frame size (kRecord only)
  std::span<const uint8_t> payload;  // kRecord only; valid until the next Next()
  // kDamaged only:
  bool at_tail = false;        // no valid frame follows: a torn final write
  bool checksum_only = false;  // header and length intact, the CRC does not match the bytes
  std::string problem;         // what is wrong, for a person
};

// Streams the frames of one file front to back with large sequential reads.
// Not thread-safe. The file is read as it was when opened (later appends are not seen).
class FrameReader {
 public:
  // Reads from `start` (a frame boundary: the ledger catching up with what other processes
  // appended since it last read) to the end of the file as it is now.
  // Errors: kNotFound if `path` does not exist; kIntegrity if the file is shorter than `start`
  // (it shrank: an append-only file never does); kIo.
  static Result<std::unique_ptr<FrameReader>> Open(const std::string& path, const Magic& magic,
                                                   size_t buffer_size = 8u << 20,
                                                   uint64_t start = 0);
  ~FrameReader();
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // The next frame, kEnd at a clean end of file, kDamaged at the first damaged frame (call
  // Next() no more after that). Errors: kIo.
  Result<Frame> Next();
  uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

 private:
  FrameReader(std::string path, int fd, const Magic& magic, uint64_t file_size, size_t buffer_size);
  // Makes at least `n` bytes available at buf_[begin_]; false if the file ends first.
  Result<bool> Ensure(size_t n);
  // True if a complete frame with a valid CRC starts anywhere after `offset`.
  Result<bool> ValidFrameAfter(uint64_t offset);
  Result<bool> ValidFrameAt(uint64_t offset);

  std::string path_;
  int fd_;
  Magic magic_;
  uint64_t file_size_;
  std::vector<uint8_t> buf_;
  size_t begin_ = 0;          // first unconsumed byte in buf_
  size_t end_ = 0;            // one past the last valid byte in buf_
  uint64_t buf_offset_ = 0;   // file offset of buf_[0]
  uint64_t read_offset_ = 0;  // file offset of the next read()
};

// Big-endian helpers for the canonical encodings.
inline void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
inline void PutU32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
}
inline void PutU64(std::string& out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
}
inline uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t GetU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint64_t GetU64(const uint8_t* p) { return (uint64_t{GetU32(p)} << 32) | GetU32(p + 4); }

}  // namespace vigie::ledger::internal
