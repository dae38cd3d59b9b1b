#pragma once
// Test helpers of the fleet module (not part of the library).

#include <cstdint>
#include <string>

#include "base/error.h"
#include "store/store.h"

namespace vigie::fleet::testutil {

// The rows provisioning leaves for a site the fleet manager serves: `sites` and a `packages` row
// (id "pkg-<site>", enrollment key fingerprint "fp-<site>", valid 30 days from `now`).
inline Status InsertProvisionedSite(store::Txn& txn, const std::string& site, int64_t now) {
  VIGIE_RETURN_IF_ERROR(txn.Exec(
      "INSERT INTO sites (id, region, state, created_at, updated_at) VALUES (?, 'eu-west-3', "
      "'provisioned', ?, ?)",
      {site, now, now}));
  return txn.Exec(
      "INSERT INTO packages (package_id, site_id, path, file_sha256, signed_bytes, signature, "
      "fleet_key, enrollment_key, enrollment_key_fingerprint, created_at, expires_at) VALUES "
      "(?, ?, 'p', 'x', X'00', X'00', X'00', X'00', ?, ?, ?)",
      {"pkg-" + site, site, "fp-" + site, now, now + 86400 * 30});
}

}  // namespace vigie::fleet::testutil
