#include "crypto/sign.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/encoding.h"

namespace vigie::crypto {

namespace {

// DER of SubjectPublicKeyInfo { AlgorithmIdentifier { id-Ed25519 }, BIT STRING (33 bytes) }
// up to the key itself (RFC 8410 §4): SEQUENCE(42) SEQUENCE(5) OID(3) 2b6570 BITSTRING(33) 00.
constexpr uint8_t kSpkiPrefix[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                   0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr std::string_view kPemBegin = "-----BEGIN PUBLIC KEY-----";
constexpr std::string_view kPemEnd = "-----END PUBLIC KEY-----";

void EnsureSodium() {
  if (sodium_init() < 0) std::abort();
}

}  // namespace

SigningKey::SigningKey(SecretBytes secret_key, const Ed25519PublicKey& public_key)
    : secret_key_(std::move(secret_key)), public_key_(public_key) {}

SigningKey SigningKey::Generate(Random& random) {
  SecretBytes seed = random.SecretOfSize(kEd25519SeedSize);
  return std::move(*FromSeed(seed));  // The size is right by construction.
}

Result<SigningKey> SigningKey::FromSeed(const SecretBytes& seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return MakeError(ErrorCode::kInvalidArgument, "Ed25519 seed must be " +
                                                      std::to_string(crypto_sign_SEEDBYTES) +
                                                      " bytes, got " + std::to_string(seed.size()));
  }
  EnsureSodium();
  SecretBytes sk(crypto_sign_SECRETKEYBYTES);
  Ed25519PublicKey pk{};
  if (crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data()) != 0) std::abort();
  return SigningKey(std::move(sk), pk);
}

SecretBytes SigningKey::Seed() const {
  return SecretBytes::CopyFrom(secret_key_.span().first(crypto_sign_SEEDBYTES));
}

Ed25519Signature SigningKey::Sign(std::span<const uint8_t> message) const {
  Ed25519Signature sig{};
  static const uint8_t kEmpty = 0;
  const uint8_t* m = message.empty() ? &kEmpty : message.data();
  if (crypto_sign_detached(sig.data(), nullptr, m, message.size(), secret_key_.data()) != 0) {
    std::abort();
  }
  return sig;
}

Status VerifyEd25519(std::span<const uint8_t> public_key, std::span<const uint8_t> message,
                     std::span<const uint8_t> signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES) {
    return MakeError(ErrorCode::kInvalidArgument, "Ed25519 public key must be 32 bytes, got " +
                                                      std::to_string(public_key.size()));
  }
  if (signature.size() != crypto_sign_BYTES) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "Ed25519 signature must be 64 bytes, got " + std::to_string(signature.size()));
  }
  EnsureSodium();
  static const uint8_t kEmpty = 0;
  const uint8_t* m = message.empty() ? &kEmpty : message.data();
  if (crypto_sign_verify_detached(signature.data(), m, message.size(), public_key.data()) != 0) {
    return MakeError(ErrorCode::kIntegrity, "signature does not verify");
  }
  return OkStatus();
}

std::string Ed25519PublicKeyToPem(const Ed25519PublicKey& public_key) {
  Bytes der(std::begin(kSpkiPrefix), std::end(kSpkiPrefix));
  der.insert(der.end(), public_key.begin(), public_key.end());
  // 44 bytes of DER encode to 60 base64 characters: one line, below PEM's 64-column limit.
  return std::string(kPemBegin) + "\n" + Base64Encode(der) + "\n" + std::string(kPemEnd) + "\n";
}

Result<Ed25519PublicKey> Ed25519PublicKeyFromPem(std::string_view pem) {
  auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!pem.empty() && is_space(pem.front())) pem.remove_prefix(1);
  while (!pem.empty() && is_space(pem.back())) pem.remove_suffix(1);
  if (!pem.starts_with(kPemBegin) || !pem.ends_with(kPemEnd)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "Ed25519 public key PEM must start with '-----BEGIN PUBLIC KEY-----' and end "
                     "with '-----END PUBLIC KEY-----'");
  }
  std::string_view body =
      pem.substr(kPemBegin.size(), pem.size() - kPemBegin.size() - kPemEnd.size());
  std::string b64;
  for (char c : body) {
    if (!is_space(c)) b64.push_back(c);
  }
  auto der = Base64Decode(b64);
  if (!der) return tl::unexpected(der.error().Wrap("Ed25519 public key PEM body"));
  if (der->size() != sizeof(kSpkiPrefix) + kEd25519PublicKeySize ||
      !std::equal(std::begin(kSpkiPrefix), std::end(kSpkiPrefix), der->begin())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "PEM public key is not an Ed25519 SubjectPublicKeyInfo (expected OID "
                     "1.3.101.112 and a 32-byte key)");
  }
  Ed25519PublicKey pk{};
  std::copy(der->begin() + sizeof(kSpkiPrefix), der->end(), pk.begin());
  return pk;
}

}  // namespace vigie::crypto
