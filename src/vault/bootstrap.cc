#include "vault/bootstrap.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "base/encoding.h"
#include "base/log.h"

namespace vigie::vault {

namespace {

using nlohmann::json;

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

json DriftJson(const PolicyDrift& d) {
  return {{"missing", d.missing}, {"changed", d.changed}, {"extra", d.extra}};
}

std::string RequestToken(Random& random) {
  uint8_t b[16];
  random.Fill(b);
  return HexEncode(b);
}

// Creates `name`, or adds a version when it exists already (a stale value from an earlier Vault
// must not block a re-run; its previous version stays readable as AWSPREVIOUS).
Status StoreSecret(backend::SecretsBackend& secrets, const std::string& name,
                   const SecretBytes& value, const backend::Tags& tags,
                   const std::string& request_token) {
  auto created = secrets.Create(name, value, tags, request_token);
  if (created) return OkStatus();
  if (created.error().code != ErrorCode::kAlreadyExists) return tl::unexpected(created.error());
  auto put = secrets.PutVersion(name, value, request_token + "-v", {});
  if (!put) return tl::unexpected(put.error());
  return OkStatus();
}

struct AdminCredential {
  std::string role_id;
  SecretBytes secret_id;
};

SecretBytes EncodeCredential(const std::string& role_id, const SecretBytes& secret_id) {
  json j = {{"role_id", role_id}, {"secret_id", std::string(secret_id.view())}};
  std::string text = j.dump();
  WipeString(j["secret_id"].get_ref<std::string&>());
  SecretBytes out = SecretBytes::CopyFrom(text);
  WipeString(text);
  return out;
}

Result<AdminCredential> LoadCredential(backend::SecretsBackend& secrets, std::string_view site,
                                       const std::string& address) {
  std::string name = AdminCredentialSecretName(site);
  auto value = secrets.Get(name);
  if (!value) {
    if (value.error().code == ErrorCode::kNotFound) {
      return MakeError(
          ErrorCode::kFailedPrecondition,
          fmt::format(
              "the Vault at {} is initialised but vigie holds no credential for it (secret '{}' "
              "is missing): it was initialised outside vigie, or a bootstrap stopped before "
              "storing it. Either generate a root token from the recovery shares in '{}*' "
              "(sys/generate-root) and create the AppRole '{}' with policy '{}' and store its "
              "role_id/secret_id in '{}', or re-create the Vault's storage and run `vigie vault "
              "bootstrap --site {}` again",
              address, name, RecoverySharePrefix(site), kAdminRoleName, kAdminPolicyName, name,
              site));
    }
    return tl::unexpected(value.error().Wrap("reading the Vault credential '" + name + "'"));
  }
  json j = json::parse(value->view(), nullptr, false);
  AdminCredential out;
  bool ok = !j.is_discarded() && j.is_object() && j.contains("role_id") &&
            j["role_id"].is_string() && j.contains("secret_id") && j["secret_id"].is_string();
  if (ok) {
    out.role_id = j["role_id"].get<std::string>();
    out.secret_id = SecretBytes::CopyFrom(j["secret_id"].get_ref<const std::string&>());
    WipeString(j["secret_id"].get_ref<std::string&>());
  }
  if (!ok) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("secret '{}' is not a JSON object with role_id and secret_id; "
                                 "re-run bootstrap after fixing it",
                                 name));
  }
  return out;
}

Result<PolicyDrift> ComputeDrift(VaultClient& client, const SecretBytes& token,
                                 const PolicySet& desired) {
  VIGIE_ASSIGN_OR_RETURN(auto names, client.ListPolicies(token));
  PolicyDrift drift;
  for (const auto& [name, text] : desired.policies) {
    VIGIE_ASSIGN_OR_RETURN(auto current, client.GetPolicy(token, name));
    if (!current) {
      drift.missing.push_back(name);
    } else if (*current != text) {
      drift.changed.push_back(name);
    }
  }
  for (const auto& name : names) {
    if (name == "root" || name == "default") continue;
    if (desired.policies.count(name) == 0) drift.extra.push_back(name);
  }
  std::sort(drift.extra.begin(), drift.extra.end());
  return drift;
}

