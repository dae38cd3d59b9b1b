// Checks of section "Maintenance: documentation and procedures" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the runbook, DR drill, changelog and incident capabilities), a rule is registered with
// RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterMaintDocsRules(RuleRegistry& registry) {
  // MAINT_060 will prove: the runbook exists and matches the current configuration. (fleet rule)
  registry.RegisterNotImplemented("MAINT_060");

  // MAINT_061 will prove: last passing DR drill < 92 days old.
  registry.RegisterNotImplemented("MAINT_061");

  // MAINT_062 will prove: every deployment has its changelog entry.
  registry.RegisterNotImplemented("MAINT_062");

  // MAINT_063 will prove: every closed major incident has a post-mortem. (fleet rule)
  registry.RegisterNotImplemented("MAINT_063");
}

}  // namespace vigie::compliance
