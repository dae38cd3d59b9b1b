#pragma once
// SecretsBackend: where vigie keeps secrets it must be able to read back (Vault recovery shares,
// rotated credentials with their previous versions) (PROV_004, MAINT_021, MAINT_024).
//
// Implementations: "local" (the fleet Store, each value encrypted under a data key that the
// local KMS wraps: envelope encryption; the store never holds a plaintext) and "aws" (AWS
// Secrets Manager, JSON 1.1 API: CreateSecret with ClientRequestToken, PutSecretValue,
// GetSecretValue, TagResource, ListSecrets, DeleteSecret; version stages).
//
// Contract:
//  - `request_token` makes Create/PutVersion retry-safe: the same token with the same value is a
//    no-op returning the same version; with a different value it is kAlreadyExists.
//  - Create on an existing name (other token) is kAlreadyExists; Get of a missing name or stage
//    is kNotFound.
//  - Values never appear in errors, logs or List results.
// Thread-safety: implementations are safe to call from several threads.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::backend {

using Tags = std::map<std::string, std::string>;

struct SecretVersion {
  std::string name;
  std::string arn;  // "local:secret:<name>" for the local backend
  std::string version_id;
  std::vector<std::string> stages;  // e.g. {"AWSCURRENT"}
};

struct SecretInfo {
  std::string name;
  std::string arn;
  Tags tags;
  WallTime created_at;
  std::optional<WallTime> last_changed_at;
};

class SecretsBackend {
 public:
  virtual ~SecretsBackend() = default;
  virtual std::string_view Name() const = 0;  // "local" | "aws"

  virtual Result<SecretVersion> Create(const std::string& name, const SecretBytes& value,
                                       const Tags& tags, const std::string& request_token) = 0;
  // Adds a version; it becomes AWSCURRENT and the previous current becomes AWSPREVIOUS, unless
  // `stages` says otherwise.
  virtual Result<SecretVersion> PutVersion(const std::string& name, const SecretBytes& value,
                                           const std::string& request_token,
                                           const std::vector<std::string>& stages = {}) = 0;
  // `stage` defaults to AWSCURRENT; `version_id`, when set, wins over `stage`.
  virtual Result<SecretBytes> Get(const std::string& name, const std::string& stage = "AWSCURRENT",
                                  const std::string& version_id = "") = 0;
  // Secrets whose name starts with `prefix` (names and tags only, never values).
  virtual Result<std::vector<SecretInfo>> List(const std::string& prefix) = 0;
  // Compensation / retirement. Deleting a missing secret succeeds.
  virtual Status Delete(const std::string& name) = 0;
};

}  // namespace vigie::backend
