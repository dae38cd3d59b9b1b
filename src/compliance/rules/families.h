#pragma once
// One registration function per section of spec/INVARIANTS.md, each in rules/<section>.cc.
// Internal to vigie_compliance: callers use RegisterAllRules() (compliance/registry.h).

#include "compliance/registry.h"

namespace vigie::compliance {

void RegisterProvIdentityRules(RuleRegistry& registry);
void RegisterProvVaultRules(RuleRegistry& registry);
void RegisterProvRegistrationRules(RuleRegistry& registry);
void RegisterMaintMonitoringRules(RuleRegistry& registry);
void RegisterMaintBackupRules(RuleRegistry& registry);
void RegisterMaintRotationRules(RuleRegistry& registry);
void RegisterMaintPatchingRules(RuleRegistry& registry);
void RegisterMaintLogsRules(RuleRegistry& registry);
void RegisterMaintDocsRules(RuleRegistry& registry);

}  // namespace vigie::compliance
