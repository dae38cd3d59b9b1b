// Replays the aws-c-auth SigV4 vectors through libcurl 7.88's built-in signer (CURLOPT_AWS_SIGV4)
// and captures what curl actually sends on a loopback socket, to decide where curl's signer can
// be trusted (the decision is recorded in sigv4.h). The expectations below are findings, not
// wishes: if a curl upgrade changes its behaviour, this test fails and the decision is revisited.

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>
#include <map>

#include "cloud/sigv4.h"
#include "cloud/sigv4_vectors_test_util.h"
#include "http/curl_client.h"
#include "testing/loopback_server.h"

namespace vigie::cloud {
namespace {

using testing::LoadSigV4Vector;
using testing::SigV4Vector;
using vigie::testing::CapturedRequest;
using vigie::testing::LoopbackHttpServer;

enum class CurlOutcome {
  kMatch,     // curl's Authorization header equals the reference
  kMismatch,  // curl sent the request but signed it differently
  kNotSent,   // curl refused to send the request as the vector writes it
};

const char* Name(CurlOutcome o) {
  switch (o) {
    case CurlOutcome::kMatch:
      return "match";
    case CurlOutcome::kMismatch:
      return "mismatch";
    case CurlOutcome::kNotSent:
      return "not-sent";
  }
  return "?";
}

struct CurlRun {
  CurlOutcome outcome = CurlOutcome::kNotSent;
  std::string detail;  // curl's error, or its Authorization header
  CapturedRequest captured;
};

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Sends the vector's request with curl's signer to a loopback listener. The vector's time is
// pinned by passing X-Amz-Date ourselves (curl 7.88 then signs with it); a session token and
// x-amz-content-sha256, which curl 7.88 has no option for, are passed as plain headers, which is
// the best curl can do.
CurlRun SignWithCurl(const SigV4Vector& v) {
  LoopbackHttpServer server;
  CURL* h = curl_easy_init();
  std::unique_ptr<curl_slist, SlistFree> headers;
  auto add = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    headers.release();
    headers.reset(next);
  };
  for (const auto& [k, val] : v.headers) {
    if (http::HeaderNameEquals(k, "Host") || http::HeaderNameEquals(k, "Content-Length")) continue;
    add(k + ":" + val);
  }
  add("X-Amz-Date: " + [&] {
    std::time_t t = std::chrono::system_clock::to_time_t(v.time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
    return std::string(buf);
  }());
  if (!v.credentials.session_token.empty()) {
    add("X-Amz-Security-Token: " + std::string(v.credentials.session_token.view()));
  }
  if (v.sign_body) add("x-amz-content-sha256: " + Sha256Hex(v.body));
  // No "Content-Type:" / "Accept:" removal lines: curl 7.88 signs those as empty headers that
  // are then not sent (see CurlClientSigV4Test below).

  std::string url = "http://example.amazonaws.com" + v.target;
  std::string connect_to = "example.amazonaws.com:80:127.0.0.1:" + std::to_string(server.port());
  std::unique_ptr<curl_slist, SlistFree> connect_list(
      curl_slist_append(nullptr, connect_to.c_str()));
  std::string provider = "aws:amz:" + v.region + ":" + v.service;
  std::string secret(v.credentials.secret_access_key.view());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_list.get());
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);  // send "/./" and "//" as written
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, provider.c_str());
  curl_easy_setopt(h, CURLOPT_USERNAME, v.credentials.access_key_id.c_str());
  curl_easy_setopt(h, CURLOPT_PASSWORD, secret.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(
      h, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) -> size_t { return s * n; });
  if (v.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(v.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, v.body.c_str());
  } else if (v.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, v.method.c_str());
  }
  CurlRun run;
  CURLcode rc = curl_easy_perform(h);
  curl_easy_cleanup(h);
  auto got = server.Requests();
  if (rc != CURLE_OK || got.empty()) {
    run.detail = curl_easy_strerror(rc);
    return run;
  }
  run.captured = got[0];
  run.detail = got[0].Header("Authorization");
  run.outcome = run.detail == v.authorization ? CurlOutcome::kMatch : CurlOutcome::kMismatch;
  return run;
}

