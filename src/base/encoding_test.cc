#include "base/encoding.h"

#include <gtest/gtest.h>

namespace vigie {
namespace {

TEST(EncodingTest, HexRoundTripAndErrors) {
  Bytes b = {0x00, 0xab, 0xff, 0x10};
  EXPECT_EQ(HexEncode(b), "00abff10");
  EXPECT_EQ(*HexDecode("00ABff10"), b);
  EXPECT_FALSE(HexDecode("abc"));
  auto bad = HexDecode("zz");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(EncodingTest, Base64Rfc4648Vectors) {
  // RFC 4648 §10 test vectors.
  const std::pair<std::string_view, std::string_view> kVectors[] = {
      {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : kVectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), enc);
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec) << enc;
    EXPECT_EQ(AsString(*dec), plain);
  }
  EXPECT_FALSE(Base64Decode("Zm9v!"));
  EXPECT_FALSE(Base64Decode("Zg="));
}

TEST(EncodingTest, Base64UrlIsUnpaddedAndUrlSafe) {
  Bytes b = {0xfb, 0xff};
  EXPECT_EQ(Base64UrlEncode(b), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), b);
}

}  // namespace
}  // namespace vigie

namespace vigie {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndPlusOnlyWhenAsked) {
  EXPECT_EQ(*PercentDecode("%7B%22a%22%3a1%7D+x"), "{\"a\":1}+x");
  EXPECT_EQ(*PercentDecode("site%2Da+b", /*plus_is_space=*/true), "site-a b");
  EXPECT_EQ(*PercentDecode(""), "");
  auto truncated = PercentDecode("ab%7");
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(truncated.error().message.find("offset 2"), std::string::npos);
  EXPECT_FALSE(PercentDecode("%zz"));
  EXPECT_FALSE(PercentDecode("%"));
}

}  // namespace
}  // namespace vigie
