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
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace vigie {

class SecretSlab;

class SecretBytes {
 public:
  SecretBytes() = default;
  // Allocates `size` zeroed bytes.
  explicit SecretBytes(size_t size);
  // Copies `data` in. The caller remains responsible for wiping its own copy.
  static SecretBytes CopyFrom(std::span<const uint8_t> data);
  static SecretBytes CopyFrom(std::string_view data);
  // Copies `data` into a slot of `slab` when it fits (at most slab.slot_size() bytes), else as
  // CopyFrom. For processes that hold many secrets at once (one per site): see SecretSlab.
  // REQUIRES: the slab outlives the returned object and its moved-to successors.
  static SecretBytes CopyInto(SecretSlab& slab, std::span<const uint8_t> data);

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
  void Release();  // wipes and frees data_ (back to its slab, if any)

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  SecretSlab* slab_ = nullptr;  // the slab whose slot holds data_, else sodium_malloc'd
};

// Many small secrets in few protected regions. sodium_malloc gives every allocation guard pages
// of its own, four memory mappings, so a process holding one SecretBytes per site runs out of
// mappings (vm.max_map_count, 65530 by default) near 16,000 of them, and then aborts. A slab
// carves fixed-size slots out of sodium_malloc'd chunks (each locked, guarded and excluded from
// core dumps as a whole, like any SecretBytes); a freed slot is wiped, then reused. The guard
// pages are around a chunk, not between its slots.
// Thread-safe. Must outlive every SecretBytes placed in it (the destructor aborts otherwise: a
// slot still in use would point into freed memory).
class SecretSlab {
 public:
  // slot_size: bytes per secret (>= 1); slots_per_chunk: secrets per protected region (>= 1).
  explicit SecretSlab(size_t slot_size = 64, size_t slots_per_chunk = 1024);
  ~SecretSlab();
  SecretSlab(const SecretSlab&) = delete;
  SecretSlab& operator=(const SecretSlab&) = delete;

  size_t slot_size() const { return slot_size_; }
  size_t chunks() const;  // protected regions allocated so far
  size_t in_use() const;  // slots holding a secret

 private:
  friend class SecretBytes;
  struct State;              // secret.cc
  uint8_t* Take();           // a zeroed slot
  void Give(uint8_t* slot);  // wipes it and makes it free again

  size_t slot_size_;
  size_t slots_per_chunk_;
  std::unique_ptr<State> state_;
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
