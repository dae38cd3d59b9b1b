#pragma once
// Helpers shared by the checks that judge Vault bootstrap records (prov_vault.cc: PROV_010..013;
// prov_identity.cc: PROV_004). Internal to vigie_compliance.

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "compliance/evidence.h"
#include "compliance/rule.h"

namespace vigie::compliance::vault_rules {

// The secret names src/vault gives recovery shares (vault::RecoverySharePrefix; the vault tests
// check that a real bootstrap passes these checks, which keeps the two in step).
inline std::string RecoverySharePrefix(std::string_view site) {
  return fmt::format("vigie/sites/{}/vault/recovery-share-", site);
}

// FAIL "no evidence" for a site without any bootstrap record. Deliberately not NOT_APPLICABLE
// when no Vault is configured: the spec requires every site's Vault to hold PROV_004 and
// PROV_010..013, so a fleet without a configured Vault has not shown that they hold; reporting
// NOT_APPLICABLE would let one missing config line make five rules vanish from the report.
inline CheckResult NoVaultRecord(EvidenceSource& evidence, std::string_view site) {
  auto address = evidence.Config("vault.address");
  std::string what = address && address->empty()
                         ? fmt::format(
                               "no Vault configured for site {} (vault.address is empty) and no "
                               "bootstrap record",
                               site)
                         : fmt::format("no Vault bootstrap record for site {}", site);
  return NoEvidence(what, fmt::format("set [vault] address in the configuration, then run "
                                      "`vigie vault bootstrap --site {}`",
                                      site));
}

inline CheckResult NoInitRecord(std::string_view site) {
  return NoEvidence(
      fmt::format("no record of vigie initialising the Vault of site {} (it was initialised "
                  "outside vigie, or never)",
                  site),
      fmt::format("bootstrap the site's Vault with `vigie vault bootstrap --site {}` (a Vault "
                  "initialised by hand must be re-created: its init parameters and the fate of "
                  "its root token and keys cannot be proven)",
                  site));
}

}  // namespace vigie::compliance::vault_rules
