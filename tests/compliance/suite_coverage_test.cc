// The customer-named suite covers every rule exactly once, in the right class: a rule added to
// the catalog without its compliance test, or a test filed under the wrong class, fails here.

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <string>

#include "compliance/registry.h"

namespace vigie::compliance {
namespace {

// The class each rule's test belongs to (customer's classes; ranges from the spec files).
std::string ExpectedClass(std::string_view id) {
  int n = std::stoi(std::string(id.substr(id.find('_') + 1)));
  if (id.starts_with("PROV_")) {
    return n < 10 ? "TestCredentials" : n < 20 ? "TestVault" : "TestRegistration";
  }
  if (n < 10) return "TestMonitoring";
  if (n < 20) return "TestBackup";
  if (n < 30) return "TestRotation";
  if (n < 40) return "TestPatching";
  if (n < 50) return "TestLogs";
  if (n < 60) return "TestCapacity";
  return "TestDocumentation";
}

TEST(SuiteCoverage, EveryCatalogRuleHasExactlyOneTestInItsClass) {
  std::map<std::string, std::vector<std::string>> tests_by_rule;
  const std::regex name_pattern("((PROV|MAINT)_[0-9]{3})_[a-z0-9_]+");
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    std::string suite_name = suite.name();
    if (!suite_name.starts_with("Test")) continue;
    for (int j = 0; j < suite.total_test_count(); ++j) {
      std::string name = suite.GetTestInfo(j)->name();
      std::smatch m;
      ASSERT_TRUE(std::regex_match(name, m, name_pattern))
          << suite_name << "." << name << " is not named <RULE_ID>_<snake_case>";
      tests_by_rule[m[1]].push_back(suite_name + "." + name);
      EXPECT_EQ(suite_name, ExpectedClass(m[1].str())) << name;
    }
  }
  for (const RuleInfo& rule : Catalog()) {
    auto it = tests_by_rule.find(std::string(rule.id));
    ASSERT_NE(it, tests_by_rule.end()) << rule.id << " has no compliance test";
    EXPECT_EQ(it->second.size(), 1u) << rule.id << " has several tests";
  }
  EXPECT_EQ(tests_by_rule.size(), Catalog().size()) << "a test names a rule not in the catalog";
}

}  // namespace
}  // namespace vigie::compliance
