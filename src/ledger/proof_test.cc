#include "ledger/proof.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ledger/anchor_scheduler.h"
#include "ledger/ethereum_anchor.h"
#include "ledger/fake_eth_node.h"
#include "ledger/test_util.h"
#include "testing/fake_clock.h"
#include "testing/ganache.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

using nlohmann::json;
using State = AnchorStatus::State;

class ProofTest : public ::testing::Test {
 protected:
  ProofTest() {
    auto opened =
        Ledger::Open(tmp_.File("ledger"), Env{&clock_, RealFileSystem(), RealRandom()}, &key_);
    EXPECT_TRUE(opened) << opened.error().ToString();
    ledger_ = std::move(*opened);
    EXPECT_TRUE(ledger_->Append("site.provisioned", "s1", R"({"region":"eu-west-3"})"));
    EXPECT_TRUE(ledger_->Append("site.provisioned", "s2", "{}"));
    EXPECT_TRUE(ledger_->Append("vault.bootstrap", "s1", "{}"));  // not a provisioning event
    EXPECT_TRUE(ledger_->Append("site.provision_failed", "s1", R"({"step":"kms"})"));
  }
  // Anchors everything so far on the fake node (1 confirmation).
  void AnchorOnChain() {
    AnchorSchedulerOptions options;
    options.required_confirmations = 1;
    AnchorScheduler scheduler(*ledger_, eth_, clock_, options);
    auto report = scheduler.RunOnce();
    ASSERT_TRUE(report) << report.error().ToString();
    ASSERT_TRUE(report->up_to_date());
  }
  json Proof(std::string_view site) {
    auto text = BuildSiteProofJson(*ledger_, site);
    EXPECT_TRUE(text) << text.error().ToString();
    return text ? json::parse(*text) : json();
  }
  Result<ProofCheck> Check(const json& doc, chain::EthRpcClient* node = nullptr) {
    return CheckProofJson(doc.dump(), key_.public_key(), node, 1);
  }

  testing::TempDir tmp_;
  testing::FakeClock clock_;
  crypto::SigningKey key_ = testutil::TestKey('\x61');
  std::unique_ptr<Ledger> ledger_;
  testutil::FakeEthNode node_;
  chain::EthRpcClient rpc_{node_, {.url = "http://127.0.0.1:8545"}};
  EthereumAnchor eth_{rpc_, chain::EthKey::FromHex(testing::kGanacheAccount0Key).value(),
                      key_.public_key(), clock_,
                      EthereumAnchorOptions{.chain_id = 1337, .confirmations = 1}};
};

TEST_F(ProofTest, ProvesTheSiteProvisioningEventsUnderTheAnchoredRoot) {
  AnchorOnChain();
  ASSERT_TRUE(ledger_->Append("site.provisioned", "s1", "{}"));  // after the anchor
  json doc = Proof("s1");
  EXPECT_EQ(doc["format"], "vigie-ledger-proof/1");
  EXPECT_EQ(doc["site"], "s1");
  EXPECT_EQ(doc["anchored"], true);
  EXPECT_EQ(doc["tree_head"]["tree_size"], 4);
  ASSERT_EQ(doc["entries"].size(), 2u);  // seq 0 and 3; seq 2 is not a provisioning event
  EXPECT_EQ(doc["entries"][0]["seq"], 0);
  EXPECT_EQ(doc["entries"][1]["seq"], 3);
  EXPECT_EQ(doc["entries"][1]["kind"], "site.provision_failed");
  EXPECT_EQ(doc["unanchored"], json::array({4}));
  EXPECT_EQ(doc["anchor"]["anchor"], "ethereum");
  EXPECT_EQ(doc["anchor"]["chain_id"], "1337");
  const std::string tx_hash = doc["anchor"]["tx_hash"];
  ASSERT_EQ(node_.txs.count(tx_hash), 1u);
  EXPECT_EQ(doc["anchor"]["block_hash"], node_.BlockHash(*node_.txs[tx_hash].block));

  auto offline = Check(doc);
  ASSERT_TRUE(offline) << offline.error().ToString();
  EXPECT_EQ(offline->entries, 2u);
  EXPECT_TRUE(offline->anchored);
  EXPECT_EQ(offline->unanchored, std::vector<uint64_t>{4});
  EXPECT_FALSE(offline->chain.has_value());

  auto online = Check(doc, &rpc_);
  ASSERT_TRUE(online) << online.error().ToString();
  ASSERT_TRUE(online->chain.has_value());
  EXPECT_EQ(online->chain->state, State::kConfirmed) << online->chain->detail;
}

