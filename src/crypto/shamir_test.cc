#include "crypto/shamir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "base/encoding.h"

namespace vigie::crypto {
namespace {

using internal::GfInv;
using internal::GfMul;

// Reference multiply from log/exp tables over generator 3 (the approach Vault's Go code takes),
// built here independently of the constant-time code under test.
struct LogTables {
  uint8_t exp[510];
  uint8_t log[256];
  LogTables() {
    uint8_t x = 1;
    for (int i = 0; i < 255; ++i) {
      exp[i] = exp[i + 255] = x;
      log[x] = static_cast<uint8_t>(i);
      // x *= 3  ==  x ^ xtime(x)
      const uint8_t xt = static_cast<uint8_t>((x << 1) ^ ((x & 0x80) ? 0x1b : 0));
      x = static_cast<uint8_t>(x ^ xt);
    }
  }
  uint8_t Mul(uint8_t a, uint8_t b) const {
    if (a == 0 || b == 0) return 0;
    return exp[log[a] + log[b]];
  }
};

TEST(GfTest, MatchesFips197Examples) {
  EXPECT_EQ(GfMul(0x57, 0x83), 0xc1);  // FIPS-197 §4.2
  EXPECT_EQ(GfMul(0x57, 0x13), 0xfe);  // FIPS-197 §4.2.1
  EXPECT_EQ(GfMul(0x57, 0x02), 0xae);
}

TEST(GfTest, MultiplyMatchesLogTablesExhaustively) {
  const LogTables t;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      ASSERT_EQ(GfMul(uint8_t(a), uint8_t(b)), t.Mul(uint8_t(a), uint8_t(b))) << a << "*" << b;
    }
  }
}

TEST(GfTest, InverseIsInverse) {
  EXPECT_EQ(GfInv(0), 0);
  EXPECT_EQ(GfInv(1), 1);
  for (int a = 1; a < 256; ++a) ASSERT_EQ(GfMul(uint8_t(a), GfInv(uint8_t(a))), 1) << a;
}

SecretBytes RandomSecret(size_t n) { return RealRandom()->SecretOfSize(n); }

std::vector<SecretBytes> Pick(const std::vector<SecretBytes>& shares, std::vector<int> idx) {
  std::vector<SecretBytes> out;
  for (int i : idx) out.push_back(shares[i].Clone());
  return out;
}

TEST(ShamirTest, ShareFormat) {
  const SecretBytes secret = RandomSecret(32);
  auto shares = ShamirSplit(secret, 5, 3, *RealRandom());
  ASSERT_TRUE(shares.has_value()) << shares.error().ToString();
  ASSERT_EQ(shares->size(), 5u);
  std::set<uint8_t> xs;
  for (const auto& s : *shares) {
    EXPECT_EQ(s.size(), 33u);
    EXPECT_NE(s.data()[32], 0);
    xs.insert(s.data()[32]);
  }
  EXPECT_EQ(xs.size(), 5u) << "x coordinates must be distinct";
}

TEST(ShamirTest, EveryThreeOfFiveReconstructsNoTwoDoes) {
  for (int round = 0; round < 5; ++round) {
    const SecretBytes secret = RandomSecret(32);
    auto shares = ShamirSplit(secret, 5, 3, *RealRandom());
    ASSERT_TRUE(shares.has_value());
    int triples = 0;
    for (int a = 0; a < 5; ++a) {
      for (int b = a + 1; b < 5; ++b) {
        auto two = ShamirCombine(Pick(*shares, {a, b}));
        ASSERT_TRUE(two.has_value());
        EXPECT_FALSE(*two == secret) << "2 shares reconstructed a 3-of-5 secret";
        for (int c = b + 1; c < 5; ++c) {
          auto three = ShamirCombine(Pick(*shares, {c, a, b}));  // order must not matter
          ASSERT_TRUE(three.has_value());
          EXPECT_TRUE(*three == secret) << a << b << c;
          ++triples;
        }
      }
    }
    EXPECT_EQ(triples, 10);
    auto all = ShamirCombine(Pick(*shares, {0, 1, 2, 3, 4}));
    ASSERT_TRUE(all.has_value());
    EXPECT_TRUE(*all == secret);
  }
}

TEST(ShamirTest, VariousSizes) {
  for (auto [len, n, k] : std::vector<std::tuple<size_t, int, int>>{
           {1, 2, 2}, {16, 3, 2}, {64, 10, 7}, {32, 255, 255}, {7, 255, 2}}) {
    const SecretBytes secret = RandomSecret(len);
    auto shares = ShamirSplit(secret, n, k, *RealRandom());
    ASSERT_TRUE(shares.has_value());
    std::vector<SecretBytes> subset;
    for (int i = n - k; i < n; ++i) subset.push_back((*shares)[i].Clone());
    auto back = ShamirCombine(subset);
    ASSERT_TRUE(back.has_value());
    EXPECT_TRUE(*back == secret) << len << " " << n << " " << k;
  }
}

TEST(ShamirTest, SplitValidatesParameters) {
  const SecretBytes secret = RandomSecret(32);
  for (auto [n, k] :
       std::vector<std::pair<int, int>>{{5, 1}, {5, 0}, {2, 3}, {256, 3}, {300, 300}, {-1, 2}}) {
    auto r = ShamirSplit(secret, n, k, *RealRandom());
    ASSERT_FALSE(r.has_value()) << n << "/" << k;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  auto empty = ShamirSplit(SecretBytes(), 5, 3, *RealRandom());
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
}

TEST(ShamirTest, CombineValidatesShares) {
  auto shares = ShamirSplit(RandomSecret(32), 5, 3, *RealRandom());
  ASSERT_TRUE(shares.has_value());
  auto expect_invalid = [](const std::vector<SecretBytes>& s, const std::string& fragment) {
    auto r = ShamirCombine(s);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
  };
  expect_invalid({}, "at least 2");
  expect_invalid(Pick(*shares, {0}), "at least 2");
  expect_invalid(Pick(*shares, {0, 0, 1}), "repeats the x coordinate");
  {
    auto s = Pick(*shares, {0, 1});
    s[1] = SecretBytes::CopyFrom(s[1].span().first(20));
    expect_invalid(s, "same length");
  }
  {
    std::vector<SecretBytes> s;
    s.emplace_back(1);
    s.emplace_back(1);
    expect_invalid(s, "at least 2 bytes");
  }
  {
    auto s = Pick(*shares, {0, 1});
    s[0].data()[32] = 0;
    expect_invalid(s, "x coordinate 0");
  }
}

TEST(ShamirTest, UsesTheEnvRandomness) {
  // With a Random that always answers 0 the polynomial is constant and x coordinates are 1..n:
  // every share's y bytes equal the secret. This shows the Env seam drives the randomness.
  class ZeroRandom final : public Random {
   public:
    void Fill(std::span<uint8_t> out) override { std::fill(out.begin(), out.end(), 0); }
    uint32_t Uniform(uint32_t) override { return 0; }
  } zero;
  const SecretBytes secret = SecretBytes::CopyFrom(std::string_view("abc"));
  auto shares = ShamirSplit(secret, 3, 2, zero);
  ASSERT_TRUE(shares.has_value());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(HexEncode((*shares)[i].span()),
              "616263" + HexEncode(std::vector<uint8_t>{uint8_t(i + 1)}));
  }
}

}  // namespace
}  // namespace vigie::crypto
