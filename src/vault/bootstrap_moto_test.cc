// Bootstrap against the Vault API test double with the real "aws" backends talking to moto
// (Secrets Manager for the recovery shares, KMS for the pre-init key check). Needs moto_server on
// PATH; skipped otherwise.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "backend/aws/aws_kms.h"
#include "backend/aws/aws_secrets.h"
#include "cloud/aws_client.h"
#include "http/curl_client.h"
#include "store/sqlite_store.h"
#include "testing/moto_server.h"
#include "testing/temp_dir.h"
#include "testing/vault_double.h"
#include "vault/bootstrap.h"

namespace vigie::vault {
namespace {

constexpr char kRegion[] = "eu-west-3";

TEST(VaultBootstrapMotoTest, SharesLandInSecretsManagerOneSecretEachWithTags) {
  if (!vigie::testing::MotoServer::Available()) GTEST_SKIP() << "moto_server is not on PATH";
  auto moto = vigie::testing::MotoServer::Start();
  ASSERT_TRUE(moto) << moto.error().ToString();
  auto vault = vigie::testing::VaultDouble::Start();
  ASSERT_TRUE(vault) << vault.error().ToString();

  http::CurlClient http;
  cloud::AwsClient aws(http, *RealClock(),
                       {"AKIAVAULTTEST0000000", SecretBytes::CopyFrom("test-secret"), {}},
                       {.endpoint_override = (*moto)->Endpoint()});
  auto secrets = backend::AwsSecrets::Create(aws, {.region = kRegion});
  ASSERT_TRUE(secrets) << secrets.error().ToString();
  auto kms = backend::AwsKms::Create(aws, {.region = kRegion});
  ASSERT_TRUE(kms) << kms.error().ToString();
  auto key = (*kms)->CreateKey("vault seal of site-m", {{"site", "site-m"}});
  ASSERT_TRUE(key) << key.error().ToString();

  vigie::testing::TempDir dir;
  store::SqliteOptions so;
  so.path = dir.File("vigie.db");
  auto store = store::OpenSqliteStore(so);
  ASSERT_TRUE(store) << store.error().ToString();
  NullEventSink events;
  VaultClient client(http, (*vault)->Address());
  BootstrapOptions options;
  options.site = "site-m";
  options.kms_key_id = key->key_id;

  // A key that does not exist in KMS is refused before init.
  BootstrapOptions wrong = options;
  wrong.kms_key_id = "11111111-2222-3333-4444-555555555555";
  auto refused = Bootstrap(wrong, client, **secrets, **kms, **store, events, RealEnv());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition) << refused.error().ToString();

  auto report = Bootstrap(options, client, **secrets, **kms, **store, events, RealEnv());
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->record.outcome, "ok");

  auto listed = (*secrets)->List(RecoverySharePrefix("site-m"));
  ASSERT_TRUE(listed) << listed.error().ToString();
  ASSERT_EQ(listed->size(), 5u);
  std::set<std::string> indices;
  for (const auto& s : *listed) {
    EXPECT_EQ(s.tags.at("site"), "site-m") << s.name;
    EXPECT_EQ(s.name, RecoverySharePrefix("site-m") + s.tags.at("share_index"));
    indices.insert(s.tags.at("share_index"));
    auto value = (*secrets)->Get(s.name);
    ASSERT_TRUE(value);
    EXPECT_EQ(Base64Decode(value->view()).value().size(), 33u);
  }
  EXPECT_EQ(indices, (std::set<std::string>{"1", "2", "3", "4", "5"}));
  auto cred = (*secrets)->Get(AdminCredentialSecretName("site-m"));
  ASSERT_TRUE(cred) << cred.error().ToString();
}

}  // namespace
}  // namespace vigie::vault
