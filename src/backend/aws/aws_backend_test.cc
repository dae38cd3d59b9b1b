// Unit tests of the "aws" backends against a scripted HttpClient: the exact requests sent (query
// forms, X-Amz-Target, JSON fields), the parsing of replies (pagination included), error mapping
// with hints, and the idempotency / ownership rules.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <nlohmann/json.hpp>

#include "backend/aws/aws_common.h"
#include "backend/aws/aws_identity.h"
#include "backend/aws/aws_kms.h"
#include "backend/aws/aws_secrets.h"
#include "backend/policy.h"
#include "base/encoding.h"
#include "testing/fake_clock.h"

namespace vigie::backend {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Json = nlohmann::json;

// Answers each request with the next scripted reply and records every request. A request beyond
// the script is answered 500 so that the test sees an error rather than a hang.
class ScriptedHttp : public http::HttpClient {
 public:
  Result<http::HttpResponse> Send(const http::HttpRequest& request) override {
    requests.push_back(request);
    if (replies.empty()) return http::HttpResponse{500, {}, "<unscripted/>"};
    http::HttpResponse r = std::move(replies.front());
    replies.pop_front();
    return r;
  }
  void Reply(int status, std::string body, http::Headers headers = {}) {
    replies.push_back({status, std::move(headers), std::move(body)});
  }
  void IamOk(const std::string& action, const std::string& result_xml = "") {
    std::string body =
        "<" + action + "Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">";
    if (!result_xml.empty())
      body += "<" + action + "Result>" + result_xml + "</" + action + "Result>";
    body +=
        "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></" + action + "Response>";
    Reply(200, body, {{"Content-Type", "text/xml"}});
  }
  void IamError(int status, const std::string& code) {
    Reply(status,
          "<ErrorResponse><Error><Type>Sender</Type><Code>" + code + "</Code><Message>msg for " +
              code + "</Message></Error><RequestId>r</RequestId></ErrorResponse>",
          {{"Content-Type", "text/xml"}});
  }
  void JsonOk(const Json& j, const std::string& content_type = "application/x-amz-json-1.1") {
    Reply(200, j.dump(), {{"Content-Type", content_type}});
  }
  void JsonError(const std::string& type, int status = 400) {
    Reply(status, Json{{"__type", type}, {"message", "msg for " + type}}.dump(),
          {{"Content-Type", "application/x-amz-json-1.1"}});
  }

  std::deque<http::HttpResponse> replies;
  std::vector<http::HttpRequest> requests;
};

std::string HeaderOf(const http::HttpRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (http::HeaderNameEquals(k, name)) return v;
  }
  return "";
}

// The form fields of a query-API request, decoded.
std::map<std::string, std::string> Form(const http::HttpRequest& r) {
  std::map<std::string, std::string> out;
  std::string_view body = r.body;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view piece = body.substr(0, amp);
    body = amp == std::string_view::npos ? "" : body.substr(amp + 1);
    size_t eq = piece.find('=');
    auto key = PercentDecode(piece.substr(0, eq));
    auto value = PercentDecode(piece.substr(eq + 1));
    EXPECT_TRUE(key && value) << piece;
    if (key && value) out[*key] = *value;
  }
  return out;
}

// "Action" of a form request, or the operation of X-Amz-Target.
std::string Op(const http::HttpRequest& r) {
  std::string target = HeaderOf(r, "X-Amz-Target");
  if (!target.empty()) return target.substr(target.find('.') + 1);
  return Form(r)["Action"];
}

std::vector<std::string> Ops(const ScriptedHttp& http) {
  std::vector<std::string> out;
  for (const auto& r : http.requests) out.push_back(Op(r));
  return out;
}

Json BodyJson(const http::HttpRequest& r) { return Json::parse(r.body); }

std::string UserXml(const std::string& site, const std::string& path = "/vigie/sites/",
                    const std::string& site_tag = "", bool managed = true) {
  std::string tag = site_tag.empty() ? site : site_tag;
  std::string xml = "<User><Path>" + path + "</Path><UserName>vigie-site-" + site +
                    "</UserName><UserId>AIDA1</UserId><Arn>arn:aws:iam::123456789012:user" + path +
                    "vigie-site-" + site + "</Arn><CreateDate>2026-03-04T05:06:07.5Z</CreateDate>";
  xml += "<Tags><member><Key>site</Key><Value>" + tag + "</Value></member>";
  if (managed) xml += "<member><Key>managed-by</Key><Value>vigie</Value></member>";
  xml += "</Tags></User>";
  return xml;
}

SiteScope Scope(const std::string& site) {
  return SiteScope{.site_id = site,
                   .region = "eu-west-3",
                   .s3_bucket = "vigie-fleet",
                   .s3_prefix = "sites/" + site + "/",
                   .secrets_prefix = "vigie/sites/" + site + "/",
                   .kms_key_arn = "arn:aws:kms:eu-west-3:123456789012:key/k-" + site};
}

