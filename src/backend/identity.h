#pragma once
// IdentityBackend: one cloud principal per site (PROV_001).
//
// Implementations: "local" (principals in the fleet Store, for the embedded defaults and tests)
// and "aws" (IAM users under the configured path, e.g. /vigie/sites/, tagged site=<id>, with an
// inline policy scoped to that site's own S3 prefix, secrets path and KMS key).
//
// Contract shared by every implementation:
//  - EnsurePrincipal is idempotent: called again for the same site it returns the existing
//    principal and never creates a second one (PROV_001). Its policy is (re)applied.
//  - Access keys are created by the provider (or the CSPRNG for "local"), never supplied by an
//    operator (PROV_002), and belong to exactly one principal.
//  - Delete* are the compensation steps of provisioning: deleting what does not exist succeeds.
// Thread-safety: implementations are safe to call from several threads.

#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::backend {

// The resources one site may touch; the principal's policy names these and nothing else.
struct SiteScope {
  std::string site_id;         // [a-z0-9][a-z0-9-]{0,62}
  std::string region;          // the site's region, e.g. "eu-west-3"
  std::string s3_bucket;       // bucket holding per-site prefixes (backups, logs); may be empty
  std::string s3_prefix;       // "sites/<site_id>/"
  std::string secrets_prefix;  // "vigie/sites/<site_id>/"
  std::string kms_key_arn;     // the site's own KMS key; may be empty before it exists
};

struct Principal {
  std::string site_id;
  std::string name;  // IAM user name ("vigie-site-<id>") or local principal id
  std::string arn;   // "arn:aws:iam::<account>:user/vigie/sites/vigie-site-<id>" or "local:..."
  std::string policy_document;  // JSON policy as applied
  WallTime created_at;
};

struct AccessKey {
  std::string access_key_id;
  SecretBytes secret_access_key;  // SECURITY: only ever sealed into the site's package
};

class IdentityBackend {
 public:
  virtual ~IdentityBackend() = default;
  virtual std::string_view Name() const = 0;  // "local" | "aws"

  virtual Result<Principal> EnsurePrincipal(const SiteScope& scope) = 0;
  // kNotFound when the site has no principal.
  virtual Result<Principal> GetPrincipal(const std::string& site_id) = 0;
  virtual Result<std::vector<Principal>> ListPrincipals() = 0;

  virtual Result<AccessKey> CreateAccessKey(const std::string& site_id) = 0;
  virtual Result<std::vector<std::string>> ListAccessKeyIds(const std::string& site_id) = 0;
  virtual Status DeleteAccessKey(const std::string& site_id, const std::string& key_id) = 0;
  // Deletes the principal with its keys and inline policies.
  virtual Status DeletePrincipal(const std::string& site_id) = 0;
};

}  // namespace vigie::backend
