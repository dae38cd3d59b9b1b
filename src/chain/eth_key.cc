#include "chain/eth_key.h"

#include <fmt/format.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "base/encoding.h"

namespace vigie::chain {
namespace {

// One context for the process. Randomising it once (blinding against side channels) is the only
// mutation; afterwards libsecp256k1 documents const use from several threads as safe.
const secp256k1_context* Context() {
  static const secp256k1_context* ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    // A failed randomisation only loses the blinding; signing stays correct.
    [[maybe_unused]] const int randomized = secp256k1_context_randomize(c, seed);
    sodium_memzero(seed, sizeof seed);
    return c;
  }();
  return ctx;
}

Address AddressOf(const std::array<uint8_t, 64>& public_key) {
  Hash256 h = Keccak256(public_key);
  Address a{};
  std::memcpy(a.data(), h.data() + h.size() - kAddressSize, kAddressSize);
  return a;
}

// EIP-55: a letter in the lowercase hex address is uppercased when the matching nibble of
// keccak256(lowercase hex) is >= 8.
std::string ChecksumHex(std::string_view lower_hex) {
  Hash256 h = Keccak256(AsBytes(lower_hex));
  std::string out(lower_hex);
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t nibble = (i % 2 == 0) ? (h[i / 2] >> 4) : (h[i / 2] & 0x0f);
    if (out[i] >= 'a' && out[i] <= 'f' && nibble >= 8) {
      out[i] = static_cast<char>(out[i] - 'a' + 'A');
    }
  }
  return out;
}

std::string_view StripHexPrefix(std::string_view s) {
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  return s;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string FormatAddress(const Address& address) { return "0x" + ChecksumHex(HexEncode(address)); }

Result<Address> ParseAddress(std::string_view text) {
  std::string_view hex = StripHexPrefix(text);
  if (hex.size() != 2 * kAddressSize) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("address '{}' must be 40 hex digits (optionally prefixed by 0x)", text));
  }
  Address a{};
  bool has_lower = false, has_upper = false;
  for (size_t i = 0; i < hex.size(); ++i) {
    const int n = HexNibble(hex[i]);
    if (n < 0) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("address '{}' has a non-hex character at position {}", text, i));
    }
    has_lower |= (hex[i] >= 'a' && hex[i] <= 'f');
    has_upper |= (hex[i] >= 'A' && hex[i] <= 'F');
    a[i / 2] = static_cast<uint8_t>((a[i / 2] << 4) | n);
  }
  if (has_lower && has_upper && ChecksumHex(HexEncode(a)) != hex) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("address '{}' fails its EIP-55 checksum (mistyped?); expected {}",
                                 text, FormatAddress(a)));
  }
  return a;
}

Result<Address> RecoverAddress(const Hash256& hash, const RecoverableSignature& signature) {
  if (signature.recovery_id > 3) {
    return MakeError(
        ErrorCode::kIntegrity,
        fmt::format("signature recovery id {} is out of range [0, 3]", signature.recovery_id));
  }
  uint8_t compact[64];
  std::memcpy(compact, signature.r.data(), 32);
  std::memcpy(compact + 32, signature.s.data(), 32);
  secp256k1_ecdsa_recoverable_signature sig;
  if (!secp256k1_ecdsa_recoverable_signature_parse_compact(Context(), &sig, compact,
                                                           signature.recovery_id)) {
    return MakeError(ErrorCode::kIntegrity, "signature r or s is not a valid secp256k1 scalar");
  }
  secp256k1_pubkey pubkey;
  if (!secp256k1_ecdsa_recover(Context(), &pubkey, &sig, hash.data())) {
    return MakeError(ErrorCode::kIntegrity, "signature recovers no public key for this hash");
  }
  uint8_t uncompressed[65];
  size_t len = sizeof uncompressed;
  secp256k1_ec_pubkey_serialize(Context(), uncompressed, &len, &pubkey, SECP256K1_EC_UNCOMPRESSED);
  std::array<uint8_t, 64> xy{};
  std::memcpy(xy.data(), uncompressed + 1, 64);
  return AddressOf(xy);
}

