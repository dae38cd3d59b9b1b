#include "vault/policies.h"

#include <gtest/gtest.h>

#include "testing/temp_dir.h"

namespace vigie::vault {
namespace {

class PoliciesTest : public ::testing::Test {
 protected:
  void Write(const std::string& name, const std::string& text) {
    ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir_.File(name), text));
  }
  testing::TempDir dir_;
};

TEST_F(PoliciesTest, LoadsOneHclFilePerPolicyPlusTheBuiltIn) {
  Write("ops.hcl", "path \"kv/*\" { capabilities = [\"read\"] }\n");
  Write("ci_deploy.hcl", "path \"transit/*\" { capabilities = [\"update\"] }\n");
  Write("README.md", "not a policy");
  Write(".ops.hcl.swp", "editor junk");
  auto set = LoadPolicies(dir_.path(), *RealFileSystem());
  ASSERT_TRUE(set) << set.error().ToString();
  ASSERT_EQ(set->policies.size(), 3u);
  EXPECT_EQ(set->policies.at("ops"), "path \"kv/*\" { capabilities = [\"read\"] }\n");
  EXPECT_EQ(set->policies.count("ci_deploy"), 1u);
  EXPECT_EQ(set->policies.at(std::string(kAdminPolicyName)), AdminPolicyText());
  EXPECT_EQ(set->digest, PolicyDigest(set->policies));
}

TEST_F(PoliciesTest, EmptyDirSettingMeansBuiltInOnly) {
  auto set = LoadPolicies("", *RealFileSystem());
  ASSERT_TRUE(set);
  EXPECT_EQ(set->policies.size(), 1u);
  EXPECT_EQ(set->digest, BuiltinPolicies().digest);
}

TEST_F(PoliciesTest, RefusesReservedAndInvalidNames) {
  for (const char* bad :
       {"root.hcl", "default.hcl", "vigie-admin.hcl", "Ops.hcl", "a b.hcl", "x.y.hcl"}) {
    testing::TempDir d;
    ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(d.File(bad), "path \"x\" {}\n"));
    auto set = LoadPolicies(d.path(), *RealFileSystem());
    ASSERT_FALSE(set) << bad;
    EXPECT_EQ(set.error().code, ErrorCode::kConfig);
    EXPECT_NE(set.error().message.find(d.File(bad)), std::string::npos) << set.error().message;
    EXPECT_NE(set.error().message.find("PROV_013"), std::string::npos);
  }
}

TEST_F(PoliciesTest, RefusesEmptyPolicyAndMissingDir) {
  Write("blank.hcl", "  \n");
  auto set = LoadPolicies(dir_.path(), *RealFileSystem());
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message.find("blank.hcl"), std::string::npos);
  auto missing = LoadPolicies(dir_.File("nope"), *RealFileSystem());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kConfig);
}

TEST(PolicyDigestTest, DependsOnNamesAndContentNotOnBoundaries) {
  std::map<std::string, std::string> a = {{"ab", "c"}}, b = {{"a", "bc"}};
  EXPECT_NE(PolicyDigest(a), PolicyDigest(b));
  std::map<std::string, std::string> c = {{"ab", "c "}};
  EXPECT_NE(PolicyDigest(a), PolicyDigest(c));
  EXPECT_EQ(PolicyDigest(a), PolicyDigest({{"ab", "c"}}));
  EXPECT_EQ(PolicyDigest(a).size(), 64u);
  // Known answer: SHA-256 of 00000002 'ab' 00000001 'c'.
  EXPECT_EQ(PolicyDigest(a), "f2939f903016e5bb29b1e4a61cdbd376220ca03a24180b39995f2d50f2e0a647");
}

TEST(PolicyDriftTest, Describe) {
  PolicyDrift d;
  EXPECT_EQ(d.Describe(), "none");
  d.missing = {"a", "b"};
  d.extra = {"z"};
  EXPECT_EQ(d.count(), 3u);
  EXPECT_EQ(d.Describe(), "missing: a, b; extra: z");
}

}  // namespace
}  // namespace vigie::vault
