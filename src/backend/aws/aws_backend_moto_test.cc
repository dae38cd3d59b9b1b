// The "aws" backends against moto_server (tests/testing/moto_server.h) with SigV4 checking on
// from the first call (INITIAL_NO_AUTH_ACTION_COUNT=0), as src/cloud/aws_client_moto_test.cc
// does: three unauthenticated calls (after POST /moto-api/reset-auth) create an admin user and
// its key, then every request is verified. Skipped when moto_server is not on PATH.
//
// moto is more lenient than AWS in places (it accepts a 30-day KMS rotation period and does not
// echo RotationPeriodInDays): the limits are checked by vigie itself, and the unit tests
// (aws_backend_test.cc) cover the reply fields moto omits.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "backend/aws/aws_identity.h"
#include "backend/aws/aws_kms.h"
#include "backend/aws/aws_secrets.h"
#include "backend/policy.h"
#include "cloud/aws_client.h"
#include "http/curl_client.h"
#include "testing/moto_server.h"

namespace vigie::backend {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kFormType[] = "application/x-www-form-urlencoded; charset=utf-8";
constexpr char kRegion[] = "eu-west-3";

std::string XmlText(const std::string& body, const std::string& tag) {
  size_t a = body.find("<" + tag + ">");
  if (a == std::string::npos) return "";
  a += tag.size() + 2;
  return body.substr(a, body.find("</" + tag + ">", a) - a);
}

cloud::AwsCredentials Creds(std::string id, std::string_view secret) {
  return {std::move(id), SecretBytes::CopyFrom(secret), {}};
}

SiteScope Scope(const std::string& site, const std::string& key_arn) {
  return SiteScope{.site_id = site,
                   .region = kRegion,
                   .s3_bucket = "vigie-fleet",
                   .s3_prefix = "sites/" + site + "/",
                   .secrets_prefix = "vigie/sites/" + site + "/",
                   .kms_key_arn = key_arn};
}

class AwsBackendMotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!vigie::testing::MotoServer::Available()) return;
    auto moto = vigie::testing::MotoServer::Start({{"INITIAL_NO_AUTH_ACTION_COUNT", "0"}});
    ASSERT_TRUE(moto) << moto.error().ToString();
    moto_ = moto->release();
    http_ = new http::CurlClient();
    auto reset = http_->Send({.method = "POST",
                              .url = moto_->Endpoint() + "/moto-api/reset-auth",
                              .headers = {},
                              .body = "3"});
    ASSERT_TRUE(reset && reset->status == 200);
    cloud::AwsClient bootstrap(*http_, *RealClock(), Creds("AKIABOOTSTRAP0000000", "unused"),
                               {.endpoint_override = moto_->Endpoint()});
    auto iam = [&](const std::string& form) {
      return bootstrap.Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                            form + "&Version=2010-05-08");
    };
    ASSERT_TRUE(iam("Action=CreateUser&UserName=vigie-admin"));
    auto key = iam("Action=CreateAccessKey&UserName=vigie-admin");
    ASSERT_TRUE(key) << key.error().ToString();
    access_key_id_ = new std::string(XmlText(key->body, "AccessKeyId"));
    secret_ = new std::string(XmlText(key->body, "SecretAccessKey"));
    ASSERT_FALSE(access_key_id_->empty());
    const std::string policy =
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";
    ASSERT_TRUE(iam("Action=PutUserPolicy&UserName=vigie-admin&PolicyName=all&PolicyDocument=" +
                    cloud::SigV4UriEncode(policy, false)));
    client_ = new cloud::AwsClient(*http_, *RealClock(), Creds(*access_key_id_, *secret_),
                                   {.endpoint_override = moto_->Endpoint()});
  }

  static void TearDownTestSuite() {
    delete client_;
    delete access_key_id_;
    delete secret_;
    delete http_;
    delete moto_;
  }

  void SetUp() override {
    if (!vigie::testing::MotoServer::Available()) {
      GTEST_SKIP() << "moto_server is not on PATH (scripts/install-deps.sh provides it)";
    }
    ASSERT_NE(client_, nullptr);
  }

  static std::unique_ptr<AwsIdentity> Identity(const cloud::AwsClient& client) {
    auto id = AwsIdentity::Create(client);
    EXPECT_TRUE(id);
    return std::move(*id);
  }
  static std::unique_ptr<AwsSecrets> Secrets(const cloud::AwsClient& client) {
    auto s = AwsSecrets::Create(client, {.region = kRegion});
    EXPECT_TRUE(s);
    return std::move(*s);
  }
  static std::unique_ptr<AwsKms> Kms(const cloud::AwsClient& client) {
    auto k = AwsKms::Create(client, {.region = kRegion});
    EXPECT_TRUE(k);
    return std::move(*k);
  }

  // Users under /vigie/sites/ as IAM itself lists them (not through the backend).
  static std::vector<std::string> RawSiteUsers() {
    auto r = client_->Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                           "Action=ListUsers&Version=2010-05-08&PathPrefix=%2Fvigie%2Fsites%2F");
    EXPECT_TRUE(r) << r.error().ToString();
    std::vector<std::string> names;
    if (!r) return names;
    std::string_view body = r->body;
    for (size_t a = body.find("<UserName>"); a != std::string_view::npos;
         a = body.find("<UserName>", a + 1)) {
      size_t start = a + 10;
      names.emplace_back(body.substr(start, body.find("</UserName>", start) - start));
    }
    return names;
  }

  static inline vigie::testing::MotoServer* moto_ = nullptr;
  static inline http::CurlClient* http_ = nullptr;
  static inline std::string* access_key_id_ = nullptr;
  static inline std::string* secret_ = nullptr;
  static inline cloud::AwsClient* client_ = nullptr;
};

