#include "ledger/anchor_service.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include "ledger/test_util.h"
#include "ledger/verify.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

using namespace std::chrono_literals;

class RecordingAlerts final : public AlertSink {
 public:
  void Raise(std::string_view name, std::string_view detail) override {
    raised.emplace_back(name);
    last_detail = detail;
  }
  void Resolve(std::string_view name) override { resolved.emplace_back(name); }
  std::vector<std::string> raised, resolved;
  std::string last_detail;
};

class AnchorServiceTest : public ::testing::Test {
 protected:
  AnchorServiceTest() {
    // `vigie site provision`: a separate Ledger on the same directory.
    auto opened = Ledger::Open(dir(), env(), &key_);
    EXPECT_TRUE(opened) << opened.error().ToString();
    provisioning_ = std::move(*opened);
    EXPECT_TRUE(provisioning_->Append("site.provisioned", "s1", "{}"));
    EXPECT_TRUE(provisioning_->Append("site.provisioned", "s2", "{}"));
    options_.ledger_dir = dir();
    options_.fleet_key = &key_;
    options_.env = env();
    options_.config.anchor = config::AnchorBackend::kLocal;
    options_.config.ethereum.anchor_interval_seconds = 3600;
    options_.config.ethereum.alert_after_seconds = 7200;
  }
  Env env() { return Env{&clock_, RealFileSystem(), RealRandom()}; }
  std::string dir() const { return tmp_.File("ledger"); }
  // Tree sizes anchored, as recorded in anchors.seg (read by a third Ledger).
  std::vector<uint64_t> AnchoredSizes() {
    std::vector<uint64_t> out;
    for (const AnchorRecord& r : provisioning_->AnchorRecords()) out.push_back(r.head.tree_size);
    return out;
  }

  testing::TempDir tmp_;
  testing::FakeClock clock_;
  crypto::SigningKey key_ = testutil::TestKey('\x61');
  std::unique_ptr<Ledger> provisioning_;
  AnchorServiceOptions options_;
  RecordingAlerts alerts_;
};

TEST_F(AnchorServiceTest, AnchorsPeriodicallyIncludingEntriesAnotherLedgerAppends) {
  auto service = StartAnchorService(options_, &alerts_);
  ASSERT_TRUE(service) << service.error().ToString();
  EXPECT_EQ((*service)->anchor_name(), "local");
  clock_.Advance(0s);  // the first run is due at once
  EXPECT_EQ(AnchoredSizes(), (std::vector<uint64_t>{2}));

  // The provisioning process appends after the service started; the next periodic run
  // (interval from [ledger.ethereum] anchor_interval_seconds) anchors it.
  ASSERT_TRUE(provisioning_->Append("site.provisioned", "s3", "{}"));
  clock_.Advance(3599s);
  EXPECT_EQ(AnchoredSizes(), (std::vector<uint64_t>{2}));
  clock_.Advance(1s);
  EXPECT_EQ(AnchoredSizes(), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ((*service)->scheduler().anchored_size(), 3u);
  // The head the service signed covers the other process's entry, and verifies.
  EXPECT_EQ(provisioning_->LatestTreeHead()->tree_size, 3u);

  clock_.Advance(3600s);  // nothing new: nothing anchored
  EXPECT_EQ(AnchoredSizes(), (std::vector<uint64_t>{2, 3}));

  // On demand, without waiting for the period.
  ASSERT_TRUE(provisioning_->Append("vault.bootstrap", "s3", "{}"));
  auto report = (*service)->RunOnce();
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->sent);
  EXPECT_TRUE(report->up_to_date());
  EXPECT_EQ(AnchoredSizes(), (std::vector<uint64_t>{2, 3, 4}));

  (*service)->Stop();
  EXPECT_EQ(clock_.PendingTimers(), 0u);
  ASSERT_TRUE(provisioning_->Append("site.provisioned", "s4", "{}"));
  clock_.Advance(2h);
  EXPECT_EQ(AnchoredSizes().size(), 3u) << "stopped";
  auto verified = VerifyLedger(dir(), key_.public_key());
  ASSERT_TRUE(verified);
  EXPECT_TRUE(verified->ok());
  EXPECT_TRUE(alerts_.raised.empty());
}