// What curl 7.88.1 (Debian 12) does with each vector, found by running this test, and why.
const std::map<std::string, CurlOutcome>& Findings() {
  static const auto* m = new std::map<std::string, CurlOutcome>{
      // Plain shapes: curl agrees with the reference.
      {"get-vanilla", CurlOutcome::kMatch},
      {"get-vanilla-query", CurlOutcome::kMatch},
      {"get-vanilla-empty-query-key", CurlOutcome::kMatch},  // single parameter: nothing to sort
      {"get-vanilla-query-unreserved", CurlOutcome::kMatch},
      {"get-unreserved", CurlOutcome::kMatch},
      {"get-header-value-trim", CurlOutcome::kMatch},  // trims and collapses inner spaces
      {"post-vanilla", CurlOutcome::kMatch},
      {"post-vanilla-query", CurlOutcome::kMatch},
      {"post-vanilla-empty-query-value", CurlOutcome::kMatch},
      {"post-header-key-case", CurlOutcome::kMatch},
      {"post-header-key-sort", CurlOutcome::kMatch},
      {"post-header-value-case", CurlOutcome::kMatch},
      // A token passed as a plain header is signed like any other header: right for the usual
      // (signed) placement...
      {"get-vanilla-with-session-token", CurlOutcome::kMatch},
      {"post-sts-header-before", CurlOutcome::kMatch},
      // ...but curl has no way to leave it unsigned.
      {"post-sts-header-after", CurlOutcome::kMismatch},
      // curl signs the path exactly as sent (with CURLOPT_PATH_AS_IS): the unnormalised vectors
      // match, the normalised ones (what every service but S3 expects) do not.
      {"get-relative-unnormalized", CurlOutcome::kMatch},
      {"get-relative-relative-unnormalized", CurlOutcome::kMatch},
      {"get-slash-dot-slash-unnormalized", CurlOutcome::kMatch},
      {"get-slash-pointless-dot-unnormalized", CurlOutcome::kMatch},
      {"get-slash-unnormalized", CurlOutcome::kMatch},
      {"get-slashes-unnormalized", CurlOutcome::kMatch},
      {"get-relative-normalized", CurlOutcome::kMismatch},
      {"get-relative-relative-normalized", CurlOutcome::kMismatch},
      {"get-slash-dot-slash-normalized", CurlOutcome::kMismatch},
      {"get-slash-pointless-dot-normalized", CurlOutcome::kMismatch},
      {"get-slash-normalized", CurlOutcome::kMismatch},
      {"get-slashes-normalized", CurlOutcome::kMismatch},
      // No double encoding of the path; a raw space is refused by curl's URL parser.
      {"get-utf8", CurlOutcome::kMismatch},
      {"get-space-normalized", CurlOutcome::kNotSent},
      {"get-space-unnormalized", CurlOutcome::kNotSent},
      // The query goes into the canonical request as sent: not decoded, re-encoded or sorted.
      {"get-vanilla-query-order-key-case", CurlOutcome::kMismatch},
      {"get-vanilla-query-order-encoded", CurlOutcome::kMismatch},
      {"get-vanilla-utf8-query", CurlOutcome::kMismatch},
      // A repeated header is signed once per occurrence ("my-header1;my-header1;...") instead of
      // once with comma-joined values; obs-folded values are not unfolded.
      {"get-header-key-duplicate", CurlOutcome::kMismatch},
      {"get-header-value-order", CurlOutcome::kMismatch},
      {"get-header-value-multiline", CurlOutcome::kMismatch},
      // curl writes Content-Length itself and never signs it (the reference signs every header of
      // the request, content-length included).
      {"post-x-www-form-urlencoded", CurlOutcome::kMismatch},
      {"post-x-www-form-urlencoded-parameters", CurlOutcome::kMismatch},
  };
  return *m;
}

class CurlSigV4VectorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CurlSigV4VectorTest, CurlBehavesAsRecorded) {
  auto v = LoadSigV4Vector(GetParam());
  ASSERT_TRUE(v) << v.error().ToString();
  CurlRun run = SignWithCurl(*v);
  auto it = Findings().find(GetParam());
  ASSERT_NE(it, Findings().end()) << "no recorded finding for " << GetParam() << "; curl gave "
                                  << Name(run.outcome) << ": " << run.detail;
  EXPECT_EQ(Name(run.outcome), std::string(Name(it->second)))
      << "curl's signer changed behaviour on " << GetParam() << "; it sent: " << run.detail
      << "\nreference: " << v->authorization << "\nraw request:\n"
      << run.captured.raw;
}