EthKey::EthKey(SecretBytes secret, const std::array<uint8_t, 64>& public_key)
    : secret_(std::move(secret)), public_key_(public_key), address_(AddressOf(public_key)) {}

EthKey EthKey::Generate(Random& random) {
  for (;;) {
    SecretBytes secret = random.SecretOfSize(32);
    // The chance of an invalid scalar is about 2^-128; loop rather than fail.
    if (auto key = FromSecret(std::move(secret))) return std::move(*key);
  }
}

Result<EthKey> EthKey::FromSecret(SecretBytes secret) {
  if (secret.size() != 32) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("an Ethereum private key is 32 bytes, got {}", secret.size()));
  }
  if (!secp256k1_ec_seckey_verify(Context(), secret.data())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "the private key is not a valid secp256k1 scalar (zero or >= group order)");
  }
  secp256k1_pubkey pubkey;
  if (!secp256k1_ec_pubkey_create(Context(), &pubkey, secret.data())) {
    return MakeError(ErrorCode::kInternal, "secp256k1_ec_pubkey_create failed on a valid key");
  }
  uint8_t uncompressed[65];
  size_t len = sizeof uncompressed;
  secp256k1_ec_pubkey_serialize(Context(), uncompressed, &len, &pubkey, SECP256K1_EC_UNCOMPRESSED);
  std::array<uint8_t, 64> xy{};
  std::memcpy(xy.data(), uncompressed + 1, 64);
  return EthKey(std::move(secret), xy);
}

Result<EthKey> EthKey::FromHex(std::string_view hex) {
  hex = StripHexPrefix(TrimSpace(hex));
  if (hex.size() != 64) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("an Ethereum private key is 64 hex digits (optionally prefixed by "
                                 "0x), got {} characters",
                                 hex.size()));
  }
  SecretBytes secret(32);
  for (size_t i = 0; i < 32; ++i) {
    const int hi = HexNibble(hex[2 * i]);
    const int lo = HexNibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      // The position, never the character: it is part of a secret.
      return MakeError(
          ErrorCode::kInvalidArgument,
          fmt::format("the private key has a non-hex character near position {}", 2 * i));
    }
    secret.data()[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return FromSecret(std::move(secret));
}

Result<RecoverableSignature> EthKey::Sign(const Hash256& hash) const {
  secp256k1_ecdsa_recoverable_signature sig;
  // nullptr nonce function = the default, RFC 6979 with HMAC-SHA256.
  if (!secp256k1_ecdsa_sign_recoverable(Context(), &sig, hash.data(), secret_.data(), nullptr,
                                        nullptr)) {
    return MakeError(ErrorCode::kInternal, "secp256k1_ecdsa_sign_recoverable failed");
  }
  uint8_t compact[64];
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(Context(), compact, &recid, &sig);
  RecoverableSignature out;
  std::memcpy(out.r.data(), compact, 32);
  std::memcpy(out.s.data(), compact + 32, 32);
  out.recovery_id = static_cast<uint8_t>(recid);
  return out;
}

Result<EthKey> LoadEthKeyFile(const std::string& path, FileSystem& fs) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                     fmt::format("cannot stat Ethereum key file {}: {}", path, std::strerror(err)));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return MakeError(ErrorCode::kPermissionDenied,
                     fmt::format("Ethereum key file {} has mode {:04o}: it must not be accessible "
                                 "to group or others; run chmod 600 {}",
                                 path, st.st_mode & 07777, path));
  }
  Result<std::string> content = fs.ReadFile(path);
  if (!content) return tl::unexpected(content.error().Wrap("reading Ethereum key file"));
  Result<EthKey> key = EthKey::FromHex(*content);
  WipeString(*content);
  if (!key) return tl::unexpected(key.error().Wrap(fmt::format("Ethereum key file {}", path)));
  return key;
}

}  // namespace vigie::chain
