#include "testing/fake_clock.h"

namespace vigie::testing {

class FakeClock::Handle final : public Timer {
 public:
  Handle(FakeClock* clock, uint64_t id) : clock_(clock), id_(id) {}
  ~Handle() override { Cancel(); }
  void Cancel() override { clock_->Cancel(id_); }

 private:
  FakeClock* clock_;
  uint64_t id_;
};

FakeClock::FakeClock() : FakeClock(FromUnixSeconds(1767225600)) {}

FakeClock::FakeClock(WallTime start) : wall_(start), mono_(MonoTime(std::chrono::hours(1000))) {}

WallTime FakeClock::Now() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return wall_;
}

MonoTime FakeClock::Monotonic() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return mono_;
}

std::unique_ptr<Timer> FakeClock::RunAfter(Duration delay, std::function<void()> callback) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  uint64_t id = ++next_id_;
  pending_.emplace(std::make_pair(mono_ + delay, id), std::move(callback));
  return std::make_unique<Handle>(this, id);
}

void FakeClock::Advance(Duration d) {
  std::unique_lock<std::recursive_mutex> lock(mu_);
  MonoTime target = mono_ + d;
  for (;;) {
    auto first = pending_.begin();
    if (first == pending_.end() || first->first.first > target) break;
    // Step to the timer's deadline so the callback observes the time it was due.
    wall_ += first->first.first - mono_;
    mono_ = first->first.first;
    auto callback = std::move(first->second);
    pending_.erase(first);
    callback();
  }
  wall_ += target - mono_;
  mono_ = target;
}

void FakeClock::SetWall(WallTime t) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  wall_ = t;
}

size_t FakeClock::PendingTimers() const {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return pending_.size();
}

void FakeClock::Cancel(uint64_t id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->first.second == id) {
      pending_.erase(it);
      return;
    }
  }
}

}  // namespace vigie::testing
