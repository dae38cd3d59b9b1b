#include "fleet/alerts.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::fleet {
namespace {

class RecordingNotifier final : public Notifier {
 public:
  void Notify(const Alert& alert) override {
    std::lock_guard lock(mu_);
    alerts_.push_back(alert);
  }
  std::vector<Alert> alerts() const {
    std::lock_guard lock(mu_);
    return alerts_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Alert> alerts_;
};

class AlertManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = store::OpenSqliteStore({.path = dir_.File("vigie.db")});
    ASSERT_TRUE(st) << st.error().ToString();
    store_ = std::move(*st);
  }
  std::unique_ptr<AlertManager> Manager(http::MetricsRegistry& metrics) {
    auto m = AlertManager::Create(store_.get(), &clock_, &metrics, &notifier_);
    EXPECT_TRUE(m) << m.error().ToString();
    return m ? std::move(*m) : nullptr;
  }
  // Waits for the store's asynchronous writes (and their completions) to finish.
  void Sync() { ASSERT_TRUE(store_->Write([](store::Txn&) { return OkStatus(); })); }

  vigie::testing::TempDir dir_;
  vigie::testing::FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  RecordingNotifier notifier_;
};

TEST_F(AlertManagerTest, FleetAlertRaisedOnceStoredCountedNotifiedThenResolved) {
  http::MetricsRegistry metrics;
  auto m = Manager(metrics);
  m->RaiseFleetAlert("PROV_020", "warning", "ledger.anchor.overdue: 3 entries unanchored");
  m->RaiseFleetAlert("PROV_020", "warning", "again");  // still firing: no second alert
  Sync();
  auto alerts = m->List("");
  ASSERT_TRUE(alerts);
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_EQ((*alerts)[0].rule, "PROV_020");
  EXPECT_EQ((*alerts)[0].site, "");
  EXPECT_EQ((*alerts)[0].state, "firing");
  EXPECT_EQ(m->firing(), 1u);
  std::string text = metrics.Render();
  EXPECT_NE(text.find("vigie_alerts_firing{severity=\"warning\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("vigie_alerts_firing{severity=\"critical\"} 0"), std::string::npos) << text;

  // A site's liveness alert is separate from the fleet alert.
  m->OnTransition({"site-a", SiteLiveness::kOk, SiteLiveness::kDown, clock_.Now(), clock_.Now()});
  Sync();
  EXPECT_EQ(m->firing(), 2u);

  m->ResolveFleetAlert("PROV_020");
  Sync();
  alerts = m->List("");
  ASSERT_TRUE(alerts);
  int firing = 0;
  for (const auto& a : *alerts) firing += a.state == "firing";
  EXPECT_EQ(firing, 1);  // site-a's MAINT_002 only
  EXPECT_EQ(m->firing(), 1u);
  auto sent = notifier_.alerts();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2].rule, "PROV_020");
  EXPECT_EQ(sent[2].state, "resolved");
}

TEST_F(AlertManagerTest, FiringFleetAlertReloadedAfterRestartAndStillResolvable) {
  {
    http::MetricsRegistry metrics;
    auto m = Manager(metrics);
    m->RaiseFleetAlert("PROV_020", "warning", "overdue");
    Sync();
  }
  http::MetricsRegistry metrics;
  auto m = Manager(metrics);
  EXPECT_EQ(m->firing(), 1u);
  m->RaiseFleetAlert("PROV_020", "warning", "overdue");  // already firing since before
  m->ResolveFleetAlert("PROV_020");
  Sync();
  auto alerts = m->List("");
  ASSERT_TRUE(alerts);
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_EQ((*alerts)[0].state, "resolved");
  EXPECT_EQ(m->firing(), 0u);
}

}  // namespace
}  // namespace vigie::fleet
