#include "provision/provisioner.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "compliance/engine.h"
#include "compliance/registry.h"
#include "compliance/store_evidence.h"
#include "crypto/credential.h"
#include "package/enrollment_key.h"
#include "provision/test_util.h"

namespace vigie::provision {
namespace {

using testing::ProvisionFixture;

class ProvisionerTest : public ProvisionFixture {
 public:
  // Asserts nothing of `site` exists on any peer nor on disk.
  void ExpectNoOrphans(const std::string& site) {
    EXPECT_EQ(identity_.principal_count(), 0u) << "orphan principal";
    EXPECT_EQ(identity_.access_key_count(), 0u) << "orphan access key";
    EXPECT_EQ(kms_.live_key_count(), 0u) << "orphan KMS key (not scheduled for deletion)";
    EXPECT_EQ(secrets_.size(), 0u) << "orphan secret";
    EXPECT_FALSE(RealFileSystem()->Exists(PackagePath(site))) << "orphan package file";
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM credentials WHERE site_id = ?", {site}), "0");
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM site_principals WHERE site_id = ?", {site}), "0");
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM packages WHERE site_id = ?", {site}), "0");
  }
  // Asserts one complete site.
  void ExpectOneCompleteSite(const std::string& site) {
    EXPECT_EQ(Scalar("SELECT state FROM sites WHERE id = ?", {site}), "provisioned");
    EXPECT_EQ(identity_.principal_count(), 1u);
    EXPECT_EQ(identity_.access_key_count(), 1u);
    EXPECT_EQ(kms_.live_key_count(), 1u);
    EXPECT_EQ(secrets_.size(), 1u);
    EXPECT_TRUE(RealFileSystem()->Exists(PackagePath(site)));
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM credentials WHERE site_id = ?", {site}), "4");
    EXPECT_EQ(Scalar("SELECT COUNT(*) FROM packages WHERE site_id = ?", {site}), "1");
    EXPECT_TRUE(OpenPackage(site).has_value());
  }
};

TEST_F(ProvisionerTest, HappyPathCreatesEveryPartAndThePackageOpensWithTheSiteKey) {
  auto r = P().Provision(Request("acme-paris"));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->already_provisioned);
  EXPECT_EQ(r->attempt, 1);
  EXPECT_EQ(r->principal_name, "vigie-site-acme-paris");
  EXPECT_EQ(r->package_path, PackagePath("acme-paris"));
  EXPECT_EQ(r->steps, (std::vector<std::string>{"register", "kms_key", "principal", "access_key",
                                                "credentials", "agent_secret", "package", "record",
                                                "event"}));
  ExpectOneCompleteSite("acme-paris");

