#include "ledger/frame.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace vigie::ledger::internal {

namespace {

struct Crc32cTable {
  uint32_t t[256];
  constexpr Crc32cTable() : t{} {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};
constexpr Crc32cTable kCrcTable;

uint32_t Crc32cPortable(uint32_t crc, const uint8_t* p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = kCrcTable.t[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

#if defined(__x86_64__)
// The SSE4.2 CRC32 instruction computes exactly CRC-32C; verify streams every ledger byte
// through here, so the hardware path matters for its throughput.
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = ~crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

Error ErrnoError(std::string_view what, const std::string& path, int err) {
  return Error{ErrorCode::kIo, fmt::format("{} {}: {}", what, path, std::strerror(err))};
}

}  // namespace

uint32_t Crc32c(uint32_t crc, std::span<const uint8_t> data) {
#if defined(__x86_64__)
  if (kHaveSse42) return Crc32cSse42(crc, data.data(), data.size());
#endif
  return Crc32cPortable(crc, data.data(), data.size());
}

void AppendFrame(const Magic& magic, std::span<const uint8_t> payload, std::string& out) {
  const auto len = static_cast<uint32_t>(payload.size());
  uint8_t len_be[4] = {static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
                       static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  const uint32_t crc = Crc32c(Crc32c(0, len_be), payload);
  out.append(reinterpret_cast<const char*>(magic.data()), magic.size());
  PutU32(out, len);
  PutU32(out, crc);
  out.append(reinterpret_cast<const char*>(payload.data()), payload.size());
}

Result<std::unique_ptr<FrameReader>> FrameReader::Open(const std::string& path, const Magic& magic,
                                                       size_t buffer_size, uint64_t start) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    Error e = ErrnoError("open", path, err);
    if (err == ENOENT) e.code = ErrorCode::kNotFound;
    return tl::unexpected(e);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return tl::unexpected(ErrnoError("stat", path, err));
  }
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < start) {
    ::close(fd);
    return tl::unexpected(Error{ErrorCode::kIntegrity,
                                fmt::format("{} shrank to {} bytes, below the {} bytes already "
                                            "read: an append-only ledger file was truncated",
                                            path, file_size, start)});
  }
  ::posix_fadvise(fd, static_cast<off_t>(start), 0, POSIX_FADV_SEQUENTIAL);
  std::unique_ptr<FrameReader> reader(
      new FrameReader(path, fd, magic, file_size, std::max<size_t>(buffer_size, 4096)));
  reader->buf_offset_ = reader->read_offset_ = start;
  if (start > 0 && ::lseek(fd, static_cast<off_t>(start), SEEK_SET) < 0) {
    return tl::unexpected(ErrnoError("seek", path, errno));
  }
  return reader;
}

FrameReader::FrameReader(std::string path, int fd, const Magic& magic, uint64_t file_size,
                         size_t buffer_size)
    : path_(std::move(path)), fd_(fd), magic_(magic), file_size_(file_size), buf_(buffer_size) {}

FrameReader::~FrameReader() { ::close(fd_); }

Result<bool> FrameReader::Ensure(size_t n) {
  if (end_ - begin_ >= n) return true;
  // Slide the unconsumed bytes to the front, grow for an oversized frame, then fill.
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    buf_offset_ += begin_;
    begin_ = 0;
  }
  if (buf_.size() < n) buf_.resize(n);
  while (end_ < n && read_offset_ < file_size_) {
    size_t want = std::min<uint64_t>(buf_.size() - end_, file_size_ - read_offset_);
    ssize_t got = ::read(fd_, buf_.data() + end_, want);
    if (got < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(ErrnoError("read", path_, errno));
    }
    if (got == 0) break;  // the file shrank under us: treat as its end
    end_ += static_cast<size_t>(got);
    read_offset_ += static_cast<uint64_t>(got);
  }
  return end_ >= n;
}

