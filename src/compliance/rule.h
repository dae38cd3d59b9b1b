#pragma once
// The vocabulary of a compliance check: what a check returns for one rule and one site.
//
// Every rule of spec/INVARIANTS.md has a check that judges recorded evidence and returns
// PASS, FAIL or NOT_APPLICABLE, with the evidence it used. A check never returns PASS because
// data is missing: missing evidence is FAIL "no evidence: ..." (use NoEvidence()).
//
// Thread-safety: plain values; no shared state.

#include <string>
#include <string_view>
#include <vector>

namespace vigie::compliance {

// Note: inside vigie::compliance this enum shadows vigie::Status (the error-or-void Result);
// write vigie::Status for the latter.
enum class Status { kPass, kFail, kNotApplicable };

// Stable upper-case names used in every output: "PASS", "FAIL", "NOT_APPLICABLE".
std::string_view StatusName(Status status);

// A rule is judged once per site (kSite) or once for the whole fleet (kFleet).
enum class Scope { kSite, kFleet };
// "site" or "fleet".
std::string_view ScopeName(Scope scope);

// One fact a check relied on: an id, an RFC 3339 timestamp, a count, a configuration value.
// Keys are short lower_snake_case names, unique within one CheckResult.
// SECURITY: never a secret; a credential is named by its id, never by its value.
struct EvidenceItem {
  std::string key;
  std::string value;
};

struct CheckResult {
  Status status = Status::kFail;
  // One line for a person ("last backup 2026-11-21T03:00:00Z, 5 h old").
  std::string summary;
  std::vector<EvidenceItem> evidence;
  // What to do to make the rule hold. Required for FAIL (the engine substitutes a "report a bug"
  // text when a check forgets it); may be empty otherwise.
  std::string remedy;
};

// The summary NotImplemented() returns, so callers can recognise it.
inline constexpr std::string_view kNotImplementedSummary =
    "not implemented: the capability enforcing this rule is not built yet";

CheckResult Pass(std::string summary, std::vector<EvidenceItem> evidence = {});
// REQUIRES: remedy is not empty.
CheckResult Fail(std::string summary, std::string remedy, std::vector<EvidenceItem> evidence = {});
// FAIL with summary "no evidence: <what>".
CheckResult NoEvidence(std::string_view what, std::string remedy);
// NOT_APPLICABLE with the reason as summary ("the site's infrastructure has no autoscaler").
CheckResult NotApplicable(std::string reason, std::vector<EvidenceItem> evidence = {});
// FAIL kNotImplementedSummary: the rule cannot be proven by this release of vigie.
CheckResult NotImplemented();
// True when `result` is what NotImplemented() returns.
bool IsNotImplemented(const CheckResult& result);

// Aggregation of several results into one status, ordered FAIL > PASS > NOT_APPLICABLE: any FAIL
// makes the rule FAIL; a rule that passed on some sites and is not applicable (with a reason) on
// the others is PASS; it is NOT_APPLICABLE only when every result is.
Status Worst(Status a, Status b);

}  // namespace vigie::compliance