  // sites row and the step log.
  EXPECT_EQ(Scalar("SELECT region FROM sites WHERE id = 'acme-paris'"), "eu-west-3");
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM provision_steps WHERE site_id = 'acme-paris' AND "
                   "outcome = 'done'"),
            "9");
  EXPECT_EQ(Scalar("SELECT failed_step FROM site_provisioning WHERE site_id = 'acme-paris'"),
            "<null>");

  // KMS key: tagged with the site, yearly rotation; the principal's policy names it.
  auto key = kms_.DescribeKey(r->kms_key_id);
  ASSERT_TRUE(key);
  EXPECT_TRUE(key->rotation_enabled);
  EXPECT_EQ(key->rotation_period_days, 365);
  EXPECT_EQ(kms_.TagsOf(r->kms_key_id)->at("site"), "acme-paris");
  const std::string policy =
      Scalar("SELECT policy FROM site_principals WHERE site_id = 'acme-paris'");
  EXPECT_NE(policy.find(r->kms_key_arn), std::string::npos) << policy;
  EXPECT_NE(policy.find("vigie/sites/acme-paris/"), std::string::npos) << policy;
  EXPECT_NE(policy.find("vigie-site-data/sites/acme-paris/"), std::string::npos) << policy;

  // The package verifies with the fleet key, opens with the site key and holds the credentials.
  auto opened = OpenPackage("acme-paris");
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->manifest.site_id, "acme-paris");
  EXPECT_EQ(opened->manifest.package_id, r->package_id);
  EXPECT_EQ(opened->manifest.fleet_url, options_.fleet_url);
  EXPECT_EQ(opened->manifest.expires_at, clock_.Now() + std::chrono::hours(24 * 30));
  ASSERT_EQ(opened->secrets.items.size(), 5u);
  const auto* admin = opened->secrets.Find(package::kAdminPassword);
  ASSERT_NE(admin, nullptr);
  EXPECT_TRUE(admin->must_change);
  EXPECT_EQ(opened->secrets.Find(package::kCloudAccessKeyId)->value.view(), r->access_key_id);
  // The fleet's readable copy of the agent API secret is the one in the package.
  auto fleet_copy = secrets_.Get(AgentSecretName("acme-paris"), "AWSCURRENT", "");
  ASSERT_TRUE(fleet_copy);
  EXPECT_TRUE(fleet_copy->Equals(opened->secrets.Find(package::kAgentApiSecret)->value));

  // Credential records: provenance, entropy, and a verifier (never the value).
  auto rows = store_->Query(
      "SELECT name, provenance, generator, entropy_bits, verifier_kind, verifier, must_change "
      "FROM credentials WHERE site_id = 'acme-paris' ORDER BY name");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 4u);
  for (const auto& row : *rows) {
    const std::string name = *row.GetText("name");
    SCOPED_TRACE(name);
    EXPECT_EQ(*row.GetText("provenance"), "generated");
    EXPECT_GE(*row.GetInt("entropy_bits"), 128);
    EXPECT_EQ(*row.GetText("verifier_kind"), "sha256");
    const auto* item = opened->secrets.Find(name);
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(*row.GetBlob("verifier"), CredentialVerifier("acme-paris", name, item->value));
    EXPECT_EQ(*row.GetInt("must_change"), name == "admin_password" ? 1 : 0);
    if (name != "cloud_secret_access_key") {
      EXPECT_EQ(*row.GetText("generator"), crypto::kCsprngGenerator);
    } else {
      EXPECT_EQ(*row.GetText("generator"), "fake.identity.CreateAccessKey");
    }
  }

  // The package record: the signed bytes and signature verify under the fleet key.
  auto pkg = store_->Query(
      "SELECT signed_bytes, signature, enrollment_key_fingerprint "
      "FROM packages WHERE site_id = 'acme-paris'");
  ASSERT_TRUE(pkg);
  ASSERT_EQ(pkg->size(), 1u);
  EXPECT_TRUE(crypto::VerifyEd25519(fleet_key_.public_key(), *(*pkg)[0].GetBlob("signed_bytes"),
                                    *(*pkg)[0].GetBlob("signature")));
  EXPECT_EQ(*(*pkg)[0].GetText("enrollment_key_fingerprint"),
            package::EnrollmentKeyFingerprint(SiteKey("acme-paris").public_key));

  // One ledger event, naming no secret value.
  ASSERT_EQ(events_.Count("site.provisioned"), 1u);
  auto body = nlohmann::json::parse(events_.events.back().body);
  EXPECT_EQ(body["principal_arn"], r->principal_arn);
  for (const auto& item : opened->secrets.items) {
    if (item.name == package::kCloudAccessKeyId) continue;
    EXPECT_EQ(events_.events.back().body.find(item.value.view()), std::string::npos);
  }
}

TEST_F(ProvisionerTest, ReprovisioningIsANoOpAndNeverCreatesASecondPrincipal) {
  auto first = P().Provision(Request("acme-lyon"));
  ASSERT_TRUE(first) << first.error().ToString();
  auto file_before = RealFileSystem()->ReadFile(PackagePath("acme-lyon"));
  clock_.Advance(std::chrono::hours(1));

  auto again = P().Provision(Request("acme-lyon"));
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->already_provisioned);
  EXPECT_EQ(again->principal_arn, first->principal_arn);
  EXPECT_EQ(again->package_id, first->package_id);
  EXPECT_EQ(again->access_key_id, first->access_key_id);
  EXPECT_EQ(again->kms_key_arn, first->kms_key_arn);
  EXPECT_EQ(again->credentials.size(), 4u);
  EXPECT_EQ(identity_.principals_created(), 1u);
  EXPECT_EQ(identity_.access_keys_created(), 1u);
  EXPECT_EQ(kms_.keys_created(), 1u);
  EXPECT_EQ(events_.Count("site.provisioned"), 1u);
  EXPECT_EQ(*RealFileSystem()->ReadFile(PackagePath("acme-lyon")), *file_before);

  // Same id with another region or another enrollment key: refused, nothing changed.
  auto other_region = P().Provision(Request("acme-lyon", "us-east-1"));
  ASSERT_FALSE(other_region);
  EXPECT_EQ(other_region.error().code, ErrorCode::kAlreadyExists);
  SiteRequest other_key = Request("acme-lyon");
  other_key.enrollment_public_key = crypto::GenerateBoxKeyPair(*RealRandom()).public_key;
  auto refused = P().Provision(other_key);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(refused.error().message.find("enrollment key"), std::string::npos);
  EXPECT_EQ(identity_.principals_created(), 1u);
  ExpectOneCompleteSite("acme-lyon");
}

