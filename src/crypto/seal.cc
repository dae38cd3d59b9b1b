#include "crypto/seal.h"

#include <sodium.h>

#include <cstdlib>
#include <string>

namespace vigie::crypto {

namespace {
void EnsureSodium() {
  if (sodium_init() < 0) std::abort();
}
}  // namespace

BoxKeyPair GenerateBoxKeyPair(Random& random) {
  EnsureSodium();
  SecretBytes seed = random.SecretOfSize(crypto_box_SEEDBYTES);
  BoxKeyPair kp;
  kp.secret_key = SecretBytes(crypto_box_SECRETKEYBYTES);
  if (crypto_box_seed_keypair(kp.public_key.data(), kp.secret_key.data(), seed.data()) != 0) {
    std::abort();
  }
  return kp;
}

Result<BoxKeyPair> BoxKeyPairFromSecretKey(const SecretBytes& secret_key) {
  if (secret_key.size() != crypto_box_SECRETKEYBYTES) {
    return MakeError(ErrorCode::kInvalidArgument, "X25519 secret key must be 32 bytes, got " +
                                                      std::to_string(secret_key.size()));
  }
  EnsureSodium();
  BoxKeyPair kp;
  kp.secret_key = secret_key.Clone();
  if (crypto_scalarmult_base(kp.public_key.data(), kp.secret_key.data()) != 0) std::abort();
  return kp;
}

Bytes Seal(const BoxPublicKey& recipient, std::span<const uint8_t> plaintext) {
  EnsureSodium();
  Bytes out(plaintext.size() + crypto_box_SEALBYTES);
  static const uint8_t kEmpty = 0;
  const uint8_t* m = plaintext.empty() ? &kEmpty : plaintext.data();
  // Fails only if the recipient key is a low-order point; sealing to such a key would be
  // readable by anyone, so refusing loudly is the safe outcome.
  if (crypto_box_seal(out.data(), m, plaintext.size(), recipient.data()) != 0) std::abort();
  return out;
}

Result<SecretBytes> Open(const BoxKeyPair& key_pair, std::span<const uint8_t> ciphertext) {
  if (ciphertext.size() < crypto_box_SEALBYTES) {
    return MakeError(ErrorCode::kIntegrity,
                     "sealed box is " + std::to_string(ciphertext.size()) +
                         " bytes, shorter than the 48-byte overhead: it was truncated or is not "
                         "a sealed box");
  }
  if (key_pair.secret_key.size() != crypto_box_SECRETKEYBYTES) {
    return MakeError(ErrorCode::kInvalidArgument, "box key pair has no 32-byte secret key");
  }
  EnsureSodium();
  SecretBytes plain(ciphertext.size() - crypto_box_SEALBYTES);
  // SecretBytes(0) has a null buffer; libsodium writes nothing then, but wants a valid pointer.
  uint8_t scratch = 0;
  uint8_t* m = plain.empty() ? &scratch : plain.data();
  if (crypto_box_seal_open(m, ciphertext.data(), ciphertext.size(), key_pair.public_key.data(),
                           key_pair.secret_key.data()) != 0) {
    return MakeError(ErrorCode::kIntegrity,
                     "sealed box does not open: the ciphertext was not sealed to this key or was "
                     "altered");
  }
  return plain;
}

}  // namespace vigie::crypto
