#include "crypto/hash.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
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

// Thread CPU time in ns: steadier than wall time on a shared machine.
double ThreadCpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Reference: OpenSSL's one-shot HMAC() (fetches the digest implicitly on every call).
Sha256Digest ReferenceHmac(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Sha256Digest out{};
  unsigned int len = 0;
  static const uint8_t kEmpty = 0;
  HMAC(EVP_sha256(), key.empty() ? &kEmpty : key.data(), static_cast<int>(key.size()),
       data.empty() ? &kEmpty : data.data(), data.size(), out.data(), &len);
  return out;
}

// Many HMACs under changing keys (empty, short, block-sized, longer than a block) on two threads
// at once: every result equals the reference, so no key or state leaks from one call (or one
// thread) into the next.
TEST(HmacSha256Test, ManyKeysOnTwoThreadsMatchReference) {
  auto worker = [](int seed, int* mismatches) {
    std::vector<uint8_t> key, data;
    for (int i = 0; i < 3000; ++i) {
      const size_t key_len = static_cast<size_t>((i * 7 + seed) % 150);  // 0..149
      const size_t data_len = static_cast<size_t>((i * 13 + seed) % 400);
      key.resize(key_len);
      data.resize(data_len);
      for (size_t j = 0; j < key_len; ++j) key[j] = static_cast<uint8_t>(j * 31 + i + seed);
      for (size_t j = 0; j < data_len; ++j) data[j] = static_cast<uint8_t>(j * 17 + i);
      Sha256Digest got =
          (i % 2 == 0) ? HmacSha256(key, data) : HmacSha256(SecretBytes::CopyFrom(key), data);
      if (got != ReferenceHmac(key, data)) ++*mismatches;
    }
  };
  int m1 = 0, m2 = 0;
  std::thread t1(worker, 1, &m1);
  std::thread t2(worker, 2, &m2);
  t1.join();
  t2.join();
  EXPECT_EQ(m1, 0);
  EXPECT_EQ(m2, 0);
}

// Sha256 and Sha256Hasher on two threads against each other's results: the shared fetched
// digest carries no per-call state.
TEST(Sha256Test, TwoThreadsAgree) {
  auto worker = [](std::vector<Sha256Digest>* out) {
    std::string msg;
    for (int i = 0; i < 2000; ++i) {
      msg.push_back(static_cast<char>(i));
      Sha256Hasher h;
      h.Update(AsBytes(msg.substr(0, msg.size() / 2)));
      h.Update(AsBytes(msg.substr(msg.size() / 2)));
      Sha256Digest one = Sha256(AsBytes(msg));
      out->push_back(h.Finish() == one ? one : Sha256Digest{});
    }
  };
  std::vector<Sha256Digest> a, b;
  std::thread t1(worker, &a);
  std::thread t2(worker, &b);
  t1.join();
  t2.join();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NE(a[i], Sha256Digest{}) << i;
    ASSERT_EQ(a[i], b[i]) << i;
  }
}

// Timing, run by hand: build/.../vigie_crypto_test --gtest_also_run_disabled_tests
//   --gtest_filter='*DISABLED_Timing*'
TEST(HashTimingTest, DISABLED_Timing) {
  const std::string key = "secret-of-site-a-0123456789abcdef";  // 33 bytes, like an agent secret
  const std::string msg300(300, 'x');
  const std::string canonical(180, 'c');  // a heartbeat's canonical string is ~180 bytes
  constexpr int kN = 100000;
  // The machine is shared: report the best of 7 rounds (thread CPU time).
  auto time = [&](const char* what, auto&& fn) {
    Sha256Digest sink{};
    double best = 1e30;
    for (int round = 0; round < 7; ++round) {
      const double t0 = ThreadCpuNow();
      for (int i = 0; i < kN; ++i) sink[i & 31] ^= fn()[0];
      best = std::min(best, (ThreadCpuNow() - t0) / kN);
    }
    std::printf("%-40s %8.1f ns/op (sink %d)\n", what, best, sink[0]);
  };
  time("Sha256(300 B)", [&] { return Sha256(AsBytes(msg300)); });
  time("HmacSha256(33 B key, 180 B)", [&] { return HmacSha256(AsBytes(key), AsBytes(canonical)); });
  time("HmacSha256(33 B key, 300 B)", [&] { return HmacSha256(AsBytes(key), AsBytes(msg300)); });
  time("reference HMAC()(33 B key, 300 B)",
       [&] { return ReferenceHmac(AsBytes(key), AsBytes(msg300)); });
}

}  // namespace
}  // namespace vigie::crypto
