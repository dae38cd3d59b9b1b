// PROV_023: "a standard tool can verify the signature". These tests run the shell block that
// docs/PACKAGE_FORMAT.md documents, verbatim, against real packages: it must accept a good one
// and reject each kind of tampering, so the documentation cannot drift from the format.

#include <gtest/gtest.h>

#include "crypto/sign.h"
#include "package/package.h"
#include "package/package_test_util.h"
#include "testing/temp_dir.h"

namespace vigie::package {
namespace {

using testing::Fixture;

// The fenced block between the verify-script markers of docs/PACKAGE_FORMAT.md.
std::string DocumentedScript() {
  const std::string doc(
      AsString(testing::ReadAll(vigie::testing::SourceDir() + "/docs/PACKAGE_FORMAT.md")));
  const std::string begin = "<!-- verify-script:begin -->\n```sh\n";
  const std::string end = "```\n<!-- verify-script:end -->";
  const size_t b = doc.find(begin);
  const size_t e = doc.find(end);
  EXPECT_NE(b, std::string::npos) << "docs/PACKAGE_FORMAT.md lost its verify-script block";
  EXPECT_NE(e, std::string::npos);
  if (b == std::string::npos || e == std::string::npos || e < b) return "exit 99\n";
  return doc.substr(b + begin.size(), e - b - begin.size());
}

bool HaveTools() {
  for (const char* tool : {"openssl", "od", "awk", "head", "tail", "sha256sum", "cmp", "cut"}) {
    if (!testing::HaveCommand(tool)) return false;
  }
  return true;
}

class DocumentedVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTools()) GTEST_SKIP() << "openssl or coreutils missing from PATH";
    script_ = DocumentedScript();
    good_ = f_.Build(f_.NewSecrets());
    testing::WriteAll(dir_.File("fleet.pub.pem"),
                      AsBytes(crypto::Ed25519PublicKeyToPem(f_.fleet_key.public_key())));
  }
  // Writes `pkg` as acme-paris.vpkg and runs the documented script on it.
  int Run(const Bytes& pkg) {
    testing::WriteAll(dir_.File("acme-paris.vpkg"), pkg);
    return testing::RunShell(dir_.path(), script_, &output_);
  }

  Fixture f_;
  vigie::testing::TempDir dir_;
  std::string script_;
  Bytes good_;
  std::string output_;
};

TEST_F(DocumentedVerifyTest, AcceptsAGoodPackage) {
  ASSERT_EQ(Run(good_), 0) << output_;
  EXPECT_NE(output_.find("Signature Verified Successfully"), std::string::npos) << output_;
  EXPECT_NE(output_.find("Payload OK"), std::string::npos) << output_;
  EXPECT_NE(output_.find("\"expires_at\":\"2026-01-08T00:00:00Z\""), std::string::npos);

  // The shell split equals the library's.
  auto parts = ExtractSignedParts(good_);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(testing::ReadAll(dir_.File("signed.bin")),
            Bytes(parts->signed_bytes.begin(), parts->signed_bytes.end()));
  EXPECT_EQ(testing::ReadAll(dir_.File("sig.bin")),
            Bytes(parts->signature.begin(), parts->signature.end()));
  EXPECT_EQ(testing::ReadAll(dir_.File("payload.bin")),
            Bytes(parts->payload.begin(), parts->payload.end()));
}

TEST_F(DocumentedVerifyTest, RejectsATamperedManifest) {
  Bytes pkg = good_;
  const std::string_view site = "acme-paris";
  auto it = std::search(pkg.begin(), pkg.end(), site.begin(), site.end());
  ASSERT_NE(it, pkg.end());
  *it = 'b';
  EXPECT_NE(Run(pkg), 0) << output_;
  EXPECT_EQ(output_.find("Signature Verified Successfully"), std::string::npos) << output_;
}

TEST_F(DocumentedVerifyTest, RejectsATamperedPayloadThoughTheSignatureHolds) {
  Bytes pkg = good_;
  pkg[pkg.size() - 7] ^= 0x20;
  EXPECT_NE(Run(pkg), 0) << output_;
  // The signature over the manifest is intact; the digest check is what fails.
  EXPECT_NE(output_.find("Signature Verified Successfully"), std::string::npos) << output_;
  EXPECT_EQ(output_.find("Payload OK"), std::string::npos) << output_;
}

TEST_F(DocumentedVerifyTest, RejectsASignatureByAnotherKey) {
  auto other =
      BuildPackage(f_.manifest, f_.NewSecrets(), f_.site_key.public_key, f_.other_fleet_key);
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(Run(*other), 0) << output_;
  EXPECT_EQ(output_.find("Signature Verified Successfully"), std::string::npos) << output_;
}

TEST_F(DocumentedVerifyTest, RejectsAnUnsignedPackage) {
  auto unsigned_pkg =
      BuildUnsignedPackageForTesting(f_.manifest, f_.NewSecrets(), f_.site_key.public_key);
  ASSERT_TRUE(unsigned_pkg.has_value());
  EXPECT_NE(Run(*unsigned_pkg), 0) << output_;
  EXPECT_NE(output_.find("unsigned package"), std::string::npos) << output_;
}

}  // namespace
}  // namespace vigie::package