class AwsBackendTest : public ::testing::Test {
 protected:
  AwsBackendTest()
      : clock_(FromUnixSeconds(1790000000)),
        client_(
            http_, clock_,
            cloud::AwsCredentials{"AKIDEXAMPLE", SecretBytes::CopyFrom(std::string_view("s")), {}},
            {.endpoint_override = "http://aws.test:4566"}) {}

  std::unique_ptr<AwsIdentity> Identity() {
    auto id = AwsIdentity::Create(client_);
    EXPECT_TRUE(id) << id.error().ToString();
    return std::move(*id);
  }
  std::unique_ptr<AwsSecrets> Secrets() {
    auto s = AwsSecrets::Create(client_, {.region = "eu-west-3"});
    EXPECT_TRUE(s) << s.error().ToString();
    return std::move(*s);
  }
  std::unique_ptr<AwsKms> Kms() {
    auto k = AwsKms::Create(client_, {.region = "eu-west-3"});
    EXPECT_TRUE(k) << k.error().ToString();
    return std::move(*k);
  }

  ScriptedHttp http_;
  testing::FakeClock clock_;
  cloud::AwsClient client_;
};

// ---------------------------------------------------------------------------------------------
// Identity (IAM query API)

TEST_F(AwsBackendTest, EnsurePrincipalCreatesTaggedUserUnderPathAndPutsSitePolicy) {
  http_.IamError(404, "NoSuchEntity");
  http_.IamOk("CreateUser", UserXml("alpha"));
  http_.IamOk("PutUserPolicy");
  auto p = Identity()->EnsurePrincipal(Scope("alpha"));
  ASSERT_TRUE(p) << p.error().ToString();
  ASSERT_THAT(Ops(http_), ElementsAre("GetUser", "CreateUser", "PutUserPolicy"));

  for (const auto& r : http_.requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url, "http://aws.test:4566/");
    EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/x-www-form-urlencoded; charset=utf-8");
    EXPECT_EQ(Form(r)["Version"], "2010-05-08");
    EXPECT_THAT(HeaderOf(r, "Authorization"), HasSubstr("/us-east-1/iam/aws4_request"));
  }
  auto get = Form(http_.requests[0]);
  EXPECT_EQ(get["UserName"], "vigie-site-alpha");
  auto create = Form(http_.requests[1]);
  EXPECT_EQ(create["Path"], "/vigie/sites/");
  EXPECT_EQ(create["UserName"], "vigie-site-alpha");
  EXPECT_EQ(create["Tags.member.1.Key"], "site");
  EXPECT_EQ(create["Tags.member.1.Value"], "alpha");
  EXPECT_EQ(create["Tags.member.2.Key"], "managed-by");
  EXPECT_EQ(create["Tags.member.2.Value"], "vigie");
  // The path's slashes are percent-encoded in the body: a form decoder reads them back exactly.
  EXPECT_THAT(http_.requests[1].body, HasSubstr("Path=%2Fvigie%2Fsites%2F"));
  auto put = Form(http_.requests[2]);
  EXPECT_EQ(put["PolicyName"], "vigie-site-alpha");
  EXPECT_EQ(put["PolicyDocument"], SitePolicyDocument(Scope("alpha")));
  EXPECT_THAT(http_.requests[2].body, HasSubstr("PolicyDocument=%7B%22Version%22%3A"));

  EXPECT_EQ(p->site_id, "alpha");
  EXPECT_EQ(p->name, "vigie-site-alpha");
  EXPECT_EQ(p->arn, "arn:aws:iam::123456789012:user/vigie/sites/vigie-site-alpha");
  EXPECT_EQ(p->policy_document, SitePolicyDocument(Scope("alpha")));
  EXPECT_EQ(ToUnixSeconds(p->created_at), 1772600767);  // 2026-03-04T05:06:07Z
}

TEST_F(AwsBackendTest, EnsurePrincipalOnExistingUserReappliesPolicyWithoutCreateUser) {
  http_.IamOk("GetUser", UserXml("alpha"));
  http_.IamOk("PutUserPolicy");
  auto p = Identity()->EnsurePrincipal(Scope("alpha"));
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_THAT(Ops(http_), ElementsAre("GetUser", "PutUserPolicy"));
  EXPECT_EQ(p->arn, "arn:aws:iam::123456789012:user/vigie/sites/vigie-site-alpha");
}

TEST_F(AwsBackendTest, EnsurePrincipalNeverAdoptsAForeignUser) {
  struct Case {
    std::string xml;
    std::string why;
  };
  const Case cases[] = {
      {UserXml("alpha", "/vigie/sites/", "beta"), "tag site='beta' names another site"},
      {UserXml("alpha", "/other/"), "its path is '/other/'"},
      {UserXml("alpha", "/vigie/sites/", "", /*managed=*/false), "no managed-by=vigie tag"},
  };
  for (const Case& c : cases) {
    http_.requests.clear();
    http_.IamOk("GetUser", c.xml);
    auto p = Identity()->EnsurePrincipal(Scope("alpha"));
    ASSERT_FALSE(p) << c.why;
    EXPECT_EQ(p.error().code, ErrorCode::kConflict);
    EXPECT_THAT(p.error().message, HasSubstr(c.why));
    EXPECT_THAT(p.error().message, HasSubstr("never adopts a foreign user (PROV_001)"));
    // Nothing was changed: no CreateUser, no PutUserPolicy.
    EXPECT_THAT(Ops(http_), ElementsAre("GetUser"));
  }
}