Result<bool> FrameReader::ValidFrameAt(uint64_t offset) {
  if (offset + kFrameHeaderSize > file_size_) return false;
  uint8_t header[kFrameHeaderSize];
  if (::pread(fd_, header, sizeof header, static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(sizeof header)) {
    return tl::unexpected(ErrnoError("read", path_, errno));
  }
  if (!std::equal(magic_.begin(), magic_.end(), header)) return false;
  const uint32_t len = GetU32(header + 4);
  if (len > kMaxFramePayload || offset + kFrameHeaderSize + len > file_size_) return false;
  std::vector<uint8_t> payload(len);
  if (len > 0 && ::pread(fd_, payload.data(), len, static_cast<off_t>(offset + kFrameHeaderSize)) !=
                     static_cast<ssize_t>(len)) {
    return tl::unexpected(ErrnoError("read", path_, errno));
  }
  return Crc32c(Crc32c(0, std::span<const uint8_t>(header + 4, 4)), payload) == GetU32(header + 8);
}

Result<bool> FrameReader::ValidFrameAfter(uint64_t offset) {
  // Only runs once, at the first damaged frame: scan the rest of the file for a frame magic and
  // check every candidate.
  constexpr size_t kChunk = 1 << 20;
  std::vector<uint8_t> chunk(kChunk + magic_.size());
  uint64_t pos = offset + 1;
  while (pos + kFrameHeaderSize <= file_size_) {
    size_t want = std::min<uint64_t>(chunk.size(), file_size_ - pos);
    ssize_t got = ::pread(fd_, chunk.data(), want, static_cast<off_t>(pos));
    if (got <= 0) return tl::unexpected(ErrnoError("read", path_, got < 0 ? errno : EIO));
    auto first = chunk.begin();
    auto last = chunk.begin() + got;
    for (auto it = first;; ++it) {
      it = std::search(it, last, magic_.begin(), magic_.end());
      if (it == last) break;
      VIGIE_ASSIGN_OR_RETURN(bool valid, ValidFrameAt(pos + (it - first)));
      if (valid) return true;
    }
    if (static_cast<size_t>(got) < chunk.size()) break;
    pos += kChunk;  // overlap by magic_.size() so a magic split across chunks is still found
  }
  return false;
}

Result<Frame> FrameReader::Next() {
  Frame f;
  f.offset = buf_offset_ + begin_;
  if (f.offset >= file_size_) {
    f.kind = Frame::Kind::kEnd;
    return f;
  }
  f.kind = Frame::Kind::kDamaged;
  VIGIE_ASSIGN_OR_RETURN(bool have_header, Ensure(kFrameHeaderSize));
  const uint8_t* h = buf_.data() + begin_;
  uint32_t len = 0;
  if (!have_header) {
    f.problem = fmt::format("incomplete frame header ({} of {} bytes)", file_size_ - f.offset,
                            kFrameHeaderSize);
  } else if (!std::equal(magic_.begin(), magic_.end(), h)) {
    f.problem = "bad frame marker (expected \"" +
                std::string(reinterpret_cast<const char*>(magic_.data()), magic_.size()) + "\")";
  } else if ((len = GetU32(h + 4)) > kMaxFramePayload) {
    f.problem = fmt::format("frame length {} exceeds the {} byte limit", len, kMaxFramePayload);
  } else if (f.offset + kFrameHeaderSize + len > file_size_) {
    f.problem = fmt::format("incomplete frame: {} payload bytes announced, {} present", len,
                            file_size_ - f.offset - kFrameHeaderSize);
  } else {
    VIGIE_ASSIGN_OR_RETURN(bool have_all, Ensure(kFrameHeaderSize + len));
    if (!have_all) {
      f.problem = "file shrank while being read";
    } else {
      h = buf_.data() + begin_;
      std::span<const uint8_t> payload(h + kFrameHeaderSize, len);
      if (Crc32c(Crc32c(0, std::span<const uint8_t>(h + 4, 4)), payload) != GetU32(h + 8)) {
        f.checksum_only = true;
        f.problem = "frame checksum does not match its bytes";
      } else {
        f.kind = Frame::Kind::kRecord;
        f.size = kFrameHeaderSize + len;
        f.payload = payload;
        begin_ += f.size;
        return f;
      }
    }
  }
  VIGIE_ASSIGN_OR_RETURN(bool valid_after, ValidFrameAfter(f.offset));
  f.at_tail = !valid_after;
  return f;
}

}  // namespace vigie::ledger::internal
