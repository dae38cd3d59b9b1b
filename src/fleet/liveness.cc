#include "fleet/liveness.h"

#include <boost/unordered/unordered_flat_map.hpp>

namespace vigie::fleet {

// Open addressing (Boost's flat map): a lookup is one probe of a metadata group and one key
// compare, where std::unordered_map walked a bucket list of separately allocated nodes (~3% of
// the server's samples at 10,000 sites, docs/PERFORMANCE.md); also smaller per site.
struct LivenessTracker::Index {
  boost::unordered_flat_map<std::string_view, uint32_t> map;
};

std::string_view SiteLivenessName(SiteLiveness s) {
  switch (s) {
    case SiteLiveness::kOk:
      return "ok";
    case SiteLiveness::kLate:
      return "late";
    case SiteLiveness::kDown:
      return "down";
  }
  return "unknown";
}

LivenessTracker::LivenessTracker(Clock* clock, LivenessOptions options, Callback on_transition)
    : clock_(clock),
      options_(options),
      on_transition_(std::move(on_transition)),
      index_(std::make_unique<Index>()) {}

LivenessTracker::~LivenessTracker() { Stop(); }

int64_t LivenessTracker::MonoNowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock_->Monotonic().time_since_epoch())
      .count();
}

uint32_t LivenessTracker::IndexLocked(std::string_view site, int64_t mono_ns, int64_t wall_s,
                                      bool* created) {
  auto it = index_->map.find(site);
  if (it != index_->map.end()) {
    *created = false;
    return it->second;
  }
  *created = true;
  uint32_t index = static_cast<uint32_t>(entries_.size());
  Entry& e = entries_.emplace_back();
  e.site = std::string(site);
  e.last_mono_ns = mono_ns;
  e.last_wall_s = wall_s;
  index_->map.emplace(std::string_view(e.site), index);
  ++counts_[static_cast<size_t>(SiteLiveness::kOk)];
  return index;
}

void LivenessTracker::PushLocked(uint32_t index, int64_t deadline_ns) {
  entries_[index].queued = true;
  queue_.push(Due{deadline_ns, index});
}

void LivenessTracker::Track(std::string_view site, std::optional<WallTime> last_heartbeat) {
  const int64_t mono = MonoNowNs();
  const WallTime wall_now = clock_->Now();
  const WallTime wall = last_heartbeat.value_or(wall_now);
  // A last heartbeat in the past (restart from the store) counts from then, on the monotonic
  // scale too, so a site silent before a restart is not granted a fresh grace period.
  const int64_t age_ns = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(wall_now - wall).count());
  std::lock_guard lock(mu_);
  bool created = false;
  uint32_t i = IndexLocked(site, mono - age_ns, ToUnixSeconds(wall), &created);
  if (created) {
    PushLocked(
        i, entries_[i].last_mono_ns + std::chrono::nanoseconds(options_.late_after).count() + 1);
  }
}

void LivenessTracker::RecordHeartbeat(std::string_view site) {
  const int64_t mono = MonoNowNs();
  const WallTime wall = clock_->Now();
  std::vector<LivenessTransition> transitions;
  {
    std::lock_guard lock(mu_);
    bool created = false;
    uint32_t i = IndexLocked(site, mono, ToUnixSeconds(wall), &created);
    Entry& e = entries_[i];
    e.last_mono_ns = mono;
    e.last_wall_s = ToUnixSeconds(wall);
    if (e.state != SiteLiveness::kOk) {
      transitions.push_back({e.site, e.state, SiteLiveness::kOk, wall, wall});
      --counts_[static_cast<size_t>(e.state)];
      ++counts_[static_cast<size_t>(SiteLiveness::kOk)];
      e.state = SiteLiveness::kOk;
    }
    // An already queued entry is due no later than the new deadline (last_seen only grows):
    // it will be rescheduled when it pops.
    if (!e.queued) PushLocked(i, mono + std::chrono::nanoseconds(options_.late_after).count() + 1);
  }
  Emit(transitions);
}

void LivenessTracker::Tick() {
  const int64_t now = MonoNowNs();
  const WallTime wall_now = clock_->Now();
  const int64_t late_ns = std::chrono::nanoseconds(options_.late_after).count();
  const int64_t alert_ns = std::chrono::nanoseconds(options_.alert_after).count();
  std::vector<LivenessTransition> transitions;
  {
    std::lock_guard lock(mu_);
    while (!queue_.empty() && queue_.top().deadline_ns <= now) {
      const uint32_t i = queue_.top().index;
      queue_.pop();
      Entry& e = entries_[i];
      e.queued = false;
      const int64_t elapsed = now - e.last_mono_ns;
      SiteLiveness next = SiteLiveness::kOk;
      if (elapsed > alert_ns) {
        next = SiteLiveness::kDown;  // terminal until the next heartbeat: no entry queued
      } else if (elapsed > late_ns) {
        next = SiteLiveness::kLate;
        PushLocked(i, e.last_mono_ns + alert_ns + 1);
      } else {
        // A heartbeat arrived since this entry was queued: reschedule from it. A late site
        // stays late until a heartbeat (which moves it to ok in RecordHeartbeat).
        next = e.state == SiteLiveness::kDown ? SiteLiveness::kDown : e.state;
        PushLocked(i, e.last_mono_ns + (e.state == SiteLiveness::kOk ? late_ns : alert_ns) + 1);
      }
      if (next != e.state) {
        transitions.push_back({e.site, e.state, next, FromUnixSeconds(e.last_wall_s), wall_now});
        --counts_[static_cast<size_t>(e.state)];
        ++counts_[static_cast<size_t>(next)];
        e.state = next;
      }
    }
  }
  Emit(transitions);
}

void LivenessTracker::Emit(std::vector<LivenessTransition>& transitions) {
  if (!on_transition_) return;
  for (const auto& t : transitions) on_transition_(t);
}

void LivenessTracker::Start(std::chrono::milliseconds period) {
  std::lock_guard lock(timer_mu_);
  if (!stopped_) return;
  stopped_ = false;
  period_ = period;
  timer_ = clock_->RunAfter(period_, [this] {
    Tick();
    ScheduleNext();
  });
}

void LivenessTracker::ScheduleNext() {
  std::unique_ptr<Timer> previous;
  std::lock_guard lock(timer_mu_);
  if (stopped_) return;
  previous = std::move(timer_);  // ours, running now: destroying it from here does not wait
  timer_ = clock_->RunAfter(period_, [this] {
    Tick();
    ScheduleNext();
  });
}

void LivenessTracker::Stop() {
  std::unique_ptr<Timer> timer;
  {
    std::lock_guard lock(timer_mu_);
    stopped_ = true;
    timer = std::move(timer_);
  }
  timer.reset();  // waits for a running Tick, outside our locks
}

std::optional<SiteLivenessInfo> LivenessTracker::Get(std::string_view site) const {
  std::lock_guard lock(mu_);
  auto it = index_->map.find(site);
  if (it == index_->map.end()) return std::nullopt;
  const Entry& e = entries_[it->second];
  return SiteLivenessInfo{e.state, FromUnixSeconds(e.last_wall_s)};
}

size_t LivenessTracker::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::array<size_t, 3> LivenessTracker::CountByState() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void LivenessTracker::ForEach(
    const std::function<void(const std::string&, const SiteLivenessInfo&)>& fn) const {
  std::lock_guard lock(mu_);
  for (const Entry& e : entries_)
    fn(e.site, SiteLivenessInfo{e.state, FromUnixSeconds(e.last_wall_s)});
}

}  // namespace vigie::fleet
