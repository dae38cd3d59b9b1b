#include "chain/rlp.h"

#include <gtest/gtest.h>

#include <string>

namespace vigie::chain {
namespace {

std::string EncHex(const RlpItem& item) { return HexEncode(RlpEncode(item)); }

Bytes FromHex(std::string_view hex) { return HexDecode(hex).value(); }

RlpItem L(std::vector<RlpItem> items) { return RlpItem::List(std::move(items)); }

// Known answers from the Ethereum wiki's RLP page and the yellow paper, appendix B.
TEST(RlpTest, EncodesKnownAnswers) {
  EXPECT_EQ(EncHex(RlpItem::String("dog")), "83646f67");
  EXPECT_EQ(EncHex(L({RlpItem::String("cat"), RlpItem::String("dog")})), "c88363617483646f67");
  EXPECT_EQ(EncHex(RlpItem::String("")), "80");
  EXPECT_EQ(EncHex(L({})), "c0");
  EXPECT_EQ(EncHex(RlpItem::Uint(0)), "80");
  EXPECT_EQ(EncHex(RlpItem::Bytes(Bytes{0x00})), "00");
  EXPECT_EQ(EncHex(RlpItem::Uint(15)), "0f");
  EXPECT_EQ(EncHex(RlpItem::Uint(1024)), "820400");
  // The set-theoretical representation of three: [ [], [[]], [ [], [[]] ] ].
  EXPECT_EQ(EncHex(L({L({}), L({L({})}), L({L({}), L({L({})})})})), "c7c0c1c0c3c0c1c0");
  EXPECT_EQ(
      EncHex(RlpItem::String("Lorem ipsum dolor sit amet, consectetur adipisicing elit")),
      "b838" + HexEncode(AsBytes("Lorem ipsum dolor sit amet, consectetur adipisicing elit")));
}

TEST(RlpTest, EncodesBoundaries) {
  EXPECT_EQ(EncHex(RlpItem::Uint(0x7f)), "7f");
  EXPECT_EQ(EncHex(RlpItem::Uint(0x80)), "8180");
  EXPECT_EQ(EncHex(RlpItem::Bytes(Bytes(55, 0xaa))), "b7" + std::string(110, 'a'));
  EXPECT_EQ(EncHex(RlpItem::Bytes(Bytes(56, 0xaa))).substr(0, 4), "b838");
  EXPECT_EQ(EncHex(RlpItem::Bytes(Bytes(1024, 0))).substr(0, 6), "b90400");
  EXPECT_EQ(EncHex(RlpItem::Uint(UINT64_MAX)), "88ffffffffffffffff");
  const uint8_t padded[] = {0, 0, 1, 2};
  EXPECT_EQ(EncHex(RlpItem::UintBigEndian(padded)), "820102");
  // A list whose payload is 56 bytes switches to the long form 0xf8 0x38.
  std::vector<RlpItem> many(56, RlpItem::Uint(1));
  EXPECT_EQ(EncHex(L(many)).substr(0, 4), "f838");
}

TEST(RlpTest, RoundTripsNestedItems) {
  RlpItem item = L({RlpItem::String("cat"), L({RlpItem::Uint(1024), L({})}),
                    RlpItem::Bytes(Bytes(300, 7)), RlpItem::String("")});
  auto decoded = RlpDecode(RlpEncode(item));
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(*decoded, item);
}

TEST(RlpTest, DecodesKnownAnswers) {
  auto dog = RlpDecode(FromHex("83646f67"));
  ASSERT_TRUE(dog);
  EXPECT_EQ(AsString(dog->bytes()), "dog");
  auto three = RlpDecode(FromHex("c7c0c1c0c3c0c1c0"));
  ASSERT_TRUE(three);
  ASSERT_TRUE(three->is_list());
  EXPECT_EQ(three->items().size(), 3u);
  auto n = RlpDecode(FromHex("820400"));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->AsUint().value(), 1024u);
}

void ExpectRejected(std::string_view hex, std::string_view needle) {
  auto r = RlpDecode(FromHex(hex));
  ASSERT_FALSE(r) << hex << " was accepted";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << hex << ": " << r.error().message;
}

TEST(RlpTest, RejectsNonCanonicalAndTruncatedInput) {
  ExpectRejected("", "truncated input");
  ExpectRejected("83646f", "truncated input: 3 bytes announced, 2 present at offset 0");
  ExpectRejected("c883636174", "truncated");
  ExpectRejected("8105", "non-canonical single byte (must not be wrapped) at offset 0");
  ExpectRejected("b80100", "long form used for <= 55 bytes");
  ExpectRejected("b9000100", "leading zero byte");
  ExpectRejected("f800", "leading zero byte");
  ExpectRejected("b9", "length prefix runs past the end");
  ExpectRejected("83646f6700", "1 trailing bytes after the item at offset 4");
  // A list whose announced payload ends in the middle of its last item.
  ExpectRejected("c2836162", "truncated input: 3 bytes announced, 1 present at offset 1");
}

RlpItem Nested(int depth) {
  RlpItem item = L({});
  for (int i = 1; i < depth; ++i) item = L({std::move(item)});
  return item;
}

TEST(RlpTest, RejectsExcessiveNesting) {
  EXPECT_TRUE(RlpDecode(RlpEncode(Nested(kMaxRlpDepth)))) << "depth " << kMaxRlpDepth;
  auto r = RlpDecode(RlpEncode(Nested(kMaxRlpDepth + 1)));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nested too deeply"), std::string::npos) << r.error().message;
}

TEST(RlpTest, AsUintIsStrict) {
  EXPECT_EQ(RlpItem::Uint(0).AsUint().value(), 0u);
  EXPECT_EQ(RlpItem::Uint(UINT64_MAX).AsUint().value(), UINT64_MAX);
  EXPECT_FALSE(RlpItem::Bytes(Bytes{0x00, 0x01}).AsUint());
  EXPECT_FALSE(RlpItem::Bytes(Bytes(9, 1)).AsUint());
  auto list = L({}).AsUint("nonce");
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("nonce"), std::string::npos);
}

}  // namespace
}  // namespace vigie::chain
