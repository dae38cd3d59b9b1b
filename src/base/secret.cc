#include "base/secret.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <ostream>

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

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) sodium_free(data_);  // sodium_free wipes before freeing.
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

SecretBytes::~SecretBytes() {
  if (data_ != nullptr) sodium_free(data_);
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