TEST_F(AwsBackendTest, EnsurePrincipalRaceOnCreateChecksTheWinner) {
  http_.IamError(404, "NoSuchEntity");
  http_.IamError(409, "EntityAlreadyExists");
  http_.IamOk("GetUser", UserXml("alpha"));
  http_.IamOk("PutUserPolicy");
  auto p = Identity()->EnsurePrincipal(Scope("alpha"));
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_THAT(Ops(http_), ElementsAre("GetUser", "CreateUser", "GetUser", "PutUserPolicy"));
}

TEST_F(AwsBackendTest, EnsurePrincipalValidatesBeforeAnyCall) {
  SiteScope wide = Scope("alpha");
  wide.secrets_prefix = "vigie/sites/";  // would cover every site
  auto p = Identity()->EnsurePrincipal(wide);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(p.error().message, HasSubstr("secrets_prefix"));

  const std::string long_id(54, 'a');  // 11 + 54 > 64, IAM's user-name limit
  p = Identity()->EnsurePrincipal(Scope(long_id));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(p.error().message, HasSubstr("at most 64 characters"));
  EXPECT_THAT(http_.requests, IsEmpty());
}

TEST_F(AwsBackendTest, IdentityCreateRejectsABadIamPath) {
  for (const char* path : {"", "vigie/", "/vigie", "/a//b/", "/has space/"}) {
    auto id = AwsIdentity::Create(client_, {.iam_path = path});
    ASSERT_FALSE(id) << path;
    EXPECT_EQ(id.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(id.error().message, HasSubstr("aws.iam_path"));
  }
  EXPECT_TRUE(AwsIdentity::Create(client_, {.iam_path = "/"}));
}

TEST_F(AwsBackendTest, ListPrincipalsFollowsMarkersAndKeepsVigieUsersOnly) {
  http_.IamOk("ListUsers",
              "<Users><member><Path>/vigie/sites/</Path><UserName>vigie-site-a</UserName>"
              "<Arn>arn:a</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></member>"
              "<member><Path>/vigie/sites/x/</Path><UserName>vigie-site-deeper</UserName>"
              "<Arn>arn:x</Arn></member></Users>"
              "<IsTruncated>true</IsTruncated><Marker>page2 token/+=</Marker>");
  http_.IamOk("ListUsers",
              "<Users><member><Path>/vigie/sites/</Path><UserName>vigie-site-b</UserName>"
              "<Arn>arn:b</Arn></member><member><Path>/vigie/sites/</Path>"
              "<UserName>someone-else</UserName><Arn>arn:s</Arn></member></Users>"
              "<IsTruncated>false</IsTruncated>");
  auto list = Identity()->ListPrincipals();
  ASSERT_TRUE(list) << list.error().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].site_id, "a");
  EXPECT_EQ((*list)[0].arn, "arn:a");
  EXPECT_EQ(ToUnixSeconds((*list)[0].created_at), 1767225600);
  EXPECT_EQ((*list)[1].site_id, "b");
  ASSERT_EQ(http_.requests.size(), 2u);
  auto first = Form(http_.requests[0]);
  EXPECT_EQ(first["PathPrefix"], "/vigie/sites/");
  EXPECT_EQ(first.count("Marker"), 0u);
  EXPECT_EQ(Form(http_.requests[1])["Marker"], "page2 token/+=");
}

TEST_F(AwsBackendTest, CreateAccessKeyReturnsTheSecretAsSecretBytes) {
  http_.IamOk("CreateAccessKey",
              "<AccessKey><UserName>vigie-site-alpha</UserName><AccessKeyId>AKIAEXAMPLE123"
              "</AccessKeyId><Status>Active</Status><SecretAccessKey>wJal/K7+MDENG&amp;x"
              "</SecretAccessKey></AccessKey>");
  auto key = Identity()->CreateAccessKey("alpha");
  ASSERT_TRUE(key) << key.error().ToString();
  EXPECT_EQ(key->access_key_id, "AKIAEXAMPLE123");
  EXPECT_EQ(key->secret_access_key.view(), "wJal/K7+MDENG&x");
  EXPECT_EQ(fmt::format("{}", key->secret_access_key), "[redacted]");
  EXPECT_EQ(Form(http_.requests[0])["UserName"], "vigie-site-alpha");
}

TEST_F(AwsBackendTest, CreateAccessKeyErrorsCarryHints) {
  http_.IamError(404, "NoSuchEntity");
  auto key = Identity()->CreateAccessKey("alpha");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(key.error().message, HasSubstr("aws identity, site alpha: aws iam CreateAccessKey"));
  EXPECT_THAT(key.error().message, HasSubstr("EnsurePrincipal"));

  http_.IamError(409, "LimitExceeded");
  key = Identity()->CreateAccessKey("alpha");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(key.error().message, HasSubstr("two access keys per user"));

  http_.IamError(403, "SignatureDoesNotMatch");
  key = Identity()->CreateAccessKey("alpha");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ErrorCode::kUnauthenticated);
  EXPECT_THAT(key.error().message, HasSubstr("SignatureDoesNotMatch"));
  EXPECT_THAT(key.error().message, HasSubstr("check the secret access key"));
}

