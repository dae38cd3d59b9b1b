#pragma once
// LivenessTracker (MAINT_002): knows, for every tracked site, when its last heartbeat arrived
// and whether it is ok, late (no heartbeat for more than late_after) or down (no heartbeat for
// more than alert_after: the critical alert fires). A heartbeat brings a late/down site back
// to ok (the alert resolves).
//
// Complexity (no full scans): every site has exactly one pending entry in a deadline queue
// (a binary heap keyed by monotonic deadline). RecordHeartbeat is O(1) for an ok site (only
// last_seen moves; the pending entry is now early, which is harmless: when it pops it is
// rescheduled from last_seen) and O(log n) when a site comes back. Tick pops only the entries
// that are due, O(log n) each; a site with regular heartbeats costs about one pop per
// late_after period. Memory: one flat-map slot, one entry and one heap slot per site
// (LivenessTrackerTest.MillionSitesMemory reports the bytes per site).
//
// Time: intervals use the Env Clock's monotonic time (a wall-clock step cannot flag the whole
// fleet); the wall time of the last heartbeat is kept for display and metrics.
//
// Thread-safety: all methods are thread-safe. The transition callback is called without the
// tracker's lock held, from the thread that called RecordHeartbeat / Tick (for Start(): the
// clock's timer thread); it may call the tracker's const accessors.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"

namespace vigie::fleet {

enum class SiteLiveness : uint8_t { kOk, kLate, kDown };
std::string_view SiteLivenessName(SiteLiveness s);  // "ok", "late", "down"

struct LivenessTransition {
  std::string site;
  SiteLiveness from = SiteLiveness::kOk;
  SiteLiveness to = SiteLiveness::kOk;
  WallTime last_heartbeat;  // wall time of the last heartbeat (or of Track()) seen
  WallTime at;              // wall time of the transition
};

struct LivenessOptions {
  std::chrono::seconds late_after{90};    // fleet.heartbeat_late_after_seconds
  std::chrono::seconds alert_after{120};  // fleet.heartbeat_alert_after_seconds (MAINT_002)
};

struct SiteLivenessInfo {
  SiteLiveness state = SiteLiveness::kOk;
  WallTime last_heartbeat;
};

class LivenessTracker {
 public:
  using Callback = std::function<void(const LivenessTransition&)>;

  // REQUIRES: clock outlives the tracker; 0 < late_after < alert_after.
  LivenessTracker(Clock* clock, LivenessOptions options, Callback on_transition);
  ~LivenessTracker();  // Stop()s
  LivenessTracker(const LivenessTracker&) = delete;
  LivenessTracker& operator=(const LivenessTracker&) = delete;

  // Starts watching `site` as if it had just sent a heartbeat (a registered site that never
  // sends one goes late, then down). `last_heartbeat` (wall) defaults to now; a no-op if the
  // site is already tracked.
  void Track(std::string_view site, std::optional<WallTime> last_heartbeat = std::nullopt);
  // Records a heartbeat now (tracks the site if new). Emits a transition back to ok if the site
  // was late or down.
  void RecordHeartbeat(std::string_view site);

  // Pops every due deadline and emits the transitions. Called by the timer (Start) or by tests.
  void Tick();
  // Runs Tick() every `period` of the clock until Stop() / destruction.
  void Start(std::chrono::milliseconds period);
  void Stop();

  std::optional<SiteLivenessInfo> Get(std::string_view site) const;
  size_t size() const;
  // Counts by state (ok, late, down).
  std::array<size_t, 3> CountByState() const;
  // Calls `fn` for every tracked site (for /metrics rendering; holds the lock: keep fn cheap).
  void ForEach(const std::function<void(const std::string&, const SiteLivenessInfo&)>& fn) const;

 private:
  struct Entry {
    std::string site;
    int64_t last_mono_ns = 0;
    int64_t last_wall_s = 0;
    SiteLiveness state = SiteLiveness::kOk;
    bool queued = false;
  };
  struct Due {
    int64_t deadline_ns;
    uint32_t index;
    bool operator>(const Due& o) const { return deadline_ns > o.deadline_ns; }
  };

  int64_t MonoNowNs() const;
  uint32_t IndexLocked(std::string_view site, int64_t mono_ns, int64_t wall_s, bool* created);
  void PushLocked(uint32_t index, int64_t deadline_ns);
  void Emit(std::vector<LivenessTransition>& transitions);
  void ScheduleNext();

  Clock* clock_;
  LivenessOptions options_;
  Callback on_transition_;

  mutable std::mutex mu_;
  struct Index;                  // site -> index into entries_ (liveness.cc)
  std::unique_ptr<Index> index_;  // its keys are views into entries_[i].site
  std::deque<Entry> entries_;     // stable addresses for the views
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> queue_;
  std::array<size_t, 3> counts_{};

  std::mutex timer_mu_;
  bool stopped_ = true;
  std::chrono::milliseconds period_{1000};
  std::unique_ptr<Timer> timer_;
};

}  // namespace vigie::fleet