// One way to make a step fail, and the step that must be recorded as failed.
struct Fault {
  std::string name;
  std::string step;
  std::function<void(ProvisionerTest&)> arm;
};

class ProvisionFaultTest : public ProvisionerTest, public ::testing::WithParamInterface<int> {};

Error Injected() { return Error{ErrorCode::kUnavailable, "peer unavailable (injected)"}; }

std::vector<Fault> Faults() {
  return {
      {"kms_CreateKey", "kms_key", [](auto& t) { t.kms_.FailNextCallTo("CreateKey", Injected()); }},
      {"kms_EnableKeyRotation", "kms_key",
       [](auto& t) { t.kms_.FailNextCallTo("EnableKeyRotation", Injected()); }},
      {"identity_EnsurePrincipal", "principal",
       [](auto& t) { t.identity_.FailNextCallTo("EnsurePrincipal", Injected()); }},
      {"identity_ListAccessKeyIds", "access_key",
       [](auto& t) { t.identity_.FailNextCallTo("ListAccessKeyIds", Injected()); }},
      {"identity_CreateAccessKey", "access_key",
       [](auto& t) { t.identity_.FailNextCallTo("CreateAccessKey", Injected()); }},
      {"secrets_Delete", "agent_secret", [](auto& t) { t.secrets_.FailNextCall(Injected(), 0); }},
      {"secrets_Create", "agent_secret", [](auto& t) { t.secrets_.FailNextCall(Injected(), 1); }},
      {"package_write", "package", [](auto& t) { t.fs_.fail_next_write = true; }},
      {"store_record", "record",
       [](auto& t) {
         ASSERT_TRUE(t.store_->Write([](store::Txn& txn) {
           return txn.Exec(
               "CREATE TRIGGER inject_fault BEFORE INSERT ON packages BEGIN "
               "SELECT RAISE(ABORT, 'disk I/O error (injected)'); END");
         }));
       }},
      {"ledger_event", "event", [](auto& t) { t.events_.fail_next = true; }},
  };
}

TEST_P(ProvisionFaultTest, EachStepFailingLeavesNoOrphanAndARerunCompletes) {
  const Fault fault = Faults()[GetParam()];
  SCOPED_TRACE(fault.name);
  fault.arm(*this);

  auto failed = P().Provision(Request("acme-nice"));
  ASSERT_FALSE(failed) << "the injected fault did not fail provisioning";
  EXPECT_NE(failed.error().message.find("step " + fault.step + " failed"), std::string::npos)
      << failed.error().message;
  EXPECT_NE(failed.error().message.find("vigie site provision acme-nice"), std::string::npos);
  ExpectNoOrphans("acme-nice");
  EXPECT_EQ(Scalar("SELECT state FROM sites WHERE id = 'acme-nice'"), "failed");
  EXPECT_EQ(Scalar("SELECT failed_step FROM site_provisioning WHERE site_id = 'acme-nice'"),
            fault.step);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM provision_steps WHERE site_id = 'acme-nice' AND "
                   "outcome = 'failed' AND step = ?",
                   {fault.step}),
            "1");
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM provision_steps WHERE outcome = 'undo_failed'"), "0");
  EXPECT_EQ(events_.Count("site.provisioned"), 0u);
  EXPECT_EQ(events_.Count("site.provision_failed"), 1u);

  // The cause goes away; the same command completes the site.
  (void)store_->Write([](store::Txn& t) { return t.Exec("DROP TRIGGER IF EXISTS inject_fault"); });
  auto rerun = P().Provision(Request("acme-nice"));
  ASSERT_TRUE(rerun) << rerun.error().ToString();
  EXPECT_FALSE(rerun->already_provisioned);
  EXPECT_EQ(rerun->attempt, 2);
  ExpectOneCompleteSite("acme-nice");
  EXPECT_EQ(Scalar("SELECT failed_step FROM site_provisioning WHERE site_id = 'acme-nice'"),
            "<null>");
  EXPECT_EQ(events_.Count("site.provisioned"), 1u);
}

