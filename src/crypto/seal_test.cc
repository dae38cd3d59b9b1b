#include "crypto/seal.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace vigie::crypto {
namespace {

// Deterministic Random: every byte is `fill_`. Only for showing that the Env seam is used.
class ConstantRandom final : public Random {
 public:
  explicit ConstantRandom(uint8_t fill) : fill_(fill) {}
  void Fill(std::span<uint8_t> out) override { std::memset(out.data(), fill_, out.size()); }
  uint32_t Uniform(uint32_t upper_bound) override { return fill_ % upper_bound; }

 private:
  uint8_t fill_;
};

const std::string kPlain = "db_password=correct horse battery staple";

TEST(SealTest, RoundTrip) {
  BoxKeyPair kp = GenerateBoxKeyPair(*RealRandom());
  Bytes sealed = Seal(kp.public_key, AsBytes(kPlain));
  EXPECT_EQ(sealed.size(), kPlain.size() + kSealOverhead);
  EXPECT_EQ(AsString(sealed).find("correct horse"), std::string_view::npos);
  auto opened = Open(kp, sealed);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(opened->view(), kPlain);
}

TEST(SealTest, EmptyPlaintextRoundTrips) {
  BoxKeyPair kp = GenerateBoxKeyPair(*RealRandom());
  auto opened = Open(kp, Seal(kp.public_key, {}));
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(opened->empty());
}

TEST(SealTest, SealingIsRandomized) {
  BoxKeyPair kp = GenerateBoxKeyPair(*RealRandom());
  EXPECT_NE(Seal(kp.public_key, AsBytes(kPlain)), Seal(kp.public_key, AsBytes(kPlain)));
}

TEST(SealTest, AnyFlippedBitIsRejected) {
  BoxKeyPair kp = GenerateBoxKeyPair(*RealRandom());
  const Bytes sealed = Seal(kp.public_key, AsBytes(kPlain));
  // Positions cover the ephemeral key, the tag and the encrypted body.
  for (size_t pos : {size_t{0}, size_t{17}, size_t{31}, size_t{32}, size_t{40}, size_t{47},
                     size_t{48}, sealed.size() / 2, sealed.size() - 1}) {
    for (int bit : {0, 7}) {
      Bytes bad = sealed;
      bad[pos] ^= static_cast<uint8_t>(1u << bit);
      auto r = Open(kp, bad);
      ASSERT_FALSE(r.has_value()) << "pos " << pos << " bit " << bit;
      EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
      EXPECT_NE(r.error().message.find("not sealed to this key or was altered"), std::string::npos);
    }
  }
}

TEST(SealTest, TruncatedIsRejected) {
  BoxKeyPair kp = GenerateBoxKeyPair(*RealRandom());
  Bytes sealed = Seal(kp.public_key, AsBytes(kPlain));
  sealed.pop_back();
  EXPECT_FALSE(Open(kp, sealed).has_value());
  auto r = Open(kp, std::span<const uint8_t>(sealed).first(10));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
}

TEST(SealTest, WrongKeyIsRejected) {
  BoxKeyPair alice = GenerateBoxKeyPair(*RealRandom());
  BoxKeyPair mallory = GenerateBoxKeyPair(*RealRandom());
  auto r = Open(mallory, Seal(alice.public_key, AsBytes(kPlain)));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
}

TEST(SealTest, KeyGenerationUsesTheEnvRandom) {
  ConstantRandom r1(0x11), r1_again(0x11), r2(0x22);
  BoxKeyPair a = GenerateBoxKeyPair(r1);
  BoxKeyPair b = GenerateBoxKeyPair(r1_again);
  BoxKeyPair c = GenerateBoxKeyPair(r2);
  EXPECT_EQ(a.public_key, b.public_key);
  EXPECT_TRUE(a.secret_key == b.secret_key);
  EXPECT_NE(a.public_key, c.public_key);
}

TEST(SealTest, KeyPairRebuiltFromSecretKeyOpens) {
  BoxKeyPair kp = GenerateBoxKeyPair(*RealRandom());
  auto rebuilt = BoxKeyPairFromSecretKey(kp.secret_key);
  ASSERT_TRUE(rebuilt.has_value());
  EXPECT_EQ(rebuilt->public_key, kp.public_key);
  auto opened = Open(*rebuilt, Seal(kp.public_key, AsBytes(kPlain)));
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->view(), kPlain);
  auto bad = BoxKeyPairFromSecretKey(SecretBytes(16));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace vigie::crypto
