#include "base/secret.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <ostream>
#include <vector>

#include <sodium.h>

namespace vigie {

namespace {
uint8_t* Allocate(size_t size) {
  // sodium_init is idempotent and thread-safe; calling it here keeps SecretBytes usable from
  // static contexts and tests without a separate init step.
  if (sodium_init() < 0) std::abort();
  // sodium_malloc(0) is valid but returns a guard-protected pointer; keep empty secrets null.
  if (size == 0) return nullptr;
  void* p = sodium_malloc(size);
  if (p == nullptr) std::abort();  // Out of locked memory: continuing would leak secrets.
  std::memset(p, 0, size);
  return static_cast<uint8_t*>(p);
}
}  // namespace

SecretBytes::SecretBytes(size_t size) : data_(Allocate(size)), size_(size) {}

SecretBytes SecretBytes::CopyFrom(std::span<const uint8_t> data) {
  SecretBytes s(data.size());
  if (!data.empty()) std::memcpy(s.data_, data.data(), data.size());
  return s;
}

SecretBytes SecretBytes::CopyFrom(std::string_view data) {
  return CopyFrom(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()),
                                           data.size()));
}

SecretBytes SecretBytes::CopyInto(SecretSlab& slab, std::span<const uint8_t> data) {
  if (data.empty() || data.size() > slab.slot_size()) return CopyFrom(data);
  SecretBytes s;
  s.data_ = slab.Take();
  s.size_ = data.size();
  s.slab_ = &slab;
  std::memcpy(s.data_, data.data(), data.size());
  return s;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), slab_(other.slab_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.slab_ = nullptr;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = other.data_;
    size_ = other.size_;
    slab_ = other.slab_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.slab_ = nullptr;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Release(); }

void SecretBytes::Release() {
  if (data_ == nullptr) return;
  if (slab_ != nullptr) {
    slab_->Give(data_);  // wipes the slot
  } else {
    sodium_free(data_);  // sodium_free wipes before freeing.
  }
}

// ---- SecretSlab ----------------------------------------------------------------------------

struct SecretSlab::State {
  mutable std::mutex mu;
  std::vector<uint8_t*> chunks;  // sodium_malloc'd, slots_per_chunk x slot_size each
  std::vector<uint8_t*> free;    // wiped slots
  size_t in_use = 0;
};

SecretSlab::SecretSlab(size_t slot_size, size_t slots_per_chunk)
    : slot_size_(slot_size == 0 ? 1 : slot_size),
      slots_per_chunk_(slots_per_chunk == 0 ? 1 : slots_per_chunk),
      state_(std::make_unique<State>()) {}

SecretSlab::~SecretSlab() {
  {
    std::lock_guard lock(state_->mu);
    // A secret still placed here would be left pointing into freed memory.
    if (state_->in_use != 0) std::abort();
    for (uint8_t* chunk : state_->chunks) sodium_free(chunk);  // wipes
  }
}

size_t SecretSlab::chunks() const {
  std::lock_guard lock(state_->mu);
  return state_->chunks.size();
}

size_t SecretSlab::in_use() const {
  std::lock_guard lock(state_->mu);
  return state_->in_use;
}

uint8_t* SecretSlab::Take() {
  std::lock_guard lock(state_->mu);
  if (state_->free.empty()) {
    uint8_t* chunk = Allocate(slot_size_ * slots_per_chunk_);  // zeroed; aborts if out of memory
    state_->chunks.push_back(chunk);
    state_->free.reserve(state_->free.size() + slots_per_chunk_);
    for (size_t i = slots_per_chunk_; i-- > 0;) state_->free.push_back(chunk + i * slot_size_);
  }
  uint8_t* slot = state_->free.back();
  state_->free.pop_back();
  ++state_->in_use;
  return slot;
}

void SecretSlab::Give(uint8_t* slot) {
  sodium_memzero(slot, slot_size_);
  std::lock_guard lock(state_->mu);
  state_->free.push_back(slot);
  --state_->in_use;
}

SecretBytes SecretBytes::Clone() const { return CopyFrom(span()); }

bool SecretBytes::Equals(const SecretBytes& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_, other.data_, size_) == 0;
}

std::ostream& operator<<(std::ostream& os, const SecretBytes&) { return os << "[redacted]"; }

void WipeBytes(void* data, size_t size) {
  if (data != nullptr && size > 0) sodium_memzero(data, size);
}

void WipeString(std::string& s) {
  WipeBytes(s.data(), s.size());
  s.clear();
}

void DisableCoreDumps() {
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace vigie
