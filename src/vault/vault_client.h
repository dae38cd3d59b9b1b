#pragma once
// VaultClient: the subset of HashiCorp Vault's HTTP API (v1) that vigie uses to bootstrap and
// reconcile a site's Vault (PROV_010..PROV_013), over the HttpClient seam.
//
// Endpoints: sys/seal-status, sys/health, sys/init, sys/policies/acl[/<name>], sys/auth[/<path>],
// auth/approle/role/<role>[/role-id|/secret-id], auth/approle/login, auth/token/lookup-self,
// auth/token/revoke-self.
//
// Errors: a non-2xx reply becomes an Error whose message reads
//   "vault <METHOD> <path>: HTTP <status>: <Vault's errors joined by '; '>"
// with the code: 400 -> kInvalidArgument, 401/403 -> kPermissionDenied, 404 -> kNotFound,
// 429 (standby) / 5xx -> kUnavailable; transport failures keep the HttpClient's code
// (kUnavailable, kDeadlineExceeded) with "vault <METHOD> <path>: " prepended. Init maps Vault's
// "already initialized" to kConflict.
//
// Ownership: borrows the HttpClient (must outlive the client). Thread-safety: as the HttpClient.
//
// SECURITY: tokens are passed per call as SecretBytes (X-Vault-Token header) so each call shows
// which credential it uses; requests and replies that carried a secret are wiped after use;
// nothing here logs, and error messages carry only Vault's error text (which never holds a
// token or a key).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/secret.h"
#include "http/client.h"

namespace vigie::vault {

struct SealStatus {
  std::string type;  // "awskms", "shamir", ... as Vault reports it
  bool initialized = false;
  bool sealed = true;
  int threshold = 0;  // "t": recovery (auto-unseal) or unseal (shamir) threshold
  int shares = 0;     // "n"
  bool recovery_seal = false;
  std::string version;
};

// GET /v1/sys/health, by status code: 200 active, 429 standby, 501 not initialised, 503 sealed.
enum class Health { kActive, kStandby, kNotInitialized, kSealed, kOther };
std::string_view HealthName(Health h);

struct InitResult {
  // SECURITY: each a raw share (33 bytes for Vault's 32-byte recovery key), decoded from
  // recovery_keys_base64.
  std::vector<SecretBytes> recovery_keys;
  SecretBytes root_token;  // SECURITY: never persisted; revoked at the end of bootstrap
};

struct TokenInfo {
  std::string display_name;
  std::vector<std::string> policies;
};

class VaultClient {
 public:
  // `address` is scheme://host[:port] (a trailing '/' is ignored); `timeout` applies to every
  // call except Init, which takes its own.
  VaultClient(http::HttpClient& http, std::string address,
              std::chrono::milliseconds timeout = std::chrono::seconds(30));

  const std::string& address() const { return address_; }

  // Unauthenticated.
  Result<SealStatus> GetSealStatus();
  Result<Health> GetHealth();
  // PUT /v1/sys/init {"recovery_shares":shares,"recovery_threshold":threshold} -- nothing else:
  // with an auto-unseal seal Vault rejects secret_shares. Called at most once per bootstrap: the
  // caller never retries it (a 5xx or lost reply may mean Vault is initialised and the keys are
  // gone, vault #6121). Errors: kConflict ("already initialized"), kInvalidArgument (Vault refused
  // the parameters), kUnavailable / kDeadlineExceeded (outcome unknown), kInternal (a 200 reply
  // without the expected keys).
  Result<InitResult> Init(int shares, int threshold, std::chrono::milliseconds timeout);

  // ACL policies. GetPolicy returns nullopt for a policy that does not exist.
  Result<std::vector<std::string>> ListPolicies(const SecretBytes& token);
  Result<std::optional<std::string>> GetPolicy(const SecretBytes& token, std::string_view name);
  Status PutPolicy(const SecretBytes& token, std::string_view name, std::string_view policy);
  Status DeletePolicy(const SecretBytes& token, std::string_view name);

  // Auth methods: mount paths with their trailing '/' ("approle/", "token/").
  Result<std::vector<std::string>> ListAuthMounts(const SecretBytes& token);
  Status EnableAuth(const SecretBytes& token, std::string_view path, std::string_view type);

  // AppRole. WriteAppRole creates or updates role `role` whose tokens carry `policies` only.
  Status WriteAppRole(const SecretBytes& token, std::string_view role,
                      const std::vector<std::string>& policies, std::string_view token_ttl,
                      std::string_view token_max_ttl);
  Result<std::string> ReadRoleId(const SecretBytes& token, std::string_view role);
  Result<SecretBytes> GenerateSecretId(const SecretBytes& token, std::string_view role);
  // Returns the client token of a new login (SECURITY: short-lived; revoke it when done).
  Result<SecretBytes> AppRoleLogin(std::string_view role_id, const SecretBytes& secret_id);

  // kPermissionDenied when Vault refuses the token (revoked, expired, unknown).
  Result<TokenInfo> LookupSelf(const SecretBytes& token);
  Status RevokeSelf(const SecretBytes& token);

 private:
  // One exchange; `token` may be null. The request's body and token header are wiped after.
  Result<http::HttpResponse> Send(std::string_view method, std::string_view path, std::string body,
                                  const SecretBytes* token, std::chrono::milliseconds timeout);
  // Send + "non-2xx is an error".
  Result<http::HttpResponse> Call(std::string_view method, std::string_view path, std::string body,
                                  const SecretBytes* token);

  http::HttpClient& http_;
  std::string address_;
  std::chrono::milliseconds timeout_;
};

// The Error for a non-2xx Vault reply (see the header comment), exposed for tests.
Error VaultErrorFromResponse(std::string_view method, std::string_view path,
                             const http::HttpResponse& response);

}  // namespace vigie::vault
