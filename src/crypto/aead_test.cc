#include "crypto/aead.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace vigie::crypto {
namespace {

// Deterministic Random that yields the bytes it was given, in order, then repeats them.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(Bytes script) : script_(std::move(script)) {}
  void Fill(std::span<uint8_t> out) override {
    for (auto& b : out) b = script_[next_++ % script_.size()];
  }
  uint32_t Uniform(uint32_t upper_bound) override {
    return script_[next_++ % script_.size()] % upper_bound;
  }

 private:
  Bytes script_;
  size_t next_ = 0;
};

SecretBytes Key(uint8_t start) {
  SecretBytes k(kAeadKeySize);
  for (size_t i = 0; i < k.size(); ++i) k.data()[i] = static_cast<uint8_t>(start + i);
  return k;
}

Bytes Unhex(std::string_view hex) { return HexDecode(hex).value(); }

const std::string kSunscreen =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";

// draft-irtf-cfrg-xchacha-03 §A.3.1, with the nonce supplied through the Env Random seam.
TEST(AeadTest, XChaChaDraftKnownAnswer) {
  ScriptedRandom nonce(Unhex("404142434445464748494a4b4c4d4e4f5051525354555657"));
  const Bytes ad = Unhex("50515253c0c1c2c3c4c5c6c7");
  auto sealed = AeadSeal(Key(0x80), AsBytes(kSunscreen), ad, nonce);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(HexEncode(*sealed),
            "404142434445464748494a4b4c4d4e4f5051525354555657"
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
            "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
            "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
            "21f9664c97637da9768812f615c68b13b52e"
            "c0875924c1c7987947deafd8780acf49");
  auto opened = AeadOpen(Key(0x80), *sealed, ad);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->view(), kSunscreen);
}

TEST(AeadTest, RoundTripWithRandomNonces) {
  const SecretBytes key = RealRandom()->SecretOfSize(kAeadKeySize);
  auto a = AeadSeal(key, AsBytes("secret"), AsBytes("site/1/db"), *RealRandom());
  auto b = AeadSeal(key, AsBytes("secret"), AsBytes("site/1/db"), *RealRandom());
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->size(), 6 + kAeadOverhead);
  EXPECT_NE(*a, *b);  // fresh nonce each time
  auto opened = AeadOpen(key, *a, AsBytes("site/1/db"));
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->view(), "secret");
  auto empty = AeadSeal(key, {}, {}, *RealRandom());
  ASSERT_TRUE(empty.has_value());
  auto empty_opened = AeadOpen(key, *empty, {});
  ASSERT_TRUE(empty_opened.has_value());
  EXPECT_TRUE(empty_opened->empty());
}

TEST(AeadTest, AssociatedDataMismatchIsRejected) {
  const SecretBytes key = Key(1);
  auto sealed = AeadSeal(key, AsBytes("secret"), AsBytes("site/1/db"), *RealRandom());
  ASSERT_TRUE(sealed.has_value());
  auto r = AeadOpen(key, *sealed, AsBytes("site/2/db"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_FALSE(AeadOpen(key, *sealed, {}).has_value());
}

TEST(AeadTest, TamperingIsRejected) {
  const SecretBytes key = Key(1);
  auto sealed = AeadSeal(key, AsBytes("a longer secret value"), {}, *RealRandom());
  ASSERT_TRUE(sealed.has_value());
  for (size_t pos = 0; pos < sealed->size(); pos += 3) {
    Bytes bad = *sealed;
    bad[pos] ^= 0x80;
    auto r = AeadOpen(key, bad, {});
    ASSERT_FALSE(r.has_value()) << "pos " << pos;
    EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  }
  Bytes truncated(sealed->begin(), sealed->begin() + 39);
  auto r = AeadOpen(key, truncated, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_FALSE(AeadOpen(Key(2), *sealed, {}).has_value());
}

TEST(AeadTest, WrongKeySizeIsInvalidArgument) {
  auto s = AeadSeal(SecretBytes(16), AsBytes("x"), {}, *RealRandom());
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  auto o = AeadOpen(SecretBytes(33), Bytes(64, 0), {});
  ASSERT_FALSE(o.has_value());
  EXPECT_EQ(o.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace vigie::crypto
