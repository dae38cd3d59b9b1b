#include "chain/tx.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "chain/rlp.h"

namespace vigie::chain {
namespace {

// The worked example of the EIP-155 text.
LegacyTx Eip155ExampleTx() {
  LegacyTx tx;
  tx.nonce = 9;
  tx.gas_price = 20'000'000'000;  // 20 gwei
  tx.gas_limit = 21000;
  tx.to = ParseAddress("0x3535353535353535353535353535353535353535").value();
  tx.value = 1'000'000'000'000'000'000;  // 1 ether
  return tx;
}

EthKey Eip155ExampleKey() {
  return EthKey::FromHex("0x4646464646464646464646464646464646464646464646464646464646464646")
      .value();
}

constexpr char kEip155SignedRaw[] =
    "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028"
    "ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b38"
    "00ccf555c9f3dc64214b297fb1966a3b6d83";

TEST(LegacyTxTest, Eip155SigningHash) {
  auto hash = LegacySigningHash(Eip155ExampleTx(), 1);
  ASSERT_TRUE(hash);
  EXPECT_EQ(HexEncode(*hash), "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
}

TEST(LegacyTxTest, Eip155SigningPayload) {
  // The EIP also gives the RLP of the signing payload.
  std::vector<RlpItem> f = {RlpItem::Uint(9),
                            RlpItem::Uint(20'000'000'000),
                            RlpItem::Uint(21000),
                            RlpItem::Bytes(Eip155ExampleTx().to.value()),
                            RlpItem::Uint(1'000'000'000'000'000'000),
                            RlpItem(),
                            RlpItem::Uint(1),
                            RlpItem::Uint(0),
                            RlpItem::Uint(0)};
  EXPECT_EQ(HexEncode(RlpEncode(RlpItem::List(f))),
            "ec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080"
            "018080");
}

TEST(LegacyTxTest, Eip155SignedTransaction) {
  auto signed_tx = SignLegacyTx(Eip155ExampleTx(), 1, Eip155ExampleKey());
  ASSERT_TRUE(signed_tx) << signed_tx.error().ToString();
  EXPECT_EQ(HexEncode(signed_tx->raw), kEip155SignedRaw);
  EXPECT_EQ(signed_tx->hash, Keccak256(HexDecode(kEip155SignedRaw).value()));
}

TEST(LegacyTxTest, DecodeRecoversSenderAndFields) {
  auto decoded = DecodeLegacyTx(HexDecode(kEip155SignedRaw).value());
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(decoded->chain_id, 1u);
  EXPECT_EQ(FormatAddress(decoded->sender), "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
  EXPECT_EQ(decoded->tx.nonce, 9u);
  EXPECT_EQ(decoded->tx.value, 1'000'000'000'000'000'000u);
  EXPECT_EQ(decoded->tx.to, Eip155ExampleTx().to);
  EXPECT_TRUE(decoded->tx.data.empty());
}

TEST(LegacyTxTest, AnchorShapedTransactionRoundTrips) {
  EthKey key = Eip155ExampleKey();
  LegacyTx tx;
  tx.nonce = 0;
  tx.gas_price = 1'000'000'000;
  tx.gas_limit = 30000;
  tx.to = key.address();
  tx.data = Bytes(32, 0xab);
  auto signed_tx = SignLegacyTx(tx, 1337, key);
  ASSERT_TRUE(signed_tx);
  auto decoded = DecodeLegacyTx(signed_tx->raw);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(decoded->chain_id, 1337u);
  EXPECT_EQ(decoded->sender, key.address());
  EXPECT_EQ(decoded->tx.data, tx.data);
  EXPECT_EQ(decoded->tx.nonce, 0u);  // zero encodes as the empty string
}

TEST(LegacyTxTest, ContractCreationHasEmptyTo) {
  LegacyTx tx;
  tx.data = {0x60, 0x00};
  auto signed_tx = SignLegacyTx(tx, 5, Eip155ExampleKey());
  ASSERT_TRUE(signed_tx);
  auto decoded = DecodeLegacyTx(signed_tx->raw);
  ASSERT_TRUE(decoded);
  EXPECT_FALSE(decoded->tx.to.has_value());
}

TEST(LegacyTxTest, RejectsBadChainIdAndTamperedTransactions) {
  EXPECT_FALSE(LegacySigningHash(Eip155ExampleTx(), 0));
  EXPECT_FALSE(LegacySigningHash(Eip155ExampleTx(), kMaxChainId + 1));

  Bytes raw = HexDecode(kEip155SignedRaw).value();
  // Change the nonce (byte 2: 0x09 -> 0x08): the recovered sender must change.
  Bytes tampered = raw;
  tampered[2] = 0x08;
  auto decoded = DecodeLegacyTx(tampered);
  EXPECT_TRUE(!decoded ||
              FormatAddress(decoded->sender) != "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");

  // A pre-EIP-155 v (27) is refused: no replay protection.
  Bytes pre155 = raw;
  const size_t v_pos = raw.size() - (1 + 32) * 2 - 1;  // ... v, 0xa0 r(32), 0xa0 s(32)
  ASSERT_EQ(pre155[v_pos], 0x25);
  pre155[v_pos] = 0x1b;
  auto old = DecodeLegacyTx(pre155);
  ASSERT_FALSE(old);
  EXPECT_NE(old.error().message.find("EIP-155"), std::string::npos);

  // A typed transaction and a truncated one are rejected cleanly.
  EXPECT_FALSE(DecodeLegacyTx(Bytes{0x02, 0xc0}));
  EXPECT_FALSE(DecodeLegacyTx(std::span(raw).first(raw.size() - 1)));
}

TEST(LegacyTxTest, RejectsHighS) {
  Bytes raw = HexDecode(kEip155SignedRaw).value();
  // Replace s by n - s (the malleated twin); n - s > n/2 because s < n/2.
  auto item = RlpDecode(raw).value();
  std::vector<RlpItem> f = item.items();
  const Bytes n =
      HexDecode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").value();
  Bytes s(32, 0);
  std::copy(f[8].bytes().begin(), f[8].bytes().end(), s.end() - f[8].bytes().size());
  Bytes twin(32);
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = n[i] - s[i] - borrow;
    borrow = d < 0;
    twin[i] = static_cast<uint8_t>(d + (borrow ? 256 : 0));
  }
  f[8] = RlpItem::UintBigEndian(twin);
  auto r = DecodeLegacyTx(RlpEncode(RlpItem::List(f)));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("high s"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace vigie::chain
