#pragma once
// Liveness alerts (MAINT_002): a site silent for more than heartbeat_alert_after_seconds gets a
// critical alert (rule MAINT_002), stored in the `alerts` table, counted in /metrics and handed
// to a Notifier; a heartbeat resolves it (stored, counted, notified).
//
// Durability: an alert is committed to the Store (WriteAsync: never blocks the caller) before
// it is notified; a crash before the commit loses nothing that cannot be re-derived: on restart
// the tracker is seeded from heartbeats_last and raises the alert again. Firing alerts are
// reloaded at start so that a heartbeat after a restart still resolves them.
//
// Thread-safety: AlertManager and WebhookNotifier are thread-safe.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/env.h"
#include "base/error.h"
#include "fleet/liveness.h"
#include "http/client.h"
#include "http/metrics.h"
#include "store/store.h"

namespace vigie::fleet {

inline constexpr std::string_view kLivenessRule = "MAINT_002";

struct Alert {
  int64_t id = 0;
  std::string site;
  std::string rule = std::string(kLivenessRule);
  std::string severity = "critical";
  std::string state = "firing";  // "firing" | "resolved"
  WallTime started_at;
  std::optional<WallTime> resolved_at;
  std::string detail;
};

// The alert as JSON (what the webhook posts): {"id","site","rule","severity","state",
// "started_at","resolved_at","detail"}, times in RFC 3339.
std::string AlertToJson(const Alert& alert);

class Notifier {
 public:
  virtual ~Notifier() = default;
  // Hands `alert` over for delivery. Must return at once (called from the store's writer
  // thread); delivery happens elsewhere.
  virtual void Notify(const Alert& alert) = 0;
};

struct WebhookOptions {
  std::string url;  // POST target (https:// in production)
  int max_attempts = 5;
  std::chrono::milliseconds initial_backoff{500};  // doubled after each failure
  std::chrono::milliseconds timeout{5000};
  size_t max_queue = 10000;  // beyond it, the oldest undelivered alert is dropped (logged)
};

// POSTs each alert as JSON to a webhook from its own worker thread, retrying failures (transport
// error or non-2xx) with exponential backoff on the Env clock, logging each failure and a final
// give-up. Never blocks Notify(). REQUIRES: http and clock outlive the notifier.
class WebhookNotifier final : public Notifier {
 public:
  WebhookNotifier(WebhookOptions options, http::HttpClient* http, Clock* clock);
  ~WebhookNotifier() override;  // stops the worker; undelivered alerts are logged as dropped
  void Notify(const Alert& alert) override;
  // Blocks until the queue is empty and no delivery is in flight (tests).
  void Drain();
  uint64_t delivered() const;
  uint64_t failed_attempts() const;

 private:
  void Run();

  WebhookOptions options_;
  http::HttpClient* http_;
  Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Alert> queue_;
  bool in_flight_ = false;
  bool stop_ = false;
  uint64_t delivered_ = 0;
  uint64_t failed_attempts_ = 0;
  std::thread worker_;
};

// Turns liveness transitions into stored, counted, notified alerts.
class AlertManager {
 public:
  // REQUIRES: store, clock and metrics outlive the manager; notifier may be null.
  // Registers vigie_alerts_total{severity,state} and vigie_alerts_firing{severity}.
  static Result<std::unique_ptr<AlertManager>> Create(store::Store* store, Clock* clock,
                                                      http::MetricsRegistry* metrics,
                                                      Notifier* notifier);

  // The LivenessTracker callback: to == kDown raises, from == kDown && to == kOk resolves.
  // Never blocks (WriteAsync).
  void OnTransition(const LivenessTransition& t);

  // A fleet-level alert, not tied to one site's liveness (e.g. the ledger's
  // "ledger.anchor.overdue", rule PROV_020): stored with site_id "" and `rule`, counted,
  // notified; raised once per rule until ResolveFleetAlert(rule). Never blocks (WriteAsync).
  void RaiseFleetAlert(std::string_view rule, std::string_view severity, std::string_view detail);
  void ResolveFleetAlert(std::string_view rule);

  // Alerts of `site` (all sites when empty), newest first, from the Store.
  Result<std::vector<Alert>> List(std::string_view site) const;
  size_t firing() const;

 private:
  AlertManager(store::Store* store, Clock* clock, Notifier* notifier);
  void Raise(Alert alert);
  void Resolve(const std::string& site, const std::string& rule, WallTime at);

  store::Store* store_;
  Clock* clock_;
  Notifier* notifier_;
  http::CounterFamily* alerts_total_ = nullptr;
  mutable std::mutex mu_;
  struct Firing {
    int64_t id = 0;  // 0 while committing
    std::string severity;
  };
  void UpdateFiringGauges();  // REQUIRES: mu_ held

  http::GaugeFamily* firing_family_ = nullptr;
  // AlertKey(site, rule) -> the firing alert.
  std::map<std::string, Firing, std::less<>> firing_;
};

}  // namespace vigie::fleet
