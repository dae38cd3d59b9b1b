#include "ledger/anchor_scheduler.h"

#include <gtest/gtest.h>

#include "ledger/ethereum_anchor.h"
#include "ledger/fake_eth_node.h"
#include "ledger/test_util.h"
#include "testing/fake_clock.h"
#include "testing/ganache.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

using namespace std::chrono_literals;
using State = AnchorStatus::State;

class RecordingAlerts final : public AlertSink {
 public:
  void Raise(std::string_view name, std::string_view detail) override {
    raised.emplace_back(name);
    last_detail = detail;
    active = true;
  }
  void Resolve(std::string_view name) override {
    resolved.emplace_back(name);
    active = false;
  }
  std::vector<std::string> raised, resolved;
  std::string last_detail;
  bool active = false;
};

class RecordingListener final : public AnchorListener {
 public:
  Status OnRun(Ledger&) override {
    ++runs;
    return OkStatus();
  }
  Status OnAnchorStatus(const AnchorRecord& record, const AnchorStatus& status,
                        uint64_t required) override {
    states.push_back(status.state);
    sizes.push_back(record.head.tree_size);
    last_required = required;
    return OkStatus();
  }
  int runs = 0;
  std::vector<State> states;
  std::vector<uint64_t> sizes;
  uint64_t last_required = 0;
};

class AnchorSchedulerTest : public ::testing::Test {
 protected:
  AnchorSchedulerTest() {
    Reopen();
    EXPECT_TRUE(ledger_->Append("site.provisioned", "s1", "{}"));
    EXPECT_TRUE(ledger_->Append("site.provisioned", "s2", "{}"));
    options_.interval = 1h;
    options_.poll_interval = 15s;
    options_.initial_backoff = 5s;
    options_.max_backoff = 40s;
    options_.alert_after = 60s;
    options_.drop_after = 10min;
  }
  void Reopen() {
    ledger_.reset();
    auto opened =
        Ledger::Open(tmp_.File("ledger"), Env{&clock_, RealFileSystem(), RealRandom()}, &key_);
    ASSERT_TRUE(opened) << opened.error().ToString();
    ledger_ = std::move(*opened);
  }
  std::unique_ptr<EthereumAnchor> MakeEthAnchor(uint64_t confirmations) {
    options_.required_confirmations = confirmations;
    return std::make_unique<EthereumAnchor>(
        rpc_, chain::EthKey::FromHex(testing::kGanacheAccount0Key).value(), key_.public_key(),
        clock_, EthereumAnchorOptions{.chain_id = 1337, .confirmations = confirmations});
  }

  testing::TempDir tmp_;
  testing::FakeClock clock_;
  crypto::SigningKey key_ = testutil::TestKey('\x51');
  std::unique_ptr<Ledger> ledger_;
  testutil::FakeEthNode node_;
  chain::EthRpcClient rpc_{node_, {.url = "http://127.0.0.1:8545"}};
  AnchorSchedulerOptions options_;
  RecordingAlerts alerts_;
  RecordingListener listener_;
};

TEST_F(AnchorSchedulerTest, LocalAnchorIsFinalAtOnceAndAnchorsOnlyNewEntries) {
  LocalAnchor anchor(key_.public_key(), clock_);
  AnchorScheduler scheduler(*ledger_, anchor, clock_, options_, &alerts_, &listener_);
  auto report = scheduler.RunOnce();
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->sent);
  EXPECT_TRUE(report->up_to_date());
  EXPECT_EQ(report->status->state, State::kNotOnChain);
  EXPECT_EQ(scheduler.anchored_size(), 2u);
  EXPECT_EQ(scheduler.NextDelay(), options_.interval);
  ASSERT_EQ(ledger_->AnchorRecords().size(), 1u);

  report = scheduler.RunOnce();  // nothing new
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->sent);
  EXPECT_EQ(ledger_->AnchorRecords().size(), 1u);

  ASSERT_TRUE(ledger_->Append("site.provisioned", "s3", "{}"));
  report = scheduler.RunOnce();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->sent);
  EXPECT_EQ(report->record->head.tree_size, 3u);
  EXPECT_EQ(ledger_->AnchorRecords().size(), 2u);
  EXPECT_EQ(listener_.runs, 3);
}

