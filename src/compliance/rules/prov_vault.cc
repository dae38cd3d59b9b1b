// Checks of section "Provisioning: Vault and secrets" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). The evidence is the record each
// `vigie vault bootstrap|reconcile` run leaves (src/vault/bootstrap.h, table vault_bootstrap).
// A site without a record is FAIL "no evidence" (see vault_common.h for why not NOT_APPLICABLE).

#include <fmt/format.h>

#include <algorithm>

#include "compliance/registry.h"
#include "compliance/rules/families.h"
#include "compliance/rules/vault_common.h"

namespace vigie::compliance {

namespace {

using vault_rules::NoInitRecord;
using vault_rules::NoVaultRecord;

std::string Bool(bool b) { return b ? "true" : "false"; }

// Auto-unseal seals backed by a cloud KMS. awskms is the one vigie deploys; the others are KMS
// services too and satisfy "KMS auto-unseal, not manual Shamir".
bool IsKmsSeal(std::string_view type) {
  for (std::string_view k : {"awskms", "gcpckms", "azurekeyvault", "alicloudkms", "ocikms"}) {
    if (type == k) return true;
  }
  return false;
}

// PROV_010: the site's Vault reports a KMS (awskms) seal, initialised and unsealed.
CheckResult Check_PROV_010(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto vault = evidence.VaultBootstrap(site);
  if (!vault) return NoVaultRecord(evidence, site);
  const VaultRunEvidence& last = vault->latest;
  std::vector<EvidenceItem> items = {
      {"seal_type", last.seal_type.empty() ? "unknown" : last.seal_type},
      {"initialized", Bool(last.initialized)},
      {"sealed", Bool(last.sealed)},
      {"observed_at", FormatRfc3339(last.at)},
      {"last_run", last.action + " " + last.outcome}};
  std::string remedy = fmt::format(
      "configure Vault with a seal \"awskms\" stanza whose KMS key exists and is enabled, then "
      "run `vigie vault bootstrap --site {}`",
      site);
  if (last.seal_type.empty()) {
    return Fail("the last Vault run could not read sys/seal-status: " + last.message, remedy,
                items);
  }
  if (!IsKmsSeal(last.seal_type)) {
    return Fail(fmt::format("the Vault's seal is '{}', not KMS auto-unseal", last.seal_type),
                remedy, items);
  }
  if (!last.initialized || last.sealed) {
    return Fail(fmt::format("the Vault ({} seal) is {}", last.seal_type,
                            !last.initialized ? "not initialised" : "sealed: KMS unseal failed"),
                remedy, items);
  }
  return Pass(fmt::format("{} seal, initialised and unsealed at {}", last.seal_type,
                          FormatRfc3339(last.at)),
              items);
}

// PROV_011: recorded init parameters, stored share count (and, when visible, the shares in the
// secrets backend) meet 3 of 5.
CheckResult Check_PROV_011(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto vault = evidence.VaultBootstrap(site);
  if (!vault) return NoVaultRecord(evidence, site);
  if (!vault->init) return NoInitRecord(site);
  const VaultInitEvidence& init = *vault->init;
  std::vector<EvidenceItem> items = {
      {"recovery_shares", std::to_string(init.recovery_shares)},
      {"recovery_threshold", std::to_string(init.recovery_threshold)},
      {"shares_stored", std::to_string(init.shares_stored)},
      {"initialized_at", FormatRfc3339(init.at)}};
  std::string remedy = fmt::format(
      "set vault.recovery_shares >= 5 and vault.recovery_threshold >= 3; a Vault initialised "
      "with fewer must be re-created and bootstrapped again (`vigie vault bootstrap --site {}`)",
      site);
  if (init.recovery_shares < 5 || init.recovery_threshold < 3 ||
      init.recovery_threshold > init.recovery_shares) {
    return Fail(fmt::format("the Vault was initialised with {} of {} recovery shares; at least 3 "
                            "of 5 are required",
                            init.recovery_threshold, init.recovery_shares),
                remedy, items);
  }
  if (init.shares_stored < init.recovery_shares) {
    return Fail(fmt::format("only {} of the {} recovery shares were stored (init outcome {})",
                            init.shares_stored, init.recovery_shares, init.outcome),
                remedy, items);
  }
  if (auto secrets = evidence.SecretsWithPrefix(vault_rules::RecoverySharePrefix(site))) {
    auto present = std::count_if(secrets->begin(), secrets->end(), [&](const SecretEvidence& s) {
      auto it = s.tags.find("site");
      return it != s.tags.end() && it->second == site;
    });
    items.push_back({"shares_in_secrets_backend", std::to_string(present)});
    if (present < init.recovery_shares) {
      return Fail(fmt::format("the secrets backend holds {} of the {} recovery shares", present,
                              init.recovery_shares),
                  remedy, items);
    }
  }
  return Pass(fmt::format("initialised with threshold {} of {} shares; {} stored",
                          init.recovery_threshold, init.recovery_shares, init.shares_stored),
              items);
}

// PROV_012: the bootstrap record has root_revoked_at and a passed verification.
CheckResult Check_PROV_012(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto vault = evidence.VaultBootstrap(site);
  if (!vault) return NoVaultRecord(evidence, site);
  if (!vault->init) return NoInitRecord(site);
  const VaultInitEvidence& init = *vault->init;
  std::vector<EvidenceItem> items = {
      {"initialized_at", FormatRfc3339(init.at)},
      {"root_revoked_at", init.root_revoked_at ? FormatRfc3339(*init.root_revoked_at) : "never"},
      {"revocation_verified", Bool(init.root_revocation_verified)},
      {"init_outcome", init.outcome}};
  std::string remedy =
      "revoke the root token (vault token revoke -self, or sys/generate-root then revoke), check "
      "that lookup-self refuses it, and re-create the Vault if the root token may have been "
      "kept: vigie never persists it";
  if (!init.root_revoked_at) {
    return Fail("the root token of the site's Vault was not revoked after bootstrap", remedy,
                items);
  }
  if (!init.root_revocation_verified) {
    return Fail(
        "the root token was revoked but the revocation was not verified (lookup-self was "
        "not refused)",
        remedy, items);
  }
  return Pass(fmt::format("root token revoked at {}, lookup-self refused",
                          FormatRfc3339(*init.root_revoked_at)),
              items);
}

// PROV_013: no drift between the policy config directory and the site's Vault, as of the last
// run that compared them.
CheckResult Check_PROV_013(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto vault = evidence.VaultBootstrap(site);
  if (!vault) return NoVaultRecord(evidence, site);
  if (!vault->last_policy_run) {
    return NoEvidence(fmt::format("no run compared the policies of site {} with its Vault", site),
                      fmt::format("run `vigie vault reconcile --site {}`", site));
  }
  const VaultRunEvidence& run = *vault->last_policy_run;
  std::vector<EvidenceItem> items = {{"drift", std::to_string(run.drift)},
                                     {"policy_digest", run.policy_digest},
                                     {"checked_at", FormatRfc3339(run.at)},
                                     {"run", run.action + " " + run.outcome}};
  if (run.drift > 0) {
    return Fail(
        fmt::format("{} Vault policies differ from the config ({})", run.drift, run.message),
        fmt::format("run `vigie vault reconcile --site {} --prune` (extras are only "
                    "deleted with --prune)",
                    site),
        items);
  }
  return Pass(fmt::format("policies match the config (digest {}) as of {}",
                          run.policy_digest.substr(0, 12), FormatRfc3339(run.at)),
              items);
}

}  // namespace

void RegisterProvVaultRules(RuleRegistry& registry) {
  registry.Register("PROV_010", Check_PROV_010);
  registry.Register("PROV_011", Check_PROV_011);
  registry.Register("PROV_012", Check_PROV_012);
  registry.Register("PROV_013", Check_PROV_013);
}

}  // namespace vigie::compliance