TEST_F(AwsBackendMotoTest, ProvisionLikeFlowForThreeSites) {
  auto identity = Identity(*client_);
  auto kms = Kms(*client_);
  const std::vector<std::string> sites = {"paris-1", "lyon-2", "nantes-3"};
  std::map<std::string, std::string> key_arn;

  for (const std::string& site : sites) {
    auto key = kms->CreateKey("vigie site " + site, {{"site", site}, {"managed-by", "vigie"}});
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_TRUE(key->enabled);
    EXPECT_FALSE(key->rotation_enabled);
    // moto would accept 30 days; vigie refuses before sending (MAINT_020, AWS's 90..2560).
    auto too_short = kms->EnableKeyRotation(key->key_id, 30);
    ASSERT_FALSE(too_short);
    EXPECT_EQ(too_short.error().code, ErrorCode::kInvalidArgument);
    ASSERT_TRUE(kms->EnableKeyRotation(key->key_id, 365));
    auto info = kms->DescribeKey(key->key_id);
    ASSERT_TRUE(info) << info.error().ToString();
    EXPECT_TRUE(info->enabled);
    EXPECT_TRUE(info->rotation_enabled);
    EXPECT_EQ(info->rotation_period_days, 365);
    EXPECT_EQ(info->arn, key->arn);
    key_arn[site] = key->arn;
  }

  // EnsurePrincipal twice per site: still one user per site.
  for (int round = 0; round < 2; ++round) {
    for (const std::string& site : sites) {
      auto p = identity->EnsurePrincipal(Scope(site, key_arn[site]));
      ASSERT_TRUE(p) << p.error().ToString();
      EXPECT_EQ(p->name, "vigie-site-" + site);
      EXPECT_THAT(p->arn, HasSubstr(":user/vigie/sites/vigie-site-" + site));
    }
  }
  auto users = RawSiteUsers();
  EXPECT_EQ(
      std::set<std::string>(users.begin(), users.end()),
      (std::set<std::string>{"vigie-site-paris-1", "vigie-site-lyon-2", "vigie-site-nantes-3"}));
  EXPECT_EQ(users.size(), 3u);
  auto principals = identity->ListPrincipals();
  ASSERT_TRUE(principals) << principals.error().ToString();
  std::set<std::string> listed;
  for (const auto& p : *principals) listed.insert(p.site_id);
  EXPECT_EQ(listed, std::set<std::string>(sites.begin(), sites.end()));

  // One access key per site, made by IAM, distinct.
  std::set<std::string> key_ids;
  for (const std::string& site : sites) {
    auto key = identity->CreateAccessKey(site);
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_FALSE(key->secret_access_key.empty());
    key_ids.insert(key->access_key_id);
    auto ids = identity->ListAccessKeyIds(site);
    ASSERT_TRUE(ids) << ids.error().ToString();
    EXPECT_EQ(*ids, std::vector<std::string>{key->access_key_id});
  }
  EXPECT_EQ(key_ids.size(), 3u);

  // Each policy, as IAM holds it, names only its own site's resources (PROV_001).
  for (const std::string& site : sites) {
    auto doc = identity->GetUserPolicyDocument(site);
    ASSERT_TRUE(doc) << doc.error().ToString();
    Json policy = Json::parse(*doc);
    EXPECT_EQ(policy, Json::parse(SitePolicyDocument(Scope(site, key_arn[site]))));
    ASSERT_TRUE(policy["Statement"].is_array());
    int resources = 0;
    for (const Json& st : policy["Statement"]) {
      EXPECT_EQ(st["Effect"], "Allow");
      for (const Json& action : st["Action"])
        EXPECT_THAT(action.get<std::string>(), Not(HasSubstr("*")));
      for (const Json& r : st["Resource"]) {
        const std::string res = r.get<std::string>();
        ++resources;
        EXPECT_TRUE(res.find("/" + site + "/") != std::string::npos || res == key_arn[site] ||
                    res == "arn:aws:s3:::vigie-fleet")
            << res;
        for (const std::string& other : sites) {
          if (other == site) continue;
          EXPECT_THAT(res, Not(HasSubstr(other))) << res;
          EXPECT_NE(res, key_arn[other]);
        }
      }
    }
    EXPECT_EQ(resources, 4);
  }

  // Compensation: the principal goes with its keys and policy.
  const std::string gone = sites.back();
  ASSERT_TRUE(identity->DeletePrincipal(gone));
  users = RawSiteUsers();
  EXPECT_EQ(users.size(), 2u);
  EXPECT_EQ(std::count(users.begin(), users.end(), "vigie-site-" + gone), 0);
  auto p = identity->GetPrincipal(gone);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kNotFound);
  auto doc = identity->GetUserPolicyDocument(gone);
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, ErrorCode::kNotFound);
  auto ids = identity->ListAccessKeyIds(gone);
  ASSERT_FALSE(ids);
  EXPECT_EQ(ids.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(identity->DeletePrincipal(gone));  // again: already done

  // The remaining principals are intact.
  auto still = identity->GetPrincipal(sites[0]);
  ASSERT_TRUE(still) << still.error().ToString();
  EXPECT_EQ(Json::parse(still->policy_document),
            Json::parse(SitePolicyDocument(Scope(sites[0], key_arn[sites[0]]))));
}