INSTANTIATE_TEST_SUITE_P(EveryStep, ProvisionFaultTest,
                         ::testing::Range(0, static_cast<int>(Faults().size())),
                         [](const auto& info) { return Faults()[info.param].name; });

TEST_F(ProvisionerTest, AFailedCompensationIsRecordedAndTheNextRunRemovesTheLeftover) {
  identity_.FailNextCallTo("CreateAccessKey", Injected());
  identity_.FailNextCallTo("DeletePrincipal", Injected());
  auto failed = P().Provision(Request("acme-brest"));
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("could NOT undo: principal"), std::string::npos)
      << failed.error().message;
  EXPECT_EQ(identity_.principal_count(), 1u);  // left behind, but recorded
  EXPECT_EQ(kms_.live_key_count(), 0u);
  EXPECT_EQ(Scalar("SELECT leftover_principal FROM site_provisioning WHERE site_id = "
                   "'acme-brest'"),
            "1");

  auto rerun = P().Provision(Request("acme-brest"));
  ASSERT_TRUE(rerun) << rerun.error().ToString();
  EXPECT_EQ(rerun->steps[1], "cleanup");
  ExpectOneCompleteSite("acme-brest");
  EXPECT_EQ(Scalar("SELECT leftover_principal FROM site_provisioning WHERE site_id = "
                   "'acme-brest'"),
            "0");
}

TEST_F(ProvisionerTest, StaleAccessKeysOfACrashedRunAreReplacedNotAccumulated) {
  // A crashed run left a principal with a key whose secret nobody holds.
  backend::SiteScope scope{"acme-tours", "eu-west-3", "", "", "vigie/sites/acme-tours/", ""};
  ASSERT_TRUE(identity_.EnsurePrincipal(scope));
  auto stale = identity_.CreateAccessKey("acme-tours");
  ASSERT_TRUE(stale);
  auto r = P().Provision(Request("acme-tours"));
  ASSERT_TRUE(r) << r.error().ToString();
  auto ids = identity_.ListAccessKeyIds("acme-tours");
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, std::vector<std::string>{r->access_key_id});
  EXPECT_NE(r->access_key_id, stale->access_key_id);
  EXPECT_EQ(identity_.principals_created(), 1u);
}