TEST_F(AwsBackendTest, DeletePrincipalRemovesKeysPoliciesThenUser) {
  http_.IamOk("GetUser", UserXml("alpha"));
  http_.IamOk("ListAccessKeys",
              "<AccessKeyMetadata><member><AccessKeyId>AKIA1</AccessKeyId></member>"
              "<member><AccessKeyId>AKIA2</AccessKeyId></member></AccessKeyMetadata>"
              "<IsTruncated>false</IsTruncated>");
  http_.IamOk("DeleteAccessKey");
  http_.IamError(404, "NoSuchEntity");  // AKIA2 deleted meanwhile: done
  http_.IamOk("ListUserPolicies",
              "<PolicyNames><member>vigie-site-alpha</member><member>extra</member></PolicyNames>"
              "<IsTruncated>false</IsTruncated>");
  http_.IamOk("DeleteUserPolicy");
  http_.IamOk("DeleteUserPolicy");
  http_.IamOk("DeleteUser");
  auto s = Identity()->DeletePrincipal("alpha");
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_THAT(Ops(http_), ElementsAre("GetUser", "ListAccessKeys", "DeleteAccessKey",
                                      "DeleteAccessKey", "ListUserPolicies", "DeleteUserPolicy",
                                      "DeleteUserPolicy", "DeleteUser"));
  EXPECT_EQ(Form(http_.requests[2])["AccessKeyId"], "AKIA1");
  EXPECT_EQ(Form(http_.requests[3])["AccessKeyId"], "AKIA2");
  EXPECT_EQ(Form(http_.requests[6])["PolicyName"], "extra");
  EXPECT_EQ(Form(http_.requests[7])["UserName"], "vigie-site-alpha");
}

TEST_F(AwsBackendTest, DeletePrincipalOfMissingUserSucceedsAndOfForeignUserRefuses) {
  http_.IamError(404, "NoSuchEntity");
  EXPECT_TRUE(Identity()->DeletePrincipal("alpha"));
  EXPECT_THAT(Ops(http_), ElementsAre("GetUser"));

  http_.requests.clear();
  http_.IamOk("GetUser", UserXml("alpha", "/vigie/sites/", "beta"));
  auto s = Identity()->DeletePrincipal("alpha");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_THAT(Ops(http_), ElementsAre("GetUser"));
}

TEST_F(AwsBackendTest, DeletePrincipalReportsDeleteConflict) {
  http_.IamOk("GetUser", UserXml("alpha"));
  http_.IamOk("ListAccessKeys", "<AccessKeyMetadata/><IsTruncated>false</IsTruncated>");
  http_.IamOk("ListUserPolicies", "<PolicyNames/><IsTruncated>false</IsTruncated>");
  http_.IamError(409, "DeleteConflict");
  auto s = Identity()->DeletePrincipal("alpha");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_THAT(s.error().message, HasSubstr("managed policies"));
}

TEST_F(AwsBackendTest, GetPrincipalAndPolicyDocumentAreUrlDecoded) {
  const std::string doc = SitePolicyDocument(Scope("alpha"));
  http_.IamOk("GetUser", UserXml("alpha"));
  http_.IamOk("GetUserPolicy",
              "<UserName>vigie-site-alpha</UserName><PolicyName>vigie-site-alpha"
              "</PolicyName><PolicyDocument>" +
                  cloud::SigV4UriEncode(doc, true) + "</PolicyDocument>");
  auto p = Identity()->GetPrincipal("alpha");
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->policy_document, doc);
  EXPECT_EQ(Form(http_.requests[1])["PolicyName"], "vigie-site-alpha");

  http_.IamError(404, "NoSuchEntity");
  auto missing = Identity()->GetPrincipal("ghost");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message, HasSubstr("site ghost"));
}

