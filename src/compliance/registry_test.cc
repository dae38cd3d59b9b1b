#include "compliance/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <string>

namespace vigie::compliance {
namespace {

TEST(CatalogTest, HoldsFortyNineUniqueWellFormedRules) {
  auto catalog = Catalog();
  ASSERT_EQ(catalog.size(), 49u);
  std::set<std::string_view> ids;
  std::regex id_pattern("(PROV|MAINT)_[0-9]{3}");
  for (const RuleInfo& rule : catalog) {
    EXPECT_TRUE(std::regex_match(std::string(rule.id), id_pattern)) << rule.id;
    EXPECT_TRUE(ids.insert(rule.id).second) << "duplicate " << rule.id;
    EXPECT_FALSE(rule.title.empty()) << rule.id;
    EXPECT_EQ(rule.section.rfind(rule.id[0] == 'P' ? "Provisioning: " : "Maintenance: ", 0), 0u)
        << rule.id << " in section " << rule.section;
  }
  EXPECT_EQ(std::count_if(catalog.begin(), catalog.end(),
                          [](const RuleInfo& r) { return r.id.starts_with("PROV_"); }),
            13);
}

TEST(CatalogTest, SectionsAreContiguous) {
  std::set<std::string_view> closed;
  std::string_view current;
  for (const RuleInfo& rule : Catalog()) {
    if (rule.section != current) {
      EXPECT_FALSE(closed.contains(rule.section)) << rule.section << " appears twice";
      if (!current.empty()) closed.insert(current);
      current = rule.section;
    }
  }
  EXPECT_EQ(closed.size() + 1, 9u);
}

TEST(CatalogTest, FindRule) {
  const RuleInfo* rule = FindRule("PROV_011");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->title, "recovery keys threshold 3 of 5 minimum");
  EXPECT_EQ(rule->section, "Provisioning: Vault and secrets");
  EXPECT_EQ(rule->scope, Scope::kSite);
  EXPECT_EQ(FindRule("MAINT_004")->scope, Scope::kFleet);
  EXPECT_EQ(FindRule("prov_011"), nullptr);
  EXPECT_EQ(FindRule("PROV_099"), nullptr);
  EXPECT_EQ(FindRule(""), nullptr);
}

TEST(CatalogTest, SectionSlug) {
  EXPECT_EQ(SectionSlug("Provisioning: identity and credentials"),
            "provisioning_identity_and_credentials");
  EXPECT_EQ(SectionSlug("Maintenance: Vault -- and  (secrets)!"), "maintenance_vault_and_secrets");
}

TEST(RegistryTest, RegisterAllRulesRegistersEveryCatalogRule) {
  RuleRegistry registry;
  RegisterAllRules(registry);
  EXPECT_EQ(registry.size(), Catalog().size());
  for (const RuleInfo& rule : Catalog()) {
    EXPECT_NE(registry.Find(rule.id), nullptr) << rule.id;
  }
}

TEST(RegistryTest, PlaceholderReportsNotImplemented) {
  RuleRegistry registry;
  registry.RegisterNotImplemented("PROV_001");
  const auto* reg = registry.Find("PROV_001");
  ASSERT_NE(reg, nullptr);
  EXPECT_FALSE(reg->implemented);
  MemoryEvidence evidence(FromUnixSeconds(0));
  EXPECT_TRUE(IsNotImplemented(reg->check(*FindRule("PROV_001"), evidence, "a")));
  EXPECT_EQ(registry.Find("PROV_002"), nullptr);
}

TEST(RegistryTest, RegisteredCheckIsKept) {
  RuleRegistry registry;
  registry.Register("MAINT_010", [](const RuleInfo& rule, EvidenceSource&, std::string_view site) {
    return Pass(std::string(rule.id) + " on " + std::string(site));
  });
  const auto* reg = registry.Find("MAINT_010");
  ASSERT_NE(reg, nullptr);
  EXPECT_TRUE(reg->implemented);
  MemoryEvidence evidence(FromUnixSeconds(0));
  EXPECT_EQ(reg->check(*FindRule("MAINT_010"), evidence, "s1").summary, "MAINT_010 on s1");
}

using RegistryDeathTest = ::testing::Test;

TEST(RegistryDeathTest, RegisteringTwiceAborts) {
  EXPECT_DEATH(
      {
        RuleRegistry registry;
        registry.RegisterNotImplemented("PROV_001");
        registry.Register("PROV_001", [](const RuleInfo&, EvidenceSource&, std::string_view) {
          return NotImplemented();
        });
      },
      "PROV_001' was registered twice");
}

TEST(RegistryDeathTest, UnknownIdAborts) {
  EXPECT_DEATH(
      {
        RuleRegistry registry;
        registry.RegisterNotImplemented("PROV_999");
      },
      "PROV_999' is not in the catalog");
}

TEST(RegistryDeathTest, EmptyCheckAborts) {
  EXPECT_DEATH(
      {
        RuleRegistry registry;
        registry.Register("PROV_001", CheckFn{});
      },
      "empty check function");
}

}  // namespace
}  // namespace vigie::compliance
