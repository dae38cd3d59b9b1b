#include "ledger/ethereum_anchor.h"

#include <gtest/gtest.h>

#include "ledger/fake_eth_node.h"
#include "ledger/ledger.h"
#include "ledger/test_util.h"
#include "testing/fake_clock.h"
#include "testing/ganache.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

using State = AnchorStatus::State;

class EthereumAnchorTest : public ::testing::Test {
 protected:
  EthereumAnchorTest() {
    auto opened =
        Ledger::Open(tmp_.File("ledger"), Env{&clock_, RealFileSystem(), RealRandom()}, &key_);
    EXPECT_TRUE(opened) << opened.error().ToString();
    ledger_ = std::move(*opened);
    EXPECT_TRUE(ledger_->Append("site.provisioned", "s1", R"({"region":"eu-west-3"})"));
    EXPECT_TRUE(ledger_->Append("site.provisioned", "s2", "{}"));
    head_ = *ledger_->SignTreeHead();
  }
  EthereumAnchor MakeAnchor(uint64_t confirmations = 3, uint64_t chain_id = 1337) {
    return EthereumAnchor(rpc_, chain::EthKey::FromHex(testing::kGanacheAccount0Key).value(),
                          key_.public_key(), clock_,
                          {.chain_id = chain_id, .confirmations = confirmations});
  }

  testing::TempDir tmp_;
  testing::FakeClock clock_;
  crypto::SigningKey key_ = testutil::TestKey('\x41');
  std::unique_ptr<Ledger> ledger_;
  TreeHead head_;
  testutil::FakeEthNode node_;
  chain::EthRpcClient rpc_{node_, {.url = "http://127.0.0.1:8545"}};
};

TEST_F(EthereumAnchorTest, SendsASelfSignedSelfSendCarryingExactlyTheRoot) {
  EthereumAnchor anchor = MakeAnchor();
  auto record = anchor.AnchorHead(head_);
  ASSERT_TRUE(record) << record.error().ToString();
  EXPECT_EQ(record->anchor, "ethereum");
  EXPECT_EQ(record->chain_id, "1337");
  EXPECT_EQ(record->head.root, head_.root);
  EXPECT_EQ(record->anchored_at, ToUnixSeconds(clock_.Now()));
  ASSERT_EQ(node_.txs.count(record->tx_hash), 1u);
  const auto& tx = node_.txs[record->tx_hash].decoded;
  EXPECT_EQ(tx.sender, anchor.address());  // recovered from vigie's own signature
  EXPECT_EQ(tx.tx.to, anchor.address());
  EXPECT_EQ(tx.tx.value, 0u);
  EXPECT_EQ(tx.chain_id, 1337u);
  EXPECT_EQ(Bytes(head_.root.begin(), head_.root.end()), tx.tx.data);
  EXPECT_EQ(tx.tx.gas_limit, IntrinsicGas(tx.tx.data));
  EXPECT_EQ(tx.tx.gas_price, node_.gas_price);
  // Never asks the node to sign: only raw sends.
  for (const auto& m : node_.methods) EXPECT_NE(m, "eth_sendTransaction");

  // A second anchor uses the next nonce.
  auto second = anchor.AnchorHead(head_);
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(node_.txs[second->tx_hash].decoded.tx.nonce, 1u);
}

TEST_F(EthereumAnchorTest, IntrinsicGasFollowsEip2028) {
  EXPECT_EQ(IntrinsicGas({}), 21000u);
  const uint8_t data[] = {0, 1, 0, 0xff};
  EXPECT_EQ(IntrinsicGas(data), 21000u + 4 + 16 + 4 + 16);
}

