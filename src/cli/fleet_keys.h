#pragma once
// The fleet's Ed25519 signing key (packages: PROV_023; ledger tree heads: PROV_020, MAINT_043).
// Layout under <data_dir>/fleet/ (directory 0700):
//   signing.key      the 32-byte seed, hex, mode 0600 (the embedded-default trade-off: the key
//                    sits on the fleet manager's disk; production may keep it in a KMS later)
//   signing.pub.pem  the public key, SubjectPublicKeyInfo PEM, for operators and `openssl`.

#include <string>

#include "base/env.h"
#include "crypto/sign.h"

namespace vigie::cli {

std::string FleetPublicKeyPath(const std::string& data_dir);

// Loads the fleet key, creating it (with the CSPRNG of `env`) on first use.
// Errors: kPermissionDenied when signing.key is readable by group or others (with the chmod to
// run); kIntegrity when it is malformed; kIo.
Result<crypto::SigningKey> LoadOrCreateFleetKey(const std::string& data_dir, Env env);

}  // namespace vigie::cli
