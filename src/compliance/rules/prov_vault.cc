// Checks of section "Provisioning: Vault and secrets" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the Vault bootstrap capability (src/vault)), a rule is registered with RegisterNotImplemented()
// and reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterProvVaultRules(RuleRegistry& registry) {
  // PROV_010 will prove: the site's Vault reports an awskms seal, initialised and unsealed.
  registry.RegisterNotImplemented("PROV_010");

  // PROV_011 will prove: the recorded init parameters and the share count in Secrets Manager meet 3
  // of 5.
  registry.RegisterNotImplemented("PROV_011");

  // PROV_012 will prove: every bootstrap record has root_revoked_at and a passed verification.
  registry.RegisterNotImplemented("PROV_012");

  // PROV_013 will prove: no drift between the policy config directory and the site's Vault.
  registry.RegisterNotImplemented("PROV_013");
}

}  // namespace vigie::compliance