TEST_F(AnchorSchedulerTest, PeriodicRunsPollUntilConfirmedAndPersistTheFinalRecord) {
  auto anchor = MakeEthAnchor(3);
  {
    AnchorScheduler scheduler(*ledger_, *anchor, clock_, options_, &alerts_, &listener_);
    scheduler.Start();
    clock_.Advance(0s);  // the first run is due at once
    ASSERT_EQ(node_.txs.size(), 1u);
    ASSERT_TRUE(scheduler.pending());
    EXPECT_EQ(scheduler.NextDelay(), options_.poll_interval);
    EXPECT_EQ(scheduler.anchored_size(), 0u);
    // Pending record persisted before any confirmation: nothing lost on a crash.
    ASSERT_EQ(ledger_->AnchorRecords().size(), 1u);
    EXPECT_TRUE(ledger_->AnchorRecords()[0].block_hash.empty());

    node_.Mine(2);
    clock_.Advance(options_.poll_interval);
    EXPECT_FALSE(scheduler.pending());
    EXPECT_EQ(scheduler.anchored_size(), 2u);
    EXPECT_EQ(scheduler.NextDelay(), options_.interval);
    EXPECT_EQ(node_.txs.size(), 1u);  // polled, not re-sent
    auto records = ledger_->AnchorRecords();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].tx_hash, records[0].tx_hash);
    EXPECT_EQ(records[1].confirmations, 3u);
    EXPECT_EQ(records[1].block_hash, node_.BlockHash(records[1].block_number));
    EXPECT_EQ(listener_.states.back(), State::kConfirmed);
    EXPECT_EQ(listener_.last_required, 3u);
    scheduler.Stop();
    EXPECT_EQ(clock_.PendingTimers(), 0u);
  }
  // A new scheduler (a restart) knows the ledger is anchored.
  AnchorScheduler again(*ledger_, *anchor, clock_, options_);
  EXPECT_EQ(again.anchored_size(), 2u);
  EXPECT_FALSE(again.pending());
  auto report = again.RunOnce();
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->sent);
}

TEST_F(AnchorSchedulerTest, PendingAnchorSurvivesARestartAndIsNotSentTwice) {
  node_.auto_mine = false;
  auto anchor = MakeEthAnchor(1);
  {
    AnchorScheduler scheduler(*ledger_, *anchor, clock_, options_);
    ASSERT_TRUE(scheduler.RunOnce());
    ASSERT_TRUE(scheduler.pending());
  }
  Reopen();  // vigie restarts
  AnchorScheduler scheduler(*ledger_, *anchor, clock_, options_);
  ASSERT_TRUE(scheduler.pending());
  node_.Mine();
  auto report = scheduler.RunOnce();
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_FALSE(report->sent);
  EXPECT_EQ(report->status->state, State::kConfirmed);
  EXPECT_EQ(node_.txs.size(), 1u);
  EXPECT_EQ(scheduler.anchored_size(), 2u);
}

TEST_F(AnchorSchedulerTest, NodeDownRetriesWithGrowingDelayAlertsThenResolves) {
  auto anchor = MakeEthAnchor(1);
  node_.down = true;
  std::vector<MonoTime> attempts;  // each run asks eth_chainId first
  node_.on_request = [&](const std::string& method) {
    if (method == "eth_chainId") attempts.push_back(clock_.Monotonic());
  };
  AnchorScheduler scheduler(*ledger_, *anchor, clock_, options_, &alerts_, &listener_);
  const MonoTime start = clock_.Monotonic();
  scheduler.Start();
  clock_.Advance(0s);
  clock_.Advance(5s + 10s + 20s + 40s + 40s);  // backoff: 5, 10, 20, 40 (cap), 40
  ASSERT_EQ(attempts.size(), 6u);
  std::vector<Duration> gaps;
  for (size_t i = 1; i < attempts.size(); ++i) gaps.push_back(attempts[i] - attempts[i - 1]);
  EXPECT_EQ(gaps, (std::vector<Duration>{5s, 10s, 20s, 40s, 40s}));
  EXPECT_EQ(attempts[0], start);
  EXPECT_EQ(scheduler.consecutive_failures(), 6);
  // The entries are 115 s old (> 60 s): alerted once, with the reason.
  ASSERT_EQ(alerts_.raised, std::vector<std::string>{std::string(kAnchorOverdueAlert)});
  EXPECT_TRUE(scheduler.alert_raised());
  EXPECT_NE(alerts_.last_detail.find("not anchored"), std::string::npos) << alerts_.last_detail;
  EXPECT_TRUE(node_.txs.empty());
  EXPECT_EQ(ledger_->size(), 2u);  // nothing lost meanwhile

  node_.down = false;
  clock_.Advance(40s);
  EXPECT_EQ(node_.txs.size(), 1u);
  EXPECT_EQ(scheduler.consecutive_failures(), 0);
  EXPECT_EQ(scheduler.anchored_size(), 2u);
  EXPECT_FALSE(scheduler.alert_raised());
  EXPECT_EQ(alerts_.resolved, std::vector<std::string>{std::string(kAnchorOverdueAlert)});
  EXPECT_EQ(scheduler.NextDelay(), options_.interval);
  scheduler.Stop();
}

