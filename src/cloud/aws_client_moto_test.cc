// AwsClient against a real SigV4 verifier: moto_server (tests/testing/moto_server.h), started on a
// free loopback port with INITIAL_NO_AUTH_ACTION_COUNT=0 so it checks signatures from the first
// call. Skipped when moto_server is not on PATH.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cloud/aws_client.h"
#include "http/curl_client.h"
#include "testing/moto_server.h"

namespace vigie::cloud {
namespace {

using ::testing::HasSubstr;

constexpr char kFormType[] = "application/x-www-form-urlencoded; charset=utf-8";

std::string XmlText(const std::string& body, const std::string& tag) {
  size_t a = body.find("<" + tag + ">");
  if (a == std::string::npos) return "";
  a += tag.size() + 2;
  return body.substr(a, body.find("</" + tag + ">", a) - a);
}

AwsCredentials Creds(std::string id, std::string_view secret) {
  return {std::move(id), SecretBytes::CopyFrom(secret), {}};
}

class AwsClientMotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!vigie::testing::MotoServer::Available()) return;
    auto moto = vigie::testing::MotoServer::Start({{"INITIAL_NO_AUTH_ACTION_COUNT", "0"}});
    ASSERT_TRUE(moto) << moto.error().ToString();
    moto_ = moto->release();
    http_ = new http::CurlClient();

    // With the count at 0 moto authenticates the very first call: an access key it has never
    // issued is refused.
    AwsClient stranger(*http_, *RealClock(), Creds("AKIAUNKNOWN0000000000", "whatever"),
                       {.endpoint_override = moto_->Endpoint()});
    unknown_key_result_ = new Result<http::HttpResponse>(
        stranger.Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                      "Action=ListUsers&Version=2010-05-08"));

    // Keys must exist in moto's IAM, so let the next three calls through unauthenticated to
    // create a user, its access key and an allow-all policy, then authentication is back on.
    auto reset = http_->Send({.method = "POST",
                              .url = moto_->Endpoint() + "/moto-api/reset-auth",
                              .headers = {},
                              .body = "3"});
    ASSERT_TRUE(reset && reset->status == 200);
    AwsClient bootstrap(*http_, *RealClock(), Creds("AKIABOOTSTRAP0000000", "unused"),
                        {.endpoint_override = moto_->Endpoint()});
    auto iam = [&](const std::string& form) {
      return bootstrap.Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                            form + "&Version=2010-05-08");
    };
    ASSERT_TRUE(iam("Action=CreateUser&UserName=vigie-test"));
    auto key = iam("Action=CreateAccessKey&UserName=vigie-test");
    ASSERT_TRUE(key) << key.error().ToString();
    access_key_id_ = new std::string(XmlText(key->body, "AccessKeyId"));
    secret_ = new std::string(XmlText(key->body, "SecretAccessKey"));
    ASSERT_FALSE(access_key_id_->empty());
    const std::string policy =
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";
    ASSERT_TRUE(iam("Action=PutUserPolicy&UserName=vigie-test&PolicyName=all&PolicyDocument=" +
                    SigV4UriEncode(policy, false)));
  }

  static void TearDownTestSuite() {
    delete unknown_key_result_;
    delete access_key_id_;
    delete secret_;
    delete http_;
    delete moto_;
  }

  void SetUp() override {
    if (!vigie::testing::MotoServer::Available()) {
      GTEST_SKIP() << "moto_server is not on PATH (scripts/install-deps.sh provides it)";
    }
    ASSERT_NE(moto_, nullptr);
  }

  AwsClient Client(std::string_view secret) const {
    return AwsClient(*http_, *RealClock(), Creds(*access_key_id_, secret),
                     {.endpoint_override = moto_->Endpoint()});
  }

  static inline vigie::testing::MotoServer* moto_ = nullptr;
  static inline http::CurlClient* http_ = nullptr;
  static inline Result<http::HttpResponse>* unknown_key_result_ = nullptr;
  static inline std::string* access_key_id_ = nullptr;
  static inline std::string* secret_ = nullptr;
};

TEST_F(AwsClientMotoTest, UnknownAccessKeyIsRefusedFromTheFirstCall) {
  ASSERT_NE(unknown_key_result_, nullptr);
  ASSERT_FALSE(*unknown_key_result_);
  const Error& e = unknown_key_result_->error();
  EXPECT_EQ(e.code, ErrorCode::kUnauthenticated);
  EXPECT_THAT(e.message, HasSubstr("aws iam ListUsers: InvalidClientTokenId"));
  EXPECT_THAT(e.message, HasSubstr("check the access key id"));
}

TEST_F(AwsClientMotoTest, IamListUsersWithGoodCredentials) {
  auto r = Client(*secret_).Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                                 "Action=ListUsers&Version=2010-05-08");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("<UserName>vigie-test</UserName>"));
}

// Parameters in the URL, out of order: the canonical query must be sorted for moto to agree.
// Two moto 5 limits shape this test (the reference vectors, not moto, check the rest): it
// re-signs a request with an empty body as if its parsed parameters were a form body, so it
// cannot verify a body-less query call; and it re-signs the already-decoded URL, so it cannot
// verify a query value that needs percent-encoding (e.g. PathPrefix=%2F).
TEST_F(AwsClientMotoTest, IamUnsortedUrlQueryIsCanonicalised) {
  auto r = Client(*secret_).Call("iam", "us-east-1", "POST", "/", "Version=2010-05-08&MaxItems=100",
                                 {{"Content-Type", kFormType}}, "Action=ListUsers");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("<UserName>vigie-test</UserName>"));
}

TEST_F(AwsClientMotoTest, WrongSecretIsSignatureDoesNotMatchWithHint) {
  auto r = Client("not-the-secret")
               .Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                     "Action=ListUsers&Version=2010-05-08");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_THAT(r.error().message, HasSubstr("aws iam ListUsers: SignatureDoesNotMatch"));
  EXPECT_THAT(r.error().message, HasSubstr("; check the secret access key"));
}

TEST_F(AwsClientMotoTest, SecretsManagerJsonCall) {
  auto r = Client(*secret_).Call("secretsmanager", "us-east-1", "POST", "/", "",
                                 {{"X-Amz-Target", "secretsmanager.ListSecrets"},
                                  {"Content-Type", "application/x-amz-json-1.1"}},
                                 "{}");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("SecretList"));
}

TEST_F(AwsClientMotoTest, SecretsManagerWrongSecretIsRefused) {
  auto r = Client("not-the-secret")
               .Call("secretsmanager", "us-east-1", "POST", "/", "",
                     {{"X-Amz-Target", "secretsmanager.ListSecrets"},
                      {"Content-Type", "application/x-amz-json-1.1"}},
                     "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_THAT(r.error().message, HasSubstr("aws secretsmanager ListSecrets: "));
}

}  // namespace
}  // namespace vigie::cloud
