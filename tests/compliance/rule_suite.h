#pragma once
// Shared fixture of the customer-named compliance suite: one test per rule of
// spec/INVARIANTS.md, each asserting the rule's *current* truthful outcome. Today no capability
// exists, so each asserts the rule is catalogued, registered, and reports FAIL "not implemented"
// on every site; as a capability lands, its tests are replaced by PASS-when-holding and
// FAIL-when-broken tests over evidence recorded by that capability.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "compliance/engine.h"
#include "compliance/evidence.h"
#include "compliance/registry.h"

namespace vigie::compliance {

class RuleSuite : public ::testing::Test {
 protected:
  RuleSuite() : evidence_(FromUnixSeconds(1'800'000'000)) {
    RegisterAllRules(registry_);
    evidence_.AddSite("site-a");
    evidence_.AddSite("site-b");
  }

  // Evaluates `id` alone; asserts it is a catalog rule in `section` and that every result is
  // FAIL "not implemented" (per-site rules on both sites, fleet rules once).
  void ExpectNotImplementedYet(std::string_view id, std::string_view section) {
    const RuleInfo* rule = FindRule(id);
    ASSERT_NE(rule, nullptr) << id << " is not in the catalog";
    EXPECT_EQ(rule->section, section) << id;
    ASSERT_NE(registry_.Find(id), nullptr) << id << " is not registered";
    auto report = Evaluate(registry_, evidence_, Filter{{}, {std::string(id)}});
    ASSERT_TRUE(report) << report.error().ToString();
    ASSERT_EQ(report->rules.size(), 1u);
    const RuleReport& rr = report->rules[0];
    EXPECT_EQ(rr.info.id, id);
    EXPECT_EQ(rr.status(), Status::kFail);
    ASSERT_EQ(rr.results.size(), rule->scope == Scope::kFleet ? 1u : 2u) << id;
    for (const auto& [site, result] : rr.results) {
      EXPECT_TRUE(IsNotImplemented(result))
          << id << " on '" << site << "' reports " << StatusName(result.status) << " \""
          << result.summary << "\": its capability landed; replace this test with real ones";
    }
  }

  RuleRegistry registry_;
  MemoryEvidence evidence_;
};

}  // namespace vigie::compliance
