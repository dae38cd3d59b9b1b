#include "package/enrollment_key.h"

#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "base/encoding.h"
#include "crypto/hash.h"

namespace vigie::package {

namespace {

// RFC 8410 DER prefixes for id-X25519 (1.3.101.110); the 32 key bytes follow each.
constexpr std::array<uint8_t, 12> kSpkiPrefix = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00};
constexpr std::array<uint8_t, 16> kPkcs8Prefix = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                                  0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20};
constexpr std::string_view kPublicBegin = "-----BEGIN PUBLIC KEY-----";
constexpr std::string_view kPublicEnd = "-----END PUBLIC KEY-----";
constexpr std::string_view kPrivateBegin = "-----BEGIN PRIVATE KEY-----";
constexpr std::string_view kPrivateEnd = "-----END PRIVATE KEY-----";

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// The base64 body between `begin` and `end` markers, or nullopt.
std::optional<std::string_view> PemBody(std::string_view pem, std::string_view begin,
                                        std::string_view end) {
  pem = Trim(pem);
  if (!pem.starts_with(begin) || !pem.ends_with(end) || pem.size() < begin.size() + end.size()) {
    return std::nullopt;
  }
  return pem.substr(begin.size(), pem.size() - begin.size() - end.size());
}

std::string JoinPath(const std::string& dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  return dir.back() == '/' ? dir + std::string(name) : dir + "/" + std::string(name);
}

}  // namespace

std::string EnrollmentPublicKeyToPem(const crypto::BoxPublicKey& public_key) {
  Bytes der(kSpkiPrefix.begin(), kSpkiPrefix.end());
  der.insert(der.end(), public_key.begin(), public_key.end());
  return std::string(kPublicBegin) + "\n" + Base64Encode(der) + "\n" + std::string(kPublicEnd) +
         "\n";
}

Result<crypto::BoxPublicKey> EnrollmentPublicKeyFromPem(std::string_view pem) {
  auto body = PemBody(pem, kPublicBegin, kPublicEnd);
  if (!body) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "not a PEM public key (expected \"-----BEGIN PUBLIC KEY-----\" ... "
                     "\"-----END PUBLIC KEY-----\")");
  }
  std::string b64;
  for (char c : *body) {
    if (!IsSpace(c)) b64.push_back(c);
  }
  auto der = Base64Decode(b64);
  if (!der) return MakeError(ErrorCode::kInvalidArgument, "PEM public key: malformed base64");
  if (der->size() != kSpkiPrefix.size() + crypto::kBoxPublicKeySize ||
      !std::equal(kSpkiPrefix.begin(), kSpkiPrefix.end(), der->begin())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "PEM public key is not an X25519 key (an enrollment key comes from `vigie "
                     "agent keygen` or `openssl genpkey -algorithm x25519`)");
  }
  crypto::BoxPublicKey key{};
  std::copy(der->begin() + kSpkiPrefix.size(), der->end(), key.begin());
  return key;
}

