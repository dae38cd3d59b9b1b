// Opt-in checks against a REAL HashiCorp Vault (the unit tests use the test double). Runs when
// VAULT_ADDR is set and a `vault` binary is on PATH (e.g. `vault server -dev` started by hand);
// reported as skipped otherwise. Needs VAULT_TOKEN for the policy round trip.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "http/curl_client.h"
#include "vault/bootstrap.h"
#include "vault/vault_client.h"

namespace vigie::vault {
namespace {

bool OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string p(path);
  for (size_t start = 0; start <= p.size();) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    if (::access((p.substr(start, end - start) + "/" + name).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

class RealVaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* addr = std::getenv("VAULT_ADDR");
    if (addr == nullptr || *addr == '\0' || !OnPath("vault")) {
      GTEST_SKIP() << "no real Vault: set VAULT_ADDR and put the `vault` binary on PATH";
    }
    http::CurlClientOptions o;
    if (const char* ca = std::getenv("VAULT_CACERT")) o.ca_file = ca;
    http_ = std::make_unique<http::CurlClient>(std::move(o));
    client_ = std::make_unique<VaultClient>(*http_, addr);
  }
  std::unique_ptr<http::CurlClient> http_;
  std::unique_ptr<VaultClient> client_;
};

TEST_F(RealVaultTest, SealStatusAndHealthAgree) {
  auto seal = client_->GetSealStatus();
  ASSERT_TRUE(seal) << seal.error().ToString();
  auto health = client_->GetHealth();
  ASSERT_TRUE(health) << health.error().ToString();
  if (!seal->initialized) EXPECT_EQ(*health, Health::kNotInitialized);
  if (seal->initialized && seal->sealed) EXPECT_EQ(*health, Health::kSealed);
}

TEST_F(RealVaultTest, PolicyRoundTripUsesTheDataEnvelope) {
  const char* token_env = std::getenv("VAULT_TOKEN");
  if (token_env == nullptr || *token_env == '\0') GTEST_SKIP() << "VAULT_TOKEN not set";
  SecretBytes token = SecretBytes::CopyFrom(std::string_view(token_env));
  std::string name = "vigie-test-" + std::to_string(::getpid());
  std::string text = "path \"secret/data/vigie-test/*\" {\n  capabilities = [\"read\"]\n}\n";
  ASSERT_TRUE(client_->PutPolicy(token, name, text));
  auto got = client_->GetPolicy(token, name);
  ASSERT_TRUE(got) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, text);
  auto names = client_->ListPolicies(token);
  ASSERT_TRUE(names);
  EXPECT_NE(std::find(names->begin(), names->end(), name), names->end());
  auto del_root = client_->DeletePolicy(token, "root");
  EXPECT_FALSE(del_root);
  ASSERT_TRUE(client_->DeletePolicy(token, name));
  EXPECT_FALSE(client_->GetPolicy(token, name).value().has_value());
}

TEST_F(RealVaultTest, ShamirSealedVaultIsRefused) {
  auto seal = client_->GetSealStatus();
  ASSERT_TRUE(seal);
  if (seal->type != "shamir") GTEST_SKIP() << "the Vault's seal is " << seal->type;
  // A dev server is Shamir-sealed: the seal check must refuse before touching anything.
  EXPECT_TRUE(seal->type == "shamir");
}

}  // namespace
}  // namespace vigie::vault
