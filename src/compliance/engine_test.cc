#include "compliance/engine.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

namespace vigie::compliance {
namespace {

const WallTime kNow = FromUnixSeconds(1'800'000'000);

// A registry where `checks` are real registrations and every other rule is a placeholder.
RuleRegistry RegistryWith(const std::map<std::string, CheckFn>& checks) {
  RuleRegistry registry;
  for (const RuleInfo& rule : Catalog()) {
    auto it = checks.find(std::string(rule.id));
    if (it != checks.end()) {
      registry.Register(rule.id, it->second);
    } else {
      registry.RegisterNotImplemented(rule.id);
    }
  }
  return registry;
}

const RuleReport* FindReport(const Report& report, std::string_view id) {
  for (const RuleReport& rule : report.rules) {
    if (rule.info.id == id) return &rule;
  }
  return nullptr;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : evidence_(kNow) {
    evidence_.AddSite("site-b");
    evidence_.AddSite("site-a");
  }
  MemoryEvidence evidence_;
};

TEST_F(EngineTest, TodayEveryRuleFailsNotImplemented) {
  RuleRegistry registry;
  RegisterAllRules(registry);
  auto report = Evaluate(registry, evidence_);
  ASSERT_TRUE(report) << report.error().ToString();
  ASSERT_EQ(report->rules.size(), 49u);
  EXPECT_EQ(report->totals.fail, 49);
  EXPECT_EQ(report->totals.pass, 0);
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->generated_at, kNow);
  for (size_t i = 0; i < report->rules.size(); ++i) {
    const RuleReport& rule = report->rules[i];
    EXPECT_EQ(rule.info.id, Catalog()[i].id) << "catalog order";
    EXPECT_EQ(rule.status(), Status::kFail);
    if (rule.info.scope == Scope::kFleet) {
      ASSERT_EQ(rule.results.size(), 1u) << rule.info.id;
      EXPECT_EQ(rule.results[0].first, "");
    } else {
      ASSERT_EQ(rule.results.size(), 2u) << rule.info.id;
      EXPECT_EQ(rule.results[0].first, "site-a") << "sites are sorted";
      EXPECT_EQ(rule.results[1].first, "site-b");
    }
    // Without evidence every rule FAILs: "not implemented" until its capability lands, then
    // "no evidence: ..." -- never PASS.
    for (const auto& [site, result] : rule.results) {
      EXPECT_TRUE(IsNotImplemented(result) || result.summary.rfind("no evidence", 0) == 0)
          << rule.info.id << " " << result.summary;
      EXPECT_FALSE(result.remedy.empty()) << rule.info.id;
    }
  }
}

TEST_F(EngineTest, CheckReceivesItsRuleAndSite) {
  std::vector<std::string> calls;
  CheckFn record = [&](const RuleInfo& rule, EvidenceSource& ev, std::string_view site) {
    calls.push_back(std::string(rule.id) + "@" + std::string(site));
    EXPECT_EQ(&ev, &evidence_);
    return Pass("ok");
  };
  auto registry = RegistryWith({{"PROV_001", record}, {"MAINT_004", record}});
  auto report = Evaluate(registry, evidence_, Filter{{}, {"PROV_001", "MAINT_004"}});
  ASSERT_TRUE(report);
  EXPECT_EQ(calls, (std::vector<std::string>{"PROV_001@site-a", "PROV_001@site-b", "MAINT_004@"}));
}

TEST_F(EngineTest, PassNotApplicableAndFailShowUpWithTheirEvidence) {
  auto registry = RegistryWith({
      {"MAINT_010",
       [](const RuleInfo&, EvidenceSource& ev, std::string_view site) {
         return Pass("backup 2 h old",
                     {{"site", std::string(site)}, {"checked_at", FormatRfc3339(ev.Now())}});
       }},
      {"MAINT_054",
       [](const RuleInfo&, EvidenceSource&, std::string_view) {
         return NotApplicable("no autoscaler on this infrastructure");
       }},
      {"MAINT_004",
       [](const RuleInfo&, EvidenceSource&, std::string_view) {
         return Fail("dashboard query uses unknown metric foo", "fix dashboards/site.json");
       }},
  });
  auto report = Evaluate(registry, evidence_, Filter{{}, {"MAINT_054", "MAINT_010", "MAINT_004"}});
  ASSERT_TRUE(report);
  ASSERT_EQ(report->rules.size(), 3u);
  EXPECT_EQ(report->rules[0].info.id, "MAINT_004") << "catalog order, not filter order";
  const RuleReport* backup = FindReport(*report, "MAINT_010");
  ASSERT_NE(backup, nullptr);
  EXPECT_EQ(backup->status(), Status::kPass);
  ASSERT_EQ(backup->results.size(), 2u);
  EXPECT_EQ(backup->results[1].second.evidence[0].value, "site-b");
  EXPECT_EQ(backup->results[1].second.evidence[1].value, FormatRfc3339(kNow));
  EXPECT_EQ(FindReport(*report, "MAINT_054")->status(), Status::kNotApplicable);
  EXPECT_EQ(FindReport(*report, "MAINT_004")->status(), Status::kFail);
  EXPECT_EQ(report->totals.pass, 1);
  EXPECT_EQ(report->totals.not_applicable, 1);
  EXPECT_EQ(report->totals.fail, 1);
  EXPECT_FALSE(report->ok());
}

TEST_F(EngineTest, OkWhenNothingFails) {
  auto registry = RegistryWith({{"MAINT_010", [](const RuleInfo&, EvidenceSource&,
                                                 std::string_view) { return Pass("fine"); }}});
  auto report = Evaluate(registry, evidence_, Filter{{}, {"MAINT_010"}});
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
}

TEST_F(EngineTest, RuleStatusIsTheWorstOfItsSites) {
  // Site-dependent outcome: the status is chosen per site by the map.
  auto by_site = [](std::map<std::string, Status> outcome) -> CheckFn {
    return [outcome](const RuleInfo&, EvidenceSource&, std::string_view site) {
      switch (outcome.at(std::string(site))) {
        case Status::kPass:
          return Pass("pass");
        case Status::kNotApplicable:
          return NotApplicable("na");
        case Status::kFail:
          break;
      }
      return Fail("fail", "fix it");
    };
  };
  auto registry = RegistryWith({
      {"MAINT_010", by_site({{"site-a", Status::kPass}, {"site-b", Status::kFail}})},
      {"MAINT_011", by_site({{"site-a", Status::kNotApplicable}, {"site-b", Status::kPass}})},
      {"MAINT_012",
       by_site({{"site-a", Status::kNotApplicable}, {"site-b", Status::kNotApplicable}})},
      {"MAINT_013", by_site({{"site-a", Status::kFail}, {"site-b", Status::kNotApplicable}})},
  });
  auto report = Evaluate(registry, evidence_,
                         Filter{{}, {"MAINT_010", "MAINT_011", "MAINT_012", "MAINT_013"}});
  ASSERT_TRUE(report);
  EXPECT_EQ(FindReport(*report, "MAINT_010")->status(), Status::kFail);
  EXPECT_EQ(FindReport(*report, "MAINT_011")->status(), Status::kPass);
  EXPECT_EQ(FindReport(*report, "MAINT_012")->status(), Status::kNotApplicable);
  EXPECT_EQ(FindReport(*report, "MAINT_013")->status(), Status::kFail);
  EXPECT_EQ(report->totals.fail, 2);
  EXPECT_EQ(report->totals.pass, 1);
  EXPECT_EQ(report->totals.not_applicable, 1);
}

TEST_F(EngineTest, FilterBySiteKeepsFleetRules) {
  RuleRegistry registry;
  RegisterAllRules(registry);
  auto report = Evaluate(registry, evidence_, Filter{"site-b", {}});
  ASSERT_TRUE(report);
  EXPECT_EQ(report->rules.size(), 49u);
  for (const RuleReport& rule : report->rules) {
    ASSERT_EQ(rule.results.size(), 1u);
    EXPECT_EQ(rule.results[0].first, rule.info.scope == Scope::kFleet ? "" : "site-b");
  }
}

TEST_F(EngineTest, FilterByRuleIdsIgnoresDuplicates) {
  RuleRegistry registry;
  RegisterAllRules(registry);
  auto report = Evaluate(registry, evidence_, Filter{"site-a", {"PROV_012", "PROV_012"}});
  ASSERT_TRUE(report);
  ASSERT_EQ(report->rules.size(), 1u);
  EXPECT_EQ(report->rules[0].info.id, "PROV_012");
  EXPECT_EQ(report->rules[0].results.size(), 1u);
  EXPECT_EQ(report->totals.fail, 1);
}

TEST_F(EngineTest, UnknownRuleIdIsInvalidArgumentNamingIt) {
  RuleRegistry registry;
  RegisterAllRules(registry);
  auto report = Evaluate(registry, evidence_, Filter{{}, {"PROV_001", "PROV_999"}});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(report.error().message.find("'PROV_999'"), std::string::npos);
  EXPECT_NE(report.error().message.find("valid ids: PROV_001, PROV_002"), std::string::npos);
  EXPECT_NE(report.error().message.find("MAINT_063"), std::string::npos);
}

TEST_F(EngineTest, UnknownSiteIsInvalidArgumentNamingIt) {
  RuleRegistry registry;
  RegisterAllRules(registry);
  auto report = Evaluate(registry, evidence_, Filter{"site-z", {}});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(report.error().message.find("'site-z'"), std::string::npos);
  EXPECT_NE(report.error().message.find("site-a, site-b"), std::string::npos);

  MemoryEvidence empty(kNow);
  auto none = Evaluate(registry, empty, Filter{"site-a", {}});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no site has been provisioned"), std::string::npos);
}

TEST(EngineNoSiteTest, PerSiteRulesFailWithNoEvidenceUnlessNotImplemented) {
  MemoryEvidence empty(kNow);
  bool called = false;
  auto registry =
      RegistryWith({{"MAINT_010",
                     [&](const RuleInfo&, EvidenceSource&, std::string_view) {
                       called = true;
                       return Pass("should not be called");
                     }},
                    {"MAINT_004", [](const RuleInfo&, EvidenceSource&, std::string_view site) {
                       return Pass("fleet rule, site='" + std::string(site) + "'");
                     }}});
  auto report = Evaluate(registry, empty, Filter{{}, {"MAINT_010", "MAINT_011", "MAINT_004"}});
  ASSERT_TRUE(report);
  EXPECT_FALSE(called);
  const RuleReport* implemented = FindReport(*report, "MAINT_010");
  ASSERT_EQ(implemented->results.size(), 1u);
  EXPECT_EQ(implemented->results[0].first, "");
  EXPECT_EQ(implemented->results[0].second.status, Status::kFail);
  EXPECT_EQ(implemented->results[0].second.summary, "no evidence: no site has been provisioned");
  EXPECT_FALSE(implemented->results[0].second.remedy.empty());
  EXPECT_TRUE(IsNotImplemented(FindReport(*report, "MAINT_011")->results[0].second));
  EXPECT_EQ(FindReport(*report, "MAINT_004")->results[0].second.summary, "fleet rule, site=''");
}

TEST_F(EngineTest, UnregisteredCatalogRuleIsReportedFail) {
  RuleRegistry registry;  // nothing registered
  auto report = Evaluate(registry, evidence_);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->rules.size(), 49u);
  EXPECT_EQ(report->totals.fail, 49);
  for (const RuleReport& rule : report->rules) {
    for (const auto& [site, result] : rule.results) {
      EXPECT_EQ(result.summary.rfind("not registered", 0), 0u) << rule.info.id;
    }
  }
}

TEST_F(EngineTest, ThrowingCheckIsFailNotCrash) {
  auto registry = RegistryWith(
      {{"PROV_013", [](const RuleInfo&, EvidenceSource&, std::string_view) -> CheckResult {
          throw std::runtime_error("vault policy dir unreadable");
        }}});
  auto report = Evaluate(registry, evidence_, Filter{{}, {"PROV_013"}});
  ASSERT_TRUE(report);
  const CheckResult& r = report->rules[0].results[0].second;
  EXPECT_EQ(r.status, Status::kFail);
  EXPECT_EQ(r.summary, "check crashed: vault policy dir unreadable");
  EXPECT_FALSE(r.remedy.empty());
}

TEST_F(EngineTest, FailWithoutRemedyOrSummaryIsCompleted) {
  auto registry = RegistryWith({{"PROV_013", [](const RuleInfo&, EvidenceSource&,
                                                std::string_view) { return CheckResult{}; }}});
  auto report = Evaluate(registry, evidence_, Filter{{}, {"PROV_013"}});
  ASSERT_TRUE(report);
  const CheckResult& r = report->rules[0].results[0].second;
  EXPECT_EQ(r.status, Status::kFail);
  EXPECT_FALSE(r.summary.empty());
  EXPECT_NE(r.remedy.find("report a bug"), std::string::npos);
}

TEST(RuleReportTest, NoResultIsFail) {
  RuleReport empty{*FindRule("PROV_001"), {}};
  EXPECT_EQ(empty.status(), Status::kFail);
}

}  // namespace
}  // namespace vigie::compliance