// The policy works as a boundary, not only as text: with its own access key a site may write
// under its S3 prefix and nowhere else. (moto enforces resources for S3 only, so S3 is where
// this can be observed; the policy's other statements are checked as text above.)
TEST_F(AwsBackendMotoTest, SiteKeyIsConfinedToItsOwnS3Prefix) {
  auto bucket = client_->Call("s3", "us-east-1", "PUT", "/vigie-fleet", "", {}, "");
  ASSERT_TRUE(bucket) << bucket.error().ToString();
  auto identity = Identity(*client_);
  for (const std::string site : {"brest-4", "dijon-5"}) {
    ASSERT_TRUE(identity->EnsurePrincipal(Scope(site, "")));
  }
  auto key = identity->CreateAccessKey("brest-4");
  ASSERT_TRUE(key) << key.error().ToString();
  cloud::AwsClient site_client(
      *http_, *RealClock(),
      cloud::AwsCredentials{key->access_key_id, key->secret_access_key.Clone(), {}},
      {.endpoint_override = moto_->Endpoint()});
  auto own = site_client.Call("s3", "us-east-1", "PUT", "/vigie-fleet/sites/brest-4/backup.bin", "",
                              {}, "own data");
  EXPECT_TRUE(own) << own.error().ToString();
  auto other = site_client.Call("s3", "us-east-1", "PUT", "/vigie-fleet/sites/dijon-5/backup.bin",
                                "", {}, "intrusion");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(other.error().message, HasSubstr("AccessDenied"));
  ASSERT_TRUE(identity->DeletePrincipal("brest-4"));
  ASSERT_TRUE(identity->DeletePrincipal("dijon-5"));
}

