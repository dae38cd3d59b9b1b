#include "cloud/sigv4.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "cloud/sigv4_vectors_test_util.h"
#include "http/client.h"

namespace vigie::cloud {
namespace {

using ::testing::HasSubstr;
using testing::LoadSigV4Vector;
using testing::SigV4Vector;

TEST(SigV4VectorListTest, CoversEveryVendoredFolder) {
  auto names = testing::SigV4VectorNames();
  std::set<std::string> listed(names.begin(), names.end());
  std::set<std::string> on_disk;
  for (const auto& e : std::filesystem::directory_iterator(testing::SigV4VectorDir())) {
    if (e.is_directory()) on_disk.insert(e.path().filename().string());
  }
  EXPECT_EQ(listed, on_disk);
}

class SigV4VectorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4VectorTest, OurSignerMatchesTheReference) {
  auto v = LoadSigV4Vector(GetParam());
  ASSERT_TRUE(v) << v.error().ToString();
  SigV4Request req{.method = v->method,
                   .path = v->path,
                   .query = v->query,
                   .headers = v->headers,
                   .body = v->body};
  SigV4Options opt{.add_content_sha256_header = v->sign_body,
                   .normalize_path = v->normalize,
                   .double_encode_path = true,
                   .sign_session_token = !v->omit_session_token};
  auto got = SigV4Sign(req, v->credentials, v->region, v->service, v->time, opt);
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->canonical_request, v->canonical_request);
  EXPECT_EQ(got->string_to_sign, v->string_to_sign);
  EXPECT_EQ(got->signature, v->signature);
  EXPECT_EQ(got->authorization, v->authorization);

  // Every header the reference adds to the request is among the ones we tell the caller to add.
  for (const auto& [name, value] : v->signed_request_headers) {
    bool in_request = false;
    for (const auto& h : v->headers) in_request = in_request || h.first == name;
    if (in_request) continue;
    bool added = false;
    for (const auto& [n, val] : got->headers_to_add) {
      added = added || (http::HeaderNameEquals(n, name) && val == value);
    }
    EXPECT_TRUE(added) << "reference adds " << name << ": " << value;
  }
}

INSTANTIATE_TEST_SUITE_P(AwsCAuthSuite, SigV4VectorTest,
                         ::testing::ValuesIn(testing::SigV4VectorNames()), [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

AwsCredentials DocCredentials() {
  return {"AKIAIOSFODNN7EXAMPLE",
          SecretBytes::CopyFrom(std::string_view("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")),
          {}};
}

WallTime At20130524() { return FromUnixSeconds(1369353600); }  // 2013-05-24T00:00:00Z

// The "GET Object" example of the S3 SigV4 documentation (sig-v4-header-based-auth.html):
// single path encoding, x-amz-content-sha256 signed, a Range header.
TEST(SigV4S3Test, MatchesTheS3DocumentationGetObjectExample) {
  SigV4Request req{.method = "GET",
                   .path = "/test.txt",
                   .headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}}};
  auto got =
      SigV4Sign(req, DocCredentials(), "us-east-1", "s3", At20130524(), SigV4OptionsFor("s3"));
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(got->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3Test, S3KeepsThePathAsSent) {
  SigV4Request req{
      .method = "GET", .path = "/bucket/a//b/./c%20d", .headers = {{"Host", "s3.amazonaws.com"}}};
  auto s3 =
      SigV4Sign(req, DocCredentials(), "us-east-1", "s3", At20130524(), SigV4OptionsFor("s3"));
  ASSERT_TRUE(s3);
  EXPECT_THAT(s3->canonical_request, HasSubstr("\n/bucket/a//b/./c%20d\n"));
  auto other = SigV4Sign(req, DocCredentials(), "us-east-1", "service", At20130524());
  ASSERT_TRUE(other);
  EXPECT_THAT(other->canonical_request, HasSubstr("\n/bucket/a/b/c%2520d\n"));
}

TEST(SigV4Test, PayloadHashOverrideIsSigned) {
  SigV4Request req{.method = "PUT",
                   .path = "/k",
                   .headers = {{"Host", "b.s3.amazonaws.com"}},
                   .body = "data",
                   .payload_hash = "UNSIGNED-PAYLOAD"};
  auto got =
      SigV4Sign(req, DocCredentials(), "us-east-1", "s3", At20130524(), SigV4OptionsFor("s3"));
  ASSERT_TRUE(got);
  EXPECT_THAT(got->canonical_request, ::testing::EndsWith("\nUNSIGNED-PAYLOAD"));
  EXPECT_THAT(got->canonical_request, HasSubstr("x-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
}

TEST(SigV4Test, DifferentSecretGivesADifferentSignature) {
  SigV4Request req{.method = "GET", .headers = {{"Host", "iam.amazonaws.com"}}};
  AwsCredentials a = DocCredentials();
  AwsCredentials b = DocCredentials();
  b.secret_access_key = SecretBytes::CopyFrom(std::string_view("another-secret"));
  auto sa = SigV4Sign(req, a, "us-east-1", "iam", At20130524());
  auto sb = SigV4Sign(req, b, "us-east-1", "iam", At20130524());
  ASSERT_TRUE(sa && sb);
  EXPECT_EQ(sa->canonical_request, sb->canonical_request);
  EXPECT_NE(sa->signature, sb->signature);
}

TEST(SigV4Test, RejectsRequestsItCannotSignCorrectly) {
  AwsCredentials c = DocCredentials();
  auto no_host = SigV4Sign({.method = "GET"}, c, "us-east-1", "iam", At20130524());
  ASSERT_FALSE(no_host);
  EXPECT_THAT(no_host.error().message, HasSubstr("Host"));

  SigV4Request owned{.method = "GET",
                     .headers = {{"Host", "h"}, {"X-Amz-Date", "20130524T000000Z"}}};
  auto r = SigV4Sign(owned, c, "us-east-1", "iam", At20130524());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  SigV4Request bad_query{.method = "GET", .query = "a=%zz", .headers = {{"Host", "h"}}};
  EXPECT_FALSE(SigV4Sign(bad_query, c, "us-east-1", "iam", At20130524()));
  SigV4Request truncated{.method = "GET", .query = "a=%4", .headers = {{"Host", "h"}}};
  EXPECT_FALSE(SigV4Sign(truncated, c, "us-east-1", "iam", At20130524()));

  EXPECT_FALSE(
      SigV4Sign({.method = "GET", .headers = {{"Host", "h"}}}, c, "", "iam", At20130524()));
  AwsCredentials empty;
  EXPECT_FALSE(SigV4Sign({.method = "GET", .headers = {{"Host", "h"}}}, empty, "us-east-1", "iam",
                         At20130524()));
}

TEST(SigV4Test, UriEncodeFollowsTheSigV4Set) {
  EXPECT_EQ(SigV4UriEncode("a b/c~d+e=f", false), "a%20b%2Fc~d%2Be%3Df");
  EXPECT_EQ(SigV4UriEncode("a b/c", true), "a%20b/c");
  EXPECT_EQ(SigV4UriEncode("\xE1\x88\xB4", false), "%E1%88%B4");
}

}  // namespace
}  // namespace vigie::cloud
