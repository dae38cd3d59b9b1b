#pragma once
// The compliance engine: runs the registered check of every catalog rule against an
// EvidenceSource and collects a Report.
//
// Never hides a rule: a catalog rule without a registration is FAIL "not registered"; a check
// that throws is FAIL naming the exception; a per-site rule when no site exists is FAIL
// "no evidence: no site has been provisioned" (or FAIL "not implemented" for a placeholder).
//
// Thread-safety: Evaluate() reads the registry and calls the source from the calling thread only.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "compliance/evidence.h"
#include "compliance/registry.h"
#include "compliance/rule.h"

namespace vigie::compliance {

struct Filter {
  // Judge only this site (per-site rules); fleet rules are still judged, since they hold for
  // every site. nullopt: every site.
  std::optional<std::string> site;
  // Judge only these rule ids (any order, duplicates ignored); empty: every rule.
  std::vector<std::string> rule_ids;
};

struct RuleReport {
  RuleInfo info;
  // One entry per judged site, in site order; a fleet rule has one entry with site "".
  std::vector<std::pair<std::string, CheckResult>> results;

  // Aggregate of the results (see Worst()); FAIL when there is no result at all.
  compliance::Status status() const;
};

// Counts of rules (not of results) by their aggregate status.
struct Totals {
  int pass = 0;
  int fail = 0;
  int not_applicable = 0;
};

struct Report {
  std::vector<RuleReport> rules;  // catalog order
  WallTime generated_at;          // EvidenceSource::Now() at evaluation
  Totals totals;

  // True when no rule FAILs.
  bool ok() const { return totals.fail == 0; }
};

// Evaluates the rules selected by `filter`.
// Errors: kInvalidArgument when filter.rule_ids names an id not in the catalog, or filter.site
// is not one of evidence.Sites(); the message names the bad value and lists the valid ones.
Result<Report> Evaluate(const RuleRegistry& registry, EvidenceSource& evidence,
                        const Filter& filter = {});

}  // namespace vigie::compliance