// The state of one run: the record, the operator-facing steps, and how it ends.
class Run {
 public:
  Run(std::string site, std::string action, std::string address, store::Store& store,
      EventSink& events, Env env)
      : store_(store), events_(events), env_(env) {
    report_.record.site = std::move(site);
    report_.record.action = std::move(action);
    report_.record.vault_address = std::move(address);
    report_.record.started_at = env_.clock->Now();
  }

  VaultRecord& record() { return report_.record; }
  void Step(std::string line) {
    log::Info("vault.step",
              {{"site", report_.record.site}, {"action", report_.record.action}, {"step", line}});
    report_.steps.push_back(std::move(line));
  }

  // Ends the run with `error`: records it with `outcome` and returns the error.
  tl::unexpected<Error> Stop(std::string outcome, Error error) {
    report_.record.outcome = std::move(outcome);
    report_.record.message = error.message;
    log::Warn("vault.run_stopped", {{"site", report_.record.site},
                                    {"action", report_.record.action},
                                    {"outcome", report_.record.outcome},
                                    {"error", error.ToString()}});
    auto saved = Save();
    if (!saved) {
      error.message += "; and the record of this run could not be saved: " + saved.error().message;
    }
    return tl::unexpected(std::move(error));
  }

  Result<BootstrapReport> Finish(std::string outcome, std::string message) {
    report_.record.outcome = std::move(outcome);
    report_.record.message = std::move(message);
    auto saved = Save();
    if (!saved) {
      return MakeError(
          saved.error().code,
          fmt::format("the Vault of site {} is done ({}), but the record of this run "
                      "could not be saved: {}; re-run to record it",
                      report_.record.site, report_.record.message, saved.error().message));
    }
    log::Info("vault.run_finished", {{"site", report_.record.site},
                                     {"action", report_.record.action},
                                     {"outcome", report_.record.outcome}});
    return std::move(report_);
  }

 private:
  Status Save() {
    report_.record.finished_at = env_.clock->Now();
    return SaveRecord(report_.record, store_, events_);
  }

  store::Store& store_;
  EventSink& events_;
  Env env_;
  BootstrapReport report_;
};

// Revokes `root` and verifies that Vault now refuses it (PROV_012).
Status RevokeRoot(VaultClient& client, SecretBytes& root, Run& run, Clock& clock) {
  VIGIE_RETURN_IF_ERROR(client.RevokeSelf(root));
  run.record().root_revoked_at = clock.Now();
  auto lookup = client.LookupSelf(root);
  if (lookup) {
    return MakeError(ErrorCode::kIntegrity,
                     "the root token was revoked (revoke-self answered OK) but lookup-self still "
                     "accepts it; revoke it by hand (vault token revoke -self) and investigate");
  }
  if (lookup.error().code != ErrorCode::kPermissionDenied) {
    return MakeError(ErrorCode::kUnavailable,
                     "the root token was revoked but the verification could not run: " +
                         lookup.error().message + "; check it with lookup-self by hand");
  }
  run.record().root_revocation_verified = true;
  run.Step("revoked the root token; lookup-self with it is refused (PROV_012)");
  root = SecretBytes();  // wiped
  return OkStatus();
}

