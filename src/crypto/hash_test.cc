#include "crypto/hash.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/encoding.h"

namespace vigie::crypto {
namespace {

std::string Hex(const Sha256Digest& d) { return HexEncode(d); }

TEST(Sha256Test, NistAbc) {
  EXPECT_EQ(Hex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, Empty) {
  EXPECT_EQ(Hex(Sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, NistTwoBlockMessage) {
  EXPECT_EQ(Hex(Sha256(AsBytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256HasherTest, IncrementalMillionAMatchesNist) {
  Sha256Hasher h;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.Update(AsBytes(chunk));
  EXPECT_EQ(Hex(h.Finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256HasherTest, SplitUpdatesEqualOneShotAndHasherIsReusable) {
  const std::string msg = "the quick brown fox jumps over the lazy dog";
  Sha256Hasher h;
  for (size_t i = 0; i < msg.size(); i += 7) h.Update(AsBytes(msg.substr(i, 7)));
  EXPECT_EQ(h.Finish(), Sha256(AsBytes(msg)));
  h.Update(AsBytes("abc"));
  EXPECT_EQ(h.Finish(), Sha256(AsBytes("abc")));
}

TEST(Sha256HasherTest, Movable) {
  Sha256Hasher a;
  a.Update(AsBytes("ab"));
  Sha256Hasher b = std::move(a);
  b.Update(AsBytes("c"));
  Sha256Hasher c;
  c = std::move(b);
  EXPECT_EQ(Hex(c.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// RFC 4231 §4.2, test case 1.
TEST(HmacSha256Test, Rfc4231Case1) {
  const std::vector<uint8_t> key(20, 0x0b);
  EXPECT_EQ(Hex(HmacSha256(key, AsBytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

// RFC 4231 §4.3, test case 2 (key shorter than the output).
TEST(HmacSha256Test, Rfc4231Case2) {
  EXPECT_EQ(Hex(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// RFC 4231 §4.7, test case 6 (key larger than the block size is hashed first), through the
// SecretBytes overload.
TEST(HmacSha256Test, Rfc4231Case6WithSecretKey) {
  SecretBytes key(131);
  for (size_t i = 0; i < key.size(); ++i) key.data()[i] = 0xaa;
  EXPECT_EQ(Hex(HmacSha256(key, AsBytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, KeyMatters) {
  EXPECT_NE(HmacSha256(AsBytes("k1"), AsBytes("m")), HmacSha256(AsBytes("k2"), AsBytes("m")));
}

}  // namespace
}  // namespace vigie::crypto
