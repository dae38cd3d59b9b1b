#pragma once
// The compliance evaluator the fleet manager serves at GET /v1/compliance and exports as
// vigie_compliance_rule_status (issue 3): the same evaluation and JSON as
// `vigie compliance check --format json`, over the same evidence (StoreEvidence over the Store,
// the configuration values, the secrets backend's listing, every rule of RegisterAllRules).
//
// Layering: this module depends on the fleet module's small seam header
// (fleet/compliance_feed.h) only; the fleet module does not depend on this one.

#include <map>
#include <string>

#include "backend/secrets.h"
#include "base/env.h"
#include "compliance/store_evidence.h"
#include "fleet/compliance_feed.h"
#include "store/store.h"

namespace vigie::compliance {

// The secret lister `vigie compliance check` uses: backend::SecretsBackend::List, names and
// tags only (never values). `secrets` must outlive the lister.
StoreEvidence::SecretLister SecretListerFor(backend::SecretsBackend* secrets);

struct ComplianceFeedDeps {
  store::Store* store = nullptr;  // REQUIRED; outlives the evaluator
  Clock* clock = nullptr;         // REQUIRED; outlives the evaluator (report time)
  // config::EvidenceValues(config): the configuration values the checks read.
  std::map<std::string, std::string> config_values;
  // Optional (rules reading the secrets backend then FAIL "no evidence"); outlives the
  // evaluator. Typically SecretListerFor(backends.secrets.get()).
  StoreEvidence::SecretLister secret_lister;
};

// An evaluator that, for each query, builds a fresh StoreEvidence, evaluates the selected rules
// (a registry with RegisterAllRules(), built once) and returns:
//  - json: RenderJson(report), byte for byte what RunComplianceCheck prints with format "json";
//  - samples: one per (rule, site) result, site kComplianceFleetSiteLabel for fleet rules,
//    value 1 PASS / 0 FAIL / -1 NOT_APPLICABLE;
//  - any_fail: !report.ok();
//  - evidence_error: StoreEvidence::error() as text when some evidence could not be read
//    (the CLI prints the same on stderr and exits non-zero).
// Errors: kNotFound when query.site is not a site of the store (message names it and lists the
// known ones), kInvalidArgument for an unknown rule id (Evaluate's message), kInvalidArgument
// when deps.store or deps.clock is null (at each call).
// Thread-safety: call from one thread at a time (the fleet manager calls it from its worker
// thread only); the evaluator holds no mutable state besides what the Store and lister
// guarantee, but concurrent calls are not part of the contract.
fleet::ComplianceEvaluator MakeComplianceEvaluator(ComplianceFeedDeps deps);

}  // namespace vigie::compliance
