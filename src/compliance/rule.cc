#include "compliance/rule.h"

#include <utility>

namespace vigie::compliance {

std::string_view StatusName(Status status) {
  switch (status) {
    case Status::kPass:
      return "PASS";
    case Status::kFail:
      return "FAIL";
    case Status::kNotApplicable:
      return "NOT_APPLICABLE";
  }
  return "FAIL";
}

std::string_view ScopeName(Scope scope) { return scope == Scope::kFleet ? "fleet" : "site"; }

CheckResult Pass(std::string summary, std::vector<EvidenceItem> evidence) {
  return CheckResult{Status::kPass, std::move(summary), std::move(evidence), ""};
}

CheckResult Fail(std::string summary, std::string remedy, std::vector<EvidenceItem> evidence) {
  return CheckResult{Status::kFail, std::move(summary), std::move(evidence), std::move(remedy)};
}

CheckResult NoEvidence(std::string_view what, std::string remedy) {
  return Fail("no evidence: " + std::string(what), std::move(remedy));
}

CheckResult NotApplicable(std::string reason, std::vector<EvidenceItem> evidence) {
  return CheckResult{Status::kNotApplicable, std::move(reason), std::move(evidence), ""};
}

CheckResult NotImplemented() {
  return Fail(std::string(kNotImplementedSummary),
              "nothing to fix on the site: this vigie release cannot prove the rule yet; upgrade "
              "vigie once the capability ships (the rule stays FAIL until then)");
}

bool IsNotImplemented(const CheckResult& result) {
  return result.status == Status::kFail && result.summary == kNotImplementedSummary;
}

Status Worst(Status a, Status b) {
  auto rank = [](Status s) {
    switch (s) {
      case Status::kNotApplicable:
        return 0;
      case Status::kPass:
        return 1;
      case Status::kFail:
        return 2;
    }
    return 2;
  };
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace vigie::compliance
