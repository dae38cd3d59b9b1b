// Checks of section "Maintenance: secret rotation" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the rotation capability (src/rotation)), a rule is registered with RegisterNotImplemented() and
// reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterMaintRotationRules(RuleRegistry& registry) {
  // MAINT_020 will prove: KMS rotation on, period <= 365 d, last rotation < 365 d.
  registry.RegisterNotImplemented("MAINT_020");

  // MAINT_021 will prove: last DB credential rotation < 92 d.
  registry.RegisterNotImplemented("MAINT_021");

  // MAINT_022 will prove: no certificate within 30 days of expiry without an alert; none expired.
  registry.RegisterNotImplemented("MAINT_022");

  // MAINT_023 will prove: every credential-exposure incident has a rotation after it.
  registry.RegisterNotImplemented("MAINT_023");

  // MAINT_024 will prove: no previous key version deleted before 30 days; rollback works.
  registry.RegisterNotImplemented("MAINT_024");
}

}  // namespace vigie::compliance