// Step 5: AppRole "vigie-admin" bound to the built-in policy, its credential stored.
Status SetupAdminCredential(VaultClient& client, const SecretBytes& root,
                            backend::SecretsBackend& secrets, std::string_view site,
                            const std::string& request_token, Run& run) {
  VIGIE_ASSIGN_OR_RETURN(auto mounts, client.ListAuthMounts(root));
  if (!Contains(mounts, "approle/")) {
    VIGIE_RETURN_IF_ERROR(client.EnableAuth(root, "approle", "approle"));
    run.Step("enabled the approle auth method");
  }
  VIGIE_RETURN_IF_ERROR(client.PutPolicy(root, kAdminPolicyName, AdminPolicyText()));
  VIGIE_RETURN_IF_ERROR(
      client.WriteAppRole(root, kAdminRoleName, {std::string(kAdminPolicyName)}, "15m", "1h"));
  VIGIE_ASSIGN_OR_RETURN(std::string role_id, client.ReadRoleId(root, kAdminRoleName));
  VIGIE_ASSIGN_OR_RETURN(SecretBytes secret_id, client.GenerateSecretId(root, kAdminRoleName));
  SecretBytes value = EncodeCredential(role_id, secret_id);
  std::string name = AdminCredentialSecretName(site);
  backend::Tags tags = {{"site", std::string(site)},
                        {"kind", "vault-approle"},
                        {"role", std::string(kAdminRoleName)}};
  VIGIE_RETURN_IF_ERROR(StoreSecret(secrets, name, value, tags, request_token + "-approle"));
  run.record().credential_secret = name;
  run.Step(fmt::format("created AppRole '{}' (policy '{}'); its credential is in secret '{}'",
                       kAdminRoleName, kAdminPolicyName, name));
  return OkStatus();
}

// Logs in with the stored credential, reconciles, and revokes the login token.
Status ReconcileWithCredential(VaultClient& client, backend::SecretsBackend& secrets,
                               const PolicySet& policies, bool check_only, bool prune, Run& run) {
  VIGIE_ASSIGN_OR_RETURN(AdminCredential cred,
                         LoadCredential(secrets, run.record().site, client.address()));
  run.record().credential_secret = AdminCredentialSecretName(run.record().site);
  VIGIE_ASSIGN_OR_RETURN(SecretBytes token, client.AppRoleLogin(cred.role_id, cred.secret_id));
  run.Step(fmt::format("logged in with AppRole '{}' (non-root)", kAdminRoleName));
  auto result = ReconcilePolicies(client, token, policies, check_only, prune);
  // The login token is short-lived anyway; revoking it leaves nothing valid behind.
  auto revoked = client.RevokeSelf(token);
  if (!revoked) {
    log::Warn("vault.login_token_not_revoked",
              {{"site", run.record().site}, {"error", revoked.error().ToString()}});
  }
  if (!result) return tl::unexpected(result.error());
  const PolicyReconcile& r = *result;
  run.record().policies = r;
  run.record().drift = static_cast<int64_t>(r.after.count());
  for (const auto& n : r.created) run.Step("created policy " + n);
  for (const auto& n : r.updated) run.Step("updated policy " + n);
  for (const auto& n : r.deleted) run.Step("deleted policy " + n);
  if (check_only) {
    run.Step("policy drift: " + r.before.Describe());
  } else if (!r.after.empty()) {
    run.Step("policies still differing from config: " + r.after.Describe() +
             (r.after.extra.empty() || prune ? "" : " (use --prune to delete extras)"));
  } else if (r.created.empty() && r.updated.empty() && r.deleted.empty()) {
    run.Step("policies already match the config (digest " + policies.digest + ")");
  }
  return OkStatus();
}

Status ValidateParameters(const BootstrapOptions& o) {
  VIGIE_RETURN_IF_ERROR(ValidateSiteId(o.site));
  if (o.recovery_shares < 5 || o.recovery_shares > 255 || o.recovery_threshold < 3 ||
      o.recovery_threshold > o.recovery_shares) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("recovery {} of {} is not allowed: PROV_011 requires "
                                 "recovery_shares >= 5 (at most 255) and 3 <= "
                                 "recovery_threshold <= recovery_shares",
                                 o.recovery_threshold, o.recovery_shares));
  }
  if (o.kms_key_id.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "no KMS key id for the site: vigie checks the key Vault's awskms seal uses "
                     "before init (PROV_010); pass the site's key id");
  }
  return OkStatus();
}

bool OutcomeUnknown(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded ||
         e.code == ErrorCode::kInternal;
}

}  // namespace

