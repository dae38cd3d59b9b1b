#include "compliance/engine.h"

#include <algorithm>
#include <exception>
#include <set>
#include <string_view>

namespace vigie::compliance {

namespace {

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) out += ", ";
    out += id;
  }
  return out;
}

std::string ValidRuleIds() {
  std::vector<std::string> ids;
  for (const RuleInfo& rule : Catalog()) ids.emplace_back(rule.id);
  return JoinIds(ids);
}

// Runs one check, keeping the engine's promises whatever the check does.
CheckResult RunCheck(const RuleRegistry::Registration& registration, const RuleInfo& rule,
                     EvidenceSource& evidence, std::string_view site) {
  CheckResult result;
  try {
    result = registration.check(rule, evidence, site);
  } catch (const std::exception& e) {
    return Fail(std::string("check crashed: ") + e.what(),
                "report a bug to the vigie maintainers with this output; the rule is unproven");
  } catch (...) {
    return Fail("check crashed: unknown exception",
                "report a bug to the vigie maintainers with this output; the rule is unproven");
  }
  if (result.summary.empty()) result.summary = "(the check gave no summary)";
  if (result.status == Status::kFail && result.remedy.empty()) {
    result.remedy = "the check gave no remedy: report a bug to the vigie maintainers";
  }
  return result;
}

CheckResult NotRegistered() {
  return Fail("not registered: no check is registered for this rule",
              "a bug in vigie: register the rule in src/compliance/rules/all_rules.cc");
}

}  // namespace

compliance::Status RuleReport::status() const {
  if (results.empty()) return Status::kFail;
  Status status = results.front().second.status;
  for (const auto& [site, result] : results) status = Worst(status, result.status);
  return status;
}

Result<Report> Evaluate(const RuleRegistry& registry, EvidenceSource& evidence,
                        const Filter& filter) {
  std::set<std::string_view> wanted;
  for (const std::string& id : filter.rule_ids) {
    const RuleInfo* rule = FindRule(id);
    if (rule == nullptr) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "unknown rule id '" + id +
                           "' in the rule filter (ids are case-sensitive, "
                           "e.g. PROV_011); valid ids: " +
                           ValidRuleIds());
    }
    wanted.insert(rule->id);
  }

  // One evaluation: the source may read its evidence once for all of it. The fleet-wide
  // indexes and any cached evidence are dropped on every return path, so a later evaluation
  // sees fresh evidence.
  struct EndEvaluation {
    EvidenceSource& e;
    ~EndEvaluation() {
      e.set_sharing(nullptr);
      e.EndEvaluation();
    }
  } end_evaluation{evidence};
  evidence.BeginEvaluation();

  std::vector<std::string> sites = evidence.Sites();
  std::sort(sites.begin(), sites.end());
  sites.erase(std::unique(sites.begin(), sites.end()), sites.end());
  if (filter.site.has_value()) {
    if (!std::binary_search(sites.begin(), sites.end(), *filter.site)) {
      std::string known =
          sites.empty() ? "no site has been provisioned" : "known sites: " + JoinIds(sites);
      return MakeError(ErrorCode::kInvalidArgument,
                       "unknown site '" + *filter.site + "' in the site filter; " + known);
    }
    sites = {*filter.site};
  }

  Report report;
  report.generated_at = evidence.Now();
  // Fleet-wide indexes are built once for the whole evaluation, not once per site.
  evidence.set_sharing(BuildSharingIndex(evidence));
  for (const RuleInfo& rule : Catalog()) {
    if (!wanted.empty() && !wanted.contains(rule.id)) continue;
    RuleReport rule_report{rule, {}};
    const RuleRegistry::Registration* registration = registry.Find(rule.id);

    if (rule.scope == Scope::kFleet) {
      rule_report.results.emplace_back(
          "", registration ? RunCheck(*registration, rule, evidence, "") : NotRegistered());
    } else if (sites.empty()) {
      CheckResult result;
      if (registration == nullptr) {
        result = NotRegistered();
      } else if (!registration->implemented) {
        result = NotImplemented();
      } else {
        result = NoEvidence("no site has been provisioned",
                            "provision at least one site, then run the check again");
      }
      rule_report.results.emplace_back("", std::move(result));
    } else {
      for (const std::string& site : sites) {
        rule_report.results.emplace_back(
            site, registration ? RunCheck(*registration, rule, evidence, site) : NotRegistered());
      }
    }

    switch (rule_report.status()) {
      case Status::kPass:
        ++report.totals.pass;
        break;
      case Status::kFail:
        ++report.totals.fail;
        break;
      case Status::kNotApplicable:
        ++report.totals.not_applicable;
        break;
    }
    report.rules.push_back(std::move(rule_report));
  }
  return report;
}

}  // namespace vigie::compliance
