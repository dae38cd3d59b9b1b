#include "chain/keccak.h"

#include <gtest/gtest.h>

#include <string>

#include "base/encoding.h"

namespace vigie::chain {
namespace {

std::string Hex(const Hash256& h) { return HexEncode(h); }

Bytes Counting(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i);
  return b;
}

// Expected values below marked "npm keccak" were computed with the `keccak` npm package's
// pure-JS implementation (ganache's dependency), an implementation independent of this one.

TEST(Keccak256Test, EmptyInput) {
  EXPECT_EQ(Hex(Keccak256({})), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
}

TEST(Keccak256Test, Abc) {
  EXPECT_EQ(Hex(Keccak256(AsBytes("abc"))),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

TEST(Keccak256Test, IsNotSha3) {
  // SHA3-256("") is a7ffc6f8...; Keccak-256 must differ (padding 0x01, not 0x06).
  EXPECT_NE(Hex(Keccak256({})).substr(0, 8), "a7ffc6f8");
}

TEST(Keccak256Test, MultiBlockInput) {
  // 200 bytes 0x00..0xc7: spans two blocks of the 136-byte rate (npm keccak).
  EXPECT_EQ(Hex(Keccak256(Counting(200))),
            "bfb0aa97863e797943cf7c33bb7e880bb4543f3d2703c0923c6901c2af57b890");
}

TEST(Keccak256Test, ExactRateInput) {
  // 136 x 'a': the padding needs a whole extra block (npm keccak).
  EXPECT_EQ(Hex(Keccak256(Bytes(136, 'a'))),
            "a6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e");
}

TEST(Keccak256Test, OneByteShortOfRate) {
  // 135 x 'a': both padding bits land in the same byte, 0x81 (npm keccak).
  EXPECT_EQ(Hex(Keccak256(Bytes(135, 'a'))),
            "34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446");
}

TEST(Keccak256Test, MillionA) {
  // npm keccak.
  EXPECT_EQ(Hex(Keccak256(Bytes(1000000, 'a'))),
            "fadae6b49f129bbb812be8407b7b2894f34aecf6dbd1f9b0f0c7e9853098fc96");
}

TEST(Keccak256Test, IncrementalMatchesOneShotForEverySplit) {
  const Bytes data = Counting(300);
  const Hash256 expected = Keccak256(data);
  for (size_t split = 0; split <= data.size(); split += 7) {
    Keccak256Hasher hasher;
    hasher.Update(std::span(data).first(split));
    hasher.Update(std::span(data).subspan(split));
    EXPECT_EQ(hasher.Finish(), expected) << "split at " << split;
  }
}

TEST(Keccak256Test, FinishResetsTheHasher) {
  Keccak256Hasher hasher;
  hasher.Update(AsBytes("something else"));
  (void)hasher.Finish();
  hasher.Update(AsBytes("abc"));
  EXPECT_EQ(Hex(hasher.Finish()),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

TEST(Keccak256Test, CopyForksAPrefix) {
  Keccak256Hasher prefix;
  prefix.Update(AsBytes("ab"));
  Keccak256Hasher fork = prefix;
  fork.Update(AsBytes("c"));
  EXPECT_EQ(fork.Finish(), Keccak256(AsBytes("abc")));
  prefix.Update(AsBytes("d"));
  EXPECT_EQ(prefix.Finish(), Keccak256(AsBytes("abd")));
}

}  // namespace
}  // namespace vigie::chain
