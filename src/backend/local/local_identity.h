#pragma once
// LocalIdentity: the "local" IdentityBackend of the embedded defaults. Principals and their
// access keys are rows of the fleet Store (tables local_principals, local_access_keys).
//
//  - One principal per site (PROV_001): site_id is the PRIMARY KEY, so a second principal for a
//    site cannot exist; EnsurePrincipal returns the existing one and re-applies its policy.
//    Names are "vigie-site-<id>", ARNs "local:iam::user/vigie/sites/vigie-site-<id>".
//  - The policy is SitePolicyDocument(scope) (backend/policy.h), the same JSON the AWS backend
//    applies, naming only the site's own S3 prefix, secrets path and KMS key.
//  - Access keys (PROV_002): id "LKIA" + 16 characters of [A-Z0-9], secret 40 characters of
//    [A-Za-z0-9] from GenerateCredential (>= 238 bits); at most 2 per principal, as IAM.
//
// SECURITY: a secret access key is returned once, by CreateAccessKey, and never stored: the
// store keeps SHA-256(secret) as a verifier (the secret is 238 random bits, so the hash cannot be
// inverted by guessing) together with the credential's provenance (generator, entropy bits).
//
// Thread-safety: safe to call from several threads (the Store serialises writes; each check and
// insert happens inside one write job).

#include <memory>
#include <string>
#include <vector>

#include "backend/identity.h"
#include "base/env.h"
#include "store/store.h"

namespace vigie::backend {

// IAM's limit, kept so that code tested on "local" behaves the same on "aws".
inline constexpr int kMaxAccessKeysPerPrincipal = 2;

// Provenance of a stored access key (PROV_002 evidence).
struct AccessKeyRecord {
  std::string access_key_id;
  std::string site_id;
  std::string generator;  // crypto::kCsprngGenerator
  int entropy_bits = 0;
  WallTime created_at;
};

class LocalIdentity final : public IdentityBackend {
 public:
  ~LocalIdentity() override;
  LocalIdentity(const LocalIdentity&) = delete;
  LocalIdentity& operator=(const LocalIdentity&) = delete;

  std::string_view Name() const override { return "local"; }

  // Errors: kInvalidArgument when the scope fails ValidateSiteScope (PROV_001); Store errors.
  Result<Principal> EnsurePrincipal(const SiteScope& scope) override;
  Result<Principal> GetPrincipal(const std::string& site_id) override;
  Result<std::vector<Principal>> ListPrincipals() override;

  // Errors: kNotFound (no principal for the site), kFailedPrecondition (already 2 keys).
  Result<AccessKey> CreateAccessKey(const std::string& site_id) override;
  // Errors: kNotFound (no principal for the site).
  Result<std::vector<std::string>> ListAccessKeyIds(const std::string& site_id) override;
  // Deletes the key if it belongs to `site_id`; a missing key (or another site's) is left alone
  // and succeeds.
  Status DeleteAccessKey(const std::string& site_id, const std::string& key_id) override;
  Status DeletePrincipal(const std::string& site_id) override;

  // Whether `secret` is the secret of access key `key_id` (constant-time comparison of
  // verifiers). False for an unknown key. For the local stand-in of a provider's authentication.
  Result<bool> VerifyAccessKey(const std::string& key_id, const SecretBytes& secret);
  // Every access key with its provenance, ordered by site then key id (compliance evidence).
  Result<std::vector<AccessKeyRecord>> ListAccessKeys();

 private:
  struct State;
  explicit LocalIdentity(std::unique_ptr<State> state);
  friend std::unique_ptr<LocalIdentity> NewLocalIdentity(store::Store& store, Env env);
  std::unique_ptr<State> state_;
};

// REQUIRES: store and env's clock and random outlive the returned object.
std::unique_ptr<LocalIdentity> NewLocalIdentity(store::Store& store, Env env);

}  // namespace vigie::backend
