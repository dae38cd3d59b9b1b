#include "cloud/aws_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "testing/fake_clock.h"

namespace vigie::cloud {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Records the request and answers with a canned response.
class RecordingHttpClient : public http::HttpClient {
 public:
  Result<http::HttpResponse> Send(const http::HttpRequest& request) override {
    last = request;
    return reply;
  }
  http::HttpRequest last;
  Result<http::HttpResponse> reply = http::HttpResponse{200, {}, "<ok/>"};
};

AwsCredentials TestCredentials() {
  return {"AKIDEXAMPLE",
          SecretBytes::CopyFrom(std::string_view("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
          {}};
}

std::string HeaderOf(const http::HttpRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (http::HeaderNameEquals(k, name)) return v;
  }
  return "";
}

TEST(LoadAwsCredentialsTest, ReadsTheThreeVariables) {
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "AKID"},
                                            {"AWS_SECRET_ACCESS_KEY", "sek"},
                                            {"AWS_SESSION_TOKEN", "tok"}};
  auto getenv = [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto c = LoadAwsCredentialsFromEnv(getenv);
  ASSERT_TRUE(c) << c.error().ToString();
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key.view(), "sek");
  EXPECT_EQ(c->session_token.view(), "tok");

  env.erase("AWS_SESSION_TOKEN");
  c = LoadAwsCredentialsFromEnv(getenv);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->session_token.empty());

  env.erase("AWS_SECRET_ACCESS_KEY");
  c = LoadAwsCredentialsFromEnv(getenv);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(c.error().message, HasSubstr("AWS_SECRET_ACCESS_KEY is not set"));

  env["AWS_ACCESS_KEY_ID"] = "";
  c = LoadAwsCredentialsFromEnv(getenv);
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("AWS_ACCESS_KEY_ID is not set"));
}

