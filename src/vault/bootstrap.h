#pragma once
// Vault bootstrap and reconciliation: `vigie vault bootstrap --site ID` brings a fresh HashiCorp
// Vault to the state spec/INVARIANTS.md requires, `vigie vault reconcile --site ID [--check]
// [--prune]` keeps it there.
//
// Bootstrap, in this order (each step only if the previous succeeded):
//  1. GET sys/seal-status. A seal type that is not in vault.seal_types_allowed -- "shamir", an
//     unknown or empty type -- is refused before anything is done (PROV_010).
//  2. Vault not initialised: the site's KMS key must exist and be enabled (KmsBackend::
//     DescribeKey), because Vault initialises, then fails to reach KMS, answers 500 and the
//     recovery keys are lost (vault #6121) (PROV_010).
//  3. PUT sys/init with recovery_shares / recovery_threshold only (>= 5 / >= 3, PROV_011), with
//     vault.init_timeout_seconds, exactly once. If no answer comes back (transport error, 5xx),
//     sys/seal-status is read once more: unless Vault is confirmed still uninitialised, the site
//     is recorded `needs_recovery` with the explanation (RecoveryExplanation) and bootstrap stops
//     with kFailedPrecondition. Never a second init.
//  4. Each recovery share goes to the SecretsBackend as its own secret
//     (RecoveryShareSecretName), tagged site / share_index / kind, BEFORE the root token is used
//     for anything (PROV_004). If storing fails, the shares are lost: the root token is revoked,
//     the site is recorded `needs_recovery`, and the error is returned. Shares exist only in
//     SecretBytes in this process and in the backend: never on disk, in logs or output.
//  5. With the root token: enable AppRole, write the built-in policy vigie-admin, create the
//     AppRole "vigie-admin" bound to it, store its role_id + secret_id in the SecretsBackend
//     (AdminCredentialSecretName). Design choice (AppRole rather than a token from
//     auth/token/create): tokens created by the root token are its children and die with it at
//     revoke-self unless created orphan; an AppRole login token is not a child of root, is
//     short-lived (15 min), needs no renewal duty, and the secret_id can be rotated alone.
//  6. Log in with the AppRole and reconcile the policies of the config directory with that
//     non-root token (which proves the credential works before root goes away) (PROV_013).
//  7. POST auth/token/revoke-self with the root token, then GET auth/token/lookup-self with it
//     must be refused (403): root_revoked_at and the verification are recorded (PROV_012).
//  On an initialised, unsealed Vault bootstrap does no init: it logs in with the stored AppRole
//  credential and reconciles policies (idempotent re-run).
//
// Every run (also refusals and failures once the site id is valid) leaves one record: a row of
// the store's vault_bootstrap table and an event on the EventSink ("vault.bootstrap",
// "vault.reconcile", "vault.check", "vault.needs_recovery"). The record holds parameters,
// counts, secret names, timestamps and digests -- never a secret.
//
// Thread-safety: one bootstrap or reconcile per site at a time (the caller serialises).
// SECURITY: the root token lives only in SecretBytes inside Bootstrap(); it is never written,
// logged, printed or returned.

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/kms.h"
#include "backend/secrets.h"
#include "base/env.h"
#include "base/error.h"
#include "config/config.h"
#include "http/client.h"
#include "store/store.h"
#include "vault/event_sink.h"
#include "vault/policies.h"
#include "vault/vault_client.h"