TEST_F(AnchorServiceTest, SharesALedgerTheServerHasOpenAndRecordsToTheStore) {
  store::SqliteOptions opts;
  opts.path = tmp_.File("vigie.db");
  auto st = store::OpenSqliteStore(opts);
  ASSERT_TRUE(st) << st.error().ToString();
  auto server_ledger = Ledger::Open(dir(), env(), &key_);
  ASSERT_TRUE(server_ledger);
  options_.ledger = server_ledger->get();
  options_.store = st->get();
  auto service = StartAnchorService(options_, nullptr);
  ASSERT_TRUE(service) << service.error().ToString();
  EXPECT_EQ(&(*service)->ledger(), server_ledger->get());
  clock_.Advance(0s);
  ASSERT_TRUE(provisioning_->Append("site.provisioned", "s3", "{}"));
  ASSERT_TRUE((*service)->RunOnce());
  auto rows = (*st)->Query("SELECT site FROM ledger_site_events ORDER BY seq");
  ASSERT_TRUE(rows) << rows.error().ToString();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ(*(*rows)[2].GetText("site"), "s3");
  auto anchors = (*st)->Query("SELECT tree_size FROM ledger_anchors ORDER BY tree_size");
  ASSERT_TRUE(anchors);
  ASSERT_EQ(anchors->size(), 2u);
  EXPECT_EQ(*(*anchors)[1].GetInt("tree_size"), 3);

  options_.ledger_dir = tmp_.File("elsewhere");
  auto mismatched = StartAnchorService(options_, nullptr);
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(AnchorServiceTest, StuckLedgerLockFailsRunsAndRaisesTheAlertThroughTheSink) {
  options_.config.lock_timeout_seconds = 1;  // each failing run waits 1 s of real time
  options_.config.ethereum.anchor_interval_seconds = 60;
  options_.config.ethereum.alert_after_seconds = 61;
  clock_.Advance(120s);  // the two entries are now 120 s old, none anchored
  auto service = StartAnchorService(options_, &alerts_);
  ASSERT_TRUE(service) << service.error().ToString();
  // Another vigie process hangs while holding the ledger lock.
  int stuck = ::open((dir() + "/LOCK").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(stuck, 0);
  ASSERT_EQ(::flock(stuck, LOCK_EX), 0);
  clock_.Advance(0s);
  EXPECT_EQ((*service)->scheduler().consecutive_failures(), 1);
  ASSERT_EQ(alerts_.raised, std::vector<std::string>{std::string(kAnchorOverdueAlert)});
  EXPECT_TRUE(AnchoredSizes().empty());
  auto failed = (*service)->RunOnce();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(failed.error().message.find("LOCK"), std::string::npos);

  ASSERT_EQ(::flock(stuck, LOCK_UN), 0);
  ::close(stuck);
  clock_.Advance(10s);  // the backoff retry (5 s, then 10 s) succeeds
  EXPECT_EQ((*service)->scheduler().consecutive_failures(), 0);
  EXPECT_EQ(AnchoredSizes(), (std::vector<uint64_t>{2}));
  EXPECT_EQ(alerts_.resolved, std::vector<std::string>{std::string(kAnchorOverdueAlert)});
}

TEST_F(AnchorServiceTest, RefusesAMissingKeyOrAnUnreadableAnchorKeyFile) {
  options_.fleet_key = nullptr;
  EXPECT_EQ(StartAnchorService(options_, nullptr).error().code, ErrorCode::kInvalidArgument);
  options_.fleet_key = &key_;
  options_.config.anchor = config::AnchorBackend::kEthereum;
  options_.config.ethereum.rpc_url = "http://127.0.0.1:1";
  options_.config.ethereum.chain_id = 1337;
  options_.config.ethereum.key_file = tmp_.File("absent.key");
  auto refused = StartAnchorService(options_, nullptr);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("absent.key"), std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace vigie::ledger
