// PROV_020 against a real Ethereum node (ganache, started by the harness on a free loopback
// port): provisioning events are appended, a head is signed and anchored by a transaction vigie
// signs itself; the node's copy of the transaction carries the root; the site proof verifies
// offline and against the node, also after the node restarts on its database.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chain/rpc.h"
#include "http/curl_client.h"
#include "ledger/anchor_scheduler.h"
#include "ledger/cli.h"
#include "ledger/ethereum_anchor.h"
#include "ledger/proof.h"
#include "ledger/test_util.h"
#include "testing/ganache.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

constexpr uint64_t kChainId = 1337;

chain::EthRpcOptions OptionsFor(uint16_t port) {
  return {.url = "http://127.0.0.1:" + std::to_string(port), .timeout = std::chrono::seconds(10)};
}

Result<std::unique_ptr<testing::GanacheServer>> StartGanache(const std::string& db_path) {
  testing::GanacheOptions options;
  options.db_path = db_path;
  options.chain_id = kChainId;
  options.ready = [](uint16_t port) {
    http::CurlClient http;
    chain::EthRpcClient rpc(http, OptionsFor(port));
    auto id = rpc.ChainId();
    return id && *id == kChainId;
  };
  return testing::GanacheServer::Start(std::move(options));
}

TEST(EthereumAnchorGanacheTest, AnchorsARootProvesASiteAndSurvivesANodeRestart) {
  std::string why;
  if (!testing::GanacheServer::Available(&why)) GTEST_SKIP() << "ganache unavailable: " << why;
  testing::TempDir tmp;
  const std::string db_path = tmp.File("chain-db");
  auto ganache = StartGanache(db_path);
  ASSERT_TRUE(ganache) << ganache.error().ToString();

  Env env = RealEnv();
  auto fleet = testutil::TestKey('\x7a');
  auto ledger = Ledger::Open(tmp.File("ledger"), env, &fleet);
  ASSERT_TRUE(ledger) << ledger.error().ToString();
  ASSERT_TRUE((*ledger)->Append("site.provisioned", "site-a", R"({"region":"eu-west-3"})"));
  ASSERT_TRUE((*ledger)->Append("site.provisioned", "site-b", R"({"region":"eu-west-3"})"));
  ASSERT_TRUE((*ledger)->Append("vault.bootstrap", "site-a", "{}"));

  http::CurlClient http;
  chain::EthRpcClient rpc(http, OptionsFor((*ganache)->port()));
  // Two confirmations: ganache mines the anchor at once; one more block is mined by hand.
  EthereumAnchor anchor(rpc, chain::EthKey::FromHex(testing::kGanacheAccount0Key).value(),
                        fleet.public_key(), *env.clock, {.chain_id = kChainId, .confirmations = 2});
  AnchorSchedulerOptions options;
  options.required_confirmations = 2;
  AnchorScheduler scheduler(**ledger, anchor, *env.clock, options);
  auto first = scheduler.RunOnce();
  ASSERT_TRUE(first) << first.error().ToString();
  ASSERT_TRUE(first->sent);
  ASSERT_EQ(first->status->state, AnchorStatus::State::kPending) << first->status->detail;
  EXPECT_EQ(first->status->confirmations, 1u);
  const AnchorRecord sent = *first->record;

  // The node's copy of the transaction carries exactly the root; vigie signed it (the node
  // recovered our address as the sender: the signature is valid for chain 1337).
  auto tx_hash = chain::ParseHexData(sent.tx_hash);
  ASSERT_TRUE(tx_hash);
  chain::Hash256 hash{};
  std::copy(tx_hash->begin(), tx_hash->end(), hash.begin());
  auto tx = rpc.GetTransactionByHash(hash);
  ASSERT_TRUE(tx) << tx.error().ToString();
  ASSERT_TRUE(tx->has_value());
  const auto root = (*ledger)->Root(3);
  ASSERT_TRUE(root);
  EXPECT_EQ((*tx)->input, Bytes(root->begin(), root->end()));
  EXPECT_EQ((*tx)->from, anchor.address());
  EXPECT_EQ((*tx)->to, anchor.address());

  // One more block: confirmed, final record persisted.
  {
    http::HttpRequest mine;
    mine.method = "POST";
    mine.url = "http://127.0.0.1:" + std::to_string((*ganache)->port());
    mine.headers = {{"Content-Type", "application/json"}};
    mine.body = R"({"jsonrpc":"2.0","id":1,"method":"evm_mine","params":[]})";
    auto mined = http.Send(mine);
    ASSERT_TRUE(mined) << mined.error().ToString();
    ASSERT_EQ(mined->status, 200) << mined->body;
  }
  auto second = scheduler.RunOnce();
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_FALSE(second->sent);
  ASSERT_EQ(second->status->state, AnchorStatus::State::kConfirmed) << second->status->detail;
  EXPECT_TRUE(second->up_to_date());
  EXPECT_EQ(second->record->confirmations, 2u);

  // The site proof: offline, then against the node.
  auto proof = BuildSiteProofJson(**ledger, "site-a");
  ASSERT_TRUE(proof) << proof.error().ToString();
  auto doc = nlohmann::json::parse(*proof);
  EXPECT_EQ(doc["anchored"], true);
  EXPECT_EQ(doc["anchor"]["tx_hash"], sent.tx_hash);
  EXPECT_EQ(doc["entries"].size(), 1u);
  auto offline = CheckProofJson(*proof, fleet.public_key(), nullptr, 2);
  ASSERT_TRUE(offline) << offline.error().ToString();
  EXPECT_EQ(offline->entries, 1u);
  auto online = CheckProofJson(*proof, fleet.public_key(), &rpc, 2);
  ASSERT_TRUE(online) << online.error().ToString();
  ASSERT_TRUE(online->chain);
  EXPECT_EQ(online->chain->state, AnchorStatus::State::kConfirmed) << online->chain->detail;

  // Restart the node on its database; the proof still checks against it (the CLI path, with
  // the proof and the fleet key in files).
  (*ganache)->Stop();
  ganache = StartGanache(db_path);
  ASSERT_TRUE(ganache) << ganache.error().ToString();
  const std::string proof_file = tmp.File("site-a.proof.json");
  const std::string key_file = tmp.File("fleet.pub");
  ASSERT_TRUE(env.fs->WriteFileAtomic(proof_file, *proof));
  ASSERT_TRUE(env.fs->WriteFileAtomic(key_file, HexEncode(fleet.public_key()) + "\n"));
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  const std::string url = "http://127.0.0.1:" + std::to_string((*ganache)->port());
  int rc = RunLedgerCheckProof(proof_file, key_file, url, 2, out);
  std::rewind(out);
  char buf[4096] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, out);
  std::fclose(out);
  const std::string printed(buf, n);
  EXPECT_EQ(rc, 0) << printed;
  EXPECT_NE(printed.find("confirmed"), std::string::npos) << printed;

  // A proof pointing at the wrong block is refused by the node check (exit 1).
  auto bad = doc;
  bad["anchor"]["block_hash"] = "0x" + std::string(64, 'c');
  ASSERT_TRUE(env.fs->WriteFileAtomic(proof_file, bad.dump()));
  out = std::tmpfile();
  EXPECT_EQ(RunLedgerCheckProof(proof_file, key_file, url, 2, out), 1);
  std::fclose(out);
}

}  // namespace
}  // namespace vigie::ledger
