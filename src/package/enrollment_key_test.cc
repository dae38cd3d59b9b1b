#include "package/enrollment_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "crypto/sign.h"
#include "package/package_test_util.h"
#include "testing/fault_fs.h"
#include "testing/temp_dir.h"

namespace vigie::package {
namespace {

using testing::Fixture;

uint32_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(EnrollmentKeyTest, KeygenWritesPrivate0600AndPublic0644ThatLoadBack) {
  Fixture f;
  vigie::testing::TempDir dir;
  const std::string keys = dir.File("agent/keys");
  auto files = WriteEnrollmentKeyPair(keys, f.env);
  ASSERT_TRUE(files.has_value()) << files.error().ToString();
  EXPECT_EQ(files->private_key_path, keys + "/enrollment.key");
  EXPECT_EQ(files->public_key_path, keys + "/enrollment.pub");
  EXPECT_EQ(ModeOf(files->private_key_path), 0600u);
  EXPECT_EQ(ModeOf(files->public_key_path), 0644u);
  EXPECT_EQ(ModeOf(keys), 0700u);

  auto pair = LoadEnrollmentKeyPair(files->private_key_path, *f.env.fs);
  ASSERT_TRUE(pair.has_value()) << pair.error().ToString();
  EXPECT_EQ(pair->public_key, files->public_key);
  auto pub = LoadEnrollmentPublicKey(files->public_key_path, *f.env.fs);
  ASSERT_TRUE(pub.has_value()) << pub.error().ToString();
  EXPECT_EQ(*pub, files->public_key);

  const std::string priv_text(AsString(testing::ReadAll(files->private_key_path)));
  EXPECT_TRUE(priv_text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
  EXPECT_TRUE(priv_text.ends_with("-----END PRIVATE KEY-----\n"));
  EXPECT_EQ(AsString(testing::ReadAll(files->public_key_path)),
            EnrollmentPublicKeyToPem(files->public_key));

  // The key pair works end to end: a package sealed to the public key opens with the pair.
  auto pkg = BuildPackage(f.manifest, f.NewSecrets(), *pub, f.fleet_key);
  ASSERT_TRUE(pkg.has_value());
  EXPECT_TRUE(
      VerifyAndOpenPackage(*pkg, f.fleet_key.public_key(), *pair, testing::T0()).has_value());
}

TEST(EnrollmentKeyTest, KeygenNeverOverwrites) {
  Fixture f;
  vigie::testing::TempDir dir;
  auto first = WriteEnrollmentKeyPair(dir.path(), f.env);
  ASSERT_TRUE(first.has_value());
  const Bytes before = testing::ReadAll(first->private_key_path);
  auto second = WriteEnrollmentKeyPair(dir.path(), f.env);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(second.error().message.find("enrollment.key already exists"), std::string::npos);
  EXPECT_EQ(testing::ReadAll(first->private_key_path), before);

  // Only the public file left over (e.g. copied back): still refused.
  vigie::testing::TempDir dir2;
  testing::WriteAll(dir2.File("enrollment.pub"), AsBytes("x"));
  auto third = WriteEnrollmentKeyPair(dir2.path(), f.env);
  ASSERT_FALSE(third.has_value());
  EXPECT_EQ(third.error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(f.env.fs->Exists(dir2.File("enrollment.key")));
}

TEST(EnrollmentKeyTest, GroupOrWorldAccessiblePrivateKeyIsRefused) {
  Fixture f;
  vigie::testing::TempDir dir;
  auto files = WriteEnrollmentKeyPair(dir.path(), f.env);
  ASSERT_TRUE(files.has_value());
  const std::string& path = files->private_key_path;
  for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
    SCOPED_TRACE(mode);
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto r = LoadEnrollmentKeyPair(path, *f.env.fs);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(r.error().message.find("chmod 600 " + path), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(fmt::format("{:04o}", mode)), std::string::npos);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(LoadEnrollmentKeyPair(path, *f.env.fs).has_value());
}

TEST(EnrollmentKeyTest, MissingOrGarbageFilesAreClearErrors) {
  Fixture f;
  vigie::testing::TempDir dir;
  auto r = LoadEnrollmentKeyPair(dir.File("absent.key"), *f.env.fs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  auto p = LoadEnrollmentPublicKey(dir.File("absent.pub"), *f.env.fs);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, ErrorCode::kNotFound);

  testing::WriteAll(dir.File("garbage.key"), AsBytes("not a key\n"));
  ASSERT_EQ(::chmod(dir.File("garbage.key").c_str(), 0600), 0);
  r = LoadEnrollmentKeyPair(dir.File("garbage.key"), *f.env.fs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find(dir.File("garbage.key")), std::string::npos);

  // An Ed25519 public key is a valid PEM but not an enrollment (X25519) key.
  const std::string ed_pem = crypto::Ed25519PublicKeyToPem(f.fleet_key.public_key());
  testing::WriteAll(dir.File("ed.pub"), AsBytes(ed_pem));
  p = LoadEnrollmentPublicKey(dir.File("ed.pub"), *f.env.fs);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(p.error().message.find("not an X25519 key"), std::string::npos);
  // A public key where a private key is expected.
  EXPECT_FALSE(
      EnrollmentKeyPairFromPem(EnrollmentPublicKeyToPem(f.site_key.public_key)).has_value());
}

TEST(EnrollmentKeyTest, PemRoundTripsAndToleratesLineBreaks) {
  Fixture f;
  SecretBytes pem = EnrollmentPrivateKeyToPem(f.site_key.secret_key);
  auto pair = EnrollmentKeyPairFromPem(pem.view());
  ASSERT_TRUE(pair.has_value()) << pair.error().ToString();
  EXPECT_EQ(pair->public_key, f.site_key.public_key);
  EXPECT_TRUE(pair->secret_key == f.site_key.secret_key);

  std::string pub = EnrollmentPublicKeyToPem(f.site_key.public_key);
  pub.insert(pub.find('\n') + 10, "\r\n");  // a wrapped line, CRLF
  auto parsed = EnrollmentPublicKeyFromPem("\n  " + pub + "\n");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, f.site_key.public_key);
  EXPECT_EQ(EnrollmentKeyFingerprint(f.site_key.public_key),
            HexEncode(crypto::Sha256(f.site_key.public_key)));
}

TEST(EnrollmentKeyTest, FilesystemFailureIsReported) {
  Fixture f;
  vigie::testing::TempDir dir;
  vigie::testing::FaultInjectingFileSystem faulty(RealFileSystem());
  faulty.FailAfter(1);
  Env env = f.env;
  env.fs = &faulty;
  auto r = WriteEnrollmentKeyPair(dir.File("k"), env);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_FALSE(RealFileSystem()->Exists(dir.File("k/enrollment.key")));
}

// Interoperability: the files are the standard RFC 8410 PEM encodings.
TEST(EnrollmentKeyOpensslTest, OpensslReadsOurKeysAndWeReadOpensslKeys) {
  if (!testing::HaveCommand("openssl")) GTEST_SKIP() << "openssl not on PATH";
  Fixture f;
  vigie::testing::TempDir dir;
  auto files = WriteEnrollmentKeyPair(dir.path(), f.env);
  ASSERT_TRUE(files.has_value());
  std::string out;
  ASSERT_EQ(testing::RunShell(dir.path(),
                              "openssl pkey -in enrollment.key -pubout -out derived.pub\n", &out),
            0)
      << out;
  EXPECT_EQ(testing::ReadAll(dir.File("derived.pub")), testing::ReadAll(files->public_key_path));

  ASSERT_EQ(testing::RunShell(dir.path(),
                              "umask 077\n"
                              "openssl genpkey -algorithm x25519 -out ossl.key\n"
                              "openssl pkey -in ossl.key -pubout -out ossl.pub\n",
                              &out),
            0)
      << out;
  auto pair = LoadEnrollmentKeyPair(dir.File("ossl.key"), *f.env.fs);
  ASSERT_TRUE(pair.has_value()) << pair.error().ToString();
  auto pub = LoadEnrollmentPublicKey(dir.File("ossl.pub"), *f.env.fs);
  ASSERT_TRUE(pub.has_value()) << pub.error().ToString();
  EXPECT_EQ(pair->public_key, *pub);
}

}  // namespace
}  // namespace vigie::package
