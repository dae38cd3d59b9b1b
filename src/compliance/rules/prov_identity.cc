// Checks of section "Provisioning: identity and credentials" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (provisioning (src/provision) and the identity backend), a rule is registered with
// RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterProvIdentityRules(RuleRegistry& registry) {
  // PROV_001 will prove: every site has exactly one IAM principal; no principal, access key or
  // secret is shared between two sites; each principal's policy names only its own site's
  // resources.
  registry.RegisterNotImplemented("PROV_001");

  // PROV_002 will prove: every credential record carries provenance "generated", its generator and
  // >= 128 bits of entropy.
  registry.RegisterNotImplemented("PROV_002");

  // PROV_003 will prove: no plaintext secret in the store, logs or package (a scan for every known
  // secret finds none); the package's secret section decrypts only with the site's key.
  registry.RegisterNotImplemented("PROV_003");

  // PROV_004 will prove: all recovery shares of the site are in Secrets Manager; no recovery
  // material on the site's or the operator's disk.
  registry.RegisterNotImplemented("PROV_004");

  // PROV_005 will prove: the initial admin credential is changed (timestamp) or still enforced as
  // must-change.
  registry.RegisterNotImplemented("PROV_005");
}

}  // namespace vigie::compliance