TEST_F(AwsBackendTest, MalformedIamReplyIsUnavailable) {
  http_.Reply(200, "<GetUserResponse><GetUserResult><User>");
  auto p = Identity()->GetPrincipal("alpha");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(p.error().message, HasSubstr("not well-formed XML"));
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager (JSON 1.1)

TEST(AwsClientRequestTokenTest, KeepsSuitableTokensAndDerivesOthers) {
  const std::string uuid = "0b6e5c3a-4f7e-4b1a-9b2c-7d8e9f0a1b2c";
  EXPECT_EQ(AwsClientRequestToken(uuid), uuid);
  const std::string derived = AwsClientRequestToken("job-17/step-3");
  EXPECT_EQ(derived.size(), 36u);
  EXPECT_EQ(derived, AwsClientRequestToken("job-17/step-3"));  // deterministic
  EXPECT_NE(derived, AwsClientRequestToken("job-17/step-4"));
  EXPECT_EQ(derived[8], '-');
  EXPECT_EQ(derived[14], '8');  // version nibble
  // Too long, or a character outside [A-Za-z0-9_-], is derived too.
  EXPECT_EQ(AwsClientRequestToken(std::string(65, 'a')).size(), 36u);
  EXPECT_EQ(AwsClientRequestToken(std::string(40, 'a') + ".").size(), 36u);
}

TEST_F(AwsBackendTest, SecretsCreateSendsBinaryValueTagsAndToken) {
  http_.JsonOk({{"ARN", "arn:sm:vigie/sites/a/x-AbC"},
                {"Name", "vigie/sites/a/x"},
                {"VersionId", AwsClientRequestToken("tok-1")}});
  const Bytes raw = {0x00, 0xff, 0x10, 0x80, 0x7f};
  SecretBytes value = SecretBytes::CopyFrom(raw);
  auto v = Secrets()->Create("vigie/sites/a/x", value, {{"site", "a"}, {"kind", "share"}}, "tok-1");
  ASSERT_TRUE(v) << v.error().ToString();
  ASSERT_EQ(http_.requests.size(), 1u);
  const auto& r = http_.requests[0];
  EXPECT_EQ(HeaderOf(r, "X-Amz-Target"), "secretsmanager.CreateSecret");
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_THAT(HeaderOf(r, "Authorization"), HasSubstr("/eu-west-3/secretsmanager/aws4_request"));
  Json body = BodyJson(r);
  EXPECT_EQ(body["Name"], "vigie/sites/a/x");
  EXPECT_EQ(body["SecretBinary"], Base64Encode(raw));
  EXPECT_FALSE(body.contains("SecretString"));
  EXPECT_EQ(body["ClientRequestToken"], AwsClientRequestToken("tok-1"));
  EXPECT_EQ(body["Tags"],
            Json::parse(R"([{"Key":"kind","Value":"share"},{"Key":"site","Value":"a"}])"));
  EXPECT_EQ(v->arn, "arn:sm:vigie/sites/a/x-AbC");
  EXPECT_EQ(v->version_id, AwsClientRequestToken("tok-1"));
  EXPECT_THAT(v->stages, ElementsAre("AWSCURRENT"));
}

TEST_F(AwsBackendTest, SecretsCreateRetryWithSameTokenAndValueIsANoOp) {
  const std::string token = AwsClientRequestToken("tok-1");
  SecretBytes value = SecretBytes::CopyFrom(std::string_view("share-1"));
  http_.JsonError("ResourceExistsException");
  http_.JsonOk({{"ARN", "arn:x"},
                {"Name", "n"},
                {"VersionId", token},
                {"VersionStages", {"AWSCURRENT"}},
                {"SecretBinary", Base64Encode(AsBytes("share-1"))}});
  auto v = Secrets()->Create("n", value, {}, "tok-1");
  ASSERT_TRUE(v) << v.error().ToString();
  EXPECT_EQ(v->version_id, token);
  EXPECT_THAT(Ops(http_), ElementsAre("CreateSecret", "GetSecretValue"));
  EXPECT_EQ(BodyJson(http_.requests[1])["VersionId"], token);

  // Same token, other value: kAlreadyExists.
  http_.requests.clear();
  http_.JsonError("ResourceExistsException");
  http_.JsonOk({{"ARN", "arn:x"},
                {"Name", "n"},
                {"VersionId", token},
                {"SecretBinary", Base64Encode(AsBytes("share-2"))}});
  v = Secrets()->Create("n", value, {}, "tok-1");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kAlreadyExists);
  EXPECT_THAT(v.error().message, HasSubstr("different value"));
  EXPECT_THAT(v.error().message, ::testing::Not(HasSubstr("share")));

  // The name exists, written under another token: kAlreadyExists.
  http_.JsonError("ResourceExistsException");
  http_.JsonError("ResourceNotFoundException");
  v = Secrets()->Create("n", value, {}, "tok-1");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kAlreadyExists);
  EXPECT_THAT(v.error().message, HasSubstr("another request"));
}

TEST_F(AwsBackendTest, SecretsCreateRefusesEmptyTokenAndBadName) {
  SecretBytes value = SecretBytes::CopyFrom(std::string_view("v"));
  auto v = Secrets()->Create("n", value, {}, "");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(v.error().message, HasSubstr("request_token is empty"));
  v = Secrets()->Create("bad name!", value, {}, "t");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(http_.requests, IsEmpty());
}

TEST_F(AwsBackendTest, SecretsScheduledForDeletionIsFailedPrecondition) {
  http_.JsonError("InvalidRequestException");
  auto v = Secrets()->Create("n", SecretBytes::CopyFrom(std::string_view("v")), {}, "t");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(v.error().message, HasSubstr("scheduled for deletion"));
}