namespace vigie::vault {

inline constexpr std::string_view kAdminRoleName = "vigie-admin";

// kInvalidArgument unless `site` matches [a-z0-9][a-z0-9-]{0,62}.
Status ValidateSiteId(std::string_view site);
// "vigie/sites/<site>/vault/recovery-share-<index>" (index 1..N) and its prefix.
std::string RecoveryShareSecretName(std::string_view site, int index);
std::string RecoverySharePrefix(std::string_view site);
// "vigie/sites/<site>/vault/approle-vigie-admin": JSON {"role_id","secret_id"}.
std::string AdminCredentialSecretName(std::string_view site);
// vault.address with every "{site}" replaced by `site` (one Vault per site behind one template,
// e.g. "https://vault.{site}.internal:8200"). kFailedPrecondition when vault.address is empty.
Result<std::string> VaultAddressFor(const config::VaultConfig& vault, std::string_view site);
// The text a person reads when a site needs recovery after a lost init reply.
std::string RecoveryExplanation(std::string_view site, std::string_view address);

struct BootstrapOptions {
  std::string site;
  std::string kms_key_id;      // the KMS key Vault's awskms seal uses (checked before init)
  int recovery_shares = 5;     // >= 5 (PROV_011)
  int recovery_threshold = 3;  // >= 3, <= recovery_shares (PROV_011)
  std::chrono::milliseconds init_timeout = std::chrono::seconds(120);
  std::vector<std::string> seal_types_allowed = {"awskms"};
  PolicySet policies = BuiltinPolicies();
  bool prune = false;  // also delete policies not in config while reconciling
};

// Options from the [vault] table; `policies` from LoadPolicies(vault.policies_dir).
BootstrapOptions BootstrapOptionsFromConfig(const config::VaultConfig& vault, std::string site,
                                            std::string kms_key_id, PolicySet policies);

struct PolicyReconcile {
  PolicyDrift before;  // what differed when the run started
  std::vector<std::string> created, updated, deleted;
  PolicyDrift after;  // what still differs (read back from Vault)
};

// Compares `desired` with `token`'s view of the Vault; with !check_only applies missing and
// changed policies, and with prune deletes extras (never root or default); then reads back.
Result<PolicyReconcile> ReconcilePolicies(VaultClient& client, const SecretBytes& token,
                                          const PolicySet& desired, bool check_only, bool prune);

// The evidence of one run (the vault_bootstrap row and the ledger event body). No secrets.
struct VaultRecord {
  std::string site;
  std::string action;   // "bootstrap" | "reconcile" | "check"
  std::string outcome;  // "ok" | "drift" | "refused" | "failed" | "needs_recovery"
  std::string message;  // for a person; the error text or a summary
  std::string vault_address;
  WallTime started_at;
  WallTime finished_at;
  std::string seal_type;  // as sys/seal-status reported it ("" when not read)
  bool initialized = false;
  bool sealed = true;
  std::string kms_key_id;
  bool kms_key_checked = false;  // DescribeKey found it enabled before init
  bool initialized_now = false;  // this run sent sys/init
  int recovery_shares = 0;       // init parameters (0 when no init)
  int recovery_threshold = 0;
  std::vector<std::string> share_secret_names;  // shares stored by this run
  std::string credential_secret;                // where the non-root credential is
  std::optional<WallTime> root_revoked_at;
  bool root_revocation_verified = false;
  std::string policy_digest;
  std::optional<PolicyReconcile> policies;
  int64_t drift = -1;  // policies differing from config at the end (-1: not known)

  std::string ToJson() const;
  std::string EventKind() const;  // "vault.bootstrap", ...
};

// Appends `record` to the vault_bootstrap table and to `events`.
Status SaveRecord(const VaultRecord& record, store::Store& store, EventSink& events);
// The outcome of the site's last run, nullopt when there is none.
Result<std::optional<std::string>> LastOutcome(store::Store& store, std::string_view site);

struct BootstrapReport {
  VaultRecord record;
  std::vector<std::string> steps;  // what was done, one line each, for the operator
};

// Runs the bootstrap described at the top. Errors: kInvalidArgument (bad site or parameters),
// kFailedPrecondition (refused seal, KMS key missing or disabled, needs_recovery, missing
// credential), kConflict (another init raced), kUnavailable / kDeadlineExceeded (Vault or a
// backend unreachable), kIntegrity (the root token was not refused after revocation), and the
// errors of the backends; the message says what was and was not done.
Result<BootstrapReport> Bootstrap(const BootstrapOptions& options, VaultClient& client,
                                  backend::SecretsBackend& secrets, backend::KmsBackend& kms,
                                  store::Store& store, EventSink& events, Env env);

struct ReconcileOptions {
  std::string site;
  PolicySet policies = BuiltinPolicies();
  bool check_only = false;  // report drift, change nothing
  bool prune = false;       // delete policies not in config (never root or default)
};

// Logs in with the stored AppRole credential and reconciles policies. Drift is not an error: the
// report's record says outcome "drift" when policies still differ at the end (always the case
// in check mode when anything differs). Errors as Bootstrap's.
Result<BootstrapReport> Reconcile(const ReconcileOptions& options, VaultClient& client,
                                  backend::SecretsBackend& secrets, store::Store& store,
                                  EventSink& events, Env env);

// What `vigie vault bootstrap|reconcile` needs, wired by the CLI. Non-owning; all non-null.
struct VaultCommandDeps {
  http::HttpClient* http = nullptr;  // a CurlClient with ca_file = vault.ca_file
  backend::SecretsBackend* secrets = nullptr;
  backend::KmsBackend* kms = nullptr;
  store::Store* store = nullptr;
  EventSink* events = nullptr;
  Env env;
};

// `vigie vault bootstrap --site ID`: address, CA, parameters and policies from `config`.
// Prints the steps to `out`, errors to `err`; returns the exit code (0 on success,
// ExitCodeFor(error code) otherwise).
int RunVaultBootstrap(const config::Config& config, const std::string& site,
                      const std::string& kms_key_id, const VaultCommandDeps& deps, std::FILE* out,
                      std::FILE* err);
// `vigie vault reconcile --site ID [--check] [--prune]`: exit 0 when no drift remains,
// ExitCodeFor(kCheckFailed) when drift remains (always reported on `out`).
int RunVaultReconcile(const config::Config& config, const std::string& site, bool check_only,
                      bool prune, const VaultCommandDeps& deps, std::FILE* out, std::FILE* err);

}  // namespace vigie::vault
