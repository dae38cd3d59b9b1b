// Checks of section "Provisioning: registration" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the ledger (src/ledger), fleet manager (src/fleet) and package signing), a rule is registered
// with RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterProvRegistrationRules(RuleRegistry& registry) {
  // PROV_020 will prove: every provisioning event is included under an anchored root, and the on-
  // chain transaction carries that root.
  registry.RegisterNotImplemented("PROV_020");

  // PROV_021 will prove: the site registered, or is still inside its registration grace period.
  registry.RegisterNotImplemented("PROV_021");

  // PROV_022 will prove: every active licence was preceded by a passing healthcheck inside the
  // window.
  registry.RegisterNotImplemented("PROV_022");

  // PROV_023 will prove: each package's Ed25519 signature verifies against the fleet key.
  registry.RegisterNotImplemented("PROV_023");
}

}  // namespace vigie::compliance
