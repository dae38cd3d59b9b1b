#pragma once
// FakeClock: a Clock whose time moves only when a test says so.
// Advance() runs every timer that falls due, in deadline order, on the calling thread, so a
// test is deterministic and never sleeps. SleepFor(d) advances the clock by d.
// Thread-safety: all methods may be called from any thread.

#include <map>
#include <mutex>

#include "base/env.h"

namespace vigie::testing {

class FakeClock final : public Clock {
 public:
  // Starts at 2026-01-01T00:00:00Z wall time.
  FakeClock();
  explicit FakeClock(WallTime start);

  WallTime Now() const override;
  MonoTime Monotonic() const override;
  void SleepFor(Duration d) override { Advance(d); }
  std::unique_ptr<Timer> RunAfter(Duration delay, std::function<void()> callback) override;

  // Moves both clocks forward by `d`, firing due timers (a timer scheduled by a callback for a
  // time within the advanced span fires too).
  void Advance(Duration d);
  // Sets wall time only (a clock step, as NTP may do); monotonic time is unchanged.
  void SetWall(WallTime t);
  size_t PendingTimers() const;

 private:
  class Handle;
  void Cancel(uint64_t id);

  mutable std::recursive_mutex mu_;
  WallTime wall_;
  MonoTime mono_;
  std::map<std::pair<MonoTime, uint64_t>, std::function<void()>> pending_;
  uint64_t next_id_ = 0;
};

}  // namespace vigie::testing
