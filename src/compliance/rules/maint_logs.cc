// Checks of section "Maintenance: logs" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the log shipping and audit chain capability (src/logs)), a rule is registered with
// RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterMaintLogsRules(RuleRegistry& registry) {
  // MAINT_040 will prove: shipping lag bounded; Loki retention >= 2160 h.
  registry.RegisterNotImplemented("MAINT_040");

  // MAINT_041 will prove: every closed segment archived to S3 with retention >= 3650 d.
  registry.RegisterNotImplemented("MAINT_041");

  // MAINT_042 will prove: no local segment older than 7 days left uncompressed.
  registry.RegisterNotImplemented("MAINT_042");

  // MAINT_043 will prove: hash-chain verification passes on the site's logs.
  registry.RegisterNotImplemented("MAINT_043");
}

}  // namespace vigie::compliance
