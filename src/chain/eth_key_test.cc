#include "chain/eth_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "base/encoding.h"
#include "testing/temp_dir.h"

namespace vigie::chain {
namespace {

constexpr char kGanacheKey0[] =
    "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d";
constexpr char kGanacheAddress0[] = "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1";

TEST(EthKeyTest, GanacheDeterministicAccountZero) {
  auto key = EthKey::FromHex(kGanacheKey0);
  ASSERT_TRUE(key) << key.error().ToString();
  EXPECT_EQ(FormatAddress(key->address()), kGanacheAddress0);
}

TEST(EthKeyTest, KnownAddresses) {
  // Cross-checked with the `elliptic` and `keccak` npm packages.
  auto eip155 = EthKey::FromHex("4646464646464646464646464646464646464646464646464646464646464646");
  ASSERT_TRUE(eip155);
  EXPECT_EQ(FormatAddress(eip155->address()), "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
  auto one = EthKey::FromHex("0000000000000000000000000000000000000000000000000000000000000001\n");
  ASSERT_TRUE(one);
  EXPECT_EQ(FormatAddress(one->address()), "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
  // The public key of scalar 1 is the generator point G.
  EXPECT_EQ(HexEncode(one->public_key()).substr(0, 16), "79be667ef9dcbbac");
}

TEST(EthKeyTest, RejectsInvalidKeys) {
  EXPECT_FALSE(EthKey::FromHex("1234"));
  EXPECT_FALSE(EthKey::FromHex(std::string(64, '0')));  // zero scalar
  // The group order n itself is out of range.
  EXPECT_FALSE(EthKey::FromHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"));
  auto bad = EthKey::FromHex(std::string(63, '1') + "g");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message.find('g'), std::string::npos) << "must not echo key material";
  EXPECT_FALSE(EthKey::FromSecret(SecretBytes(31)));
}

TEST(EthKeyTest, Eip55Vectors) {
  // From the EIP-55 text.
  for (const char* a :
       {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"}) {
    auto parsed = ParseAddress(a);
    ASSERT_TRUE(parsed) << a << ": " << parsed.error().ToString();
    EXPECT_EQ(FormatAddress(*parsed), a);
  }
  EXPECT_TRUE(ParseAddress("0x52908400098527886E0F7030069857D2E4169EE7"));  // all caps
  EXPECT_TRUE(ParseAddress("de709f2102306220921060314715629080e2fb77"));    // all lower, no 0x
}

TEST(EthKeyTest, ParseAddressRejectsBadInput) {
  auto bad_sum = ParseAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD");
  ASSERT_FALSE(bad_sum);
  EXPECT_NE(bad_sum.error().message.find("EIP-55"), std::string::npos);
  EXPECT_FALSE(ParseAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"));
  EXPECT_FALSE(ParseAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAzz"));
}

TEST(EthKeyTest, SignatureMatchesIndependentImplementationAndRecovers) {
  auto key = EthKey::FromHex("4646464646464646464646464646464646464646464646464646464646464646");
  ASSERT_TRUE(key);
  const Hash256 hash = Keccak256(AsBytes("vigie"));
  ASSERT_EQ(HexEncode(hash), "dc38063948d462a77fce6624eabcc3f73da5cc8b849bb459ed22f4f03fdf627b");
  auto sig = key->Sign(hash);
  ASSERT_TRUE(sig);
  // RFC 6979 makes the signature deterministic; the npm `elliptic` package agrees.
  EXPECT_EQ(HexEncode(sig->r), "29aad3671797e61ac96110ea71c35c805bb48bafdc206fbb3a2b8221ca8e385c");
  EXPECT_EQ(HexEncode(sig->s), "5d111c1c15a98503144380062eed54bf124042cfab63085b020bbc2c45058e08");
  EXPECT_EQ(sig->recovery_id, 0);

  auto recovered = RecoverAddress(hash, *sig);
  ASSERT_TRUE(recovered);
  EXPECT_EQ(*recovered, key->address());

  Hash256 other = hash;
  other[0] ^= 1;
  auto wrong = RecoverAddress(other, *sig);
  EXPECT_TRUE(!wrong || *wrong != key->address());
}

class FixedRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override {
    for (auto& b : out) b = next_++;
  }
  uint32_t Uniform(uint32_t upper_bound) override { return 0; }

 private:
  uint8_t next_ = 1;
};

TEST(EthKeyTest, GenerateUsesTheRandomSourceAndSigns) {
  FixedRandom random;
  EthKey a = EthKey::Generate(random);
  EthKey b = EthKey::Generate(random);
  EXPECT_NE(a.address(), b.address());
  EthKey real = EthKey::Generate(*RealRandom());
  auto sig = real.Sign(Keccak256(AsBytes("x")));
  ASSERT_TRUE(sig);
  EXPECT_EQ(RecoverAddress(Keccak256(AsBytes("x")), *sig).value(), real.address());
}

TEST(EthKeyTest, LoadKeyFileChecksPermissions) {
  testing::TempDir dir;
  FileSystem& fs = *RealFileSystem();
  const std::string path = dir.File("eth.key");
  ASSERT_TRUE(fs.WriteFileAtomic(path, std::string(kGanacheKey0) + "\n", 0600));

  auto key = LoadEthKeyFile(path, fs);
  ASSERT_TRUE(key) << key.error().ToString();
  EXPECT_EQ(FormatAddress(key->address()), kGanacheAddress0);

  for (mode_t mode : {0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto loose = LoadEthKeyFile(path, fs);
    ASSERT_FALSE(loose) << "mode " << mode;
    EXPECT_EQ(loose.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(loose.error().message.find("chmod 600"), std::string::npos);
    EXPECT_NE(loose.error().message.find(path), std::string::npos);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(LoadEthKeyFile(path, fs));

  auto missing = LoadEthKeyFile(dir.File("absent.key"), fs);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  const std::string garbage = dir.File("garbage.key");
  ASSERT_TRUE(fs.WriteFileAtomic(garbage, "not a key", 0600));
  auto bad = LoadEthKeyFile(garbage, fs);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find(garbage), std::string::npos);
}

}  // namespace
}  // namespace vigie::chain