TEST(AwsClientTest, SignsAndSendsAQueryApiCall) {
  RecordingHttpClient http;
  testing::FakeClock clock(FromUnixSeconds(1440938160));  // 2015-08-30T12:36:00Z
  AwsClient client(http, clock, TestCredentials(), {.endpoint_override = "http://127.0.0.1:5000/"});
  auto resp = client.Call("iam", "us-east-1", "POST", "/", "",
                          {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
                          "Action=ListUsers&Version=2010-05-08");
  ASSERT_TRUE(resp) << resp.error().ToString();
  EXPECT_EQ(http.last.url, "http://127.0.0.1:5000/");
  EXPECT_EQ(http.last.method, "POST");
  EXPECT_EQ(HeaderOf(http.last, "Host"), "127.0.0.1:5000");
  EXPECT_EQ(HeaderOf(http.last, "X-Amz-Date"), "20150830T123600Z");
  EXPECT_EQ(http.last.body, "Action=ListUsers&Version=2010-05-08");
  std::string auth = HeaderOf(http.last, "Authorization");
  EXPECT_THAT(auth, StartsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
                               "aws4_request, SignedHeaders=content-type;host;x-amz-date, "));

  // The signature is the one our signer computes for exactly what was sent.
  SigV4Request sent{
      .method = "POST",
      .path = "/",
      .headers = {{"Host", "127.0.0.1:5000"},
                  {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
      .body = http.last.body};
  auto expect = SigV4Sign(sent, TestCredentials(), "us-east-1", "iam", clock.Now());
  ASSERT_TRUE(expect);
  EXPECT_EQ(auth, expect->authorization);
}

TEST(AwsClientTest, DefaultEndpointsAndS3PayloadHeader) {
  RecordingHttpClient http;
  testing::FakeClock clock(FromUnixSeconds(1440938160));
  AwsClient client(http, clock, TestCredentials());
  EXPECT_EQ(client.EndpointFor("iam", "eu-west-1"), "https://iam.amazonaws.com");
  EXPECT_EQ(client.EndpointFor("secretsmanager", "eu-west-1"),
            "https://secretsmanager.eu-west-1.amazonaws.com");
  ASSERT_TRUE(client.Call("s3", "eu-west-1", "GET", "/bucket/key", "", {}, ""));
  EXPECT_EQ(http.last.url, "https://s3.eu-west-1.amazonaws.com/bucket/key");
  EXPECT_EQ(HeaderOf(http.last, "Host"), "s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(HeaderOf(http.last, "x-amz-content-sha256"), Sha256Hex(""));
}

TEST(AwsClientTest, SessionTokenIsSentAndSigned) {
  RecordingHttpClient http;
  testing::FakeClock clock(FromUnixSeconds(1440938160));
  AwsCredentials creds = TestCredentials();
  creds.session_token = SecretBytes::CopyFrom(std::string_view("the-token"));
  AwsClient client(http, clock, std::move(creds));
  ASSERT_TRUE(client.Call("sts", "us-east-1", "GET", "/", "Action=GetCallerIdentity", {}, ""));
  EXPECT_EQ(HeaderOf(http.last, "X-Amz-Security-Token"), "the-token");
  EXPECT_THAT(HeaderOf(http.last, "Authorization"),
              HasSubstr("SignedHeaders=host;x-amz-date;x-amz-security-token,"));
}

http::HttpResponse Reply(int status, std::string body) { return {status, {}, std::move(body)}; }

TEST(AwsClientTest, QueryXmlErrorBecomesAnErrorWithAHint) {
  RecordingHttpClient http;
  http.reply = Reply(403,
                     "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
                     "<Message>The request signature we calculated does not match &amp; so on"
                     "</Message></Error><RequestId>r</RequestId></ErrorResponse>");
  testing::FakeClock clock;
  AwsClient client(http, clock, TestCredentials());
  auto r = client.Call("iam", "us-east-1", "POST", "/", "", {},
                       "Action=CreateUser&UserName=u&Version=2010-05-08");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_THAT(r.error().message,
              StartsWith("aws iam CreateUser: SignatureDoesNotMatch: The request signature we "
                         "calculated does not match & so on; check the secret access key"));
  EXPECT_THAT(r.error().message, HasSubstr("(HTTP 403)"));
}

TEST(AwsClientTest, JsonErrorBecomesAnError) {
  RecordingHttpClient http;
  http.reply = Reply(400, R"({"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException",)"
                          R"("message":"Secrets Manager can't find the specified secret."})");
  testing::FakeClock clock;
  AwsClient client(http, clock, TestCredentials());
  auto r = client.Call("secretsmanager", "us-east-1", "POST", "/", "",
                       {{"X-Amz-Target", "secretsmanager.GetSecretValue"},
                        {"Content-Type", "application/x-amz-json-1.1"}},
                       R"({"SecretId":"x"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(r.error().message,
              StartsWith("aws secretsmanager GetSecretValue: ResourceNotFoundException: Secrets "
                         "Manager can't find the specified secret."));
}

TEST(AwsErrorTest, MapsCommonCodes) {
  struct Case {
    int status;
    std::string body;
    ErrorCode code;
    std::string hint;
  } cases[] = {
      {403, R"({"__type":"UnrecognizedClientException","message":"bad id"})",
       ErrorCode::kUnauthenticated, "check the access key id"},
      {403, "<Error><Code>InvalidClientTokenId</Code><Message>m</Message></Error>",
       ErrorCode::kUnauthenticated, "check the access key id"},
      {403, "<Error><Code>AccessDenied</Code><Message>m</Message></Error>",
       ErrorCode::kPermissionDenied, "check the IAM policy"},
      {403, "<Error><Code>ExpiredToken</Code><Message>m</Message></Error>",
       ErrorCode::kUnauthenticated, "AWS_SESSION_TOKEN"},
      {400, "<Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error>",
       ErrorCode::kResourceExhausted, "retry later"},
      {400, R"({"__type":"ThrottlingException","Message":"slow down"})",
       ErrorCode::kResourceExhausted, "retry later"},
      {404, "<Error><Code>NoSuchEntity</Code><Message>m</Message></Error>", ErrorCode::kNotFound,
       ""},
      {409, "<Error><Code>EntityAlreadyExists</Code></Error>", ErrorCode::kAlreadyExists, ""},
      {503, "service unavailable", ErrorCode::kUnavailable, ""},
  };
  for (const auto& c : cases) {
    Error e = AwsErrorFromResponse("aws iam X", Reply(c.status, c.body));
    EXPECT_EQ(e.code, c.code) << c.body << " -> " << e.message;
    EXPECT_THAT(e.message, HasSubstr(c.hint)) << c.body;
    EXPECT_THAT(e.message, StartsWith("aws iam X: ")) << c.body;
  }
}

TEST(AwsErrorTest, ErrorTypeHeaderIsAFallback) {
  http::HttpResponse r{400, {{"x-amzn-ErrorType", "ValidationException:http://internal/"}}, ""};
  EXPECT_EQ(ParseAwsError(r).code, "ValidationException");
}

TEST(AwsClientTest, TransportErrorsKeepTheirCodeAndGainContext) {
  RecordingHttpClient http;
  http.reply = tl::unexpected(Error{ErrorCode::kDeadlineExceeded, "POST http://x/: timed out"});
  testing::FakeClock clock;
  AwsClient client(http, clock, TestCredentials());
  auto r = client.Call("kms", "us-east-1", "POST", "/", "",
                       {{"X-Amz-Target", "TrentService.Encrypt"}}, "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(r.error().message, StartsWith("aws kms Encrypt: POST http://x/: timed out"));
}

}  // namespace
}  // namespace vigie::cloud
