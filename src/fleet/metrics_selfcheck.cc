#include "fleet/metrics_selfcheck.h"

#include "base/log.h"

namespace vigie::fleet {

store::WriteFn RecordMetricsSelfCheck(std::string component, const http::MetricsSelfCheck& check,
                                      WallTime at) {
  return [component = std::move(component), check, at](store::Txn& txn) -> Status {
    return txn.Exec(
        "INSERT INTO metrics_selfcheck (component, ok, families, samples, error, checked_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (component) DO UPDATE SET ok = excluded.ok, "
        "families = excluded.families, samples = excluded.samples, error = excluded.error, "
        "checked_at = excluded.checked_at",
        {component, static_cast<int64_t>(check.ok ? 1 : 0), static_cast<int64_t>(check.families),
         static_cast<int64_t>(check.samples), check.error, ToUnixSeconds(at)});
  };
}

MetricsSelfChecker::MetricsSelfChecker(std::string component, std::function<std::string()> render,
                                       Clock* clock, store::Store* store,
                                       std::chrono::milliseconds interval)
    : component_(std::move(component)),
      render_(std::move(render)),
      clock_(clock),
      store_(store),
      interval_(interval) {}

MetricsSelfChecker::~MetricsSelfChecker() { Stop(); }

void MetricsSelfChecker::Start() { Schedule(std::chrono::nanoseconds(0)); }

void MetricsSelfChecker::Schedule(std::chrono::nanoseconds delay) {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  // Replacing the handle of the timer now running (we are its callback) does not wait.
  timer_ = clock_->RunAfter(delay, [this] {
    CheckNow();
    Schedule(interval_);
  });
}

void MetricsSelfChecker::Stop() {
  std::unique_ptr<Timer> timer;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    timer = std::move(timer_);
  }
  timer.reset();  // waits for a check in progress (it then sees stopped_)
}

http::MetricsSelfCheck MetricsSelfChecker::CheckNow() {
  const WallTime at = clock_->Now();
  http::MetricsSelfCheck check = http::SelfCheckMetricsText(render_());
  if (!check.ok) {
    log::Warn("metrics_selfcheck_failed", {{"component", component_}, {"error", check.error}});
  }
  auto st = store_->WriteAsync(RecordMetricsSelfCheck(component_, check, at), [](Status st) {
    if (!st) log::Error("metrics_selfcheck_record_failed", {{"error", st.error().ToString()}});
  });
  if (!st) log::Error("metrics_selfcheck_record_failed", {{"error", st.error().ToString()}});
  return check;
}

}  // namespace vigie::fleet
