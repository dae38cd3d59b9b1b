#include "ledger/anchor_store.h"

#include <gtest/gtest.h>

#include "compliance/registry.h"
#include "compliance/store_evidence.h"
#include "ledger/ethereum_anchor.h"
#include "ledger/fake_eth_node.h"
#include "ledger/test_util.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/ganache.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

TEST(StoreAnchorLogTest, IndexesSiteEntriesFromTheLedgerAndLogsAnchorStatuses) {
  testing::TempDir tmp;
  testing::FakeClock clock;
  auto key = testutil::TestKey('\x71');
  auto ledger = Ledger::Open(tmp.File("ledger"), Env{&clock, RealFileSystem(), RealRandom()}, &key);
  ASSERT_TRUE(ledger) << ledger.error().ToString();
  store::SqliteOptions opts;
  opts.path = tmp.File("vigie.db");
  auto st = store::OpenSqliteStore(opts);
  ASSERT_TRUE(st) << st.error().ToString();
  store::Store& s = **st;

  ASSERT_TRUE((*ledger)->Append("site.provisioned", "s1", "{}"));
  ASSERT_TRUE((*ledger)->Append("fleet.config_changed", "", "{}"));  // fleet-wide: not indexed
  ASSERT_TRUE((*ledger)->Append("site.provisioned", "s2", "{}"));

  LocalAnchor anchor(key.public_key(), clock);
  StoreAnchorLog log(s, clock);
  AnchorScheduler scheduler(**ledger, anchor, clock, {}, nullptr, &log);
  ASSERT_TRUE(scheduler.RunOnce());

  auto rows = s.Query("SELECT seq, site, kind FROM ledger_site_events ORDER BY seq");
  ASSERT_TRUE(rows) << rows.error().ToString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(*(*rows)[0].GetInt("seq"), 0);
  EXPECT_EQ(*(*rows)[0].GetText("site"), "s1");
  EXPECT_EQ(*(*rows)[1].GetInt("seq"), 2);
  EXPECT_EQ(*(*rows)[1].GetText("kind"), "site.provisioned");

  auto anchors = s.Query("SELECT anchor, tree_size, state, root FROM ledger_anchors");
  ASSERT_TRUE(anchors) << anchors.error().ToString();
  ASSERT_EQ(anchors->size(), 1u);
  EXPECT_EQ(*(*anchors)[0].GetText("anchor"), "local");
  EXPECT_EQ(*(*anchors)[0].GetInt("tree_size"), 3);
  EXPECT_EQ(*(*anchors)[0].GetText("state"), "not_on_chain");
  EXPECT_EQ(*(*anchors)[0].GetText("root"), HexEncode((*ledger)->LatestTreeHead()->root));

  // Incremental and idempotent: only the new entry is added, a re-sync adds nothing.
  ASSERT_TRUE((*ledger)->Append("site.provision_failed", "s3", "{}"));
  ASSERT_TRUE(log.SyncSiteEvents(**ledger));
  ASSERT_TRUE(log.SyncSiteEvents(**ledger));
  rows = s.Query("SELECT seq FROM ledger_site_events ORDER BY seq");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ(*(*rows)[2].GetInt("seq"), 3);
}

// End to end for PROV_020: what the anchoring records in the Store is what the compliance check
// judges (StoreEvidence::LedgerAnchor). Local anchor: FAIL; on chain, pending: FAIL; confirmed:
// PASS; a later provisioning event not yet anchored: FAIL.
TEST(StoreAnchorLogTest, Prov020JudgesWhatTheAnchoringRecorded) {
  testing::TempDir tmp;
  testing::FakeClock clock;
  auto key = testutil::TestKey('\x72');
  auto ledger = Ledger::Open(tmp.File("ledger"), Env{&clock, RealFileSystem(), RealRandom()}, &key);
  ASSERT_TRUE(ledger) << ledger.error().ToString();
  store::SqliteOptions opts;
  opts.path = tmp.File("vigie.db");
  auto st = store::OpenSqliteStore(opts);
  ASSERT_TRUE(st) << st.error().ToString();
  store::Store& s = **st;
  StoreAnchorLog log(s, clock);

  compliance::RuleRegistry registry;
  compliance::RegisterAllRules(registry);
  const auto* rule = compliance::FindRule("PROV_020");
  const auto* reg = registry.Find("PROV_020");
  ASSERT_TRUE(rule && reg);
  compliance::StoreEvidence evidence(s, clock, {{"ledger.ethereum.confirmations", "2"}});
  auto judge = [&] { return reg->check(*rule, evidence, "s1"); };

  EXPECT_EQ(judge().status, compliance::Status::kFail);  // nothing recorded: no evidence
  ASSERT_TRUE((*ledger)->Append("site.provisioned", "s1", "{}"));
  ASSERT_TRUE((*ledger)->Append("vault.bootstrap", "s1", "{}"));

  LocalAnchor local(key.public_key(), clock);
  {
    AnchorScheduler scheduler(**ledger, local, clock, {}, nullptr, &log);
    ASSERT_TRUE(scheduler.RunOnce());
  }
  auto r = judge();
  EXPECT_EQ(r.status, compliance::Status::kFail);
  EXPECT_NE(r.summary.find("not anchored on a chain"), std::string::npos) << r.summary;

  testutil::FakeEthNode node;
  node.auto_mine = false;
  chain::EthRpcClient rpc(node, {.url = "http://127.0.0.1:8545"});
  EthereumAnchor eth(rpc, chain::EthKey::FromHex(testing::kGanacheAccount0Key).value(),
                     key.public_key(), clock, {.chain_id = 1337, .confirmations = 2});
  AnchorSchedulerOptions options;
  options.required_confirmations = 2;
  ASSERT_TRUE((*ledger)->Append("site.provisioned", "s1", R"({"again":true})"));
  AnchorScheduler scheduler(**ledger, eth, clock, options, nullptr, &log);
  ASSERT_TRUE(scheduler.RunOnce());  // sent, unmined
  r = judge();
  EXPECT_EQ(r.status, compliance::Status::kFail);
  EXPECT_NE(r.summary.find("not enough confirmations"), std::string::npos) << r.summary;

  node.Mine(2);
  ASSERT_TRUE(scheduler.RunOnce());
  r = judge();
  EXPECT_EQ(r.status, compliance::Status::kPass) << r.summary;
  std::string tx;
  for (const auto& e : r.evidence) {
    if (e.key == "tx_hash") tx = e.value;
  }
  EXPECT_EQ(node.txs.count(tx), 1u);

  ASSERT_TRUE((*ledger)->Append("site.provision_failed", "s1", "{}"));
  ASSERT_TRUE(log.SyncSiteEvents(**ledger));
  r = judge();
  EXPECT_EQ(r.status, compliance::Status::kFail);
  EXPECT_NE(r.summary.find("not under any anchored root"), std::string::npos) << r.summary;
  EXPECT_FALSE(evidence.error().has_value());
}

}  // namespace
}  // namespace vigie::ledger
