#include "http/tls_material.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "testing/temp_dir.h"

namespace vigie::http {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

bool HaveOpenSslTool() { return system("command -v openssl >/dev/null 2>&1") == 0; }

// Runs `cmd` through the shell; returns stdout, sets *rc.
std::string RunShell(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *rc = -1;
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(TlsMaterialTest, SelfSignedCertificateIsValidAndPinMatchesOpenSslTool) {
  auto m = GenerateSelfSignedCertificate("localhost", 30);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_THAT(m->cert_pem, StartsWith("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(std::string(m->key_pem.view()), StartsWith("-----BEGIN PRIVATE KEY-----"));
  EXPECT_THAT(m->spki_pin, StartsWith("sha256//"));
  EXPECT_EQ(m->spki_pin.size(), 8u + 44u);  // base64 of 32 bytes
  EXPECT_TRUE(ValidateTlsMaterial(*m));
  auto pin = SpkiPinFromCertificatePem(m->cert_pem);
  ASSERT_TRUE(pin);
  EXPECT_EQ(*pin, m->spki_pin);

  if (!HaveOpenSslTool()) GTEST_SKIP() << "openssl tool not installed";
  vigie::testing::TempDir dir;
  std::ofstream(dir.File("cert.pem")) << m->cert_pem;
  int rc = 0;
  // The documented recipe for curl's --pinnedpubkey, computed independently by the tool.
  std::string tool_pin = RunShell("openssl x509 -in " + dir.File("cert.pem") +
                                      " -pubkey -noout | openssl pkey -pubin -outform der | "
                                      "openssl dgst -sha256 -binary | base64",
                                  &rc);
  ASSERT_EQ(rc, 0);
  while (!tool_pin.empty() && tool_pin.back() == '\n') tool_pin.pop_back();
  EXPECT_EQ("sha256//" + tool_pin, m->spki_pin);

  // A self-signed certificate verifies against itself, for TLS server use and for the names.
  RunShell("openssl verify -purpose sslserver -CAfile " + dir.File("cert.pem") + " " +
               dir.File("cert.pem") + " 2>&1",
           &rc);
  EXPECT_EQ(rc, 0);
  std::string text = RunShell("openssl x509 -in " + dir.File("cert.pem") + " -noout -text", &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_THAT(text, HasSubstr("Subject: CN = localhost"));
  EXPECT_THAT(text, HasSubstr("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"));
  EXPECT_THAT(text, HasSubstr("prime256v1"));
  EXPECT_THAT(text, HasSubstr("CA:FALSE"));
  EXPECT_THAT(text, HasSubstr("TLS Web Server Authentication"));
}

TEST(TlsMaterialTest, EachCallMakesAFreshKey) {
  auto a = GenerateSelfSignedCertificate("fleet.example", 1, {"fleet.example", "10.0.0.1"});
  auto b = GenerateSelfSignedCertificate("fleet.example", 1);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->spki_pin, b->spki_pin);
  EXPECT_NE(a->cert_pem, b->cert_pem);
}

TEST(TlsMaterialTest, RejectsBadArguments) {
  EXPECT_FALSE(GenerateSelfSignedCertificate("", 1));
  EXPECT_FALSE(GenerateSelfSignedCertificate("x", 0));
  EXPECT_FALSE(GenerateSelfSignedCertificate("x", 4000));
  auto bad = GenerateSelfSignedCertificate("x", 1, {"a,DNS:evil.example"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(SpkiPinFromCertificatePem("not a certificate"));
}

TEST(TlsMaterialTest, LoadFromFilesChecksThatKeyMatchesCertificate) {
  auto a = GenerateSelfSignedCertificate("localhost", 1);
  auto b = GenerateSelfSignedCertificate("localhost", 1);
  ASSERT_TRUE(a && b);
  vigie::testing::TempDir dir;
  std::ofstream(dir.File("a.crt")) << a->cert_pem;
  std::ofstream(dir.File("a.key")) << a->key_pem.view();
  std::ofstream(dir.File("b.key")) << b->key_pem.view();

  auto loaded = LoadTlsMaterial(*RealFileSystem(), dir.File("a.crt"), dir.File("a.key"));
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ(loaded->spki_pin, a->spki_pin);
  EXPECT_TRUE(loaded->key_pem == a->key_pem);

  auto mismatch = LoadTlsMaterial(*RealFileSystem(), dir.File("a.crt"), dir.File("b.key"));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(mismatch.error().message, HasSubstr("b.key"));

  auto swapped = LoadTlsMaterial(*RealFileSystem(), dir.File("a.key"), dir.File("a.crt"));
  EXPECT_FALSE(swapped);
  EXPECT_FALSE(LoadTlsMaterial(*RealFileSystem(), dir.File("missing.crt"), dir.File("a.key")));
}

}  // namespace
}  // namespace vigie::http