TEST_F(AwsBackendTest, SecretsPutVersionChecksTheTokenThenPuts) {
  const std::string token = AwsClientRequestToken("tok-2");
  http_.JsonError("ResourceNotFoundException");
  http_.JsonOk(
      {{"ARN", "arn:x"}, {"Name", "n"}, {"VersionId", token}, {"VersionStages", {"AWSPENDING"}}});
  auto v = Secrets()->PutVersion("n", SecretBytes::CopyFrom(std::string_view("v2")), "tok-2",
                                 {"AWSPENDING"});
  ASSERT_TRUE(v) << v.error().ToString();
  EXPECT_THAT(Ops(http_), ElementsAre("GetSecretValue", "PutSecretValue"));
  Json put = BodyJson(http_.requests[1]);
  EXPECT_EQ(put["SecretId"], "n");
  EXPECT_EQ(put["ClientRequestToken"], token);
  EXPECT_EQ(put["VersionStages"], Json::array({"AWSPENDING"}));
  EXPECT_EQ(put["SecretBinary"], Base64Encode(AsBytes("v2")));
  EXPECT_THAT(v->stages, ElementsAre("AWSPENDING"));

  // A retry finds the version and does not put again.
  http_.requests.clear();
  http_.JsonOk({{"ARN", "arn:x"},
                {"Name", "n"},
                {"VersionId", token},
                {"VersionStages", {"AWSCURRENT"}},
                {"SecretBinary", Base64Encode(AsBytes("v2"))}});
  v = Secrets()->PutVersion("n", SecretBytes::CopyFrom(std::string_view("v2")), "tok-2");
  ASSERT_TRUE(v) << v.error().ToString();
  EXPECT_THAT(Ops(http_), ElementsAre("GetSecretValue"));
  EXPECT_THAT(v->stages, ElementsAre("AWSCURRENT"));
}

TEST_F(AwsBackendTest, SecretsGetByStageOrVersionAndNotFound) {
  http_.JsonOk({{"Name", "n"}, {"SecretBinary", Base64Encode(AsBytes("prev"))}});
  auto s = Secrets()->Get("n", "AWSPREVIOUS");
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(s->view(), "prev");
  Json req = BodyJson(http_.requests[0]);
  EXPECT_EQ(req["VersionStage"], "AWSPREVIOUS");
  EXPECT_FALSE(req.contains("VersionId"));

  http_.JsonOk({{"Name", "n"}, {"SecretString", "text value"}});
  s = Secrets()->Get("n", "AWSCURRENT", "v-123");
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(s->view(), "text value");
  req = BodyJson(http_.requests[1]);
  EXPECT_EQ(req["VersionId"], "v-123");
  EXPECT_FALSE(req.contains("VersionStage"));

  http_.JsonError("ResourceNotFoundException");
  s = Secrets()->Get("n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(s.error().message,
              HasSubstr("aws secrets, secret n: aws secretsmanager GetSecretValue"));

  http_.JsonOk({{"Name", "n"}, {"SecretBinary", "***"}});
  s = Secrets()->Get("n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
}

TEST_F(AwsBackendTest, SecretsListPaginatesFiltersAndReadsTags) {
  http_.JsonOk({{"SecretList",
                 {{{"Name", "vigie/sites/a/one"},
                   {"ARN", "arn:1"},
                   {"CreatedDate", 1790000000.25},
                   {"Tags", {{{"Key", "site"}, {"Value", "a"}}}}},
                  {{"Name", "other/vigie/sites/a/x"}, {"ARN", "arn:o"}}}},
                {"NextToken", "nt-2"}});
  http_.JsonOk(
      {{"SecretList",
        {{{"Name", "vigie/sites/a/two"}, {"ARN", "arn:2"}, {"LastChangedDate", 1790000100}}}},
       {"NextToken", nullptr}});
  auto list = Secrets()->List("vigie/sites/a/");
  ASSERT_TRUE(list) << list.error().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "vigie/sites/a/one");
  EXPECT_EQ((*list)[0].tags.at("site"), "a");
  EXPECT_EQ(ToUnixSeconds((*list)[0].created_at), 1790000000);
  EXPECT_FALSE((*list)[0].last_changed_at.has_value());
  EXPECT_EQ((*list)[1].name, "vigie/sites/a/two");
  ASSERT_TRUE((*list)[1].last_changed_at.has_value());
  EXPECT_EQ(ToUnixSeconds(*(*list)[1].last_changed_at), 1790000100);
  Json first = BodyJson(http_.requests[0]);
  EXPECT_EQ(first["Filters"], Json::parse(R"([{"Key":"name","Values":["vigie/sites/a/"]}])"));
  EXPECT_FALSE(first.contains("NextToken"));
  EXPECT_EQ(BodyJson(http_.requests[1])["NextToken"], "nt-2");
}

TEST_F(AwsBackendTest, SecretsDeleteForcesAndMissingIsDone) {
  http_.JsonOk({{"ARN", "arn:x"}, {"Name", "n"}});
  ASSERT_TRUE(Secrets()->Delete("n"));
  Json req = BodyJson(http_.requests[0]);
  EXPECT_EQ(req["SecretId"], "n");
  EXPECT_EQ(req["ForceDeleteWithoutRecovery"], true);
  http_.JsonError("ResourceNotFoundException");
  EXPECT_TRUE(Secrets()->Delete("n"));
  http_.JsonError("AccessDeniedException");
  auto s = Secrets()->Delete("n");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(s.error().message, HasSubstr("check the IAM policy of the caller"));
}

