// Integration test against a real Ethereum node (ganache, started by the harness): vigie signs a
// legacy EIP-155 transaction itself, sends it raw, and finds it again by hash, also after the
// node restarts on the same database.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "base/env.h"
#include "chain/eth_key.h"
#include "chain/rpc.h"
#include "chain/tx.h"
#include "http/curl_client.h"
#include "testing/ganache.h"
#include "testing/temp_dir.h"

namespace vigie::chain {
namespace {

constexpr uint64_t kChainId = 1337;

EthRpcOptions OptionsFor(uint16_t port) {
  return {.url = "http://127.0.0.1:" + std::to_string(port), .timeout = std::chrono::seconds(10)};
}

// Starts ganache on `db_path` and waits until eth_chainId answers 1337.
Result<std::unique_ptr<testing::GanacheServer>> StartGanache(const std::string& db_path) {
  testing::GanacheOptions options;
  options.db_path = db_path;
  options.chain_id = kChainId;
  options.ready = [](uint16_t port) {
    http::CurlClient http;
    EthRpcClient rpc(http, OptionsFor(port));
    auto id = rpc.ChainId();
    return id && *id == kChainId;
  };
  return testing::GanacheServer::Start(std::move(options));
}

// Polls for the receipt: ganache mines on arrival, but a real node takes a block time.
Result<TxReceipt> WaitForReceipt(EthRpcClient& rpc, const Hash256& hash) {
  for (int i = 0; i < 100; ++i) {
    VIGIE_ASSIGN_OR_RETURN(std::optional<TxReceipt> receipt, rpc.GetTransactionReceipt(hash));
    if (receipt) return *receipt;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return MakeError(ErrorCode::kDeadlineExceeded, "no receipt after 10 s");
}

TEST(GanacheIntegrationTest, AnchorTransactionRoundTripAndPersistence) {
  std::string why;
  if (!testing::GanacheServer::Available(&why)) GTEST_SKIP() << "ganache unavailable: " << why;

  testing::TempDir dir;
  const std::string db_path = dir.File("chain-db");
  auto ganache = StartGanache(db_path);
  ASSERT_TRUE(ganache) << ganache.error().ToString();

  http::CurlClient http;
  EthRpcClient rpc(http, OptionsFor((*ganache)->port()));

  EthKey key = EthKey::FromHex(testing::kGanacheAccount0Key).value();
  ASSERT_EQ(FormatAddress(key.address()), "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1");

  // The anchor shape: 32 bytes of data, to our own address, value 0.
  Bytes root(32);
  RealRandom()->Fill(root);
  auto nonce = rpc.GetTransactionCount(key.address(), "pending");
  ASSERT_TRUE(nonce) << nonce.error().ToString();
  auto gas_price = rpc.GasPrice();
  ASSERT_TRUE(gas_price) << gas_price.error().ToString();
  EXPECT_GT(*gas_price, 0u);

  LegacyTx tx;
  tx.nonce = *nonce;
  tx.gas_price = *gas_price;
  tx.to = key.address();
  tx.value = 0;
  tx.data = root;
  auto gas = rpc.EstimateGas(key.address(), tx);
  ASSERT_TRUE(gas) << gas.error().ToString();
  EXPECT_GE(*gas, 21000u);
  EXPECT_LE(*gas, 21000u + 32 * 16);  // intrinsic gas: at most 16 per data byte
  tx.gas_limit = *gas;

  auto signed_tx = SignLegacyTx(tx, kChainId, key);
  ASSERT_TRUE(signed_tx) << signed_tx.error().ToString();
  auto sent = rpc.SendRawTransaction(signed_tx->raw);
  ASSERT_TRUE(sent) << sent.error().ToString();
  EXPECT_EQ(*sent, signed_tx->hash);

  auto fetched = rpc.GetTransactionByHash(signed_tx->hash);
  ASSERT_TRUE(fetched) << fetched.error().ToString();
  ASSERT_TRUE(fetched->has_value()) << "node does not know the transaction it accepted";
  EXPECT_EQ((*fetched)->input, root);
  EXPECT_EQ((*fetched)->from, key.address());
  EXPECT_EQ((*fetched)->to, key.address());
  EXPECT_EQ((*fetched)->nonce, *nonce);

  auto receipt = WaitForReceipt(rpc, signed_tx->hash);
  ASSERT_TRUE(receipt) << receipt.error().ToString();
  EXPECT_TRUE(receipt->success);
  EXPECT_EQ(receipt->gas_used, *gas);
  auto block = rpc.GetBlockByNumber(receipt->block_number);
  ASSERT_TRUE(block) << block.error().ToString();
  ASSERT_TRUE(block->has_value());
  EXPECT_EQ((*block)->hash, receipt->block_hash);
  auto head = rpc.BlockNumber();
  ASSERT_TRUE(head) << head.error().ToString();
  EXPECT_GE(*head, receipt->block_number);

  // A node refusal arrives as a node error naming the method: a fresh key has no funds for gas.
  // (Not a reused nonce: ganache 7.9 accepts those, a leniency a real node does not share.)
  EthKey pauper = EthKey::Generate(*RealRandom());
  LegacyTx unfunded = tx;
  unfunded.nonce = 0;
  unfunded.to = pauper.address();
  auto unfunded_tx = SignLegacyTx(unfunded, kChainId, pauper);
  ASSERT_TRUE(unfunded_tx);
  auto refused = rpc.SendRawTransaction(unfunded_tx->raw);
  ASSERT_FALSE(refused) << "the node accepted a transaction from an unfunded account";
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition) << refused.error().ToString();
  EXPECT_NE(refused.error().message.find("eth_sendRawTransaction"), std::string::npos);
  EXPECT_NE(refused.error().message.find("insufficient funds"), std::string::npos)
      << refused.error().message;

  // Persistence: stop the node, restart it on the same database, find the anchor again.
  (*ganache)->Stop();
  EXPECT_FALSE(rpc.ChainId()) << "the node should be down";
  EXPECT_EQ(rpc.ChainId().error().code, ErrorCode::kUnavailable);
  ganache = StartGanache(db_path);
  ASSERT_TRUE(ganache) << ganache.error().ToString();
  EthRpcClient rpc2(http, OptionsFor((*ganache)->port()));

  auto again = rpc2.GetTransactionByHash(signed_tx->hash);
  ASSERT_TRUE(again) << again.error().ToString();
  ASSERT_TRUE(again->has_value()) << "transaction lost across a node restart";
  EXPECT_EQ((*again)->input, root);
  EXPECT_EQ((*again)->block_hash, receipt->block_hash);
  auto receipt2 = rpc2.GetTransactionReceipt(signed_tx->hash);
  ASSERT_TRUE(receipt2) << receipt2.error().ToString();
  ASSERT_TRUE(receipt2->has_value());
  EXPECT_EQ((*receipt2)->block_hash, receipt->block_hash);
  auto next_nonce = rpc2.GetTransactionCount(key.address(), "latest");
  ASSERT_TRUE(next_nonce);
  EXPECT_EQ(*next_nonce, *nonce + 1);
}

}  // namespace
}  // namespace vigie::chain
