// Checks of section "Maintenance: backup and recovery" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the backup capability (src/backup)), a rule is registered with RegisterNotImplemented() and
// reports FAIL "not implemented" -- never PASS.

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

void RegisterMaintBackupRules(RuleRegistry& registry) {
  // MAINT_010 will prove: last successful backup < 24 h old.
  registry.RegisterNotImplemented("MAINT_010");

  // MAINT_011 will prove: every stored backup object is OpenPGP ciphertext for the configured
  // recipients.
  registry.RegisterNotImplemented("MAINT_011");

  // MAINT_012 will prove: the bucket's region (read from the bucket itself) differs from the site's
  // region.
  registry.RegisterNotImplemented("MAINT_012");

  // MAINT_013 will prove: no backup younger than 90 days was ever deleted.
  registry.RegisterNotImplemented("MAINT_013");

  // MAINT_014 will prove: last passing restore test < 31 days old.
  registry.RegisterNotImplemented("MAINT_014");

  // MAINT_015 will prove: newest recoverable point < 1 h old.
  registry.RegisterNotImplemented("MAINT_015");

  // MAINT_016 will prove: last measured restore < 10 min.
  registry.RegisterNotImplemented("MAINT_016");
}

}  // namespace vigie::compliance