TEST_F(AnchorSchedulerTest, NoAlertBeforeTheDelay) {
  auto anchor = MakeEthAnchor(1);
  node_.down = true;
  AnchorScheduler scheduler(*ledger_, *anchor, clock_, options_, &alerts_);
  ASSERT_FALSE(scheduler.RunOnce());
  clock_.Advance(59s);
  ASSERT_FALSE(scheduler.RunOnce());
  EXPECT_TRUE(alerts_.raised.empty());
  clock_.Advance(1s);
  ASSERT_FALSE(scheduler.RunOnce());
  EXPECT_EQ(alerts_.raised.size(), 1u);
  ASSERT_FALSE(scheduler.RunOnce());
  EXPECT_EQ(alerts_.raised.size(), 1u);  // raised once, not on every run
}

TEST_F(AnchorSchedulerTest, DroppedTransactionIsAnchoredAgainWithTheSameHead) {
  auto anchor = MakeEthAnchor(1);
  node_.drop_next = true;
  AnchorScheduler scheduler(*ledger_, *anchor, clock_, options_, &alerts_, &listener_);
  auto first = scheduler.RunOnce();
  ASSERT_TRUE(first) << first.error().ToString();
  ASSERT_TRUE(first->sent);
  EXPECT_EQ(first->status->state, State::kNotFound);
  const AnchorRecord dropped = *first->record;
  EXPECT_TRUE(node_.txs.empty());

  clock_.Advance(5min);  // not yet counted as dropped: the node may lag
  auto wait = scheduler.RunOnce();
  ASSERT_TRUE(wait);
  EXPECT_FALSE(wait->sent);
  EXPECT_TRUE(scheduler.pending());

  clock_.Advance(6min);
  node_.gas_price *= 2;  // the market moved: the new transaction pays the current price
  auto again = scheduler.RunOnce();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->sent);
  EXPECT_EQ(again->status->state, State::kConfirmed);
  EXPECT_NE(again->record->tx_hash, dropped.tx_hash);
  EXPECT_EQ(again->record->head.tree_size, dropped.head.tree_size);
  EXPECT_EQ(again->record->head.root, dropped.head.root);
  EXPECT_EQ(again->record->head.signature, dropped.head.signature);  // the same head
  EXPECT_EQ(ledger_->TreeHeads().size(), 1u);
  EXPECT_EQ(scheduler.anchored_size(), 2u);
  EXPECT_EQ(node_.txs.size(), 1u);
  EXPECT_EQ(node_.txs.begin()->second.decoded.tx.gas_price, node_.gas_price);
}

TEST_F(AnchorSchedulerTest, ChainIdMismatchIsAFailureThatBacksOff) {
  auto anchor = MakeEthAnchor(1);
  node_.chain_id = 5;
  AnchorScheduler scheduler(*ledger_, *anchor, clock_, options_);
  auto report = scheduler.RunOnce();
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(scheduler.NextDelay(), options_.initial_backoff);
  ASSERT_FALSE(scheduler.RunOnce());
  EXPECT_EQ(scheduler.NextDelay(), 2 * options_.initial_backoff);
}

}  // namespace
}  // namespace vigie::ledger
