#include "ledger/anchor.h"

#include <gtest/gtest.h>

#include "ledger/ledger.h"
#include "ledger/test_util.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

using testutil::TestKey;

class AnchorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ledger> Open() {
    auto ledger =
        Ledger::Open(tmp_.File("ledger"), Env{&clock_, RealFileSystem(), RealRandom()}, &key_);
    EXPECT_TRUE(ledger) << ledger.error().ToString();
    return std::move(*ledger);
  }
  testing::TempDir tmp_;
  testing::FakeClock clock_;
  crypto::SigningKey key_ = TestKey('\x31');
};

TEST_F(AnchorTest, LocalAnchorRecordsTheSignedHeadOnlyAndIsNotOnChain) {
  auto ledger = Open();
  ASSERT_TRUE(ledger->Append("site.provisioned", "s1", "{}"));
  auto head = ledger->SignTreeHead();
  ASSERT_TRUE(head);

  LocalAnchor anchor(key_.public_key(), clock_);
  EXPECT_EQ(anchor.Name(), "local");
  auto record = anchor.AnchorHead(*head);
  ASSERT_TRUE(record) << record.error().ToString();
  EXPECT_EQ(record->anchor, "local");
  EXPECT_EQ(record->tree_size(), 1u);
  EXPECT_EQ(record->root(), head->root);
  EXPECT_FALSE(record->on_chain());
  EXPECT_TRUE(record->tx_hash.empty());
  EXPECT_EQ(record->anchored_at, ToUnixSeconds(clock_.Now()));

  auto status = anchor.Check(*record);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, AnchorStatus::State::kNotOnChain);
  EXPECT_TRUE(status->ok());
  EXPECT_NE(status->detail.find("not anchored on a chain"), std::string::npos);

  // Persisted with the ledger, identical after reopen.
  ASSERT_TRUE(ledger->RecordAnchor(*record));
  ledger.reset();
  ledger = Open();
  auto records = ledger->AnchorRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(AnchorRecordToJson(records[0]), AnchorRecordToJson(*record));
  EXPECT_EQ(records[0].head.signature, head->signature);
}

TEST_F(AnchorTest, LocalAnchorRejectsHeadsNotSignedByTheFleetKey) {
  auto ledger = Open();
  auto head = ledger->SignTreeHead();
  ASSERT_TRUE(head);
  auto other = TestKey('\x32');
  LocalAnchor anchor(other.public_key(), clock_);
  EXPECT_FALSE(anchor.AnchorHead(*head));

  LocalAnchor good(key_.public_key(), clock_);
  auto record = good.AnchorHead(*head);
  ASSERT_TRUE(record);
  record->head.root[0] ^= 1;  // a record edited after the fact
  auto status = good.Check(*record);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, AnchorStatus::State::kMismatch);
  EXPECT_FALSE(status->ok());
}

TEST_F(AnchorTest, RecordJsonRoundTripsChainFields) {
  AnchorRecord r;
  r.anchor = "ethereum";
  r.head.tree_size = 42;
  r.head.timestamp_ms = 123;
  r.head.root.fill(7);
  r.head.signature.fill(9);
  r.chain_id = "1337";
  r.tx_hash = "0xabc";
  r.block_number = 17;
  r.block_hash = "0xdef";
  r.confirmations = 12;
  r.anchored_at = 1767225600;
  auto back = AnchorRecordFromJson(AnchorRecordToJson(r));
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_TRUE(back->on_chain());
  EXPECT_EQ(AnchorRecordToJson(*back), AnchorRecordToJson(r));
  EXPECT_FALSE(AnchorRecordFromJson(R"({"anchor":"x"})"));
  EXPECT_FALSE(AnchorRecordFromJson("not json"));
}

}  // namespace
}  // namespace vigie::ledger
