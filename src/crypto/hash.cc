#include "crypto/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdlib>

namespace vigie::crypto {

namespace {
// The EVP calls below fail only on allocation failure or a broken OpenSSL install; a digest
// that silently came out wrong would be worse than stopping, so abort (CHECK semantics).
void CheckOk(int rc) {
  if (rc != 1) std::abort();
}

// OpenSSL 3 resolves the legacy EVP_sha256() and the one-shot HMAC() to a provider
// implementation on every call (a fetch: method-store lookup under a read lock, name
// comparisons, reference counting). The algorithms are fetched once per process instead and
// the contexts are kept per thread.
//
// The fetched EVP_MD and EVP_MAC are deliberately never freed: they live as long as the process
// (function-local statics: thread-safe initialisation), so a thread_local context destroyed
// late (a thread exiting during exit()) still refers to a live algorithm. They hold no secret.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    if (m == nullptr) std::abort();
    return m;
  }();
  return md;
}

EVP_MAC* HmacMac() {
  static EVP_MAC* const mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) std::abort();
    return m;
  }();
  return mac;
}

// One digest context per thread for the one-shot Sha256 (re-initialised per call; it holds no
// secret: SHA-256 of public or secret data leaves only the chaining state of the last message,
// which EVP_DigestInit_ex2 resets on the next call).
struct ThreadDigest {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ThreadDigest() {
    if (ctx == nullptr) std::abort();
  }
  ~ThreadDigest() { EVP_MD_CTX_free(ctx); }
};

// One HMAC-SHA-256 context per thread, its digest parameter set once; each call re-initialises
// it with the call's key (EVP_MAC_init with a key and NULL params is a documented restart:
// params are optional and the key replaces the previous one).
// SECURITY: after every MAC the context is re-keyed with the empty key, so no key (nor the
// key-equivalent inner/outer pad states) outlives the call in OpenSSL's ordinary heap; the
// provider wipes the previous key copy on re-key (OPENSSL_secure_clear_free), and
// EVP_MAC_CTX_free wipes at thread exit.
struct ThreadMac {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(HmacMac());
  ThreadMac() {
    if (ctx == nullptr) std::abort();
    char digest_name[] = "SHA2-256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end()};
    CheckOk(EVP_MAC_CTX_set_params(ctx, params));
  }
  ~ThreadMac() { EVP_MAC_CTX_free(ctx); }
};

const uint8_t kEmpty = 0;  // a valid address for empty inputs
}  // namespace

Sha256Digest Sha256(std::span<const uint8_t> data) {
  thread_local ThreadDigest t;
  CheckOk(EVP_DigestInit_ex2(t.ctx, Sha256Md(), nullptr));
  if (!data.empty()) CheckOk(EVP_DigestUpdate(t.ctx, data.data(), data.size()));
  Sha256Digest out{};
  unsigned int len = 0;
  CheckOk(EVP_DigestFinal_ex(t.ctx, out.data(), &len));
  if (len != out.size()) std::abort();
  return out;
}

struct Sha256Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  Impl() : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr) std::abort();
    CheckOk(EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr));
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
  CheckOk(EVP_DigestInit_ex2(impl_->ctx, Sha256Md(), nullptr));
  return out;
}

Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  thread_local ThreadMac t;
  CheckOk(EVP_MAC_init(t.ctx, key.empty() ? &kEmpty : key.data(), key.size(), nullptr));
  if (!data.empty()) CheckOk(EVP_MAC_update(t.ctx, data.data(), data.size()));
  Sha256Digest out{};
  size_t len = 0;
  CheckOk(EVP_MAC_final(t.ctx, out.data(), &len, out.size()));
  if (len != out.size()) std::abort();
  CheckOk(EVP_MAC_init(t.ctx, &kEmpty, 0, nullptr));  // SECURITY: drop the key (see ThreadMac)
  return out;
}

Sha256Digest HmacSha256(const SecretBytes& key, std::span<const uint8_t> data) {
  return HmacSha256(key.span(), data);
}

}  // namespace vigie::crypto