TEST_F(AwsBackendMotoTest, ForeignUserIsNeverAdopted) {
  // A user with vigie's naming but created by someone else, without vigie's tags.
  auto r = client_->Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                         "Action=CreateUser&Version=2010-05-08&UserName=vigie-site-squat");
  ASSERT_TRUE(r) << r.error().ToString();
  auto identity = Identity(*client_);
  auto p = identity->EnsurePrincipal(Scope("squat", ""));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kConflict);
  auto del = identity->DeletePrincipal("squat");
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code, ErrorCode::kConflict);
}

TEST_F(AwsBackendMotoTest, SecretsLifecycleWithTagsStagesAndIdempotentCreate) {
  auto secrets = Secrets(*client_);
  const std::string name = "vigie/sites/paris-1/vault-share-1";
  const Bytes raw1 = {0x00, 0x01, 0xfe, 0xff, 0x80, 0x7f, 0x0a};
  const SecretBytes v1 = SecretBytes::CopyFrom(raw1);
  const SecretBytes v2 = SecretBytes::CopyFrom(std::string_view("second value"));
  const Tags tags = {{"site", "paris-1"}, {"kind", "vault-share"}};

  auto created = secrets->Create(name, v1, tags, "provision/paris-1/share-1");
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_EQ(created->name, name);
  EXPECT_THAT(created->arn, HasSubstr(":secret:" + name));
  EXPECT_EQ(created->version_id, AwsClientRequestToken("provision/paris-1/share-1"));

  // A retry with the same token and value returns the same version.
  auto again = secrets->Create(name, v1, tags, "provision/paris-1/share-1");
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->version_id, created->version_id);
  // Same token, other value; or another token: kAlreadyExists.
  auto clash = secrets->Create(name, v2, tags, "provision/paris-1/share-1");
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, ErrorCode::kAlreadyExists);
  clash = secrets->Create(name, v1, tags, "another-run");
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, ErrorCode::kAlreadyExists);

  auto got = secrets->Get(name);
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(*got, v1);

  auto put = secrets->PutVersion(name, v2, "rotate/paris-1/1");
  ASSERT_TRUE(put) << put.error().ToString();
  EXPECT_THAT(put->stages, ::testing::Contains("AWSCURRENT"));
  auto put_again = secrets->PutVersion(name, v2, "rotate/paris-1/1");
  ASSERT_TRUE(put_again) << put_again.error().ToString();
  EXPECT_EQ(put_again->version_id, put->version_id);
  auto put_clash = secrets->PutVersion(name, v1, "rotate/paris-1/1");
  ASSERT_FALSE(put_clash);
  EXPECT_EQ(put_clash.error().code, ErrorCode::kAlreadyExists);

  auto current = secrets->Get(name, "AWSCURRENT");
  ASSERT_TRUE(current) << current.error().ToString();
  EXPECT_EQ(*current, v2);
  auto previous = secrets->Get(name, "AWSPREVIOUS");
  ASSERT_TRUE(previous) << previous.error().ToString();
  EXPECT_EQ(*previous, v1);
  auto by_id = secrets->Get(name, "AWSCURRENT", created->version_id);
  ASSERT_TRUE(by_id) << by_id.error().ToString();
  EXPECT_EQ(*by_id, v1);
  auto no_stage = secrets->Get(name, "NO-SUCH-STAGE");
  ASSERT_FALSE(no_stage);
  EXPECT_EQ(no_stage.error().code, ErrorCode::kNotFound);

  // A version put under a custom stage does not move AWSCURRENT.
  auto pending = secrets->PutVersion(name, SecretBytes::CopyFrom(std::string_view("next")),
                                     "rotate/paris-1/2", {"AWSPENDING"});
  ASSERT_TRUE(pending) << pending.error().ToString();
  auto still_current = secrets->Get(name);
  ASSERT_TRUE(still_current);
  EXPECT_EQ(*still_current, v2);
  auto pending_value = secrets->Get(name, "AWSPENDING");
  ASSERT_TRUE(pending_value) << pending_value.error().ToString();
  EXPECT_EQ(pending_value->view(), "next");

  ASSERT_TRUE(secrets->Create("vigie/sites/lyon-2/vault-share-1", v1, {{"site", "lyon-2"}},
                              "provision/lyon-2/share-1"));
  auto listed = secrets->List("vigie/sites/paris-1/");
  ASSERT_TRUE(listed) << listed.error().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, name);
  EXPECT_EQ((*listed)[0].tags, tags);
  EXPECT_EQ((*listed)[0].arn, created->arn);
  auto all = secrets->List("vigie/sites/");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);

  // Compensation deletes at once: the name is free for a re-run.
  ASSERT_TRUE(secrets->Delete(name));
  auto deleted = secrets->Get(name);
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(secrets->Delete(name));
  auto rerun = secrets->Create(name, v1, tags, "provision/paris-1/share-1-rerun");
  ASSERT_TRUE(rerun) << rerun.error().ToString();
  ASSERT_TRUE(secrets->Delete(name));
  ASSERT_TRUE(secrets->Delete("vigie/sites/lyon-2/vault-share-1"));
}