// ---------------------------------------------------------------------------------------------
// KMS (JSON 1.1)

Json KeyMetadata(const std::string& id, const std::string& state = "Enabled") {
  return {{"KeyMetadata",
           {{"KeyId", id},
            {"Arn", "arn:aws:kms:eu-west-3:1:key/" + id},
            {"Enabled", state == "Enabled"},
            {"KeyState", state},
            {"CreationDate", 1790000000.5},
            {"MultiRegion", nullptr}}}};
}

TEST_F(AwsBackendTest, KmsCreateKeySendsUsageAndTagsAndReadsHtmlTypedJson) {
  http_.JsonOk(KeyMetadata("k1"), "text/html; charset=utf-8");  // as moto answers
  auto k = Kms()->CreateKey("vigie site alpha", {{"site", "alpha"}});
  ASSERT_TRUE(k) << k.error().ToString();
  const auto& r = http_.requests[0];
  EXPECT_EQ(HeaderOf(r, "X-Amz-Target"), "TrentService.CreateKey");
  EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_THAT(HeaderOf(r, "Authorization"), HasSubstr("/eu-west-3/kms/aws4_request"));
  Json body = BodyJson(r);
  EXPECT_EQ(body["Description"], "vigie site alpha");
  EXPECT_EQ(body["KeyUsage"], "ENCRYPT_DECRYPT");
  EXPECT_EQ(body["Tags"], Json::parse(R"([{"TagKey":"site","TagValue":"alpha"}])"));
  EXPECT_EQ(k->key_id, "k1");
  EXPECT_EQ(k->arn, "arn:aws:kms:eu-west-3:1:key/k1");
  EXPECT_TRUE(k->enabled);
  EXPECT_FALSE(k->rotation_enabled);
  EXPECT_EQ(ToUnixSeconds(k->created_at), 1790000000);
}

TEST_F(AwsBackendTest, KmsDescribeKeyFoldsRotationStatus) {
  http_.JsonOk(KeyMetadata("k1"));
  http_.JsonOk({{"KeyRotationEnabled", true}, {"RotationPeriodInDays", 180}});
  http_.JsonOk({{"Rotations",
                 {{{"KeyId", "k1"}, {"RotationDate", 1790000300}},
                  {{"KeyId", "k1"}, {"RotationDate", 1790000200}}}},
                {"Truncated", false}});
  auto k = Kms()->DescribeKey("k1");
  ASSERT_TRUE(k) << k.error().ToString();
  EXPECT_THAT(Ops(http_), ElementsAre("DescribeKey", "GetKeyRotationStatus", "ListKeyRotations"));
  EXPECT_EQ(BodyJson(http_.requests[1])["KeyId"], "k1");
  EXPECT_TRUE(k->rotation_enabled);
  EXPECT_EQ(k->rotation_period_days, 180);
  ASSERT_TRUE(k->last_rotated_at.has_value());
  EXPECT_EQ(ToUnixSeconds(*k->last_rotated_at), 1790000300);

  // Rotation on without a period (older API, moto): AWS's fixed default, 365 days. A failing
  // ListKeyRotations only leaves last_rotated_at unknown.
  http_.requests.clear();
  http_.JsonOk(KeyMetadata("k1"));
  http_.JsonOk({{"KeyRotationEnabled", true}});
  http_.JsonError("AccessDeniedException");
  k = Kms()->DescribeKey("k1");
  ASSERT_TRUE(k) << k.error().ToString();
  EXPECT_EQ(k->rotation_period_days, 365);
  EXPECT_FALSE(k->last_rotated_at.has_value());
}

TEST_F(AwsBackendTest, KmsDescribeKeyPendingDeletionIsDisabledWithoutRotationQuery) {
  http_.JsonOk(KeyMetadata("k1", "PendingDeletion"));
  auto k = Kms()->DescribeKey("k1");
  ASSERT_TRUE(k) << k.error().ToString();
  EXPECT_FALSE(k->enabled);
  EXPECT_FALSE(k->rotation_enabled);
  EXPECT_THAT(Ops(http_), ElementsAre("DescribeKey"));

  http_.JsonError("NotFoundException");
  k = Kms()->DescribeKey("nope");
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(k.error().message, HasSubstr("aws kms, key nope"));
}

TEST_F(AwsBackendTest, KmsRotationPeriodIsCheckedClientSide) {
  for (int days : {0, 30, 89, 2561}) {
    auto s = Kms()->EnableKeyRotation("k1", days);
    ASSERT_FALSE(s) << days;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(s.error().message, HasSubstr("90..2560"));
  }
  EXPECT_THAT(http_.requests, IsEmpty());
  http_.JsonOk(nullptr);  // AWS answers an empty body; moto answers "null"
  ASSERT_TRUE(Kms()->EnableKeyRotation("k1", 365));
  Json body = BodyJson(http_.requests[0]);
  EXPECT_EQ(HeaderOf(http_.requests[0], "X-Amz-Target"), "TrentService.EnableKeyRotation");
  EXPECT_EQ(body["KeyId"], "k1");
  EXPECT_EQ(body["RotationPeriodInDays"], 365);
}

