#include "package/cli.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "crypto/sign.h"
#include "package/enrollment_key.h"
#include "package/package.h"
#include "package/package_test_util.h"
#include "testing/temp_dir.h"

namespace vigie::package {
namespace {

using testing::Fixture;

// A FILE* whose content the test reads back.
class Capture {
 public:
  Capture() : f_(std::tmpfile()) {}
  ~Capture() { std::fclose(f_); }
  std::FILE* get() { return f_; }
  std::string str() {
    std::fflush(f_);
    std::rewind(f_);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f_)) > 0) s.append(buf, n);
    return s;
  }

 private:
  std::FILE* f_;
};

struct CliFixture : Fixture {
  CliFixture() {
    testing::WriteAll(pkg_path, Build(secrets));
    testing::WriteAll(fleet_pub, AsBytes(crypto::Ed25519PublicKeyToPem(fleet_key.public_key())));
    SecretBytes pem = EnrollmentPrivateKeyToPem(site_key.secret_key);
    EXPECT_TRUE(env.fs->WriteFileAtomic(site_priv, pem.view(), 0600).has_value());
    SecretBytes other = EnrollmentPrivateKeyToPem(other_site_key.secret_key);
    EXPECT_TRUE(env.fs->WriteFileAtomic(other_priv, other.view(), 0600).has_value());
  }
  int Verify(const std::string& site_key_file) {
    return RunPackageVerify(pkg_path, fleet_pub, site_key_file, env, out.get(), err.get());
  }

  vigie::testing::TempDir dir;
  SiteSecrets secrets = NewSecrets();
  std::string pkg_path = dir.File("acme-paris.vpkg");
  std::string fleet_pub = dir.File("fleet.pub.pem");
  std::string site_priv = dir.File("enrollment.key");
  std::string other_priv = dir.File("other.key");
  Capture out, err;
};

TEST(PackageVerifyCliTest, GoodPackagePrintsSummaryWithoutSecrets) {
  CliFixture f;
  f.clock.Advance(std::chrono::hours(2));
  ASSERT_EQ(f.Verify(f.site_priv), 0) << f.err.str();
  const std::string text = f.out.str();
  EXPECT_NE(text.find("package OK"), std::string::npos) << text;
  EXPECT_NE(text.find("acme-paris"), std::string::npos);
  EXPECT_NE(text.find(f.manifest.package_id), std::string::npos);
  EXPECT_NE(text.find("2026-01-08T00:00:00Z (in 6d 22h)"), std::string::npos) << text;
  EXPECT_NE(text.find("admin_password (must change)"), std::string::npos) << text;
  EXPECT_NE(text.find("5 items"), std::string::npos) << text;
  for (const std::string& v : Fixture::Values(f.secrets)) {
    EXPECT_EQ(text.find(v), std::string::npos) << "a secret was printed";
  }
  EXPECT_EQ(f.err.str(), "");

  // Without a site key: verification only.
  Capture out2;
  ASSERT_EQ(RunPackageVerify(f.pkg_path, f.fleet_pub, "", f.env, out2.get(), f.err.get()), 0);
  EXPECT_EQ(out2.str().find("secrets:"), std::string::npos);
}

TEST(PackageVerifyCliTest, EachRefusalExitsNonZeroWithItsReason) {
  {
    CliFixture f;
    f.clock.Advance(std::chrono::hours(24 * 8));
    EXPECT_EQ(f.Verify(""), ExitCodeFor(ErrorCode::kFailedPrecondition));
    EXPECT_NE(f.err.str().find(f.pkg_path + ": package rejected (expired)"), std::string::npos)
        << f.err.str();
    EXPECT_EQ(f.out.str(), "");
  }
  {
    CliFixture f;
    EXPECT_EQ(f.Verify(f.other_priv), ExitCodeFor(ErrorCode::kPermissionDenied));
    EXPECT_NE(f.err.str().find("package rejected (wrong_site_key)"), std::string::npos);
    EXPECT_EQ(f.out.str(), "");
  }
  {
    CliFixture f;
    Bytes pkg = testing::ReadAll(f.pkg_path);
    pkg[pkg.size() - 5] ^= 1;
    testing::WriteAll(f.pkg_path, pkg);
    EXPECT_EQ(f.Verify(""), ExitCodeFor(ErrorCode::kIntegrity));
    EXPECT_NE(f.err.str().find("package rejected (tampered_payload)"), std::string::npos);
  }
  {
    CliFixture f;
    testing::WriteAll(f.fleet_pub,
                      AsBytes(crypto::Ed25519PublicKeyToPem(f.other_fleet_key.public_key())));
    EXPECT_EQ(f.Verify(""), ExitCodeFor(ErrorCode::kUnauthenticated));
    EXPECT_NE(f.err.str().find("package rejected (bad_signature)"), std::string::npos);
  }
  {
    CliFixture f;
    testing::WriteAll(f.fleet_pub, AsBytes("not a pem"));
    EXPECT_EQ(f.Verify(""), ExitCodeFor(ErrorCode::kInvalidArgument));
    EXPECT_NE(f.err.str().find("--fleet-key"), std::string::npos) << f.err.str();
  }
  {
    CliFixture f;
    ASSERT_EQ(::chmod(f.site_priv.c_str(), 0644), 0);
    EXPECT_EQ(f.Verify(f.site_priv), ExitCodeFor(ErrorCode::kPermissionDenied));
    EXPECT_NE(f.err.str().find("chmod 600"), std::string::npos) << f.err.str();
    EXPECT_EQ(f.out.str(), "");
  }
  {
    CliFixture f;
    EXPECT_EQ(RunPackageVerify(f.dir.File("absent.vpkg"), f.fleet_pub, "", f.env, f.out.get(),
                               f.err.get()),
              ExitCodeFor(ErrorCode::kNotFound));
  }
}

TEST(AgentKeygenCliTest, PrintsPublicKeyAndFingerprintNeverThePrivateKey) {
  Fixture f;
  vigie::testing::TempDir dir;
  Capture out, err;
  ASSERT_EQ(RunAgentKeygen(dir.path(), f.env, out.get(), err.get()), 0) << err.str();
  const std::string text = out.str();
  auto pub = LoadEnrollmentPublicKey(dir.File("enrollment.pub"), *f.env.fs);
  ASSERT_TRUE(pub.has_value());
  EXPECT_NE(text.find(EnrollmentPublicKeyToPem(*pub)), std::string::npos) << text;
  EXPECT_NE(text.find(EnrollmentKeyFingerprint(*pub)), std::string::npos) << text;
  EXPECT_NE(text.find("Hand only the public key"), std::string::npos);
  EXPECT_EQ(text.find("PRIVATE KEY-----"), std::string::npos);
  const std::string priv(AsString(testing::ReadAll(dir.File("enrollment.key"))));
  const std::string body = priv.substr(priv.find('\n') + 1, 64);
  EXPECT_EQ(text.find(body), std::string::npos) << "the private key was printed";

  Capture out2, err2;
  EXPECT_EQ(RunAgentKeygen(dir.path(), f.env, out2.get(), err2.get()),
            ExitCodeFor(ErrorCode::kAlreadyExists));
  EXPECT_NE(err2.str().find("already exists"), std::string::npos);
  EXPECT_EQ(out2.str(), "");
}

}  // namespace
}  // namespace vigie::package
