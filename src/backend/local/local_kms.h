#pragma once
// LocalKms: the "local" KmsBackend of the embedded defaults. Keys are files under
// `<dir>/kms/<key_id>.key` (directory 0700, files 0600, replaced with WriteFileAtomic), each
// holding the key's state and its versions of 256-bit key material. Encrypt uses
// XChaCha20-Poly1305 (crypto/aead.h) under the newest version; the ciphertext starts with a
// small header naming the key id and version, authenticated as associated data, so Decrypt
// finds the key and any change to header or body is kIntegrity. A key "rotates" by adding a
// version (MAINT_020): older versions stay and still decrypt; new encryptions use the newest.
//
// Key ids look like "local-<32 lowercase hex>"; ARNs are "local:kms:<key_id>". Every method that
// takes a key id also accepts the ARN.
//
// SECURITY: this is the embedded-default trade-off. The root key material sits on the fleet
// manager's own disk, protected only by file permissions (0600, in a 0700 directory) and by the
// host: whoever can read the data directory (root, a backup of it, a stolen disk) can decrypt
// every secret the local backends hold. There is no HSM, no separation of duties and no audit
// trail of key use. Production fleets use the "aws" KMS backend; the compliance checks report
// the local KMS as this weaker posture. Key material is held in SecretBytes in memory and the
// transient copies made while reading and writing key files are wiped.
//
// Thread-safety: safe to call from several threads (one internal mutex). Several LocalKms
// objects (or processes) on the same directory see each other's new keys and versions for
// Decrypt; DescribeKey and mutations of one key should go through one object.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/kms.h"
#include "base/env.h"
#include "base/error.h"

namespace vigie::backend {

// AWS limits mirrored so that code written against the local backend also runs on AWS.
inline constexpr int kMinKeyRotationDays = 90;
inline constexpr int kMaxKeyRotationDays = 2560;
inline constexpr int kMinKeyDeletionDays = 7;
inline constexpr int kMaxKeyDeletionDays = 30;
inline constexpr size_t kMaxKmsPlaintextSize = 4096;

class LocalKms final : public KmsBackend {
 public:
  ~LocalKms() override;
  LocalKms(const LocalKms&) = delete;
  LocalKms& operator=(const LocalKms&) = delete;

  std::string_view Name() const override { return "local"; }

  // Creates an enabled key with one version of fresh material (env.random), rotation off.
  // Errors: kIo when the key file cannot be written (the message names it).
  Result<KmsKeyInfo> CreateKey(const std::string& description, const Tags& tags) override;
  // Errors: kNotFound (unknown key), kInvalidArgument (not a local key id), kIntegrity (the key
  // file is corrupt), kIo.
  Result<KmsKeyInfo> DescribeKey(const std::string& key_id) override;
  // Turns automatic rotation on with `period_days`; RotateIfDue() then adds versions.
  // Errors: kInvalidArgument unless 90 <= period_days <= 2560; kFailedPrecondition for a
  // disabled key; kNotFound; kIo.
  Status EnableKeyRotation(const std::string& key_id, int period_days) override;
  // 32 random bytes and their encryption under the key's newest version.
  Result<DataKey> GenerateDataKey(const std::string& key_id) override;
  // Errors: kInvalidArgument (plaintext over 4096 bytes, as AWS), kFailedPrecondition (disabled
  // key), kNotFound.
  Result<Bytes> Encrypt(const std::string& key_id, const SecretBytes& plaintext) override;
  // Errors: kIntegrity (malformed header, altered bytes, or a version the key does not have),
  // kNotFound (the key named in the header does not exist), kFailedPrecondition (disabled key).
  Result<SecretBytes> Decrypt(const Bytes& ciphertext) override;
  // Disables the key and records the deletion date (now + pending_days); its ciphertexts no
  // longer decrypt. The key file stays (an operator may restore it by hand). A missing key
  // succeeds (compensation).
  // Errors: kInvalidArgument unless 7 <= pending_days <= 30 (AWS limits); kIo.
  Status ScheduleKeyDeletion(const std::string& key_id, int pending_days) override;

  // Adds a version of fresh material now, whatever the rotation settings (on-demand rotation).
  // Errors: kFailedPrecondition for a disabled key; kNotFound; kIo.
  Result<KmsKeyInfo> Rotate(const std::string& key_id);
  // Rotates when rotation is enabled and the newest version is at least rotation_period_days
  // old (env.clock). Returns whether it rotated. A disabled key never rotates (false).
  Result<bool> RotateIfDue(const std::string& key_id);
  // Every key in the directory, sorted by key id (corrupt files are errors: kIntegrity).
  Result<std::vector<KmsKeyInfo>> ListKeys();
  // How many versions of material the key has (1 + number of rotations).
  Result<int> VersionCount(const std::string& key_id);

  // The key file of `key_id` (tests, diagnostics). REQUIRES: a valid local key id.
  std::string KeyPath(const std::string& key_id) const;

 private:
  struct State;
  explicit LocalKms(std::unique_ptr<State> state);
  friend Result<std::unique_ptr<LocalKms>> OpenLocalKms(std::string dir, Env env);
  std::unique_ptr<State> state_;
};

// Opens the local KMS rooted at `dir` (the fleet manager's data directory): creates `<dir>/kms`
// with mode 0700 if needed, and narrows an existing one to 0700.
// REQUIRES: env.clock, env.fs and env.random are set and outlive the returned object.
// Errors: kInvalidArgument (empty dir), kIo (cannot create the directory).
Result<std::unique_ptr<LocalKms>> OpenLocalKms(std::string dir, Env env);

// Key ids are "local-" followed by 32 lowercase hex digits.
bool IsLocalKmsKeyId(std::string_view key_id);

}  // namespace vigie::backend
