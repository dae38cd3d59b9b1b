#include "fleet/liveness.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdio>

#include "testing/fake_clock.h"

namespace vigie::fleet {
namespace {

using std::chrono::seconds;

class LivenessTrackerTest : public ::testing::Test {
 protected:
  LivenessTrackerTest()
      : tracker_(&clock_, LivenessOptions{seconds(90), seconds(120)},
                 [this](const LivenessTransition& t) { transitions_.push_back(t); }) {}

  std::string Last() {
    if (transitions_.empty()) return "";
    const auto& t = transitions_.back();
    return t.site + ":" + std::string(SiteLivenessName(t.from)) + "->" +
           std::string(SiteLivenessName(t.to));
  }

  vigie::testing::FakeClock clock_{FromUnixSeconds(1'800'000'000)};
  std::vector<LivenessTransition> transitions_;
  LivenessTracker tracker_;
};

TEST_F(LivenessTrackerTest, SilentSiteGoesLateThenDownThenRecovers) {
  tracker_.RecordHeartbeat("a");
  clock_.Advance(seconds(90));
  tracker_.Tick();
  EXPECT_TRUE(transitions_.empty());  // exactly 90 s is not "more than 90 s"
  clock_.Advance(seconds(1));
  tracker_.Tick();
  EXPECT_EQ(Last(), "a:ok->late");
  clock_.Advance(seconds(29));
  tracker_.Tick();
  EXPECT_EQ(transitions_.size(), 1u);  // 120 s: not yet down
  clock_.Advance(seconds(1));
  tracker_.Tick();
  EXPECT_EQ(Last(), "a:late->down");
  EXPECT_EQ(ToUnixSeconds(transitions_.back().last_heartbeat), 1'800'000'000);
  EXPECT_EQ(tracker_.Get("a")->state, SiteLiveness::kDown);
  EXPECT_EQ(tracker_.CountByState()[2], 1u);

  clock_.Advance(seconds(500));
  tracker_.Tick();
  EXPECT_EQ(transitions_.size(), 2u);  // down stays down without new transitions
  tracker_.RecordHeartbeat("a");
  EXPECT_EQ(Last(), "a:down->ok");
  EXPECT_EQ(tracker_.CountByState()[0], 1u);
  // And the site is watched again.
  clock_.Advance(seconds(121));
  tracker_.Tick();
  EXPECT_EQ(Last(), "a:ok->down");
}

TEST_F(LivenessTrackerTest, RegularHeartbeatsRaiseNothing) {
  for (int i = 0; i < 100; ++i) {
    tracker_.RecordHeartbeat("a");
    tracker_.RecordHeartbeat("b");
    clock_.Advance(seconds(60));
    tracker_.Tick();
  }
  EXPECT_TRUE(transitions_.empty());
  EXPECT_EQ(tracker_.size(), 2u);
}

TEST_F(LivenessTrackerTest, TrackedSiteWithoutHeartbeatGoesDown) {
  tracker_.Track("never");
  clock_.Advance(seconds(121));
  tracker_.Tick();
  EXPECT_EQ(Last(), "never:ok->down");
}

TEST_F(LivenessTrackerTest, TrackWithPastHeartbeatCountsFromIt) {
  tracker_.Track("old", clock_.Now() - seconds(100));
  tracker_.Tick();
  EXPECT_EQ(Last(), "old:ok->late");
}

TEST_F(LivenessTrackerTest, TimerDrivenTicks) {
  tracker_.Start(std::chrono::milliseconds(1000));
  tracker_.RecordHeartbeat("a");
  clock_.Advance(seconds(125));
  EXPECT_EQ(Last(), "a:late->down");
  tracker_.Stop();
}

TEST_F(LivenessTrackerTest, MillionSitesMemory) {
  constexpr size_t kSites = 1'000'000;
  struct mallinfo2 before = mallinfo2();
  {
    LivenessTracker big(&clock_, LivenessOptions{}, nullptr);
    char name[32];
    for (size_t i = 0; i < kSites; ++i) {
      std::snprintf(name, sizeof name, "site-%07zu", i);
      big.RecordHeartbeat(name);
    }
    struct mallinfo2 after = mallinfo2();
    const double per_site =
        static_cast<double>(after.uordblks - before.uordblks) / static_cast<double>(kSites);
    std::printf("LivenessTracker: %.1f bytes per site at %zu sites\n", per_site, kSites);
    RecordProperty("bytes_per_site", std::to_string(per_site));
    EXPECT_EQ(big.size(), kSites);
    EXPECT_LE(per_site, 512.0);
    clock_.Advance(seconds(121));
    big.Tick();
    EXPECT_EQ(big.CountByState()[2], kSites);
  }
}

}  // namespace
}  // namespace vigie::fleet
