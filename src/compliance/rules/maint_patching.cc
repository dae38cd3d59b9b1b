// Checks of section "Maintenance: security patching" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the vulnerability tracking capability (src/patching)), a rule is registered with
// RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterMaintPatchingRules(RuleRegistry& registry) {
  // MAINT_030 will prove: last CVE scan < 24 h for every deployed image.
  registry.RegisterNotImplemented("MAINT_030");

  // MAINT_031 will prove: no critical finding open > 24 h.
  registry.RegisterNotImplemented("MAINT_031");

  // MAINT_032 will prove: no high finding open > 7 d.
  registry.RegisterNotImplemented("MAINT_032");

  // MAINT_033 will prove: no medium finding open > 30 d.
  registry.RegisterNotImplemented("MAINT_033");

  // MAINT_034 will prove: security-only automatic updates configured, last run recent.
  registry.RegisterNotImplemented("MAINT_034");

  // MAINT_035 will prove: last dependency audit recent, findings within SLA. (fleet rule)
  registry.RegisterNotImplemented("MAINT_035");
}

}  // namespace vigie::compliance