TEST_F(ProvisionerTest, InvalidRequestsAreRefusedBeforeAnythingIsCreated) {
  auto bad_id = P().Provision(Request("Acme_Paris"));
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(bad_id.error().code, ErrorCode::kInvalidArgument);
  auto bad_region = P().Provision(Request("acme", "EU WEST"));
  ASSERT_FALSE(bad_region);
  EXPECT_NE(bad_region.error().message.find("region"), std::string::npos);
  SiteRequest zero = Request("acme");
  zero.enrollment_public_key = {};
  EXPECT_FALSE(P().Provision(zero));
  options_.fleet_url = "http://fleet.example.test";  // not TLS
  auto bad_url = NewProvisioner()->Provision(Request("acme"));
  ASSERT_FALSE(bad_url);
  EXPECT_EQ(bad_url.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM sites"), "0");
  EXPECT_EQ(kms_.keys_created(), 0u);
  EXPECT_EQ(identity_.principals_created(), 0u);
}

TEST_F(ProvisionerTest, AnotherFleetKeyIsRefusedOnceOneIsPinned) {
  ASSERT_TRUE(P().Provision(Request("acme-a")));
  crypto::SigningKey other = crypto::SigningKey::Generate(*RealRandom());
  Provisioner p2(ProvisionDeps{*store_, identity_, kms_, secrets_, other, events_, env_}, options_);
  auto refused = p2.Provision(Request("acme-b"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("PROV_023"), std::string::npos);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM sites WHERE id = 'acme-b'"), "0");
  EXPECT_EQ(identity_.principals_created(), 1u);
}

TEST_F(ProvisionerTest, BatchContinuesPastAFailingSiteAndReportsProgress) {
  std::vector<std::string> seen;
  auto batch = P().ProvisionBatch(
      {Request("site-a"), Request("site-b"), Request("site-c")},
      [&](size_t done, size_t total, std::string_view site, const Error* error) {
        seen.push_back(fmt::format("{}/{} {} {}", done, total, site, error ? "failed" : "ok"));
        if (done == 1) kms_.FailNextCallTo("CreateKey", Injected());  // site-b fails
      });
  ASSERT_TRUE(batch) << batch.error().ToString();
  EXPECT_EQ(seen,
            (std::vector<std::string>{"1/3 site-a ok", "2/3 site-b failed", "3/3 site-c ok"}));
  EXPECT_EQ(batch->failed, 1u);
  EXPECT_TRUE(batch->items[0].result);
  EXPECT_TRUE(batch->items[1].error);
  EXPECT_TRUE(batch->items[2].result);
  EXPECT_EQ(Scalar("SELECT state FROM sites WHERE id = 'site-b'"), "failed");
  EXPECT_EQ(identity_.principal_count(), 2u);

  auto dup = P().ProvisionBatch({Request("site-x"), Request("site-x")});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kInvalidArgument);
}

// The compliance checks of the rules provisioning enforces, over what it recorded: PASS after
// provisioning, FAIL once the store is tampered with.
TEST_F(ProvisionerTest, ComplianceChecksPassOnProvisionedSitesAndFailWhenBroken) {
  ASSERT_TRUE(P().Provision(Request("site-a")));
  ASSERT_TRUE(P().Provision(Request("site-b")));
  compliance::RuleRegistry registry;
  compliance::RegisterAllRules(registry);
  auto judge = [&](std::string_view id, std::string_view site) {
    compliance::StoreEvidence evidence(*store_, clock_, {});
    const auto* rule = compliance::FindRule(id);
    auto result = registry.Find(id)->check(*rule, evidence, site);
    EXPECT_FALSE(evidence.error()) << evidence.error()->ToString();
    return result;
  };
  for (std::string_view id : {"PROV_001", "PROV_002", "PROV_003", "PROV_005", "PROV_023"}) {
    for (std::string_view site : {"site-a", "site-b"}) {
      auto r = judge(id, site);
      EXPECT_EQ(r.status, compliance::Status::kPass) << id << " " << site << ": " << r.summary;
    }
  }
  auto exec = [&](const std::string& sql) {
    ASSERT_TRUE(store_->Write([&](store::Txn& t) { return t.Exec(sql); }));
  };
  exec("UPDATE packages SET signature = zeroblob(64) WHERE site_id = 'site-a'");
  EXPECT_EQ(judge("PROV_023", "site-a").status, compliance::Status::kFail);
  EXPECT_EQ(judge("PROV_023", "site-b").status, compliance::Status::kPass);
  exec(
      "UPDATE site_principals SET access_key_id = (SELECT access_key_id FROM site_principals "
      "WHERE site_id = 'site-b') WHERE site_id = 'site-a'");
  EXPECT_EQ(judge("PROV_001", "site-a").status, compliance::Status::kFail);
  exec(
      "UPDATE credentials SET entropy_bits = 64 WHERE site_id = 'site-b' AND "
      "name = 'db_password'");
  EXPECT_EQ(judge("PROV_002", "site-b").status, compliance::Status::kFail);
  exec(
      "UPDATE credentials SET verifier = 'Sup3r-Secret-Admin-Password-1234' WHERE "
      "site_id = 'site-b' AND name = 'admin_password'");
  EXPECT_EQ(judge("PROV_003", "site-b").status, compliance::Status::kFail);
  exec(
      "UPDATE credentials SET must_change = 0 WHERE site_id = 'site-b' AND "
      "name = 'admin_password'");
  EXPECT_EQ(judge("PROV_005", "site-b").status, compliance::Status::kFail);
}

}  // namespace
}  // namespace vigie::provision