SecretBytes EnrollmentPrivateKeyToPem(const SecretBytes& secret_key) {
  SecretBytes der(kPkcs8Prefix.size() + secret_key.size());
  std::memcpy(der.data(), kPkcs8Prefix.data(), kPkcs8Prefix.size());
  std::memcpy(der.data() + kPkcs8Prefix.size(), secret_key.data(), secret_key.size());
  const size_t b64_len =
      sodium_base64_ENCODED_LEN(der.size(), sodium_base64_VARIANT_ORIGINAL);  // with NUL
  SecretBytes b64(b64_len);
  sodium_bin2base64(reinterpret_cast<char*>(b64.data()), b64_len, der.data(), der.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  const size_t total = kPrivateBegin.size() + 1 + (b64_len - 1) + 1 + kPrivateEnd.size() + 1;
  SecretBytes pem(total);
  size_t n = 0;
  auto put = [&](const void* p, size_t len) {
    std::memcpy(pem.data() + n, p, len);
    n += len;
  };
  put(kPrivateBegin.data(), kPrivateBegin.size());
  put("\n", 1);
  put(b64.data(), b64_len - 1);
  put("\n", 1);
  put(kPrivateEnd.data(), kPrivateEnd.size());
  put("\n", 1);
  return pem;
}

Result<crypto::BoxKeyPair> EnrollmentKeyPairFromPem(std::string_view pem) {
  auto body = PemBody(pem, kPrivateBegin, kPrivateEnd);
  if (!body) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "not a PEM private key (expected \"-----BEGIN PRIVATE KEY-----\" ... "
                     "\"-----END PRIVATE KEY-----\")");
  }
  SecretBytes der(body->size() / 4 * 3 + 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(der.data(), der.size(), body->data(), body->size(), " \t\r\n", &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != body->data() + body->size()) {
    return MakeError(ErrorCode::kInvalidArgument, "PEM private key: malformed base64");
  }
  if (len != kPkcs8Prefix.size() + crypto::kBoxSecretKeySize ||
      std::memcmp(der.data(), kPkcs8Prefix.data(), kPkcs8Prefix.size()) != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "PEM private key is not an X25519 key in PKCS#8 form (an enrollment key "
                     "comes from `vigie agent keygen` or `openssl genpkey -algorithm x25519`)");
  }
  return crypto::BoxKeyPairFromSecretKey(SecretBytes::CopyFrom(
      std::span<const uint8_t>(der.data() + kPkcs8Prefix.size(), crypto::kBoxSecretKeySize)));
}

Result<EnrollmentKeyFiles> WriteEnrollmentKeyPair(const std::string& dir, Env& env) {
  EnrollmentKeyFiles files;
  files.private_key_path = JoinPath(dir, kEnrollmentPrivateKeyFile);
  files.public_key_path = JoinPath(dir, kEnrollmentPublicKeyFile);
  if (!dir.empty()) VIGIE_RETURN_IF_ERROR(env.fs->CreateDirs(dir, 0700));
  for (const std::string& path : {files.private_key_path, files.public_key_path}) {
    if (env.fs->Exists(path)) {
      return MakeError(ErrorCode::kAlreadyExists,
                       path +
                           " already exists; an enrollment key is never overwritten (a "
                           "package may already be sealed to it). Use it, or move it away "
                           "first if you really mean to start over");
    }
  }
  crypto::BoxKeyPair pair = crypto::GenerateBoxKeyPair(*env.random);
  files.public_key = pair.public_key;
  {
    SecretBytes pem = EnrollmentPrivateKeyToPem(pair.secret_key);
    VIGIE_RETURN_IF_ERROR(env.fs->WriteFileAtomic(files.private_key_path, pem.view(), 0600));
  }
  auto st = env.fs->WriteFileAtomic(files.public_key_path,
                                    EnrollmentPublicKeyToPem(pair.public_key), 0644);
  if (!st) {
    // Nobody can have the public half yet: drop the private key so a retry starts clean.
    (void)env.fs->Remove(files.private_key_path);
    return tl::unexpected(st.error());
  }
  return files;
}

Result<crypto::BoxPublicKey> LoadEnrollmentPublicKey(const std::string& path, FileSystem& fs) {
  VIGIE_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path));
  auto key = EnrollmentPublicKeyFromPem(text);
  if (!key) return tl::unexpected(key.error().Wrap(path));
  return key;
}

Result<crypto::BoxKeyPair> LoadEnrollmentKeyPair(const std::string& path, FileSystem& fs) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                     fmt::format("enrollment private key {}: {}", path, std::strerror(err)));
  }
  if ((st.st_mode & 077) != 0) {
    return MakeError(ErrorCode::kPermissionDenied,
                     fmt::format("enrollment private key {} is accessible by group or others "
                                 "(mode {:04o}); it must be private to its owner: run `chmod 600 "
                                 "{}` and retry",
                                 path, st.st_mode & 07777, path));
  }
  VIGIE_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(path));
  auto pair = EnrollmentKeyPairFromPem(text);
  WipeString(text);
  if (!pair) return tl::unexpected(pair.error().Wrap(path));
  return pair;
}

std::string EnrollmentKeyFingerprint(const crypto::BoxPublicKey& public_key) {
  return HexEncode(crypto::Sha256(public_key));
}

}  // namespace vigie::package
