#pragma once
// In-memory fakes of backend::IdentityBackend and backend::KmsBackend for unit tests, mirroring
// the contracts of backend/identity.h and backend/kms.h (idempotent EnsurePrincipal, at most two
// access keys per principal, deletes of missing things succeed, a key pending deletion is
// disabled), plus test controls:
//  - FailNextCallTo("<Method>", error): the next call of that method fails with `error` and
//    changes nothing (several methods may be armed at once; each fires once);
//  - counters of what was ever created, and views of what exists now, to assert "no orphan".
// FakeSecrets (testing/fake_secrets.h) is the SecretsBackend counterpart.
//
// SECURITY (test code): FakeKms "encrypts" by XOR with a per-key pad: it hides nothing and
// exists only so that ciphertexts differ from plaintexts.
// Thread-safety: every method is safe to call from several threads (one mutex per fake).

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backend/identity.h"
#include "backend/kms.h"

namespace vigie::testing {

// A set of methods armed to fail once each.
class FailureSwitch {
 public:
  void Arm(std::string method, Error error);
  // The armed error for `method`, disarming it; nullopt when not armed.
  std::optional<Error> Take(const std::string& method);
  bool empty() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Error> armed_;
};

class FakeIdentity final : public backend::IdentityBackend {
 public:
  // Builds the policy document of a scope; tests pass backend::SitePolicyDocument. The default
  // is a minimal JSON naming the scope's secrets prefix.
  using PolicyFn = std::function<std::string(const backend::SiteScope&)>;

  explicit FakeIdentity(Clock* clock = nullptr, PolicyFn policy = nullptr);

  std::string_view Name() const override { return "fake"; }
  Result<backend::Principal> EnsurePrincipal(const backend::SiteScope& scope) override;
  Result<backend::Principal> GetPrincipal(const std::string& site_id) override;
  Result<std::vector<backend::Principal>> ListPrincipals() override;
  Result<backend::AccessKey> CreateAccessKey(const std::string& site_id) override;
  Result<std::vector<std::string>> ListAccessKeyIds(const std::string& site_id) override;
  vigie::Status DeleteAccessKey(const std::string& site_id, const std::string& key_id) override;
  vigie::Status DeletePrincipal(const std::string& site_id) override;

  // Method names: "EnsurePrincipal", "GetPrincipal", "ListPrincipals", "CreateAccessKey",
  // "ListAccessKeyIds", "DeleteAccessKey", "DeletePrincipal".
  void FailNextCallTo(std::string method, Error error) { failures_.Arm(std::move(method), error); }

  size_t principals_created() const;   // ever
  size_t access_keys_created() const;  // ever
  size_t principal_count() const;      // now
  size_t access_key_count() const;     // now, all principals

 private:
  struct Entry {
    backend::Principal principal;
    std::vector<std::string> key_ids;
  };
  WallTime Now() const;

  Clock* clock_;
  PolicyFn policy_;
  FailureSwitch failures_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> principals_;
  size_t principals_created_ = 0;
  size_t keys_created_ = 0;
};

class FakeKms final : public backend::KmsBackend {
 public:
  explicit FakeKms(Clock* clock = nullptr) : clock_(clock) {}

  std::string_view Name() const override { return "fake"; }
  Result<backend::KmsKeyInfo> CreateKey(const std::string& description,
                                        const backend::Tags& tags) override;
  Result<backend::KmsKeyInfo> DescribeKey(const std::string& key_id) override;
  vigie::Status EnableKeyRotation(const std::string& key_id, int period_days) override;
  Result<backend::DataKey> GenerateDataKey(const std::string& key_id) override;
  Result<Bytes> Encrypt(const std::string& key_id, const SecretBytes& plaintext) override;
  Result<SecretBytes> Decrypt(const Bytes& ciphertext) override;
  vigie::Status ScheduleKeyDeletion(const std::string& key_id, int pending_days) override;

  // Method names: "CreateKey", "DescribeKey", "EnableKeyRotation", "GenerateDataKey",
  // "Encrypt", "Decrypt", "ScheduleKeyDeletion".
  void FailNextCallTo(std::string method, Error error) { failures_.Arm(std::move(method), error); }

  size_t keys_created() const;    // ever
  size_t live_key_count() const;  // enabled and not pending deletion
  std::optional<backend::Tags> TagsOf(const std::string& key_id) const;

 private:
  struct Key {
    backend::KmsKeyInfo info;
    backend::Tags tags;
    bool pending_deletion = false;
    uint8_t pad = 0;
  };
  WallTime Now() const;
  Key* Find(const std::string& key_id);  // by id or ARN; REQUIRES: mu_ held

  Clock* clock_;
  FailureSwitch failures_;
  mutable std::mutex mu_;
  std::map<std::string, Key> keys_;
  size_t created_ = 0;
};

}  // namespace vigie::testing
