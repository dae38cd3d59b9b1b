#pragma once
// LocalSecrets: the "local" SecretsBackend of the embedded defaults. Secrets live in the fleet
// Store (tables local_secret_names and local_secrets) under envelope encryption: each
// version gets a fresh data key from the KMS (GenerateDataKey), its value is sealed with
// XChaCha20-Poly1305 under that data key with associated data = name || 0x00 || version_id (so a
// ciphertext cannot be moved to another secret or version), and the store holds only the
// ciphertext and the KMS-wrapped data key, never a plaintext.
//
// Semantics mirror AWS Secrets Manager (see secrets.h), so callers behave the same on "aws":
//  - names: 1..512 characters of [A-Za-z0-9/_+=.@-]; ARN "local:secret:<name>";
//  - request tokens: empty (a random version id is drawn) or 32..64 characters of
//    [A-Za-z0-9_-]; a token becomes the version id, as ClientRequestToken does on AWS;
//  - a staging label is attached to at most one version of a secret: adding a version with
//    AWSCURRENT moves AWSPREVIOUS to the old current version. Versions are never pruned, and keep
//    their created_at, so the 30-day rollback window (MAINT_024) can be verified.
//
// SECURITY: values leave this class only as the SecretBytes returned by Get; they never appear
// in errors, logs or List results. A request-token retry is compared with the stored value by
// decrypting it (constant-time comparison), so no digest of a value is stored either.
//
// Thread-safety: safe to call from several threads (the Store serialises writes; the check of
// names, tokens and stages happens inside one write job).

#include <memory>
#include <string>
#include <vector>

#include "backend/kms.h"
#include "backend/secrets.h"
#include "base/env.h"
#include "store/store.h"

namespace vigie::backend {

// The kv key remembering the KMS key that wraps local secrets' data keys.
inline constexpr const char* kLocalSecretsKmsKeyKv = "backend.local_secrets.kms_key_id";

// One version of a secret, without its value (for rollback checks, MAINT_024).
struct SecretVersionInfo {
  std::string version_id;
  std::vector<std::string> stages;
  WallTime created_at;
};

class LocalSecrets final : public SecretsBackend {
 public:
  ~LocalSecrets() override;
  LocalSecrets(const LocalSecrets&) = delete;
  LocalSecrets& operator=(const LocalSecrets&) = delete;

  std::string_view Name() const override { return "local"; }

  // Errors: kInvalidArgument (name, token, tag), kAlreadyExists (the name exists, or the token
  // was used with another value), errors of the KMS and the Store.
  Result<SecretVersion> Create(const std::string& name, const SecretBytes& value, const Tags& tags,
                               const std::string& request_token) override;
  // `stages` empty means {"AWSCURRENT"}. Errors: kNotFound (no such secret), kInvalidArgument,
  // kAlreadyExists (token reused with another value).
  Result<SecretVersion> PutVersion(const std::string& name, const SecretBytes& value,
                                   const std::string& request_token,
                                   const std::vector<std::string>& stages = {}) override;
  // Errors: kNotFound (secret, stage or version), kIntegrity (the stored ciphertext or wrapped
  // key was altered), KMS errors (e.g. its key is disabled: kFailedPrecondition).
  Result<SecretBytes> Get(const std::string& name, const std::string& stage = "AWSCURRENT",
                          const std::string& version_id = "") override;
  Result<std::vector<SecretInfo>> List(const std::string& prefix) override;
  // Deletes every version at once (no recovery window). A missing secret succeeds.
  Status Delete(const std::string& name) override;

  // Every version of `name`, oldest first. Errors: kNotFound.
  Result<std::vector<SecretVersionInfo>> ListVersions(const std::string& name);
  // The KMS key wrapping this backend's data keys (created on first use when none was given).
  Result<std::string> KmsKeyId();

 private:
  struct State;
  explicit LocalSecrets(std::unique_ptr<State> state);
  friend std::unique_ptr<LocalSecrets> NewLocalSecrets(store::Store& store, KmsBackend& kms,
                                                       std::string kms_key_id, Env env);
  Result<SecretVersion> AddVersion(bool create, const std::string& name, const SecretBytes& value,
                                   const Tags& tags, const std::string& request_token,
                                   std::vector<std::string> stages);
  std::unique_ptr<State> state_;
};

// A LocalSecrets over `store`, wrapping data keys with `kms`. With an empty `kms_key_id` the key
// is the one remembered in the store's kv table under kLocalSecretsKmsKeyKv, created (and
// remembered) on first use.
// REQUIRES: store, kms and env's clock and random outlive the returned object.
std::unique_ptr<LocalSecrets> NewLocalSecrets(store::Store& store, KmsBackend& kms,
                                              std::string kms_key_id, Env env);

}  // namespace vigie::backend