TEST_F(AwsBackendTest, KmsGenerateDataKeyEncryptDecrypt) {
  Bytes plain(32);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<uint8_t>(i * 7);
  const Bytes blob = {9, 8, 7, 6};
  http_.JsonOk({{"KeyId", "k1"},
                {"Plaintext", Base64Encode(plain)},
                {"CiphertextBlob", Base64Encode(blob)}});
  auto dk = Kms()->GenerateDataKey("k1");
  ASSERT_TRUE(dk) << dk.error().ToString();
  EXPECT_EQ(dk->plaintext, SecretBytes::CopyFrom(plain));
  EXPECT_EQ(dk->ciphertext, blob);
  EXPECT_EQ(BodyJson(http_.requests[0])["KeySpec"], "AES_256");

  http_.JsonOk({{"KeyId", "k1"}, {"CiphertextBlob", Base64Encode(blob)}});
  auto ct = Kms()->Encrypt("k1", SecretBytes::CopyFrom(std::string_view("hello")));
  ASSERT_TRUE(ct) << ct.error().ToString();
  EXPECT_EQ(*ct, blob);
  Json enc = BodyJson(http_.requests[1]);
  EXPECT_EQ(enc["KeyId"], "k1");
  EXPECT_EQ(enc["Plaintext"], Base64Encode(AsBytes("hello")));

  http_.JsonOk({{"KeyId", "k1"}, {"Plaintext", Base64Encode(AsBytes("hello"))}});
  auto pt = Kms()->Decrypt(blob);
  ASSERT_TRUE(pt) << pt.error().ToString();
  EXPECT_EQ(pt->view(), "hello");
  EXPECT_EQ(BodyJson(http_.requests[2])["CiphertextBlob"], Base64Encode(blob));

  http_.JsonError("InvalidCiphertextException");
  pt = Kms()->Decrypt(blob);
  ASSERT_FALSE(pt);
  EXPECT_EQ(pt.error().code, ErrorCode::kIntegrity);
  EXPECT_THAT(pt.error().message, HasSubstr("altered"));

  // A short data key is refused.
  http_.JsonOk({{"Plaintext", Base64Encode(AsBytes("short"))}, {"CiphertextBlob", "AQ=="}});
  dk = Kms()->GenerateDataKey("k1");
  ASSERT_FALSE(dk);
  EXPECT_EQ(dk.error().code, ErrorCode::kUnavailable);
}

TEST_F(AwsBackendTest, KmsScheduleKeyDeletion) {
  for (int days : {6, 31}) {
    auto s = Kms()->ScheduleKeyDeletion("k1", days);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_THAT(http_.requests, IsEmpty());
  http_.JsonOk({{"KeyId", "k1"}, {"DeletionDate", 1790600000}});
  ASSERT_TRUE(Kms()->ScheduleKeyDeletion("k1", 7));
  EXPECT_EQ(BodyJson(http_.requests[0])["PendingWindowInDays"], 7);
  http_.JsonError("NotFoundException");
  EXPECT_TRUE(Kms()->ScheduleKeyDeletion("gone", 7));
  // Already pending deletion (a retried compensation): done.
  http_.JsonError("KMSInvalidStateException");
  http_.JsonOk(KeyMetadata("k1", "PendingDeletion"));
  EXPECT_TRUE(Kms()->ScheduleKeyDeletion("k1", 7));
  // Invalid state for another reason: an error.
  http_.JsonError("KMSInvalidStateException");
  http_.JsonOk(KeyMetadata("k1", "PendingImport"));
  auto s = Kms()->ScheduleKeyDeletion("k1", 7);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

TEST(AwsCommonTest, Iso8601AndPercentDecoding) {
  auto t = aws_internal::ParseIso8601("2026-11-21T20:05:29.785807Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(ToUnixSeconds(*t), 1795291529);
  EXPECT_TRUE(aws_internal::ParseIso8601("2026-11-21T20:05:29+00:00"));
  EXPECT_FALSE(aws_internal::ParseIso8601("2026-11-21 garbage"));
  EXPECT_FALSE(aws_internal::ParseIso8601("2026-13-21T20:05:29Z"));
  EXPECT_EQ(*PercentDecode("%7B%22a%22%3A1%7D+x"), "{\"a\":1}+x");
  EXPECT_FALSE(PercentDecode("%7"));
  EXPECT_FALSE(PercentDecode("%zz"));
}

TEST(AwsCommonTest, AwsCodeOfReadsTheCallLayerMessage) {
  EXPECT_EQ(aws_internal::AwsCodeOf(Error{
                ErrorCode::kNotFound, "aws kms Decrypt: InvalidCiphertextException (HTTP 400)"}),
            "InvalidCiphertextException");
  EXPECT_EQ(aws_internal::AwsCodeOf(Error{ErrorCode::kNotFound, "aws iam X: DeleteConflict: m"}),
            "DeleteConflict");
  EXPECT_EQ(aws_internal::AwsCodeOf(Error{ErrorCode::kNotFound, "other: thing"}), "");
}

}  // namespace
}  // namespace vigie::backend
