#pragma once
// The fleet manager's periodic self-check of its own /metrics (MAINT_003 evidence): renders the
// body exactly as GET /metrics serves it, parses it with the text-format parser and applies
// promtool's lint (http/metrics_parse.h), and records the outcome as the single latest row of
// component "fleet" in table metrics_selfcheck {component, ok, families, samples, error,
// checked_at}. The compliance check of MAINT_003 judges that row (recent and ok) together with
// the self-check each agent reports in its heartbeats ("metrics" in health_report.h).
//
// Thread-safety: Start/Stop from the owner; checks run on the clock's timer thread. CheckNow is
// thread-safe (each check renders and writes independently).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/env.h"
#include "base/error.h"
#include "http/metrics_parse.h"
#include "store/store.h"

namespace vigie::fleet {

inline constexpr std::string_view kFleetMetricsComponent = "fleet";

// A write job upserting `check` as the latest self-check of `component` at `at`.
store::WriteFn RecordMetricsSelfCheck(std::string component, const http::MetricsSelfCheck& check,
                                      WallTime at);

class MetricsSelfChecker {
 public:
  // `render` returns the /metrics body as served. `clock` and `store` must outlive this object.
  // REQUIRES: interval > 0.
  MetricsSelfChecker(std::string component, std::function<std::string()> render, Clock* clock,
                     store::Store* store, std::chrono::milliseconds interval);
  ~MetricsSelfChecker();  // Stop()
  MetricsSelfChecker(const MetricsSelfChecker&) = delete;
  MetricsSelfChecker& operator=(const MetricsSelfChecker&) = delete;

  // Checks at once (on the timer thread), then every interval until Stop().
  void Start();
  // Cancels the timer, waiting for a check in progress. Idempotent.
  void Stop();

  // One check now: render, parse, lint; the row is written with WriteAsync (a write failure is
  // logged). Returns the outcome. A failing check is logged as a warning with the error.
  http::MetricsSelfCheck CheckNow();

 private:
  void Schedule(std::chrono::nanoseconds delay);

  std::string component_;
  std::function<std::string()> render_;
  Clock* clock_;
  store::Store* store_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  bool stopped_ = false;          // guarded by mu_
  std::unique_ptr<Timer> timer_;  // guarded by mu_
};

}  // namespace vigie::fleet