Status ValidateSiteId(std::string_view site) {
  bool ok = !site.empty() && site.size() <= 63 && site[0] != '-';
  for (char c : site) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) ok = false;
  }
  if (!ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("site id '{}' is invalid: use [a-z0-9][a-z0-9-]{{0,62}}", site));
  }
  return OkStatus();
}

std::string RecoverySharePrefix(std::string_view site) {
  return fmt::format("vigie/sites/{}/vault/recovery-share-", site);
}
std::string RecoveryShareSecretName(std::string_view site, int index) {
  return RecoverySharePrefix(site) + std::to_string(index);
}
std::string AdminCredentialSecretName(std::string_view site) {
  return fmt::format("vigie/sites/{}/vault/approle-{}", site, kAdminRoleName);
}

Result<std::string> VaultAddressFor(const config::VaultConfig& vault, std::string_view site) {
  if (vault.address.empty()) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "vault.address is not set in the configuration; set it (\"{site}\" is "
                     "replaced by the site id) to bootstrap or reconcile a site's Vault");
  }
  std::string out = vault.address;
  for (size_t pos = out.find("{site}"); pos != std::string::npos; pos = out.find("{site}", pos)) {
    out.replace(pos, 6, site);
    pos += site.size();
  }
  return out;
}

std::string RecoveryExplanation(std::string_view site, std::string_view address) {
  return fmt::format(
      "site {} needs recovery: the Vault at {} may have been initialised, but the answer to "
      "sys/init (its recovery keys and root token) never arrived, and Vault sends them only "
      "once. vigie does not retry init. If Vault reports initialized=true, those keys are lost: "
      "sys/generate-root (attempt, then update with recovery keys) cannot help, because it needs "
      "the very recovery keys that were lost. The recovery is to re-create the Vault: stop it, "
      "wipe its storage backend (e.g. the raft data directory), start it, check that it reaches "
      "its KMS key, then run `vigie vault bootstrap --site {}` again. If Vault still reports "
      "initialized=false, simply run bootstrap again.",
      site, address, site);
}

BootstrapOptions BootstrapOptionsFromConfig(const config::VaultConfig& vault, std::string site,
                                            std::string kms_key_id, PolicySet policies) {
  BootstrapOptions o;
  o.site = std::move(site);
  o.kms_key_id = std::move(kms_key_id);
  o.recovery_shares = static_cast<int>(vault.recovery_shares);
  o.recovery_threshold = static_cast<int>(vault.recovery_threshold);
  o.init_timeout = std::chrono::seconds(vault.init_timeout_seconds);
  o.seal_types_allowed = vault.seal_types_allowed;
  o.policies = std::move(policies);
  return o;
}

Result<PolicyReconcile> ReconcilePolicies(VaultClient& client, const SecretBytes& token,
                                          const PolicySet& desired, bool check_only, bool prune) {
  PolicyReconcile r;
  VIGIE_ASSIGN_OR_RETURN(r.before, ComputeDrift(client, token, desired));
  if (check_only) {
    r.after = r.before;
    return r;
  }
  for (const auto& name : r.before.missing) {
    VIGIE_RETURN_IF_ERROR(client.PutPolicy(token, name, desired.policies.at(name)));
    r.created.push_back(name);
  }
  for (const auto& name : r.before.changed) {
    VIGIE_RETURN_IF_ERROR(client.PutPolicy(token, name, desired.policies.at(name)));
    r.updated.push_back(name);
  }
  if (prune) {
    for (const auto& name : r.before.extra) {
      if (name == "root" || name == "default") continue;  // ComputeDrift never lists them
      VIGIE_RETURN_IF_ERROR(client.DeletePolicy(token, name));
      r.deleted.push_back(name);
    }
  }
  VIGIE_ASSIGN_OR_RETURN(r.after, ComputeDrift(client, token, desired));
  return r;
}

std::string VaultRecord::EventKind() const {
  if (outcome == "needs_recovery") return "vault.needs_recovery";
  return "vault." + action;
}

