#pragma once
// The deployment package `<site>.vpkg` (PROV_003, PROV_023): what the fleet manager hands a site
// to enrol it. One file holding a signed manifest (who the site is, where its fleet manager is
// and how to authenticate it) and a secret section sealed to the site's X25519 enrollment key
// (the site's credentials). docs/PACKAGE_FORMAT.md is the reference for operators.
//
// File layout, format version 1 (all integers unsigned big-endian):
//
//   offset      size  field
//   0           4     magic "VPKG" (56 50 4b 47)
//   4           1     format version, 0x01
//   5           4     M: manifest length (1 .. kMaxManifestSize)
//   9           M     manifest: canonical JSON (UTF-8, keys sorted, no whitespace), see Manifest
//   9+M         4     S: signature length: 64, or 0 for an unsigned package
//   13+M        S     signature: Ed25519 (RFC 8032, pure) by the fleet signing key over the N =
//                     9+M bytes before it (magic, version, M and the manifest)
//   13+M+S      4     P: payload length (kSealOverhead+1 .. kMaxPayloadSize)
//   17+M+S      P     payload: crypto_box_seal (X25519 + XSalsa20-Poly1305) of the secret section
//                     to the site's enrollment public key
//   17+M+S+P          end of file; trailing bytes make the file malformed
//
// Why the signature covers the manifest and the manifest covers the payload: the manifest
// carries the payload's SHA-256 and size, so the one signature binds every byte of the file
// (the pattern of Debian's InRelease and of TUF metadata) while a verifier can still tell *what*
// was altered: a changed manifest (or signature) fails the signature; a changed payload leaves
// the signature valid but breaks the signed digest. The signed bytes are a prefix of the file
// and the signature a fixed-size section at a recorded offset, so `head`, `tail`, `od`,
// `sha256sum` and `openssl pkeyutl -verify -rawin` verify a package without vigie.
//
// Verification order (VerifyPackage): magic, version, framing, signature present, signature,
// manifest, payload digest, expiry. Dates are not trusted before the signature is.
//
// Each refusal has its own PackageError (stable name in the message, recoverable with
// PackageErrorOf) and ErrorCode (→ CLI exit code):
//   unsigned          kUnauthenticated    signature section missing or empty
//   bad_signature     kUnauthenticated    signed by a fleet key other than the expected one
//   tampered_manifest kIntegrity          header/manifest/signature altered after signing
//   tampered_payload  kIntegrity          sealed section altered (signed digest mismatch)
//   expired           kFailedPrecondition now >= expires_at
//   wrong_site_key    kPermissionDenied   the secret section is sealed to another site's key
//   unknown_version   kUnimplemented      format version byte this vigie does not know
//   malformed         kInvalidArgument    not a package, truncated, bad framing or fields
// Telling bad_signature from tampered_manifest: the manifest names the fleet key that signed it.
// When the signature fails and that (unauthenticated) field names another key, the package was
// signed by another fleet (bad_signature); when it names the expected key, or the manifest no
// longer parses, the signed bytes were altered (tampered_manifest). Both are refusals either
// way; the distinction only guides the operator.
//
// Thread-safety: stateless functions, safe from any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"
#include "crypto/hash.h"
#include "crypto/seal.h"
#include "crypto/sign.h"

namespace vigie::package {

inline constexpr std::string_view kMagic = "VPKG";
inline constexpr uint8_t kFormatVersion = 1;
inline constexpr size_t kHeaderSize = 9;  // magic (4) + version (1) + manifest length (4)
inline constexpr size_t kMaxManifestSize = 64 * 1024;
inline constexpr size_t kMaxPayloadSize = 1024 * 1024;
inline constexpr std::string_view kFileExtension = ".vpkg";

enum class PackageError {
  kUnsigned,
  kBadSignature,
  kTamperedManifest,
  kTamperedPayload,
  kExpired,
  kWrongSiteKey,
  kUnknownVersion,
  kMalformed,
};

// Stable lower_snake_case name ("bad_signature"), part of every refusal message.
std::string_view PackageErrorName(PackageError e);
// The ErrorCode a refusal of this kind carries.
ErrorCode PackageErrorCode(PackageError e);
// The PackageError of an Error returned by this module (messages contain
// "package rejected (<name>): "), also after Error::Wrap(); nullopt for any other error.
std::optional<PackageError> PackageErrorOf(const Error& error);

// The signed, public part of a package. Serialised as canonical JSON with these keys:
//   format_version (int), site_id, package_id, fleet_url, fleet_tls_pin (optional),
//   fleet_ca_pem (optional), fleet_signing_key (hex), site_enrollment_key (hex),
//   created_at, expires_at (RFC 3339 UTC, whole seconds), payload_sha256 (hex),
//   payload_size (int).
struct Manifest {
  // --- Given by the caller of BuildPackage. ---
  std::string site_id;        // DNS label: [a-z0-9-], 1..63, no leading/trailing '-'
  std::string package_id;     // 32 lowercase hex digits (NewPackageId)
  std::string fleet_url;      // "https://host[:port][/path]", the agent's fleet manager
  std::string fleet_tls_pin;  // curl's form "sha256//<base64 SHA-256 of the SPKI>"; optional
  std::string fleet_ca_pem;   // PEM CERTIFICATE bundle; optional. At least one of pin / CA.
  WallTime created_at;        // truncated to whole seconds
  WallTime expires_at;        // > created_at

