#include "crypto/hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>

namespace vigie::crypto {

namespace {
// The EVP calls below fail only on allocation failure or a broken OpenSSL install; a digest
// that silently came out wrong would be worse than stopping, so abort (CHECK semantics).
void CheckOk(int rc) {
  if (rc != 1) std::abort();
}
}  // namespace

Sha256Digest Sha256(std::span<const uint8_t> data) {
  Sha256Hasher h;
  h.Update(data);
  return h.Finish();
}

struct Sha256Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  Impl() : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr) std::abort();
    CheckOk(EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr));
  }
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {}
Sha256Hasher::~Sha256Hasher() = default;
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;

void Sha256Hasher::Update(std::span<const uint8_t> data) {
  if (data.empty()) return;
  CheckOk(EVP_DigestUpdate(impl_->ctx, data.data(), data.size()));
}

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest out{};
  unsigned int len = 0;
  CheckOk(EVP_DigestFinal_ex(impl_->ctx, out.data(), &len));
  if (len != out.size()) std::abort();
  // Re-arm so the hasher can be reused for the next message.
  CheckOk(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr));
  return out;
}

Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Sha256Digest out{};
  unsigned int len = 0;
  // HMAC() accepts a null key pointer only with length 0; give it a valid address regardless.
  static const uint8_t kEmpty = 0;
  const uint8_t* key_ptr = key.empty() ? &kEmpty : key.data();
  const uint8_t* data_ptr = data.empty() ? &kEmpty : data.data();
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), data_ptr, data.size(), out.data(),
           &len) == nullptr ||
      len != out.size()) {
    std::abort();
  }
  return out;
}

Sha256Digest HmacSha256(const SecretBytes& key, std::span<const uint8_t> data) {
  return HmacSha256(key.span(), data);
}

}  // namespace vigie::crypto
