#include "backend/local/local_identity.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "backend/local/local_test_util.h"
#include "backend/policy.h"
#include "crypto/credential.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::backend {
namespace {

using std::chrono::hours;
using vigie::testing::FakeClock;
using vigie::testing::TempDir;

SiteScope Scope(const std::string& id) {
  SiteScope s;
  s.site_id = id;
  s.region = "eu-west-3";
  s.s3_bucket = "vigie-fleet";
  s.s3_prefix = "sites/" + id + "/";
  s.secrets_prefix = "vigie/sites/" + id + "/";
  s.kms_key_arn = "local:kms:local-" + std::string(32, 'a');
  return s;
}

class LocalIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions o;
    o.path = db_path_;
    o.clock = &clock_;
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
    identity_ = NewLocalIdentity(*store_, env_);
  }

  TempDir dir_;
  std::string db_path_ = dir_.File("vigie.db");
  FakeClock clock_;
  Env env_{&clock_, RealFileSystem(), RealRandom()};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<LocalIdentity> identity_;
};

TEST_F(LocalIdentityTest, EnsurePrincipalIsIdempotent) {
  auto first = identity_->EnsurePrincipal(Scope("s1"));
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->site_id, "s1");
  EXPECT_EQ(first->name, "vigie-site-s1");
  EXPECT_EQ(first->arn, "local:iam::user/vigie/sites/vigie-site-s1");
  EXPECT_EQ(first->policy_document, SitePolicyDocument(Scope("s1")));
  EXPECT_EQ(first->created_at, clock_.Now());

  clock_.Advance(hours(5));
  SiteScope rescoped = Scope("s1");
  rescoped.kms_key_arn = "local:kms:local-" + std::string(32, 'b');
  auto second = identity_->EnsurePrincipal(rescoped);
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(second->name, first->name);
  EXPECT_EQ(second->created_at, first->created_at);  // the same principal, not a new one
  EXPECT_EQ(second->policy_document, SitePolicyDocument(rescoped));  // policy re-applied
  EXPECT_EQ(identity_->ListPrincipals()->size(), 1u);
  EXPECT_EQ(identity_->GetPrincipal("s1")->policy_document, SitePolicyDocument(rescoped));
}

TEST_F(LocalIdentityTest, TheSchemaForbidsASecondPrincipalPerSite) {
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("s1")));
  Status st = store_->Write([](store::Txn& t) {
    return t.Exec(
        "INSERT INTO local_principals(site_id, name, arn, policy, created_at) "
        "VALUES('s1', 'other-name', 'local:x', '{}', 0)");
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(LocalIdentityTest, EachPolicyNamesOnlyItsOwnSite) {
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("site-a")));
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("site-b")));
  auto all = identity_->ListPrincipals();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  for (const auto& p : *all) {
    const std::string other = p.site_id == "site-a" ? "site-b" : "site-a";
    auto doc = nlohmann::json::parse(p.policy_document, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << p.policy_document;
    EXPECT_NE(p.policy_document.find("sites/" + p.site_id + "/"), std::string::npos);
    EXPECT_EQ(p.policy_document.find(other), std::string::npos) << p.policy_document;
  }
}

TEST_F(LocalIdentityTest, InvalidScopeIsRefusedAndNothingIsCreated) {
  SiteScope s = Scope("s1");
  s.s3_prefix = "sites/";
  auto r = identity_->EnsurePrincipal(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("s3_prefix"), std::string::npos);
  EXPECT_TRUE(identity_->ListPrincipals()->empty());
  auto missing = identity_->GetPrincipal("s1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("EnsurePrincipal"), std::string::npos);
}

TEST_F(LocalIdentityTest, AccessKeysAreGeneratedAndLimitedToTwo) {
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("s1")));
  auto k1 = identity_->CreateAccessKey("s1");
  ASSERT_TRUE(k1) << k1.error().ToString();
  EXPECT_TRUE(std::regex_match(k1->access_key_id, std::regex("LKIA[A-Z0-9]{16}")))
      << k1->access_key_id;
  const std::string secret(k1->secret_access_key.view());
  EXPECT_TRUE(std::regex_match(secret, std::regex("[A-Za-z0-9]{40}")));
  auto k2 = identity_->CreateAccessKey("s1");
  ASSERT_TRUE(k2);
  EXPECT_NE(k2->access_key_id, k1->access_key_id);
  EXPECT_FALSE(k2->secret_access_key == k1->secret_access_key);

  auto k3 = identity_->CreateAccessKey("s1");
  ASSERT_FALSE(k3);
  EXPECT_EQ(k3.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(k3.error().message.find("limit"), std::string::npos) << k3.error().message;
  EXPECT_NE(k3.error().message.find("DeleteAccessKey"), std::string::npos);

  auto ids = identity_->ListAccessKeyIds("s1");
  ASSERT_TRUE(ids);
  EXPECT_EQ(std::set<std::string>(ids->begin(), ids->end()),
            (std::set<std::string>{k1->access_key_id, k2->access_key_id}));
  ASSERT_TRUE(identity_->DeleteAccessKey("s1", k1->access_key_id));
  EXPECT_TRUE(identity_->CreateAccessKey("s1"));

  // Provenance (PROV_002).
  auto records = identity_->ListAccessKeys();
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 2u);
  for (const auto& r : *records) {
    EXPECT_EQ(r.generator, crypto::kCsprngGenerator);
    EXPECT_GE(r.entropy_bits, crypto::kMinCredentialEntropyBits);
    EXPECT_EQ(r.site_id, "s1");
  }
}

