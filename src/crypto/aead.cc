#include "crypto/aead.h"

#include <sodium.h>

#include <cstdlib>
#include <string>

namespace vigie::crypto {

namespace {

static_assert(kAeadKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kAeadOverhead == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                   crypto_aead_xchacha20poly1305_ietf_ABYTES);

Status CheckKey(const SecretBytes& key) {
  if (key.size() != kAeadKeySize) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "AEAD key must be 32 bytes (XChaCha20-Poly1305), got " + std::to_string(key.size()));
  }
  if (sodium_init() < 0) std::abort();
  return OkStatus();
}

// libsodium accepts a null pointer only together with a zero length; keep every pointer valid.
const uint8_t* Ptr(std::span<const uint8_t> s) {
  static const uint8_t kEmpty = 0;
  return s.empty() ? &kEmpty : s.data();
}

}  // namespace

Result<Bytes> AeadSeal(const SecretBytes& key, std::span<const uint8_t> plaintext,
                       std::span<const uint8_t> associated_data, Random& random) {
  VIGIE_RETURN_IF_ERROR(CheckKey(key));
  Bytes out(kAeadOverhead + plaintext.size());
  random.Fill(std::span<uint8_t>(out).first(kAeadNonceSize));
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data() + kAeadNonceSize, &written, Ptr(plaintext), plaintext.size(), Ptr(associated_data),
      associated_data.size(), nullptr, out.data(), key.data());
  out.resize(kAeadNonceSize + written);
  return out;
}

Result<SecretBytes> AeadOpen(const SecretBytes& key, std::span<const uint8_t> ciphertext,
                             std::span<const uint8_t> associated_data) {
  VIGIE_RETURN_IF_ERROR(CheckKey(key));
  if (ciphertext.size() < kAeadOverhead) {
    return MakeError(ErrorCode::kIntegrity,
                     "AEAD ciphertext is " + std::to_string(ciphertext.size()) +
                         " bytes, shorter than the 40-byte nonce and tag: it was truncated");
  }
  SecretBytes plain(ciphertext.size() - kAeadOverhead);
  uint8_t scratch = 0;
  uint8_t* m = plain.empty() ? &scratch : plain.data();
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          m, &written, nullptr, ciphertext.data() + kAeadNonceSize,
          ciphertext.size() - kAeadNonceSize, Ptr(associated_data), associated_data.size(),
          ciphertext.data(), key.data()) != 0) {
    return MakeError(ErrorCode::kIntegrity,
                     "AEAD ciphertext does not decrypt: wrong key or associated data, or the "
                     "ciphertext was altered");
  }
  return plain;
}

}  // namespace vigie::crypto
