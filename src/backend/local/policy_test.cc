#include "backend/policy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

namespace vigie::backend {
namespace {

using Json = nlohmann::json;

SiteScope Scope(const std::string& id) {
  SiteScope s;
  s.site_id = id;
  s.region = "eu-west-3";
  s.s3_bucket = "vigie-fleet";
  s.s3_prefix = "sites/" + id + "/";
  s.secrets_prefix = "vigie/sites/" + id + "/";
  s.kms_key_arn = "arn:aws:kms:eu-west-3:111122223333:key/" + id + "-key";
  return s;
}

std::set<std::string> Collect(const Json& doc, const char* field) {
  std::set<std::string> out;
  for (const auto& st : doc["Statement"]) {
    for (const auto& v : st[field]) out.insert(v.get<std::string>());
  }
  return out;
}

TEST(SitePolicyTest, NamesOnlyTheSitesOwnResources) {
  const std::string text = SitePolicyDocument(Scope("site-a"));
  Json doc = Json::parse(text);  // valid JSON, or the test throws
  EXPECT_EQ(doc["Version"], "2012-10-17");
  ASSERT_EQ(doc["Statement"].size(), 4u);
  EXPECT_EQ(
      Collect(doc, "Resource"),
      (std::set<std::string>{"arn:aws:s3:::vigie-fleet/sites/site-a/*", "arn:aws:s3:::vigie-fleet",
                             "arn:aws:secretsmanager:eu-west-3:*:secret:vigie/sites/site-a/*",
                             "arn:aws:kms:eu-west-3:111122223333:key/site-a-key"}));
  EXPECT_EQ(Collect(doc, "Action"),
            (std::set<std::string>{"s3:GetObject", "s3:PutObject", "s3:ListBucket",
                                   "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                                   "secretsmanager:DescribeSecret", "kms:Encrypt", "kms:Decrypt",
                                   "kms:GenerateDataKey"}));
  for (const auto& st : doc["Statement"]) {
    EXPECT_EQ(st["Effect"], "Allow");
    if (st["Action"][0] == "s3:ListBucket") {
      // The bucket-level statement is narrowed to the site's prefix by its condition.
      EXPECT_EQ(st["Condition"]["StringLike"]["s3:prefix"], Json::array({"sites/site-a/*"}));
    }
  }
  EXPECT_EQ(text.find("site-b"), std::string::npos);
}

TEST(SitePolicyTest, IsDeterministicAndDiffersPerSite) {
  EXPECT_EQ(SitePolicyDocument(Scope("site-a")), SitePolicyDocument(Scope("site-a")));
  EXPECT_NE(SitePolicyDocument(Scope("site-a")), SitePolicyDocument(Scope("site-b")));
}

TEST(SitePolicyTest, OmitsS3WithoutBucketAndKmsWithoutKey) {
  SiteScope s = Scope("s1");
  s.s3_bucket.clear();
  s.kms_key_arn.clear();
  ASSERT_TRUE(ValidateSiteScope(s));
  Json doc = Json::parse(SitePolicyDocument(s));
  ASSERT_EQ(doc["Statement"].size(), 1u);
  EXPECT_EQ(doc["Statement"][0]["Sid"], "SiteSecrets");
}

TEST(SitePolicyTest, ValidScopePasses) { EXPECT_TRUE(ValidateSiteScope(Scope("site-a"))); }

TEST(SitePolicyTest, ScopesThatWouldWidenThePolicyAreRejected) {
  struct Case {
    const char* what;
    void (*mutate)(SiteScope&);
    const char* field;
  };
  const Case cases[] = {
      {"wildcard prefix", [](SiteScope& s) { s.s3_prefix = "sites/*/"; }, "s3_prefix"},
      {"bucket-wide prefix", [](SiteScope& s) { s.s3_prefix = ""; }, "s3_prefix"},
      {"other site's prefix", [](SiteScope& s) { s.s3_prefix = "sites/site-b/"; }, "s3_prefix"},
      {"id as substring only", [](SiteScope& s) { s.s3_prefix = "sites/site-ab/"; }, "s3_prefix"},
      {"no trailing slash", [](SiteScope& s) { s.secrets_prefix = "vigie/sites/site-a"; },
       "secrets_prefix"},
      {"empty secrets prefix", [](SiteScope& s) { s.secrets_prefix = ""; }, "secrets_prefix"},
      {"quote in key arn", [](SiteScope& s) { s.kms_key_arn = "arn\"x"; }, "kms_key_arn"},
      {"wildcard key arn", [](SiteScope& s) { s.kms_key_arn = "arn:aws:kms:*"; }, "kms_key_arn"},
      {"bad site id", [](SiteScope& s) { s.site_id = "Site_A"; }, "site_id"},
      {"empty region", [](SiteScope& s) { s.region = ""; }, "region"},
      {"bad bucket", [](SiteScope& s) { s.s3_bucket = "Bucket!"; }, "s3_bucket"},
  };
  for (const auto& c : cases) {
    SiteScope s = Scope("site-a");
    c.mutate(s);
    Status st = ValidateSiteScope(s);
    ASSERT_FALSE(st) << c.what;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument) << c.what;
    EXPECT_NE(st.error().message.find(c.field), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("PROV_001"), std::string::npos) << st.error().message;
  }
}

}  // namespace
}  // namespace vigie::backend
