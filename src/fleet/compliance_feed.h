#pragma once
// The seam through which the fleet manager serves compliance results (issue 3): GET
// /v1/compliance and the gauge family vigie_compliance_rule_status{rule,site}.
//
// The fleet module does not depend on the compliance module: it only calls a
// ComplianceEvaluator, which the wiring (src/cli) builds with
// compliance::MakeComplianceEvaluator (src/compliance/server_feed.h).

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace vigie::fleet {

// What to judge; the same selection as `vigie compliance check --site ID --rule ID...`.
struct ComplianceQuery {
  std::string site;                // empty: every site
  std::vector<std::string> rules;  // empty: every rule
};

// Value of vigie_compliance_rule_status for one (rule, site) result. Stable encoding.
inline constexpr int kComplianceStatusPass = 1;
inline constexpr int kComplianceStatusFail = 0;
inline constexpr int kComplianceStatusNotApplicable = -1;

// Site label of the results of fleet-wide rules (which have no site). Stable. Site ids are
// [a-z0-9][a-z0-9-]{0,62} (provision::ValidateSiteId), so this never names a real site.
inline constexpr std::string_view kComplianceFleetSiteLabel = "_fleet";

struct ComplianceStatusSample {
  std::string rule;                   // catalog id, e.g. "PROV_011"
  std::string site;                   // site id, or kComplianceFleetSiteLabel for a fleet-wide rule
  int value = kComplianceStatusFail;  // kComplianceStatusPass / Fail / NotApplicable
};

struct ComplianceSnapshot {
  // The report exactly as `vigie compliance check --format json` prints it for the same query
  // (schema "vigie.compliance.v1", docs/COMPLIANCE_JSON.md).
  std::string json;
  // One sample per (rule, site) result of the report, in report order.
  std::vector<ComplianceStatusSample> samples;
  bool any_fail = false;  // some rule FAILs (the CLI would exit 1)
  // Non-empty when some evidence could not be read (the report then shows FAIL "no evidence"
  // for it, as the CLI does): the reason, for logs and the error counter. Never a secret.
  std::string evidence_error;
};

// Evaluates the query. Called from one thread at a time (the fleet manager's worker thread);
// may block (store queries, secrets backend listing).
// Errors: kInvalidArgument (an unknown rule id; the message names it), kNotFound (query.site is
// not a known site), or what the evidence sources return.
using ComplianceEvaluator = std::function<Result<ComplianceSnapshot>(const ComplianceQuery&)>;

}  // namespace vigie::fleet
