#pragma once
// `vigie site provision <site-id> --region R --enrollment-key FILE` and
// `vigie site provision --batch FILE`, as plain functions the CLI (src/cli) wires to its flags.
// The CLI builds the Provisioner (store, backends from config, fleet signing key, ledger sink).
//
// No flag, prompt, environment variable or file lets an operator supply a credential (PROV_002):
// these functions take a site id, a region and an enrollment *public* key, nothing else.
//
// SECURITY: output names credentials with their provenance (generator, entropy), never their
// values: the values exist only in the package, sealed to the site's enrollment key (PROV_003).

#include <cstdio>
#include <string>

#include "base/env.h"
#include "provision/provisioner.h"

namespace vigie::provision {

struct SiteProvisionOptions {
  std::string site_id;
  std::string region;
  std::string enrollment_key_file;  // the site's enrollment.pub (`vigie agent keygen`)
};

// Provisions one site. Prints the package path, principal, KMS key and the credential names with
// provenance to `out`; returns 0, or prints "vigie: <message>" to `err` and returns
// ExitCodeFor(error code). A site already provisioned prints what exists and returns 0.
// REQUIRES: env.fs set.
int RunSiteProvision(const SiteProvisionOptions& options, Provisioner& provisioner, Env& env,
                     std::FILE* out, std::FILE* err);

enum class ProgressMode {
  kAuto,    // a progress bar on `err` when it is a terminal (isatty)
  kAlways,  // always (tests)
  kNever,
};

// Provisions every site of the batch file (format in batch.h), one after the other; a failing
// site does not stop the others. The bar ("\r[#####.....] 5/10 site-e") is drawn on `err`; one
// line per site and a summary go to `out`, failures also to `err`. Returns 0 when every site is
// provisioned, else ExitCodeFor() of the first failure's code (the batch file being invalid
// included: then nothing is provisioned).
int RunSiteProvisionBatch(const std::string& batch_file, Provisioner& provisioner, Env& env,
                          std::FILE* out, std::FILE* err,
                          ProgressMode progress = ProgressMode::kAuto);

}  // namespace vigie::provision