TEST_F(LocalIdentityTest, AccessKeyForUnknownSiteIsNotFound) {
  auto k = identity_->CreateAccessKey("ghost");
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ErrorCode::kNotFound);
  EXPECT_NE(k.error().message.find("'ghost'"), std::string::npos);
  EXPECT_EQ(identity_->ListAccessKeyIds("ghost").error().code, ErrorCode::kNotFound);
}

TEST_F(LocalIdentityTest, SecretIsNeverStoredOnlyItsVerifier) {
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("s1")));
  auto k = identity_->CreateAccessKey("s1");
  ASSERT_TRUE(k);
  // Control: the key id is stored in clear, and the scan finds it (the test can fail).
  EXPECT_TRUE(testutil::StoreFilesContain(db_path_, AsBytes(k->access_key_id)));
  EXPECT_FALSE(testutil::StoreFilesContain(db_path_, k->secret_access_key.span()));

  EXPECT_TRUE(*identity_->VerifyAccessKey(k->access_key_id, k->secret_access_key));
  SecretBytes wrong = k->secret_access_key.Clone();
  wrong.data()[0] ^= 0x01;
  EXPECT_FALSE(*identity_->VerifyAccessKey(k->access_key_id, wrong));
  EXPECT_FALSE(*identity_->VerifyAccessKey("LKIA0000000000000000", k->secret_access_key));
  ASSERT_TRUE(store_->Close());
  EXPECT_FALSE(testutil::StoreFilesContain(db_path_, k->secret_access_key.span()));
}

TEST_F(LocalIdentityTest, DeleteAccessKeyOfAnotherSiteIsLeftAlone) {
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("s1")));
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("s2")));
  auto k = identity_->CreateAccessKey("s1");
  ASSERT_TRUE(k);
  EXPECT_TRUE(identity_->DeleteAccessKey("s2", k->access_key_id));
  EXPECT_EQ(identity_->ListAccessKeyIds("s1")->size(), 1u);
  EXPECT_TRUE(identity_->DeleteAccessKey("s1", "LKIA0000000000000000"));  // missing: fine
}

TEST_F(LocalIdentityTest, DeletePrincipalRemovesKeysAndMissingSucceeds) {
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("s1")));
  ASSERT_TRUE(identity_->CreateAccessKey("s1"));
  ASSERT_TRUE(identity_->CreateAccessKey("s1"));
  ASSERT_TRUE(identity_->DeletePrincipal("s1"));
  EXPECT_EQ(identity_->GetPrincipal("s1").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(identity_->ListAccessKeys()->empty());
  EXPECT_TRUE(identity_->DeletePrincipal("s1"));
  EXPECT_TRUE(identity_->DeletePrincipal("never"));
  // The site can be provisioned again from scratch.
  ASSERT_TRUE(identity_->EnsurePrincipal(Scope("s1")));
  EXPECT_TRUE(identity_->ListAccessKeyIds("s1")->empty());
}

TEST_F(LocalIdentityTest, ConcurrentEnsureCreatesOnePrincipal) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (!identity_->EnsurePrincipal(Scope("s1"))) ++failures;
        (void)identity_->CreateAccessKey("s1");  // at most 2 may succeed overall
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(identity_->ListPrincipals()->size(), 1u);
  EXPECT_EQ(identity_->ListAccessKeyIds("s1")->size(), 2u);
}

}  // namespace
}  // namespace vigie::backend
