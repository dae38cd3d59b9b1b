#include "fleet/site_auth.h"

#include <gtest/gtest.h>

#include "testing/fake_clock.h"

namespace vigie::fleet {
namespace {

std::string Find(const http::Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

class SiteAuthTest : public ::testing::Test {
 protected:
  SiteRequestView View(const http::Headers& h, std::string_view path_site = "site-a") {
    site_ = Find(h, kSiteHeader);
    ts_ = Find(h, kTimestampHeader);
    nonce_ = Find(h, kNonceHeader);
    sig_ = Find(h, kSignatureHeader);
    return SiteRequestView{.method = "POST",
                           .path = path_,
                           .path_site = path_site,
                           .header_site = site_,
                           .timestamp = ts_,
                           .nonce = nonce_,
                           .signature = sig_,
                           .body = body_};
  }
  http::Headers Sign(std::string_view site = "site-a") {
    return SignSiteRequest(site, secret_a_, "POST", path_, body_, clock_.Now(), *RealRandom());
  }

  vigie::testing::FakeClock clock_{FromUnixSeconds(1'800'000'000)};
  SecretBytes secret_a_ = SecretBytes::CopyFrom(std::string_view("secret-of-site-a-0123456789"));
  SecretBytes secret_b_ = SecretBytes::CopyFrom(std::string_view("secret-of-site-b-0123456789"));
  ReplayGuard guard_;
  std::string path_ = "/v1/sites/site-a/heartbeat";
  std::string body_ = R"({"disk":{"ok":true}})";
  std::string site_, ts_, nonce_, sig_;
};

TEST_F(SiteAuthTest, CanonicalStringLayout) {
  EXPECT_EQ(CanonicalSiteRequest("POST", "/p", "s", "12", "ab", ""),
            "vigie-v1\nPOST\n/p\ns\n12\nab\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(SiteAuthTest, SignedRequestVerifies) {
  auto h = Sign();
  EXPECT_EQ(Find(h, kNonceHeader).size(), 32u);
  EXPECT_EQ(Find(h, kTimestampHeader), "1800000000");
  auto st = VerifySiteRequest(View(h), secret_a_, guard_, clock_.Now());
  EXPECT_TRUE(st) << st.error().ToString();
}

TEST_F(SiteAuthTest, MissingHeaderIsUnauthenticated) {
  for (auto name : {kSiteHeader, kTimestampHeader, kNonceHeader, kSignatureHeader}) {
    http::Headers h = Sign();
    std::erase_if(h, [&](const auto& kv) { return kv.first == name; });
    auto st = VerifySiteRequest(View(h), secret_a_, guard_, clock_.Now());
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, ErrorCode::kUnauthenticated);
    EXPECT_NE(st.error().message.find(std::string(name)), std::string::npos);
  }
}

TEST_F(SiteAuthTest, TamperedBodyOrWrongSecretIsBadSignature) {
  auto h = Sign();
  auto view = View(h);
  std::string other_body = R"({"disk":{"ok":false}})";
  view.body = other_body;
  auto st = VerifySiteRequest(view, secret_a_, guard_, clock_.Now());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(st.error().message.find("bad signature"), std::string::npos);

  st = VerifySiteRequest(View(h), secret_b_, guard_, clock_.Now());
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("bad signature"), std::string::npos);
  // A failed verification burns no nonce: the genuine request still passes.
  EXPECT_TRUE(VerifySiteRequest(View(h), secret_a_, guard_, clock_.Now()));
}

TEST_F(SiteAuthTest, StaleTimestampNamesTheSkew) {
  auto h = Sign();
  clock_.Advance(std::chrono::seconds(301));
  auto st = VerifySiteRequest(View(h), secret_a_, guard_, clock_.Now());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(st.error().message.find("stale timestamp"), std::string::npos);
  EXPECT_NE(st.error().message.find("-301 s"), std::string::npos);
  // Within the window (a future timestamp too) passes.
  auto h2 = SignSiteRequest("site-a", secret_a_, "POST", path_, body_,
                            clock_.Now() + std::chrono::seconds(299), *RealRandom());
  EXPECT_TRUE(VerifySiteRequest(View(h2), secret_a_, guard_, clock_.Now()));
}

TEST_F(SiteAuthTest, ReplayedNonceIsRejected) {
  auto h = Sign();
  ASSERT_TRUE(VerifySiteRequest(View(h), secret_a_, guard_, clock_.Now()));
  clock_.Advance(std::chrono::seconds(10));
  auto st = VerifySiteRequest(View(h), secret_a_, guard_, clock_.Now());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(st.error().message.find("replayed"), std::string::npos);
}

TEST_F(SiteAuthTest, OtherSitesCredentialIsPermissionDenied) {
  // Site A signs correctly with its own secret but targets site B's path.
  path_ = "/v1/sites/site-b/heartbeat";
  auto h = Sign("site-a");
  auto st = VerifySiteRequest(View(h, "site-b"), secret_a_, guard_, clock_.Now());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(HttpStatusFor(st.error().code), 403);
}

TEST_F(SiteAuthTest, MalformedHeadersAreRejected) {
  auto h = Sign();
  for (auto& [k, v] : h) {
    if (k == kTimestampHeader) v = "12abc";
  }
  auto st = VerifySiteRequest(View(h), secret_a_, guard_, clock_.Now());
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("X-Vigie-Timestamp"), std::string::npos);
}

TEST_F(SiteAuthTest, GuardForgetsExpiredNonces) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(VerifySiteRequest(View(Sign()), secret_a_, guard_, clock_.Now()));
  }
  EXPECT_EQ(guard_.size(), 100u);
  clock_.Advance(std::chrono::seconds(601));
  ASSERT_TRUE(VerifySiteRequest(View(Sign()), secret_a_, guard_, clock_.Now()));
  EXPECT_EQ(guard_.size(), 1u);
}

TEST_F(SiteAuthTest, GuardKeysEachNonceBySite) {
  // The guard keeps a keyed hash of (site, nonce): the same nonce is fresh for another site,
  // a long site id (past the hashing's stack buffer) works, and each pair is accepted once.
  const int64_t ts = ToUnixSeconds(clock_.Now());
  const std::string nonce(32, 'a');
  const std::string long_site(200, 's');
  for (const std::string& site : {std::string("site-a"), std::string("site-b"), long_site}) {
    ASSERT_TRUE(guard_.CheckAndRecord(site, nonce, ts, clock_.Now())) << site;
    auto again = guard_.CheckAndRecord(site, nonce, ts, clock_.Now());
    ASSERT_FALSE(again) << site;
    EXPECT_NE(again.error().message.find("replayed"), std::string::npos);
  }
  EXPECT_TRUE(guard_.CheckAndRecord("site-a", std::string(32, 'b'), ts, clock_.Now()));
  EXPECT_EQ(guard_.size(), 4u);
  // A second guard (another process) draws another hash key and knows none of these.
  ReplayGuard other;
  EXPECT_TRUE(other.CheckAndRecord("site-a", nonce, ts, clock_.Now()));
}

}  // namespace
}  // namespace vigie::fleet
