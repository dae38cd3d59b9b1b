// Checks of section "Maintenance: monitoring and alerting (capacity rules MAINT_050-054 included)"
// of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the fleet manager heartbeats, metrics and alerting (src/fleet, src/alerting)), a rule is
// registered with RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterMaintMonitoringRules(RuleRegistry& registry) {
  // MAINT_001 will prove: the site's recent heartbeat interval is <= 60 s plus tolerance.
  registry.RegisterNotImplemented("MAINT_001");

  // MAINT_002 will prove: every heartbeat gap > 120 s produced an alert; none was missed.
  registry.RegisterNotImplemented("MAINT_002");

  // MAINT_003 will prove: the fleet manager's and the agent's /metrics answer and parse.
  registry.RegisterNotImplemented("MAINT_003");

  // MAINT_004 will prove: dashboards are provisioned and every query's metric exists. (fleet rule)
  registry.RegisterNotImplemented("MAINT_004");

  // MAINT_005 will prove: routes send critical alerts to email and SMS; the last test delivery
  // succeeded. (fleet rule)
  registry.RegisterNotImplemented("MAINT_005");

  // MAINT_050 will prove: the disk > 80% WARNING rule is active with that threshold. (fleet rule)
  registry.RegisterNotImplemented("MAINT_050");

  // MAINT_051 will prove: the RAM > 90% WARNING rule is active with that threshold. (fleet rule)
  registry.RegisterNotImplemented("MAINT_051");

  // MAINT_052 will prove: the CPU > 80% for 5 min WARNING rule is active with those values. (fleet
  // rule)
  registry.RegisterNotImplemented("MAINT_052");

  // MAINT_053 will prove: the API latency p95 > 500 ms WARNING rule is active with that threshold.
  // (fleet rule)
  registry.RegisterNotImplemented("MAINT_053");

  // MAINT_054 will prove: scaling signals configured where the infrastructure supports it,
  // NOT_APPLICABLE with the reason where not.
  registry.RegisterNotImplemented("MAINT_054");
}

}  // namespace vigie::compliance