TEST_F(EthereumAnchorTest, CountsConfirmationsUntilTheRequiredNumber) {
  EthereumAnchor anchor = MakeAnchor(/*confirmations=*/3);
  auto record = anchor.AnchorHead(head_);
  ASSERT_TRUE(record);
  auto status = anchor.Check(*record);
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_EQ(status->state, State::kPending);
  EXPECT_EQ(status->confirmations, 1u);
  EXPECT_EQ(status->block_number, node_.head());
  node_.Mine(2);
  status = anchor.Check(*record);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, State::kConfirmed) << status->detail;
  EXPECT_EQ(status->confirmations, 3u);
  EXPECT_EQ(status->block_hash, node_.BlockHash(status->block_number));
}

TEST_F(EthereumAnchorTest, UnminedTransactionIsPending) {
  node_.auto_mine = false;
  EthereumAnchor anchor = MakeAnchor(1);
  auto record = anchor.AnchorHead(head_);
  ASSERT_TRUE(record);
  auto status = anchor.Check(*record);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, State::kPending);
  EXPECT_EQ(status->confirmations, 0u);
  node_.Mine();
  EXPECT_EQ(anchor.Check(*record)->state, State::kConfirmed);
}

TEST_F(EthereumAnchorTest, RefusesANodeOfAnotherChainNamingBothIds) {
  node_.chain_id = 1;
  EthereumAnchor anchor = MakeAnchor(3, 1337);
  auto record = anchor.AnchorHead(head_);
  ASSERT_FALSE(record);
  EXPECT_EQ(record.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(record.error().message.find("chain id 1 "), std::string::npos)
      << record.error().message;
  EXPECT_NE(record.error().message.find("1337"), std::string::npos);
  EXPECT_TRUE(node_.txs.empty());
}

TEST_F(EthereumAnchorTest, RefusesAHeadNotSignedByTheFleetKey) {
  EthereumAnchor anchor = MakeAnchor();
  TreeHead forged = head_;
  forged.root[0] ^= 1;
  auto record = anchor.AnchorHead(forged);
  ASSERT_FALSE(record);
  EXPECT_EQ(record.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(node_.txs.empty());
}

TEST_F(EthereumAnchorTest, NodeDownIsAnErrorNotAState) {
  node_.down = true;
  EthereumAnchor anchor = MakeAnchor();
  auto record = anchor.AnchorHead(head_);
  ASSERT_FALSE(record);
  EXPECT_EQ(record.error().code, ErrorCode::kUnavailable);
}

TEST_F(EthereumAnchorTest, CheckDetectsATamperedRecordAForeignRootAndADroppedTx) {
  EthereumAnchor anchor = MakeAnchor(1);
  auto record = anchor.AnchorHead(head_);
  ASSERT_TRUE(record);
  ASSERT_EQ(anchor.Check(*record)->state, State::kConfirmed);

  // The record's root edited after the fact: the head signature no longer verifies.
  AnchorRecord edited = *record;
  edited.head.root[5] ^= 1;
  EXPECT_EQ(anchor.Check(edited)->state, State::kMismatch);
  // Someone else's root under a valid head: the transaction input differs from the root.
  AnchorRecord other = *record;
  EXPECT_TRUE(ledger_->Append("site.provisioned", "s3", "{}"));
  other.head = *ledger_->SignTreeHead();
  auto mismatch = anchor.Check(other);
  ASSERT_TRUE(mismatch);
  EXPECT_EQ(mismatch->state, State::kMismatch);
  EXPECT_NE(mismatch->detail.find("carries input"), std::string::npos) << mismatch->detail;
  // Unknown to the node (dropped).
  node_.txs.clear();
  EXPECT_EQ(anchor.Check(*record)->state, State::kNotFound);
}

TEST_F(EthereumAnchorTest, RecordRoundTripsThroughTheLedger) {
  EthereumAnchor anchor = MakeAnchor(1);
  auto record = anchor.AnchorHead(head_);
  ASSERT_TRUE(record);
  ASSERT_TRUE(ledger_->RecordAnchor(*record));
  auto records = ledger_->AnchorRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].tx_hash, record->tx_hash);
  EXPECT_EQ(anchor.Check(records[0])->state, State::kConfirmed);
}

}  // namespace
}  // namespace vigie::ledger