TEST_F(ProofTest, TamperingIsDetectedAndNamed) {
  AnchorOnChain();
  const json good = Proof("s1");

  json doc = good;  // an entry's body changed
  std::string entry = doc["entries"][0]["entry"];
  entry[entry.size() - 2] = entry[entry.size() - 2] == '0' ? '1' : '0';
  doc["entries"][0]["entry"] = entry;
  auto r = Check(doc);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message.find("entry 0"), std::string::npos) << r.error().message;

  doc = good;  // the leaf hash recomputed by the forger, but then the path fails
  doc["entries"][1]["inclusion_path"][0] = std::string(64, 'a');
  r = Check(doc);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message.find("inclusion path"), std::string::npos) << r.error().message;

  doc = good;  // another site claimed
  doc["site"] = "s2";
  r = Check(doc);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);

  doc = good;  // a different root: the signature no longer verifies
  doc["tree_head"]["root"] = std::string(64, '0');
  r = Check(doc);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message.find("not signed by the fleet key"), std::string::npos);

  // Another fleet key.
  auto other = testutil::TestKey('\x62');
  EXPECT_EQ(CheckProofJson(good.dump(), other.public_key(), nullptr, 1).error().code,
            ErrorCode::kIntegrity);

  // Pointing at another transaction: the node shows an input that is not the root.
  ASSERT_TRUE(ledger_->Append("site.provisioned", "s9", "{}"));
  AnchorOnChain();
  std::string other_tx;
  for (const auto& [hash, tx] : node_.txs) {
    if (hash != good["anchor"]["tx_hash"]) other_tx = hash;
  }
  doc = good;
  doc["anchor"]["tx_hash"] = other_tx;
  r = Check(doc, &rpc_);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->chain->state, State::kMismatch);
  EXPECT_NE(r->chain->detail.find("carries input"), std::string::npos) << r->chain->detail;

  doc = good;  // the proof lies about the block
  doc["anchor"]["block_hash"] = "0x" + std::string(64, 'b');
  r = Check(doc, &rpc_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->chain->state, State::kMismatch);

  // Malformed documents are input errors, not integrity failures.
  EXPECT_EQ(CheckProofJson("{", key_.public_key(), nullptr).error().code,
            ErrorCode::kInvalidArgument);
  doc = good;
  doc.erase("tree_head");
  EXPECT_EQ(Check(doc).error().code, ErrorCode::kInvalidArgument);
  doc = good;
  doc["format"] = "other/1";
  EXPECT_EQ(Check(doc).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ProofTest, LocalAnchorProofSaysNotAnchored) {
  LocalAnchor local(key_.public_key(), clock_);
  AnchorScheduler scheduler(*ledger_, local, clock_, {});
  ASSERT_TRUE(scheduler.RunOnce());
  json doc = Proof("s1");
  EXPECT_EQ(doc["anchored"], false);
  EXPECT_EQ(doc["anchor"]["anchor"], "local");
  EXPECT_EQ(doc["anchor"]["tx_hash"], "");
  auto r = Check(doc, &rpc_);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->anchored);
  ASSERT_TRUE(r->anchor);
  EXPECT_FALSE(r->anchor->on_chain());
  EXPECT_FALSE(r->chain.has_value());

  doc["anchored"] = true;  // claiming a chain anchor that is not there
  EXPECT_EQ(Check(doc).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ProofTest, ErrorsNameWhatToDo) {
  auto none = BuildSiteProofJson(*ledger_, "nope");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  auto unsigned_ = BuildSiteProofJson(*ledger_, "s1");  // no head yet
  ASSERT_FALSE(unsigned_);
  EXPECT_EQ(unsigned_.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(unsigned_.error().message.find("vigie ledger anchor"), std::string::npos);
}

}  // namespace
}  // namespace vigie::ledger
