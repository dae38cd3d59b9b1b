#include "crypto/sign.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "base/encoding.h"
#include "testing/temp_dir.h"

namespace vigie::crypto {
namespace {

Bytes Unhex(std::string_view hex) {
  auto b = HexDecode(hex);
  EXPECT_TRUE(b.has_value()) << hex;
  return b.value_or(Bytes{});
}

struct Rfc8032Vector {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 §7.1, TEST 1, 2, 3 and SHA(abc).
const Rfc8032Vector kVectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
};

TEST(Ed25519Test, Rfc8032KnownAnswers) {
  for (const auto& v : kVectors) {
    SCOPED_TRACE(v.name);
    auto key = SigningKey::FromSeed(SecretBytes::CopyFrom(Unhex(v.seed)));
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(HexEncode(key->public_key()), v.public_key);
    const Bytes msg = Unhex(v.message);
    const Ed25519Signature sig = key->Sign(msg);
    EXPECT_EQ(HexEncode(sig), v.signature);
    EXPECT_TRUE(VerifyEd25519(key->public_key(), msg, sig).has_value());
    EXPECT_TRUE(key->Seed() == SecretBytes::CopyFrom(Unhex(v.seed)));
  }
}

TEST(Ed25519Test, VerifyRejectsAnyFlippedBit) {
  const auto& v = kVectors[2];
  const Bytes pk = Unhex(v.public_key);
  const Bytes msg = Unhex(v.message);
  const Bytes sig = Unhex(v.signature);
  ASSERT_TRUE(VerifyEd25519(pk, msg, sig).has_value());
  for (size_t bit = 0; bit < sig.size() * 8; bit += 5) {
    Bytes bad = sig;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto st = VerifyEd25519(pk, msg, bad);
    ASSERT_FALSE(st.has_value()) << "bit " << bit;
    EXPECT_EQ(st.error().code, ErrorCode::kIntegrity);
    EXPECT_EQ(st.error().message, "signature does not verify");
  }
  Bytes bad_msg = msg;
  bad_msg[1] ^= 0x01;
  EXPECT_FALSE(VerifyEd25519(pk, bad_msg, sig).has_value());
  Bytes bad_pk = pk;
  bad_pk[0] ^= 0x01;
  EXPECT_FALSE(VerifyEd25519(bad_pk, msg, sig).has_value());
}

TEST(Ed25519Test, WrongSizesAreInvalidArgument) {
  const Bytes pk(31, 1), sig(64, 1);
  auto st = VerifyEd25519(pk, {}, sig);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  st = VerifyEd25519(Bytes(32, 1), {}, Bytes(63, 1));
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  auto key = SigningKey::FromSeed(SecretBytes(31));
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code, ErrorCode::kInvalidArgument);
}

TEST(Ed25519Test, GenerateUsesRandomAndProducesDistinctKeys) {
  auto a = SigningKey::Generate(*RealRandom());
  auto b = SigningKey::Generate(*RealRandom());
  EXPECT_NE(a.public_key(), b.public_key());
  const Bytes msg = {1, 2, 3};
  EXPECT_TRUE(VerifyEd25519(a.public_key(), msg, a.Sign(msg)).has_value());
  EXPECT_FALSE(VerifyEd25519(b.public_key(), msg, a.Sign(msg)).has_value());
}

TEST(Ed25519PemTest, ExportHasSpkiLayoutAndRoundTrips) {
  auto key = SigningKey::FromSeed(SecretBytes::CopyFrom(Unhex(kVectors[0].seed)));
  ASSERT_TRUE(key.has_value());
  const std::string pem = Ed25519PublicKeyToPem(key->public_key());
  ASSERT_TRUE(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
  ASSERT_TRUE(pem.ends_with("\n-----END PUBLIC KEY-----\n"));
  const std::string b64 = pem.substr(27, pem.size() - 27 - 26);
  auto der = Base64Decode(b64);
  ASSERT_TRUE(der.has_value()) << b64;
  EXPECT_EQ(HexEncode(*der), std::string("302a300506032b6570032100") + kVectors[0].public_key);
  auto parsed = Ed25519PublicKeyFromPem(pem);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(*parsed, key->public_key());
}

TEST(Ed25519PemTest, ParseRejectsGarbage) {
  EXPECT_FALSE(Ed25519PublicKeyFromPem("").has_value());
  EXPECT_FALSE(Ed25519PublicKeyFromPem("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----")
                   .has_value());
  // A well-formed PEM holding a P-256 key header is not an Ed25519 key.
  auto r = Ed25519PublicKeyFromPem(
      "-----BEGIN PUBLIC KEY-----\nMBMwBwYFK4EEACMDCAAAAAAAAAAAAA==\n-----END PUBLIC KEY-----\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

// --- Interoperability with the openssl command line, as an operator would use it. ---

void WriteFile(const std::string& path, std::span<const uint8_t> data) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(f.good()) << path;
}

Bytes ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

bool HaveOpenssl() { return std::system("openssl version >/dev/null 2>&1") == 0; }

int RunQuiet(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

TEST(Ed25519OpensslInteropTest, OpensslVerifiesVigieSignature) {
  if (!HaveOpenssl()) GTEST_SKIP() << "openssl command not found on PATH (apt-get install openssl)";
  testing::TempDir dir;
  auto key = SigningKey::Generate(*RealRandom());
  const std::string msg_text = "vigie fleet manifest v1\n";
  const Bytes msg(msg_text.begin(), msg_text.end());
  const std::string pem = Ed25519PublicKeyToPem(key.public_key());
  WriteFile(dir.File("pub.pem"), AsBytes(pem));
  WriteFile(dir.File("msg"), msg);
  Ed25519Signature sig = key.Sign(msg);
  WriteFile(dir.File("sig"), sig);
  const std::string cmd = "openssl pkeyutl -verify -pubin -inkey " + dir.File("pub.pem") +
                          " -rawin -in " + dir.File("msg") + " -sigfile " + dir.File("sig");
  EXPECT_EQ(RunQuiet(cmd), 0) << cmd;

  sig[10] ^= 0x01;
  WriteFile(dir.File("sig"), sig);
  EXPECT_NE(RunQuiet(cmd), 0) << "openssl accepted a tampered signature";
}

TEST(Ed25519OpensslInteropTest, VigieVerifiesOpensslSignature) {
  if (!HaveOpenssl()) GTEST_SKIP() << "openssl command not found on PATH (apt-get install openssl)";
  testing::TempDir dir;
  const std::string msg_text = "signed by openssl";
  WriteFile(dir.File("msg"), AsBytes(msg_text));
  ASSERT_EQ(RunQuiet("openssl genpkey -algorithm ed25519 -out " + dir.File("key.pem")), 0);
  ASSERT_EQ(
      RunQuiet("openssl pkey -in " + dir.File("key.pem") + " -pubout -out " + dir.File("pub.pem")),
      0);
  ASSERT_EQ(RunQuiet("openssl pkeyutl -sign -inkey " + dir.File("key.pem") + " -rawin -in " +
                     dir.File("msg") + " -out " + dir.File("sig")),
            0);
  const Bytes pem = ReadFile(dir.File("pub.pem"));
  auto pk = Ed25519PublicKeyFromPem(AsString(pem));
  ASSERT_TRUE(pk.has_value()) << pk.error().ToString();
  const Bytes sig = ReadFile(dir.File("sig"));
  EXPECT_TRUE(VerifyEd25519(*pk, AsBytes(msg_text), sig).has_value());
  EXPECT_FALSE(VerifyEd25519(*pk, AsBytes("signed by someone else"), sig).has_value());
}

}  // namespace
}  // namespace vigie::crypto