std::string VaultRecord::ToJson() const {
  json j = {
      {"site", site},
      {"action", action},
      {"outcome", outcome},
      {"message", message},
      {"vault_address", vault_address},
      {"started_at", FormatRfc3339(started_at)},
      {"finished_at", FormatRfc3339(finished_at)},
      {"seal_type", seal_type},
      {"initialized", initialized},
      {"sealed", sealed},
      {"kms_key_id", kms_key_id},
      {"kms_key_checked", kms_key_checked},
      {"initialized_now", initialized_now},
      {"recovery_shares", recovery_shares},
      {"recovery_threshold", recovery_threshold},
      {"shares_stored", share_secret_names.size()},
      {"share_secret_names", share_secret_names},
      {"credential_secret", credential_secret},
      {"root_revoked_at", root_revoked_at ? json(FormatRfc3339(*root_revoked_at)) : json()},
      {"root_revocation_verified", root_revocation_verified},
      {"policy_digest", policy_digest},
      {"drift", drift},
  };
  if (policies) {
    j["policies"] = {{"before", DriftJson(policies->before)},
                     {"created", policies->created},
                     {"updated", policies->updated},
                     {"deleted", policies->deleted},
                     {"after", DriftJson(policies->after)}};
  }
  return j.dump();
}

Status SaveRecord(const VaultRecord& r, store::Store& store, EventSink& events) {
  std::string body = r.ToJson();
  std::vector<store::Value> params = {
      r.site,
      r.action,
      r.outcome,
      ToUnixSeconds(r.started_at),
      ToUnixSeconds(r.finished_at),
      r.seal_type,
      int64_t{r.initialized},
      int64_t{r.sealed},
      int64_t{r.initialized_now},
      int64_t{r.recovery_shares},
      int64_t{r.recovery_threshold},
      static_cast<int64_t>(r.share_secret_names.size()),
      r.root_revoked_at ? store::Value(ToUnixSeconds(*r.root_revoked_at))
                        : store::Value(std::monostate{}),
      int64_t{r.root_revocation_verified},
      r.policy_digest,
      r.drift,
      r.message,
      body,
  };
  VIGIE_RETURN_IF_ERROR(store.Write([&](store::Txn& txn) {
    return txn.Exec(
        "INSERT INTO vault_bootstrap (site, action, outcome, started_at, finished_at, seal_type, "
        "initialized, sealed, initialized_now, recovery_shares, recovery_threshold, "
        "shares_stored, root_revoked_at, root_revocation_verified, policy_digest, drift, "
        "message, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params);
  }));
  VIGIE_RETURN_IF_ERROR(events.Append(r.EventKind(), r.site, body));
  return OkStatus();
}

Result<std::optional<std::string>> LastOutcome(store::Store& store, std::string_view site) {
  VIGIE_ASSIGN_OR_RETURN(
      auto rows, store.Query("SELECT outcome FROM vault_bootstrap WHERE site = ? ORDER BY id DESC "
                             "LIMIT 1",
                             {std::string(site)}));
  if (rows.empty()) return std::optional<std::string>();
  VIGIE_ASSIGN_OR_RETURN(std::string outcome, rows[0].GetText("outcome"));
  return std::optional<std::string>(std::move(outcome));
}

Result<BootstrapReport> Bootstrap(const BootstrapOptions& options, VaultClient& client,
                                  backend::SecretsBackend& secrets, backend::KmsBackend& kms,
                                  store::Store& store, EventSink& events, Env env) {
  VIGIE_RETURN_IF_ERROR(ValidateSiteId(options.site));
  Run run(options.site, "bootstrap", client.address(), store, events, env);
  VaultRecord& rec = run.record();
  rec.policy_digest = options.policies.digest;
  rec.kms_key_id = options.kms_key_id;
  if (auto valid = ValidateParameters(options); !valid) {
    return run.Stop("refused", valid.error());
  }

  // 1. Seal type first (PROV_010).
  auto seal = client.GetSealStatus();
  if (!seal) return run.Stop("failed", seal.error());
  rec.seal_type = seal->type;
  rec.initialized = seal->initialized;
  rec.sealed = seal->sealed;
  if (seal->type == "shamir" || seal->type.empty() ||
      !Contains(options.seal_types_allowed, seal->type)) {
    return run.Stop(
        "refused",
        Error{ErrorCode::kFailedPrecondition,
              fmt::format("refusing to bootstrap the Vault at {}: its seal type is '{}', and vigie "
                          "requires KMS auto-unseal ({}), never manual Shamir unseal (PROV_010). "
                          "Nothing was done. Configure a seal \"awskms\" stanza in Vault's "
                          "configuration, restart it, and run bootstrap again",
                          client.address(), seal->type.empty() ? "unknown" : seal->type,
                          fmt::join(options.seal_types_allowed, ", "))});
  }
  run.Step(fmt::format("seal type {} (initialized={}, sealed={})", seal->type, seal->initialized,
                       seal->sealed));

  auto last = LastOutcome(store, options.site);
  if (!last) return run.Stop("failed", last.error().Wrap("reading the site's last Vault record"));
  if (seal->initialized && *last == std::optional<std::string>("needs_recovery")) {
    return run.Stop("needs_recovery", Error{ErrorCode::kFailedPrecondition,
                                            RecoveryExplanation(options.site, client.address())});
  }

  if (seal->initialized) {
    // Idempotent re-run: no init; the non-root credential reconciles.
    if (seal->sealed) {
      return run.Stop(
          "failed",
          Error{ErrorCode::kUnavailable,
                fmt::format("the Vault at {} is initialised but sealed: its {} auto-unseal did "
                            "not work; check that Vault reaches its KMS key and read Vault's log",
                            client.address(), seal->type)});
    }
    run.Step("already initialised: no init");
    auto reconciled = ReconcileWithCredential(client, secrets, options.policies,
                                              /*check_only=*/false, options.prune, run);
    if (!reconciled) return run.Stop("failed", reconciled.error());
    return run.Finish(
        rec.drift == 0 ? "ok" : "drift",
        fmt::format("Vault already initialised; policies reconciled (drift {})", rec.drift));
  }

  // 2. The KMS key must exist and be enabled before init (vault #6121).
  auto key = kms.DescribeKey(options.kms_key_id);
  if (!key) {
    if (key.error().code == ErrorCode::kNotFound) {
      return run.Stop(
          "refused",
          Error{ErrorCode::kFailedPrecondition,
                fmt::format("refusing to initialise the Vault at {}: its KMS key '{}' does not "
                            "exist ({}). Vault would initialise, fail to reach KMS, answer 500 "
                            "and lose the recovery keys. Nothing was done: create the key or fix "
                            "the key id (PROV_010)",
                            client.address(), options.kms_key_id, key.error().message)});
    }
    return run.Stop(
        "failed", key.error().Wrap(fmt::format(
                      "checking KMS key '{}' before init (nothing was done)", options.kms_key_id)));
  }
  if (!key->enabled) {
    return run.Stop(
        "refused",
        Error{ErrorCode::kFailedPrecondition,
              fmt::format("refusing to initialise the Vault at {}: its KMS key '{}' is disabled "
                          "or pending deletion; Vault could not unseal and the recovery keys "
                          "would be lost. Nothing was done: enable the key (PROV_010)",
                          client.address(), options.kms_key_id)});
  }
  rec.kms_key_checked = true;
  run.Step(fmt::format("KMS key {} exists and is enabled", options.kms_key_id));

  // 3. Init, once (PROV_011).
  rec.initialized_now = true;
  rec.recovery_shares = options.recovery_shares;
  rec.recovery_threshold = options.recovery_threshold;
  auto init =
      client.Init(options.recovery_shares, options.recovery_threshold, options.init_timeout);
  if (!init) {
    if (!OutcomeUnknown(init.error())) return run.Stop("failed", init.error());
    // The request may have reached Vault. Look once; never retry init.
    auto again = client.GetSealStatus();
    if (again && !again->initialized) {
      rec.initialized = false;
      return run.Stop("failed",
                      init.error().Wrap("init failed and Vault still reports initialized=false; "
                                        "fix the cause and run bootstrap again"));
    }
    if (again) {
      rec.initialized = again->initialized;
      rec.sealed = again->sealed;
    }
    return run.Stop(
        "needs_recovery",
        Error{ErrorCode::kFailedPrecondition,
              fmt::format("{} (init: {}; seal-status afterwards: {})",
                          RecoveryExplanation(options.site, client.address()), init.error().message,
                          again ? "initialized=true" : again.error().message)});
  }
  rec.initialized = true;
  rec.sealed = false;
  SecretBytes root = std::move(init->root_token);
  run.Step(fmt::format("initialised with {} recovery shares, threshold {}", options.recovery_shares,
                       options.recovery_threshold));

  // 4. Shares to the secrets backend before the root token is used (PROV_004).
  std::string token = RequestToken(*env.random);
  for (size_t i = 0; i < init->recovery_keys.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    std::string name = RecoveryShareSecretName(options.site, index);
    std::string b64 = Base64Encode(init->recovery_keys[i].span());
    SecretBytes value = SecretBytes::CopyFrom(b64);
    WipeString(b64);
    backend::Tags tags = {{"site", options.site},
                          {"share_index", std::to_string(index)},
                          {"share_count", std::to_string(options.recovery_shares)},
                          {"threshold", std::to_string(options.recovery_threshold)},
                          {"kind", "vault-recovery-share"}};
    auto stored =
        StoreSecret(secrets, name, value, tags, token + "-share-" + std::to_string(index));
    if (!stored) {
      init->recovery_keys.clear();  // wiped: they were shown nowhere and cannot be kept
      auto revoked = RevokeRoot(client, root, run, *env.clock);
      return run.Stop(
          "needs_recovery",
          Error{stored.error().code,
                fmt::format("storing recovery share {} of {} in secret '{}' failed: {}. The "
                            "shares are not kept anywhere else (PROV_004), so this Vault's "
                            "recovery keys are lost; the root token was {}. {}",
                            index, options.recovery_shares, name, stored.error().message,
                            revoked ? "revoked" : "NOT revoked (" + revoked.error().message + ")",
                            RecoveryExplanation(options.site, client.address()))});
    }
    rec.share_secret_names.push_back(name);
  }
  init->recovery_keys.clear();
  run.Step(fmt::format("stored {} recovery shares, one secret each, under {}*",
                       rec.share_secret_names.size(), RecoverySharePrefix(options.site)));
  // Shares of an earlier Vault with a higher index are useless now: remove them.
  if (auto listed = secrets.List(RecoverySharePrefix(options.site)); listed) {
    for (const auto& info : *listed) {
      if (!Contains(rec.share_secret_names, info.name)) {
        if (secrets.Delete(info.name)) run.Step("deleted stale share secret " + info.name);
      }
    }
  }

  // 5-6. Non-root credential, then policies with it.
  auto after_init = [&](Error e) {
    auto revoked = RevokeRoot(client, root, run, *env.clock);
    e.message += fmt::format(
        ". The recovery shares are stored; the root token was {}. To finish, generate a root "
        "token from the recovery shares (sys/generate-root), create the AppRole '{}' by hand or "
        "re-create the Vault and run bootstrap again",
        revoked ? "revoked" : "NOT revoked (" + revoked.error().message + ")", kAdminRoleName);
    return run.Stop("failed", std::move(e));
  };
  if (auto s = SetupAdminCredential(client, root, secrets, options.site, token, run); !s) {
    return after_init(s.error());
  }
  if (auto s =
          ReconcileWithCredential(client, secrets, options.policies, false, options.prune, run);
      !s) {
    return after_init(s.error());
  }

  // 7. Revoke root and verify (PROV_012).
  if (auto s = RevokeRoot(client, root, run, *env.clock); !s) {
    return run.Stop("failed", s.error());
  }
  return run.Finish(rec.drift == 0 ? "ok" : "drift",
                    fmt::format("Vault initialised ({} of {}), shares stored, root revoked",
                                options.recovery_threshold, options.recovery_shares));
}

Result<BootstrapReport> Reconcile(const ReconcileOptions& options, VaultClient& client,
                                  backend::SecretsBackend& secrets, store::Store& store,
                                  EventSink& events, Env env) {
  VIGIE_RETURN_IF_ERROR(ValidateSiteId(options.site));
  Run run(options.site, options.check_only ? "check" : "reconcile", client.address(), store, events,
          env);
  VaultRecord& rec = run.record();
  rec.policy_digest = options.policies.digest;
  auto seal = client.GetSealStatus();
  if (!seal) return run.Stop("failed", seal.error());
  rec.seal_type = seal->type;
  rec.initialized = seal->initialized;
  rec.sealed = seal->sealed;
  if (!seal->initialized || seal->sealed) {
    return run.Stop(
        "failed",
        Error{ErrorCode::kFailedPrecondition,
              fmt::format("the Vault at {} is {}: run `vigie vault bootstrap --site {}` first",
                          client.address(), seal->initialized ? "sealed" : "not initialised",
                          options.site)});
  }
  auto s = ReconcileWithCredential(client, secrets, options.policies, options.check_only,
                                   options.prune, run);
  if (!s) return run.Stop("failed", s.error());
  return run.Finish(rec.drift == 0 ? "ok" : "drift",
                    fmt::format("policy drift {}", rec.policies->after.Describe()));
}

namespace {

void PrintReport(const BootstrapReport& report, std::FILE* out) {
  for (const auto& step : report.steps) fmt::print(out, "  {}\n", step);
  fmt::print(out, "{} site {}: {} ({})\n", report.record.action, report.record.site,
             report.record.outcome, report.record.message);
}

}  // namespace

int RunVaultBootstrap(const config::Config& config, const std::string& site,
                      const std::string& kms_key_id, const VaultCommandDeps& deps, std::FILE* out,
                      std::FILE* err) {
  auto fail = [&](const Error& e) {
    fmt::print(err, "vigie vault bootstrap: {}\n", e.ToString());
    return ExitCodeFor(e.code);
  };
  auto address = VaultAddressFor(config.vault, site);
  if (!address) return fail(address.error());
  auto policies = LoadPolicies(config.vault.policies_dir, *deps.env.fs);
  if (!policies) return fail(policies.error());
  VaultClient client(*deps.http, *address);
  BootstrapOptions options =
      BootstrapOptionsFromConfig(config.vault, site, kms_key_id, std::move(*policies));
  auto report =
      Bootstrap(options, client, *deps.secrets, *deps.kms, *deps.store, *deps.events, deps.env);
  if (!report) return fail(report.error());
  PrintReport(*report, out);
  return 0;
}

int RunVaultReconcile(const config::Config& config, const std::string& site, bool check_only,
                      bool prune, const VaultCommandDeps& deps, std::FILE* out, std::FILE* err) {
  auto fail = [&](const Error& e) {
    fmt::print(err, "vigie vault reconcile: {}\n", e.ToString());
    return ExitCodeFor(e.code);
  };
  auto address = VaultAddressFor(config.vault, site);
  if (!address) return fail(address.error());
  auto policies = LoadPolicies(config.vault.policies_dir, *deps.env.fs);
  if (!policies) return fail(policies.error());
  VaultClient client(*deps.http, *address);
  ReconcileOptions options{site, std::move(*policies), check_only, prune};
  auto report = Reconcile(options, client, *deps.secrets, *deps.store, *deps.events, deps.env);
  if (!report) return fail(report.error());
  PrintReport(*report, out);
  if (report->record.drift != 0) {
    fmt::print(err, "vigie vault reconcile: policy drift on site {}: {} (PROV_013)\n", site,
               report->record.policies->after.Describe());
    return ExitCodeFor(ErrorCode::kCheckFailed);
  }
  return 0;
}

}  // namespace vigie::vault
