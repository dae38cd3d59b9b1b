// The anchoring daemon against a real Ethereum node (ganache): the service, configured as
// `vigie server` would be ([ledger] anchor = "ethereum"), anchors on the chain an entry that a
// second Ledger instance (the provisioning process's) appends while the service runs.
// Timers run on a FakeClock (no sleeps); the node and the HTTP client are real.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chain/rpc.h"
#include "http/curl_client.h"
#include "ledger/anchor_service.h"
#include "ledger/proof.h"
#include "ledger/test_util.h"
#include "testing/fake_clock.h"
#include "testing/ganache.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kChainId = 1337;

TEST(AnchorServiceGanacheTest, AnchorsOnChainAnEntryAppendedByAnotherLedgerWhileRunning) {
  std::string why;
  if (!testing::GanacheServer::Available(&why)) GTEST_SKIP() << "ganache unavailable: " << why;
  testing::TempDir tmp;
  testing::GanacheOptions gopts;
  gopts.db_path = tmp.File("chain-db");
  gopts.chain_id = kChainId;
  gopts.ready = [](uint16_t port) {
    http::CurlClient http;
    chain::EthRpcClient rpc(http, {.url = "http://127.0.0.1:" + std::to_string(port)});
    auto id = rpc.ChainId();
    return id && *id == kChainId;
  };
  auto ganache = testing::GanacheServer::Start(std::move(gopts));
  ASSERT_TRUE(ganache) << ganache.error().ToString();

  testing::FakeClock clock;
  Env env{&clock, RealFileSystem(), RealRandom()};
  auto fleet = testutil::TestKey('\x5c');
  const std::string dir = tmp.File("ledger");
  auto provisioning = Ledger::Open(dir, env, &fleet);
  ASSERT_TRUE(provisioning) << provisioning.error().ToString();
  ASSERT_TRUE((*provisioning)->Append("site.provisioned", "site-a", "{}"));

  AnchorServiceOptions options;
  options.ledger_dir = dir;
  options.fleet_key = &fleet;
  options.env = env;
  options.config.anchor = config::AnchorBackend::kEthereum;
  options.config.ethereum.rpc_url = (*ganache)->Url();
  options.config.ethereum.chain_id = kChainId;
  options.config.ethereum.confirmations = 1;
  options.config.ethereum.anchor_interval_seconds = 60;
  options.config.ethereum.alert_after_seconds = 600;
  options.config.ethereum.key_file = tmp.File("anchor.key");
  ASSERT_TRUE(env.fs->WriteFileAtomic(options.config.ethereum.key_file,
                                      std::string(testing::kGanacheAccount0Key) + "\n", 0600));
  auto service = StartAnchorService(options, nullptr);
  ASSERT_TRUE(service) << service.error().ToString();
  EXPECT_EQ((*service)->anchor_name(), "ethereum");
  clock.Advance(0s);  // first run: site-a anchored (ganache mines at once: 1 confirmation)
  EXPECT_EQ((*service)->scheduler().anchored_size(), 1u);

  // The provisioning process records a new site while the service runs.
  ASSERT_TRUE((*provisioning)->Append("site.provisioned", "site-b", R"({"region":"eu-west-3"})"));
  ASSERT_TRUE((*provisioning)->Append("vault.bootstrap", "site-b", "{}"));
  clock.Advance(60s);  // the next periodic run
  EXPECT_EQ((*service)->scheduler().anchored_size(), 3u);
  EXPECT_FALSE((*service)->scheduler().pending());

  // The chain holds the root over the other instance's entries.
  auto records = (*provisioning)->AnchorRecords();
  ASSERT_FALSE(records.empty());
  const AnchorRecord& last = records.back();
  EXPECT_EQ(last.head.tree_size, 3u);
  EXPECT_EQ(last.confirmations, 1u);
  http::CurlClient http;
  chain::EthRpcClient rpc(http, {.url = (*ganache)->Url()});
  auto tx_hash = chain::ParseHexData(last.tx_hash);
  ASSERT_TRUE(tx_hash);
  chain::Hash256 hash{};
  std::copy(tx_hash->begin(), tx_hash->end(), hash.begin());
  auto tx = rpc.GetTransactionByHash(hash);
  ASSERT_TRUE(tx) << tx.error().ToString();
  ASSERT_TRUE(tx->has_value());
  auto root = (*provisioning)->Root(3);
  ASSERT_TRUE(root);
  EXPECT_EQ((*tx)->input, Bytes(root->begin(), root->end()));

  // site-b's proof, built by the provisioning side, checks against the node.
  auto proof = BuildSiteProofJson(**provisioning, "site-b");
  ASSERT_TRUE(proof) << proof.error().ToString();
  auto check = CheckProofJson(*proof, fleet.public_key(), &rpc, 1);
  ASSERT_TRUE(check) << check.error().ToString();
  EXPECT_EQ(check->entries, 1u);  // site.provisioned (vault.bootstrap is not a proof entry)
  ASSERT_TRUE(check->chain);
  EXPECT_EQ(check->chain->state, AnchorStatus::State::kConfirmed) << check->chain->detail;
  (*service)->Stop();
}

}  // namespace
}  // namespace vigie::ledger