  // --- Filled in by BuildPackage (values given to it are ignored). ---
  uint8_t format_version = kFormatVersion;
  crypto::Ed25519PublicKey fleet_signing_key{};
  crypto::BoxPublicKey site_enrollment_key{};
  crypto::Sha256Digest payload_sha256{};
  uint64_t payload_size = 0;
};

// Well-known secret names (others matching [a-z0-9_]{1,64} are allowed).
inline constexpr std::string_view kAgentApiSecret = "agent_api_secret";
inline constexpr std::string_view kAdminPassword = "admin_password";  // must_change = true
inline constexpr std::string_view kDbPassword = "db_password";
inline constexpr std::string_view kCloudAccessKeyId = "cloud_access_key_id";
inline constexpr std::string_view kCloudSecretAccessKey = "cloud_secret_access_key";

struct SecretItem {
  std::string name;          // [a-z0-9_]{1,64}, unique within a package; not secret
  SecretBytes value;         // 1..16384 bytes, any bytes
  bool must_change = false;  // PROV_005: the initial admin password is must-change
};

// The secret section. SECURITY: values exist in clear only in SecretBytes; the serialised form
// is built in and parsed from SecretBytes, never in a std::string.
struct SiteSecrets {
  std::vector<SecretItem> items;
  // The item named `name`, or nullptr.
  const SecretItem* Find(std::string_view name) const;
};

// A fresh package id: 16 bytes from `random`, lowercase hex.
std::string NewPackageId(Random& random);

// Builds a package: seals `secrets` to `site_enrollment_key`, fills the derived manifest fields
// and signs. The result is the file's bytes.
// Errors: kInvalidArgument naming the manifest field or secret name at fault (site id, package
// id, URL, pin/CA, dates, duplicate or badly named secret, empty or oversized value, no
// secrets, an enrollment key that is not a usable X25519 public key).
// SECURITY: the plaintext secret section lives only in SecretBytes and is wiped on return.
Result<Bytes> BuildPackage(const Manifest& manifest, const SiteSecrets& secrets,
                           const crypto::BoxPublicKey& site_enrollment_key,
                           const crypto::SigningKey& fleet_key);

// Like BuildPackage but with no signature section (S = 0). Exists only so that tests and
// tooling can produce the "unsigned" case; VerifyPackage always refuses such a file.
Result<Bytes> BuildUnsignedPackageForTesting(const Manifest& manifest, const SiteSecrets& secrets,
                                             const crypto::BoxPublicKey& site_enrollment_key);

// The parts of a package a standard tool needs to verify it. Spans point into the caller's
// buffer and live as long as it.
struct SignedParts {
  std::span<const uint8_t> signed_bytes;  // [0, N): magic, version, M, manifest
  std::span<const uint8_t> manifest;      // the manifest JSON
  crypto::Ed25519Signature signature{};
  size_t signature_offset = 0;       // N + 4
  std::span<const uint8_t> payload;  // the sealed secret section
  size_t payload_offset = 0;         // N + 72
};

// Splits `file` along the layout above, without verifying anything cryptographic.
// Errors (PackageError in the message): malformed, unknown_version, unsigned.
Result<SignedParts> ExtractSignedParts(std::span<const uint8_t> file);

// A package whose signature, digest and expiry were checked.
struct VerifiedPackage {
  Manifest manifest;
  Bytes sealed_payload;  // ciphertext; open with OpenPackageSecrets
};

// Verifies `file` against the fleet's signing key at time `now` (see the order above).
// Errors: every PackageError except wrong_site_key, each with a message that says what is wrong
// and what to do.
Result<VerifiedPackage> VerifyPackage(std::span<const uint8_t> file,
                                      const crypto::Ed25519PublicKey& fleet_key, WallTime now);

// Opens the secret section with the site's enrollment key pair.
// Errors: wrong_site_key (kPermissionDenied) when the package is sealed to another key;
// malformed when the opened section is not a valid secret section.
// SECURITY: the returned values are secrets: never log or print them.
Result<SiteSecrets> OpenPackageSecrets(const VerifiedPackage& package,
                                       const crypto::BoxKeyPair& site_key);

// What the agent does with a package file: VerifyPackage, then OpenPackageSecrets.
struct OpenedPackage {
  Manifest manifest;
  SiteSecrets secrets;
};
Result<OpenedPackage> VerifyAndOpenPackage(std::span<const uint8_t> file,
                                           const crypto::Ed25519PublicKey& fleet_key,
                                           const crypto::BoxKeyPair& site_key, WallTime now);

// The manifest's canonical JSON (what is signed), and its strict parser: unknown or missing
// keys, wrong types, non-canonical encoding (whitespace, key order, duplicates) and invalid field
// values are refused with kInvalidArgument naming the key.
Result<std::string> SerializeManifest(const Manifest& manifest);
Result<Manifest> ParseManifest(std::string_view json);

}  // namespace vigie::package
