// VaultClient against the Vault API test double (tests/doubles/vault_double.py): each endpoint's
// documented behaviour, errors included.

#include "vault/vault_client.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/shamir.h"
#include "http/curl_client.h"
#include "testing/vault_double.h"

namespace vigie::vault {
namespace {

using nlohmann::json;
using testing::VaultDouble;
using testing::VaultDoubleOptions;

class VaultClientTest : public ::testing::Test {
 protected:
  void StartDouble(VaultDoubleOptions options = {}) {
    auto d = VaultDouble::Start(options);
    ASSERT_TRUE(d) << d.error().ToString();
    double_ = std::move(*d);
    client_ = std::make_unique<VaultClient>(http_, double_->Address());
  }
  json State() {
    auto s = double_->State();
    EXPECT_TRUE(s) << s.error().ToString();
    return json::parse(s.value_or("{}"));
  }
  SecretBytes RootToken() {
    return SecretBytes::CopyFrom(State()["root_token"].get<std::string>());
  }

  http::CurlClient http_;
  std::unique_ptr<VaultDouble> double_;
  std::unique_ptr<VaultClient> client_;
};

TEST_F(VaultClientTest, SealStatusAndHealthFollowTheLifecycle) {
  StartDouble();
  auto seal = client_->GetSealStatus();
  ASSERT_TRUE(seal) << seal.error().ToString();
  EXPECT_EQ(seal->type, "awskms");
  EXPECT_FALSE(seal->initialized);
  EXPECT_TRUE(seal->sealed);
  EXPECT_TRUE(seal->recovery_seal);
  EXPECT_EQ(client_->GetHealth().value(), Health::kNotInitialized);  // 501

  auto init = client_->Init(5, 3, std::chrono::seconds(30));
  ASSERT_TRUE(init) << init.error().ToString();
  seal = client_->GetSealStatus();
  ASSERT_TRUE(seal);
  EXPECT_TRUE(seal->initialized);
  EXPECT_FALSE(seal->sealed);
  EXPECT_EQ(seal->shares, 5);
  EXPECT_EQ(seal->threshold, 3);
  EXPECT_EQ(client_->GetHealth().value(), Health::kActive);  // 200
  ASSERT_TRUE(double_->Configure(R"({"standby": true})"));
  EXPECT_EQ(client_->GetHealth().value(), Health::kStandby);  // 429
}

TEST_F(VaultClientTest, HealthReportsSealedWhenKmsUnreachable) {
  VaultDoubleOptions o;
  o.kms_unreachable = true;
  StartDouble(o);
  auto init = client_->Init(5, 3, std::chrono::seconds(30));
  ASSERT_FALSE(init);
  EXPECT_EQ(init.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(init.error().message.find("HTTP 500"), std::string::npos) << init.error().message;
  EXPECT_EQ(client_->GetHealth().value(), Health::kSealed);  // 503, though initialised
  EXPECT_TRUE(client_->GetSealStatus().value().initialized);
}

TEST_F(VaultClientTest, InitReturnsRealShamirSharesOfTheRecoveryKey) {
  StartDouble();
  auto init = client_->Init(5, 3, std::chrono::seconds(30));
  ASSERT_TRUE(init) << init.error().ToString();
  ASSERT_EQ(init->recovery_keys.size(), 5u);
  for (const auto& k : init->recovery_keys) EXPECT_EQ(k.size(), 33u);
  EXPECT_FALSE(init->root_token.empty());
  // Any 3 shares rebuild the double's 32-byte recovery key; 2 do not.
  std::vector<SecretBytes> three;
  for (int i : {4, 0, 2}) three.push_back(init->recovery_keys[i].Clone());
  auto key = crypto::ShamirCombine(three);
  ASSERT_TRUE(key) << key.error().ToString();
  EXPECT_EQ(HexEncode(crypto::Sha256(key->span())), State()["recovery_key_sha256"]);
  three.pop_back();
  auto wrong = crypto::ShamirCombine(three);
  ASSERT_TRUE(wrong);
  EXPECT_NE(HexEncode(crypto::Sha256(wrong->span())), State()["recovery_key_sha256"]);
}

TEST_F(VaultClientTest, SecondInitIsAConflict) {
  StartDouble();
  ASSERT_TRUE(client_->Init(5, 3, std::chrono::seconds(30)));
  auto again = client_->Init(5, 3, std::chrono::seconds(30));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_NE(again.error().message.find("vault PUT /v1/sys/init: HTTP 400: Vault is already "
                                       "initialized"),
            std::string::npos)
      << again.error().message;
}

TEST_F(VaultClientTest, InitParametersAreValidatedLikeVault) {
  StartDouble();
  for (auto [n, t] : {std::pair{5, 1}, {5, 6}, {256, 3}, {0, 0}}) {
    auto r = client_->Init(n, t, std::chrono::seconds(30));
    ASSERT_FALSE(r) << n << "/" << t;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().message;
    EXPECT_NE(r.error().message.find("invalid recovery configuration"), std::string::npos)
        << r.error().message;
  }
  EXPECT_FALSE(client_->GetSealStatus().value().initialized);
}

TEST_F(VaultClientTest, DoubleRejectsSecretSharesWithAutoUnseal) {
  StartDouble();
  auto r = double_->Request("PUT", "/v1/sys/init", R"({"secret_shares":5,"secret_threshold":3})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("secret_shares"), std::string::npos) << r->body;
}

TEST_F(VaultClientTest, PolicyEndpointsUseTheDataEnvelope) {
  StartDouble();
  ASSERT_TRUE(client_->Init(5, 3, std::chrono::seconds(30)));
  SecretBytes root = RootToken();
  ASSERT_TRUE(client_->PutPolicy(root, "ops", "path \"kv/*\" { capabilities = [\"read\"] }\n"));
  auto got = client_->GetPolicy(root, "ops");
  ASSERT_TRUE(got) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, "path \"kv/*\" { capabilities = [\"read\"] }\n");
  auto missing = client_->GetPolicy(root, "nope");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  auto names = client_->ListPolicies(root);
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"default", "ops", "root"}));
  ASSERT_TRUE(client_->DeletePolicy(root, "ops"));
  EXPECT_FALSE(client_->GetPolicy(root, "ops").value().has_value());
  for (const char* reserved : {"root", "default"}) {
    auto del = client_->DeletePolicy(root, reserved);
    ASSERT_FALSE(del) << reserved;
    EXPECT_EQ(del.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(del.error().message.find(std::string("DELETE /v1/sys/policies/acl/") + reserved),
              std::string::npos)
        << del.error().message;
    EXPECT_NE(del.error().message.find("cannot delete"), std::string::npos);
  }
}

TEST_F(VaultClientTest, RevokedTokenIsRefusedWith403) {
  StartDouble();
  ASSERT_TRUE(client_->Init(5, 3, std::chrono::seconds(30)));
  SecretBytes root = RootToken();
  auto info = client_->LookupSelf(root);
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_EQ(info->policies, std::vector<std::string>{"root"});
  ASSERT_TRUE(client_->RevokeSelf(root));
  auto after = client_->LookupSelf(root);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(after.error().message.find("HTTP 403: permission denied"), std::string::npos)
      << after.error().message;
}

TEST_F(VaultClientTest, AppRoleLoginYieldsAPolicyBoundToken) {
  StartDouble();
  ASSERT_TRUE(client_->Init(5, 3, std::chrono::seconds(30)));
  SecretBytes root = RootToken();
  auto mounts = client_->ListAuthMounts(root);
  ASSERT_TRUE(mounts);
  EXPECT_EQ(*mounts, std::vector<std::string>{"token/"});
  ASSERT_TRUE(client_->EnableAuth(root, "approle", "approle"));
  auto twice = client_->EnableAuth(root, "approle", "approle");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("path is already in use"), std::string::npos);
  ASSERT_TRUE(client_->WriteAppRole(root, "r1", {"p1"}, "15m", "1h"));
  auto role_id = client_->ReadRoleId(root, "r1");
  ASSERT_TRUE(role_id) << role_id.error().ToString();
  auto secret_id = client_->GenerateSecretId(root, "r1");
  ASSERT_TRUE(secret_id) << secret_id.error().ToString();
  auto token = client_->AppRoleLogin(*role_id, *secret_id);
  ASSERT_TRUE(token) << token.error().ToString();
  auto info = client_->LookupSelf(*token);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->policies, (std::vector<std::string>{"default", "p1"}));
  auto bad = client_->AppRoleLogin(*role_id, SecretBytes::CopyFrom("wrong"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(VaultErrorTest, JoinsVaultErrorsAndMapsStatus) {
  http::HttpResponse r;
  r.status = 403;
  r.body = R"({"errors":["1 error occurred:\n\t* permission denied\n\n"]})";
  Error e = VaultErrorFromResponse("GET", "/v1/auth/token/lookup-self", r);
  EXPECT_EQ(e.code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(
      e.message,
      "vault GET /v1/auth/token/lookup-self: HTTP 403: 1 error occurred: * permission denied");
  r.status = 503;
  r.body = R"({"errors":["Vault is sealed"]})";
  e = VaultErrorFromResponse("GET", "/v1/sys/policies/acl", r);
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_NE(e.message.find("Vault is sealed"), std::string::npos);
  r.status = 404;
  r.body = "not json";
  EXPECT_EQ(VaultErrorFromResponse("GET", "/x", r).code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace vigie::vault
