#include "ledger/entry.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "crypto/hash.h"

namespace vigie::ledger {
namespace {

// Golden vector for the version-1 entry encoding, written out field by field from the layout
// documented in entry.h (not produced by the encoder).
TEST(EntryTest, EncodingGoldenVector) {
  Entry e;
  e.seq = 0x0102;
  e.timestamp_ms = 1767225600000;  // 2026-01-01T00:00:00Z = 0x0000019b76daa800
  e.prev_hash.fill(0xab);
  e.kind = "site.provisioned";
  e.site = "s1";
  e.body = R"({"a":1})";
  std::string prev_hex;
  for (int i = 0; i < 32; ++i) prev_hex += "ab";
  const std::string golden = std::string("01") + "0000000000000102" + "0000019b76daa800" +
                             prev_hex + "0010" + HexEncode(AsBytes("site.provisioned")) + "0002" +
                             "7331" + "00000007" + "7b2261223a317d";
  const std::string encoded = EncodeEntry(e);
  EXPECT_EQ(HexEncode(AsBytes(encoded)), golden);

  // Entry hash = RFC 9162 leaf hash over the encoding.
  std::string prefixed = std::string(1, '\0') + encoded;
  TreeHasher hasher;
  EXPECT_EQ(hasher.HashLeaf(AsBytes(encoded)), crypto::Sha256(AsBytes(prefixed)));

  auto decoded = DecodeEntry(AsBytes(encoded));
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(decoded->seq, e.seq);
  EXPECT_EQ(decoded->timestamp_ms, e.timestamp_ms);
  EXPECT_EQ(decoded->prev_hash, e.prev_hash);
  EXPECT_EQ(decoded->kind, e.kind);
  EXPECT_EQ(decoded->site, e.site);
  EXPECT_EQ(decoded->body, e.body);
}

TEST(EntryTest, MalformedEncodingsAreRejected) {
  Entry e;
  e.kind = "k";
  e.body = "{}";
  std::string encoded = EncodeEntry(e);
  auto bytes = [](const std::string& s) { return AsBytes(s); };
  EXPECT_FALSE(DecodeEntry(bytes(encoded.substr(0, encoded.size() - 1))));
  EXPECT_FALSE(DecodeEntry(bytes(encoded + "x")));
  EXPECT_FALSE(DecodeEntry(bytes(encoded.substr(0, 10))));
  std::string bad_version = encoded;
  bad_version[0] = 2;
  auto r = DecodeEntry(bytes(bad_version));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
}

TEST(EntryTest, FieldsAreValidatedAndBodyCanonicalised) {
  auto body = ValidateEntryFields("site.provisioned", "s1", R"({ "b": 1, "a": [1, 2] })");
  ASSERT_TRUE(body);
  EXPECT_EQ(*body, R"({"a":[1,2],"b":1})");
  EXPECT_FALSE(ValidateEntryFields("", "s", "{}"));
  EXPECT_FALSE(ValidateEntryFields("Site Provisioned", "s", "{}"));
  EXPECT_FALSE(ValidateEntryFields("k", std::string(256, 's'), "{}"));
  auto bad = ValidateEntryFields("k", "s", "{not json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("not valid JSON"), std::string::npos);
}

TEST(EntryTest, TreeHeadSignedBytesAndRecordGoldenVector) {
  TreeHead head;
  head.tree_size = 8;
  head.timestamp_ms = 1767225600000;
  head.root.fill(0x5d);
  std::string root_hex;
  for (int i = 0; i < 32; ++i) root_hex += "5d";
  EXPECT_EQ(HexEncode(AsBytes(TreeHeadSignedBytes(head))), HexEncode(AsBytes("vigie-ledger-sth")) +
                                                               "00" + "01" + "0000019b76daa800" +
                                                               "0000000000000008" + root_hex);

  auto seed = SecretBytes::CopyFrom(std::string(32, '\x07'));
  auto key = crypto::SigningKey::FromSeed(seed);
  ASSERT_TRUE(key);
  std::string msg = TreeHeadSignedBytes(head);
  head.signature = key->Sign(AsBytes(msg));
  EXPECT_TRUE(VerifyTreeHead(head, key->public_key()));

  std::string record = EncodeTreeHead(head);
  ASSERT_EQ(record.size(), kTreeHeadRecordSize);
  auto decoded = DecodeTreeHead(AsBytes(record));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->tree_size, 8u);
  EXPECT_EQ(decoded->timestamp_ms, head.timestamp_ms);
  EXPECT_EQ(decoded->root, head.root);
  EXPECT_EQ(decoded->signature, head.signature);

  TreeHead tampered = head;
  tampered.tree_size = 9;
  EXPECT_FALSE(VerifyTreeHead(tampered, key->public_key()));
  EXPECT_FALSE(DecodeTreeHead(AsBytes(record.substr(1))));
}

}  // namespace
}  // namespace vigie::ledger
