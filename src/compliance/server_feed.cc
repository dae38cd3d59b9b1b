#include "compliance/server_feed.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "compliance/engine.h"
#include "compliance/output.h"
#include "compliance/registry.h"

namespace vigie::compliance {

StoreEvidence::SecretLister SecretListerFor(backend::SecretsBackend* secrets) {
  return [secrets](std::string_view prefix) -> Result<std::vector<SecretEvidence>> {
    VIGIE_ASSIGN_OR_RETURN(auto infos, secrets->List(std::string(prefix)));
    std::vector<SecretEvidence> out;
    out.reserve(infos.size());
    for (auto& i : infos) out.push_back({i.name, {i.tags.begin(), i.tags.end()}});
    return out;
  };
}

namespace {

int SampleValue(Status status) {
  switch (status) {
    case Status::kPass:
      return fleet::kComplianceStatusPass;
    case Status::kNotApplicable:
      return fleet::kComplianceStatusNotApplicable;
    case Status::kFail:
      break;
  }
  return fleet::kComplianceStatusFail;
}

}  // namespace

fleet::ComplianceEvaluator MakeComplianceEvaluator(ComplianceFeedDeps deps) {
  auto registry = std::make_shared<RuleRegistry>();
  RegisterAllRules(*registry);
  auto shared = std::make_shared<ComplianceFeedDeps>(std::move(deps));
  return [registry,
          shared](const fleet::ComplianceQuery& query) -> Result<fleet::ComplianceSnapshot> {
    const ComplianceFeedDeps& d = *shared;
    if (d.store == nullptr || d.clock == nullptr) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "compliance evaluator: ComplianceFeedDeps.store and .clock are required");
    }
    StoreEvidence evidence(*d.store, *d.clock, d.config_values);
    if (d.secret_lister) evidence.SetSecretLister(d.secret_lister);

    Filter filter;
    filter.rule_ids = query.rules;
    if (!query.site.empty()) {
      std::vector<std::string> sites = evidence.Sites();
      if (evidence.error()) return tl::make_unexpected(*evidence.error());
      if (std::find(sites.begin(), sites.end(), query.site) == sites.end()) {
        std::string known;
        for (const auto& s : sites) known += (known.empty() ? "" : ", ") + s;
        return MakeError(ErrorCode::kNotFound,
                         "site '" + query.site +
                             "' is unknown to this fleet manager; known sites: " +
                             (known.empty() ? "none (no site has been provisioned)" : known));
      }
      filter.site = query.site;
    }
    VIGIE_ASSIGN_OR_RETURN(Report report, Evaluate(*registry, evidence, filter));

    fleet::ComplianceSnapshot snap;
    snap.json = RenderJson(report);
    snap.any_fail = !report.ok();
    for (const RuleReport& rule : report.rules) {
      for (const auto& [site, result] : rule.results) {
        snap.samples.push_back(fleet::ComplianceStatusSample{
            std::string(rule.info.id),
            site.empty() ? std::string(fleet::kComplianceFleetSiteLabel) : site,
            SampleValue(result.status)});
      }
    }
    if (evidence.error()) snap.evidence_error = evidence.error()->ToString();
    return snap;
  };
}

}  // namespace vigie::compliance
