#include "crypto/credential.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "testing/fake_clock.h"

namespace vigie::crypto {
namespace {

// Deterministic Random: Uniform(n) returns 0, 1, 2, ... modulo n, and counts its calls.
class CountingRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override {
    for (auto& b : out) b = static_cast<uint8_t>(next_++);
  }
  uint32_t Uniform(uint32_t upper_bound) override {
    ++calls;
    return static_cast<uint32_t>(next_++ % upper_bound);
  }
  int calls = 0;

 private:
  uint64_t next_ = 0;
};

class CredentialTest : public ::testing::Test {
 protected:
  vigie::testing::FakeClock clock_;
  Env env_{&clock_, nullptr, RealRandom()};
};

struct Expected {
  Alphabet alphabet;
  size_t alphabet_size;
  int length;        // at 128 bits
  int entropy_bits;  // floor of the true entropy at that length
};

// Worked out by hand: ceil(128 / log2(n)); for alnum_symbols the entropy is 22*log2(65) plus
// log2 P(every class present) = 132.49 - 0.67.
const Expected kExpected[] = {
    {Alphabet::kAlnum, 62, 22, 130},
    {Alphabet::kAlnumSymbols, 65, 22, 131},
    {Alphabet::kHex, 16, 32, 128},
    {Alphabet::kBase64Url, 64, 22, 132},
};

TEST_F(CredentialTest, LengthEntropyAndCharactersPerAlphabet) {
  for (const auto& e : kExpected) {
    SCOPED_TRACE(std::string(AlphabetName(e.alphabet)));
    const std::string_view chars = AlphabetCharacters(e.alphabet);
    EXPECT_EQ(chars.size(), e.alphabet_size);
    EXPECT_EQ(std::set<char>(chars.begin(), chars.end()).size(), chars.size());
    for (int i = 0; i < 50; ++i) {
      auto c = GenerateCredential(env_, e.alphabet);
      ASSERT_TRUE(c.has_value()) << c.error().ToString();
      EXPECT_EQ(c->value.size(), static_cast<size_t>(e.length));
      EXPECT_EQ(c->provenance.entropy_bits, e.entropy_bits);
      EXPECT_GE(c->provenance.entropy_bits, 128);
      EXPECT_LE(c->provenance.entropy_bits, e.length * std::log2(double(e.alphabet_size)));
      for (char ch : c->value.view()) {
        ASSERT_NE(chars.find(ch), std::string_view::npos) << "character outside the alphabet";
      }
    }
  }
}

TEST_F(CredentialTest, SymbolAlphabetIsShellUrlAndSqlSafe) {
  for (char ch : AlphabetCharacters(Alphabet::kAlnumSymbols)) {
    EXPECT_EQ(std::string_view(" '\"\\`$!#&*;|<>(){}[]?~%@:/=+,^").find(ch), std::string_view::npos)
        << ch;
  }
}

TEST_F(CredentialTest, AdminPasswordsHoldEveryClass) {
  for (int i = 0; i < 200; ++i) {
    auto c = GenerateCredential(env_, Alphabet::kAlnumSymbols);
    ASSERT_TRUE(c.has_value());
    const std::string_view v = c->value.view();
    EXPECT_NE(v.find_first_of("abcdefghijklmnopqrstuvwxyz"), std::string_view::npos);
    EXPECT_NE(v.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), std::string_view::npos);
    EXPECT_NE(v.find_first_of("0123456789"), std::string_view::npos);
    EXPECT_NE(v.find_first_of("-_."), std::string_view::npos);
  }
}

TEST_F(CredentialTest, EveryCharacterIsReachable) {
  std::set<char> seen;
  for (int i = 0; i < 200; ++i) {
    auto c = GenerateCredential(env_, Alphabet::kAlnumSymbols);
    ASSERT_TRUE(c.has_value());
    seen.insert(c->value.view().begin(), c->value.view().end());
  }
  EXPECT_EQ(seen.size(), 65u);
}

TEST_F(CredentialTest, OutputsAreDistinct) {
  std::set<std::string> values;
  for (int i = 0; i < 100; ++i) {
    auto c = GenerateCredential(env_, Alphabet::kBase64Url);
    ASSERT_TRUE(c.has_value());
    values.insert(std::string(c->value.view()));
  }
  EXPECT_EQ(values.size(), 100u);
}

TEST_F(CredentialTest, RefusesBelow128BitsCitingProv002) {
  for (int bits : {0, 64, 127, -1}) {
    auto c = GenerateCredential(env_, Alphabet::kAlnum, bits);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(c.error().message.find("PROV_002"), std::string::npos);
  }
  EXPECT_FALSE(GenerateCredential(env_, Alphabet::kAlnum, 100000).has_value());
}

TEST_F(CredentialTest, HigherEntropyMeansLongerValues) {
  auto c = GenerateCredential(env_, Alphabet::kAlnum, 256);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->value.size(), 43u);  // 43 * log2(62) = 256.03
  EXPECT_EQ(c->provenance.entropy_bits, 256);
  auto s = GenerateCredential(env_, Alphabet::kAlnumSymbols, 256);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->value.size(), 43u);  // 258.76 bits once conditioned on every class
  EXPECT_EQ(s->provenance.entropy_bits, 258);
}

TEST_F(CredentialTest, ProvenanceIsRecorded) {
  clock_.Advance(std::chrono::hours(5));
  auto c = GenerateCredential(env_, Alphabet::kHex);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->provenance.generator, "vigie.csprng.libsodium");
  EXPECT_EQ(c->provenance.alphabet, "hex");
  EXPECT_EQ(c->provenance.entropy_bits, 128);
  EXPECT_EQ(c->provenance.created_at, clock_.Now());
}

TEST_F(CredentialTest, UsesTheEnvRandomness) {
  CountingRandom random;
  Env env{&clock_, nullptr, &random};
  auto hex = GenerateCredential(env, Alphabet::kHex);
  ASSERT_TRUE(hex.has_value());
  EXPECT_EQ(hex->value.view(), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(random.calls, 32);

  // The first two draws (indices 0..21, then 22..43) lack digits and symbols and are thrown
  // away whole; the third (44..65) holds every class.
  CountingRandom random2;
  Env env2{&clock_, nullptr, &random2};
  auto admin = GenerateCredential(env2, Alphabet::kAlnumSymbols);
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(admin->value.view(), "STUVWXYZ0123456789-_.a");
  EXPECT_EQ(random2.calls, 66);
}

TEST_F(CredentialTest, BrokenRandomIsReportedNotLooped) {
  class ZeroRandom final : public Random {
   public:
    void Fill(std::span<uint8_t> out) override { std::fill(out.begin(), out.end(), 0); }
    uint32_t Uniform(uint32_t) override { return 0; }
  } zero;
  Env env{&clock_, nullptr, &zero};
  auto c = GenerateCredential(env, Alphabet::kAlnumSymbols);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace vigie::crypto
