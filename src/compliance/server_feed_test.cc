#include "compliance/server_feed.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compliance/cli.h"
#include "compliance/registry.h"
#include "provision/test_util.h"

namespace vigie::compliance {
namespace {

using nlohmann::json;

const std::map<std::string, std::string> kConfigValues = {{"vault.recovery_shares", "5"},
                                                          {"vault.recovery_threshold", "3"}};

// Two sites provisioned for real (store rows, package files, agent secrets in FakeSecrets).
class ServerFeedTest : public provision::testing::ProvisionFixture {
 protected:
  void SetUp() override {
    ASSERT_TRUE(P().Provision(Request("site-a")));
    ASSERT_TRUE(P().Provision(Request("site-b")));
  }

  ComplianceFeedDeps Deps() {
    return ComplianceFeedDeps{store_.get(), &clock_, kConfigValues, SecretListerFor(&secrets_)};
  }

  // What `vigie compliance check --format json` prints for the same selection and evidence.
  std::string CliJson(const fleet::ComplianceQuery& q, int* rc = nullptr) {
    StoreEvidence evidence(*store_, clock_, kConfigValues);
    evidence.SetSecretLister(SecretListerFor(&secrets_));
    RuleRegistry registry;
    RegisterAllRules(registry);
    ComplianceCheckOptions opts;
    opts.site = q.site;
    opts.rules = q.rules;
    opts.format = "json";
    char* buf = nullptr;
    size_t size = 0;
    std::FILE* out = open_memstream(&buf, &size);
    std::FILE* err = std::tmpfile();
    int code = RunComplianceCheck(opts, registry, evidence, out, err);
    std::fclose(out);
    std::fclose(err);
    std::string text(buf, size);
    std::free(buf);
    if (rc) *rc = code;
    return text;
  }
};

TEST_F(ServerFeedTest, JsonIsWhatTheCliPrintsForTheSameQuery) {
  auto evaluate = MakeComplianceEvaluator(Deps());
  for (const fleet::ComplianceQuery& q :
       {fleet::ComplianceQuery{}, fleet::ComplianceQuery{"site-a", {}},
        fleet::ComplianceQuery{"", {"PROV_001", "MAINT_004"}},
        fleet::ComplianceQuery{"site-b", {"PROV_023"}}}) {
    auto snap = evaluate(q);
    ASSERT_TRUE(snap) << snap.error().ToString();
    int rc = -1;
    EXPECT_EQ(snap->json, CliJson(q, &rc)) << "site '" << q.site << "'";
    EXPECT_EQ(snap->any_fail, rc != 0);
    EXPECT_TRUE(snap->evidence_error.empty()) << snap->evidence_error;
    // The JSON is the documented schema, not an empty shell.
    auto j = json::parse(snap->json);
    EXPECT_EQ(j["schema"], "vigie.compliance.v1") << snap->json.substr(0, 200);
  }
}

TEST_F(ServerFeedTest, SamplesFollowTheReportWithTheStableEncoding) {
  auto snap = MakeComplianceEvaluator(Deps())(fleet::ComplianceQuery{});
  ASSERT_TRUE(snap) << snap.error().ToString();
  std::map<std::pair<std::string, std::string>, int> by_key;
  for (const auto& s : snap->samples) {
    EXPECT_TRUE(by_key.emplace(std::make_pair(s.rule, s.site), s.value).second)
        << "duplicate sample " << s.rule << " " << s.site;
    EXPECT_TRUE(s.value == 1 || s.value == 0 || s.value == -1) << s.value;
  }
  // Every catalog rule, per site or once with the fleet label.
  size_t expected = 0;
  for (const RuleInfo& rule : Catalog()) {
    if (rule.scope == Scope::kFleet) {
      ++expected;
      EXPECT_EQ(by_key.count({std::string(rule.id), "_fleet"}), 1u) << rule.id;
    } else {
      expected += 2;
      EXPECT_EQ(by_key.count({std::string(rule.id), "site-a"}), 1u) << rule.id;
      EXPECT_EQ(by_key.count({std::string(rule.id), "site-b"}), 1u) << rule.id;
    }
  }
  EXPECT_EQ(snap->samples.size(), expected);
  // Provisioned sites hold PROV_001 and PROV_023 (as provisioner_test proves rule by rule).
  EXPECT_EQ((by_key[{"PROV_001", "site-a"}]), fleet::kComplianceStatusPass);
  EXPECT_EQ((by_key[{"PROV_023", "site-b"}]), fleet::kComplianceStatusPass);
  EXPECT_TRUE(snap->any_fail);  // capabilities not built yet FAIL "not implemented"

  // A broken signature flips exactly that result to 0.
  ASSERT_TRUE(store_->Write([](store::Txn& t) {
    return t.Exec("UPDATE packages SET signature = zeroblob(64) WHERE site_id = 'site-a'");
  }));
  auto again = MakeComplianceEvaluator(Deps())(fleet::ComplianceQuery{"site-a", {"PROV_023"}});
  ASSERT_TRUE(again) << again.error().ToString();
  ASSERT_EQ(again->samples.size(), 1u);
  EXPECT_EQ(again->samples[0].rule, "PROV_023");
  EXPECT_EQ(again->samples[0].site, "site-a");
  EXPECT_EQ(again->samples[0].value, fleet::kComplianceStatusFail);
  EXPECT_TRUE(again->any_fail);
}

TEST_F(ServerFeedTest, UnknownSiteIsNotFoundAndUnknownRuleIsInvalid) {
  auto evaluate = MakeComplianceEvaluator(Deps());
  auto site = evaluate(fleet::ComplianceQuery{"site-z", {}});
  ASSERT_FALSE(site);
  EXPECT_EQ(site.error().code, ErrorCode::kNotFound);
  EXPECT_NE(site.error().message.find("site-z"), std::string::npos) << site.error().message;
  EXPECT_NE(site.error().message.find("site-a, site-b"), std::string::npos);
  auto rule = evaluate(fleet::ComplianceQuery{"", {"PROV_999"}});
  ASSERT_FALSE(rule);
  EXPECT_EQ(rule.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(rule.error().message.find("PROV_999"), std::string::npos) << rule.error().message;
}

TEST_F(ServerFeedTest, UnreadableEvidenceIsReportedBesideTheReport) {
  // A table the checks read is gone (as after a failed migration): the report still lists every
  // rule (FAIL "no evidence" where it could not read), and says why beside it, as the CLI does.
  ASSERT_TRUE(store_->Write([](store::Txn& t) { return t.Exec("DROP TABLE vault_bootstrap"); }));
  auto snap = MakeComplianceEvaluator(Deps())(fleet::ComplianceQuery{});
  ASSERT_TRUE(snap) << snap.error().ToString();
  EXPECT_NE(snap->evidence_error.find("vault_bootstrap"), std::string::npos)
      << snap->evidence_error;
  EXPECT_TRUE(snap->any_fail);
  EXPECT_EQ(snap->json, CliJson(fleet::ComplianceQuery{}));
}

}  // namespace
}  // namespace vigie::compliance
