// RegisterAllRules: the one place that lists every rule family. Explicit calls, no static
// initialisers; a catalog rule missing here is reported FAIL "not registered" by the engine.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterAllRules(RuleRegistry& registry) {
  RegisterProvIdentityRules(registry);
  RegisterProvVaultRules(registry);
  RegisterProvRegistrationRules(registry);
  RegisterMaintMonitoringRules(registry);
  RegisterMaintBackupRules(registry);
  RegisterMaintRotationRules(registry);
  RegisterMaintPatchingRules(registry);
  RegisterMaintLogsRules(registry);
  RegisterMaintDocsRules(registry);
}

}  // namespace vigie::compliance