TEST_F(AwsBackendMotoTest, KmsDataKeysEncryptDecryptAndDeletion) {
  auto kms = Kms(*client_);
  auto key = kms->CreateKey("vigie envelope key", {{"purpose", "test"}});
  ASSERT_TRUE(key) << key.error().ToString();

  auto dk = kms->GenerateDataKey(key->key_id);
  ASSERT_TRUE(dk) << dk.error().ToString();
  EXPECT_EQ(dk->plaintext.size(), 32u);
  auto unwrapped = kms->Decrypt(dk->ciphertext);
  ASSERT_TRUE(unwrapped) << unwrapped.error().ToString();
  EXPECT_EQ(*unwrapped, dk->plaintext);

  const SecretBytes secret = SecretBytes::CopyFrom(std::string_view("db password \x01\x02"));
  auto ct = kms->Encrypt(key->key_id, secret);
  ASSERT_TRUE(ct) << ct.error().ToString();
  auto pt = kms->Decrypt(*ct);
  ASSERT_TRUE(pt) << pt.error().ToString();
  EXPECT_EQ(*pt, secret);

  Bytes tampered = *ct;
  tampered.back() ^= 0x01;
  auto bad = kms->Decrypt(tampered);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kIntegrity);

  auto missing = kms->DescribeKey("00000000-0000-0000-0000-000000000000");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(kms->ScheduleKeyDeletion(key->key_id, 7));
  auto info = kms->DescribeKey(key->key_id);
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_FALSE(info->enabled);
  EXPECT_TRUE(kms->ScheduleKeyDeletion(key->key_id, 7));  // retried compensation
}

TEST_F(AwsBackendMotoTest, WrongSecretKeyIsSignatureDoesNotMatchWithHint) {
  cloud::AwsClient wrong(*http_, *RealClock(), Creds(*access_key_id_, "not-the-secret"),
                         {.endpoint_override = moto_->Endpoint()});
  auto p = Identity(wrong)->EnsurePrincipal(Scope("paris-1", ""));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kUnauthenticated);
  EXPECT_THAT(p.error().message, HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(p.error().message, HasSubstr("check the secret access key"));

  auto s = Secrets(wrong)->Get("vigie/sites/paris-1/x");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kUnauthenticated);
  EXPECT_THAT(s.error().message, HasSubstr("aws secretsmanager GetSecretValue"));

  auto k = Kms(wrong)->CreateKey("never", {});
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ErrorCode::kUnauthenticated);
}

}  // namespace
}  // namespace vigie::backend
