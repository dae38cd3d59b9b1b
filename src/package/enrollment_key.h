#pragma once
// The site's X25519 enrollment key pair (PROV_003). The site generates it (`vigie agent keygen`)
// and hands over only the public key; the fleet manager seals the package's secret section to
// it, so the site's credentials are readable by that site alone.
//
// Files are the standard PEM encodings of RFC 8410, so OpenSSL reads them too
// (`openssl pkey -in enrollment.key -pubout` prints enrollment.pub):
//   enrollment.key  "PRIVATE KEY" (PKCS#8, id-X25519 1.3.101.110), mode 0600
//   enrollment.pub  "PUBLIC KEY"  (SubjectPublicKeyInfo, id-X25519), mode 0644
//
// Thread-safety: stateless functions, as thread-safe as the Env / FileSystem given.

#include <string>
#include <string_view>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"
#include "crypto/seal.h"

namespace vigie::package {

inline constexpr std::string_view kEnrollmentPrivateKeyFile = "enrollment.key";
inline constexpr std::string_view kEnrollmentPublicKeyFile = "enrollment.pub";

struct EnrollmentKeyFiles {
  std::string private_key_path;
  std::string public_key_path;
  crypto::BoxPublicKey public_key{};
};

// Generates a key pair from env.random and writes `dir`/enrollment.key (0600) and
// `dir`/enrollment.pub (0644), creating `dir` (0700) if needed.
// REQUIRES: env.fs and env.random are set.
// Errors: kAlreadyExists if either file exists (a key is never overwritten: the fleet may
// already have sealed a package to it); kIo from the filesystem.
// SECURITY: the private key is written from SecretBytes; it is never printed.
Result<EnrollmentKeyFiles> WriteEnrollmentKeyPair(const std::string& dir, Env& env);

// PEM text of a public key (SubjectPublicKeyInfo, id-X25519), newline-terminated.
std::string EnrollmentPublicKeyToPem(const crypto::BoxPublicKey& public_key);
// Parses a "PUBLIC KEY" PEM holding an X25519 key. Errors: kInvalidArgument saying what is wrong.
Result<crypto::BoxPublicKey> EnrollmentPublicKeyFromPem(std::string_view pem);
// PEM text of a private key (PKCS#8 v1, id-X25519). SECURITY: the result is a secret.
SecretBytes EnrollmentPrivateKeyToPem(const SecretBytes& secret_key);
// Parses a "PRIVATE KEY" PEM holding an X25519 key (ours or `openssl genpkey -algorithm x25519`).
// SECURITY: `pem` is a secret; the caller wipes its copy.
Result<crypto::BoxKeyPair> EnrollmentKeyPairFromPem(std::string_view pem);

// Reads a public key file. Errors: kNotFound / kIo reading it; kInvalidArgument naming the file
// when it is not an X25519 public key PEM.
Result<crypto::BoxPublicKey> LoadEnrollmentPublicKey(const std::string& path, FileSystem& fs);

// Reads a private key file. Refuses, like ssh, a file that group or others may access (any bit of
// 077 set): kPermissionDenied naming the file, its mode and the chmod that fixes it. The mode is
// read with stat(2) on the real filesystem, since FileSystem has no stat.
// Errors: also kNotFound / kIo reading it; kInvalidArgument when it is not an X25519 key PEM.
Result<crypto::BoxKeyPair> LoadEnrollmentKeyPair(const std::string& path, FileSystem& fs);

// Lowercase hex of SHA-256 over the raw 32-byte public key: what an operator compares by voice or
// chat when handing the public key over.
std::string EnrollmentKeyFingerprint(const crypto::BoxPublicKey& public_key);

}  // namespace vigie::package