INSTANTIATE_TEST_SUITE_P(AwsCAuthSuite, CurlSigV4VectorTest,
                         ::testing::ValuesIn(testing::SigV4VectorNames()), [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

// Finding: pinning the time means passing X-Amz-Date, and curl 7.88 then sends the header twice
// (its own and the caller's).
TEST(CurlSigV4FindingsTest, CallerSuppliedXAmzDateIsSentTwice) {
  auto v = LoadSigV4Vector("get-vanilla");
  ASSERT_TRUE(v) << v.error().ToString();
  CurlRun run = SignWithCurl(*v);
  ASSERT_EQ(run.outcome, CurlOutcome::kMatch) << run.detail;
  EXPECT_THAT(run.captured.All("X-Amz-Date"),
              ::testing::ElementsAre("20150830T123600Z", "20150830T123600Z"));
}

// Finding: curl signs a header-removal directive ("Accept:") as an empty header that it then
// does not send, so the server cannot verify the signature. CurlClient therefore adds no removal
// directives when curl signs.
TEST(CurlSigV4FindingsTest, RemovalDirectiveIsSignedButNotSent) {
  LoopbackHttpServer server;
  CURL* h = curl_easy_init();
  std::unique_ptr<curl_slist, SlistFree> headers(curl_slist_append(nullptr, "Accept:"));
  std::string url = server.Url("/");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:service");
  curl_easy_setopt(h, CURLOPT_USERNAME, "AKIDEXAMPLE");
  curl_easy_setopt(h, CURLOPT_PASSWORD, "secret");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(
      h, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) -> size_t { return s * n; });
  ASSERT_EQ(curl_easy_perform(h), CURLE_OK);
  curl_easy_cleanup(h);
  CapturedRequest got = server.Requests().at(0);
  EXPECT_THAT(got.Header("Authorization"), ::testing::HasSubstr("SignedHeaders=accept;host;"));
  EXPECT_THAT(got.All("Accept"), ::testing::IsEmpty());
}

// Extracts "Key=value" from an Authorization header.
std::string AuthField(const std::string& auth, const std::string& key) {
  size_t a = auth.find(key + "=");
  if (a == std::string::npos) return "";
  a += key.size() + 1;
  size_t b = auth.find(',', a);
  return auth.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

// CurlClient's aws_sigv4 option, cross-checked against our signer on the request curl actually
// sent (curl picks the time; we re-sign what we captured and must get the same signature).
TEST(CurlClientSigV4Test, CurlClientSignatureAgreesWithOursOnSimpleRequests) {
  for (bool with_token : {false, true}) {
    LoopbackHttpServer server;
    http::CurlSigV4Spec spec{.region = "us-east-1",
                             .service = "iam",
                             .access_key_id = "AKIDEXAMPLE",
                             .secret_access_key = SecretBytes::CopyFrom(
                                 std::string_view("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))};
    if (with_token) spec.session_token = SecretBytes::CopyFrom(std::string_view("tok/en+=="));
    http::CurlClientOptions options;
    options.aws_sigv4 = std::move(spec);
    http::CurlClient client(std::move(options));
    auto resp = client.Send({.method = "POST",
                             .url = server.Url("/?Action=ListUsers&Version=2010-05-08"),
                             .headers = {},
                             .body = "x=1"});
    ASSERT_TRUE(resp) << resp.error().ToString();
    CapturedRequest got = server.Requests().at(0);
    std::string auth = got.Header("Authorization");
    ASSERT_FALSE(auth.empty());

    SigV4Request req{.method = "POST",
                     .path = "/",
                     .query = "Action=ListUsers&Version=2010-05-08",
                     .body = "x=1"};
    std::string signed_headers = AuthField(auth, "SignedHeaders");
    size_t pos = 0;
    while (pos <= signed_headers.size()) {
      size_t end = signed_headers.find(';', pos);
      if (end == std::string::npos) end = signed_headers.size();
      std::string name = signed_headers.substr(pos, end - pos);
      EXPECT_FALSE(got.All(name).empty()) << "curl signed " << name << " but did not send it";
      if (name != "x-amz-date" && name != "x-amz-security-token") {
        req.headers.emplace_back(name, got.Header(name));
      }
      pos = end + 1;
    }
    std::tm tm{};
    ASSERT_NE(strptime(got.Header("X-Amz-Date").c_str(), "%Y%m%dT%H%M%SZ", &tm), nullptr);
    AwsCredentials creds{
        "AKIDEXAMPLE",
        SecretBytes::CopyFrom(std::string_view("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
        {}};
    if (with_token) creds.session_token = SecretBytes::CopyFrom(std::string_view("tok/en+=="));
    auto ours = SigV4Sign(req, creds, "us-east-1", "iam",
                          std::chrono::system_clock::from_time_t(timegm(&tm)));
    ASSERT_TRUE(ours) << ours.error().ToString();
    EXPECT_EQ(ours->authorization, auth) << "with_token=" << with_token;
    if (with_token) {
      EXPECT_EQ(got.Header("x-amz-security-token"), "tok/en+==");
    }
  }
}

}  // namespace
}  // namespace vigie::cloud
