#pragma once
// SecretBytes: the only type that holds secret material (keys, passwords, tokens, shares).
//
// SECURITY: the bytes live in sodium_malloc'd memory (guard pages, mlock'd, excluded from core
// dumps with MADV_DONTDUMP) and are wiped on destruction. The type is move-only; a copy must be
// asked for with Clone(). Streaming or fmt-formatting it prints "[redacted]", so a secret cannot
// reach a log or stdout by accident. Equality is constant-time.
//
// Thread-safety: like a std::string; distinct objects may be used from distinct threads.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace vigie {

class SecretBytes {
 public:
  SecretBytes() = default;
  // Allocates `size` zeroed bytes.
  explicit SecretBytes(size_t size);
  // Copies `data` in. The caller remains responsible for wiping its own copy.
  static SecretBytes CopyFrom(std::span<const uint8_t> data);
  static SecretBytes CopyFrom(std::string_view data);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // An explicit copy into fresh protected memory.
  SecretBytes Clone() const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  std::span<uint8_t> mutable_span() { return {data_, size_}; }
  // SECURITY: a view of the secret as text, for handing to an API that needs it. Never log it.
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

  // Constant-time comparison (sodium_memcmp); false when sizes differ.
  bool Equals(const SecretBytes& other) const;
  bool operator==(const SecretBytes& other) const { return Equals(other); }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Prints "[redacted]".
std::ostream& operator<<(std::ostream& os, const SecretBytes& secret);

// Wipes a non-secret buffer that briefly held secret bytes (sodium_memzero).
void WipeBytes(void* data, size_t size);
void WipeString(std::string& s);

// Disables core dumps for this process (RLIMIT_CORE = 0, PR_SET_DUMPABLE = 0). Called once by
// main() before any secret is created.
void DisableCoreDumps();

}  // namespace vigie

template <>
struct fmt::formatter<vigie::SecretBytes> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const vigie::SecretBytes&, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format("[redacted]", ctx);
  }
};
