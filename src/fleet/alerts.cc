#include "fleet/alerts.h"

#include <nlohmann/json.hpp>

#include "base/log.h"

namespace vigie::fleet {

std::string AlertToJson(const Alert& a) {
  nlohmann::json j = {{"id", a.id},
                      {"site", a.site},
                      {"rule", a.rule},
                      {"severity", a.severity},
                      {"state", a.state},
                      {"started_at", FormatRfc3339(a.started_at)},
                      {"resolved_at", a.resolved_at ? nlohmann::json(FormatRfc3339(*a.resolved_at))
                                                    : nlohmann::json(nullptr)},
                      {"detail", a.detail}};
  return j.dump();
}

// ---------------------------------------------------------------------------------------------
// WebhookNotifier

WebhookNotifier::WebhookNotifier(WebhookOptions options, http::HttpClient* http, Clock* clock)
    : options_(std::move(options)), http_(http), clock_(clock) {
  worker_ = std::thread([this] { Run(); });
}

WebhookNotifier::~WebhookNotifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (const Alert& a : queue_) {
      log::Warn("alert_notification_dropped",
                {{"alert", a.id}, {"site", a.site}, {"reason", "notifier stopped"}});
    }
    queue_.clear();
  }
  cv_.notify_all();
  worker_.join();
}

void WebhookNotifier::Notify(const Alert& alert) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    if (queue_.size() >= options_.max_queue) {
      log::Warn("alert_notification_dropped",
                {{"alert", queue_.front().id}, {"reason", "webhook queue full"}});
      queue_.pop_front();
    }
    queue_.push_back(alert);
  }
  cv_.notify_all();
}

void WebhookNotifier::Drain() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return stop_ || (queue_.empty() && !in_flight_); });
}

uint64_t WebhookNotifier::delivered() const {
  std::lock_guard lock(mu_);
  return delivered_;
}

uint64_t WebhookNotifier::failed_attempts() const {
  std::lock_guard lock(mu_);
  return failed_attempts_;
}

void WebhookNotifier::Run() {
  for (;;) {
    Alert alert;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      alert = std::move(queue_.front());
      queue_.pop_front();
      in_flight_ = true;
    }
    http::HttpRequest req;
    req.method = "POST";
    req.url = options_.url;
    req.headers = {{"Content-Type", "application/json"}};
    req.body = AlertToJson(alert);
    req.timeout = options_.timeout;
    auto backoff = options_.initial_backoff;
    bool ok = false;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      auto resp = http_->Send(req);
      if (resp && resp->status >= 200 && resp->status < 300) {
        ok = true;
        break;
      }
      {
        std::lock_guard lock(mu_);
        ++failed_attempts_;
        if (stop_) break;
      }
      log::Warn("alert_webhook_failed", {{"alert", alert.id},
                                         {"site", alert.site},
                                         {"attempt", attempt},
                                         {"error", resp ? "HTTP " + std::to_string(resp->status)
                                                        : resp.error().ToString()}});
      if (attempt < options_.max_attempts) {
        clock_->SleepFor(backoff);
        backoff *= 2;
      }
    }
    if (!ok) {
      log::Error("alert_webhook_gave_up",
                 {{"alert", alert.id}, {"site", alert.site}, {"attempts", options_.max_attempts}});
    }
    {
      std::lock_guard lock(mu_);
      if (ok) ++delivered_;
      in_flight_ = false;
    }
    cv_.notify_all();
  }
}

// ---------------------------------------------------------------------------------------------
// AlertManager

namespace {
// One firing alert per (site, rule); site "" is the fleet itself.
std::string AlertKey(std::string_view site, std::string_view rule) {
  std::string key(site);
  key += '\x1f';
  key += rule;
  return key;
}
}  // namespace

AlertManager::AlertManager(store::Store* store, Clock* clock, Notifier* notifier)
    : store_(store), clock_(clock), notifier_(notifier) {}

Result<std::unique_ptr<AlertManager>> AlertManager::Create(store::Store* store, Clock* clock,
                                                           http::MetricsRegistry* metrics,
                                                           Notifier* notifier) {
  std::unique_ptr<AlertManager> m(new AlertManager(store, clock, notifier));
  VIGIE_ASSIGN_OR_RETURN(m->alerts_total_,
                         metrics->AddCounter("vigie_alerts_total",
                                             "Alerts raised and resolved, by severity and state.",
                                             {"severity", "state"}));
  VIGIE_ASSIGN_OR_RETURN(auto* firing,
                         metrics->AddGauge("vigie_alerts_firing",
                                           "Alerts currently firing, by severity.", {"severity"}));
  m->firing_family_ = firing;
  firing->With({"critical"});
  firing->With({"warning"});
  m->alerts_total_->With({"critical", "firing"});
  m->alerts_total_->With({"critical", "resolved"});
  VIGIE_ASSIGN_OR_RETURN(auto rows,
                         store->Query("SELECT id, site_id, rule, severity FROM alerts WHERE state = "
                                      "'firing'"));
  for (const auto& row : rows) {
    VIGIE_ASSIGN_OR_RETURN(int64_t id, row.GetInt("id"));
    VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site_id"));
    VIGIE_ASSIGN_OR_RETURN(std::string rule, row.GetText("rule"));
    VIGIE_ASSIGN_OR_RETURN(std::string severity, row.GetText("severity"));
    m->firing_[AlertKey(site, rule)] = Firing{id, severity};
  }
  m->UpdateFiringGauges();
  return m;
}

void AlertManager::OnTransition(const LivenessTransition& t) {
  if (t.to == SiteLiveness::kDown) {
    Alert alert;
    alert.site = t.site;
    alert.started_at = t.at;
    alert.detail = "no heartbeat from site " + t.site + " since " +
                   FormatRfc3339(t.last_heartbeat) + " (MAINT_002: more than the alert threshold)";
    Raise(std::move(alert));
  } else if (t.to == SiteLiveness::kOk) {
    Resolve(t.site, std::string(kLivenessRule), t.at);
  } else {
    log::Warn("site_late", {{"site", t.site}, {"last_heartbeat", FormatRfc3339(t.last_heartbeat)}});
  }
}

void AlertManager::RaiseFleetAlert(std::string_view rule, std::string_view severity,
                                   std::string_view detail) {
  Alert alert;
  alert.rule = std::string(rule);
  alert.severity = std::string(severity);
  alert.started_at = clock_->Now();
  alert.detail = std::string(detail);
  Raise(std::move(alert));
}

void AlertManager::ResolveFleetAlert(std::string_view rule) {
  Resolve("", std::string(rule), clock_->Now());
}

void AlertManager::Raise(Alert raised) {
  const std::string key = AlertKey(raised.site, raised.rule);
  {
    std::lock_guard lock(mu_);
    if (firing_.count(key) != 0) return;  // already firing (e.g. reloaded at start)
    firing_[key] = Firing{0, raised.severity};
    UpdateFiringGauges();
  }
  auto alert = std::make_shared<Alert>(std::move(raised));
  auto st = store_->WriteAsync(
      [alert](store::Txn& txn) -> Status {
        VIGIE_RETURN_IF_ERROR(txn.Exec(
            "INSERT INTO alerts (site_id, rule, severity, state, started_at, resolved_at, detail) "
            "VALUES (?, ?, ?, 'firing', ?, NULL, ?)",
            {alert->site, alert->rule, alert->severity, ToUnixSeconds(alert->started_at),
             alert->detail}));
        alert->id = txn.LastInsertId();
        return OkStatus();
      },
      [this, alert, key](Status st) {
        if (!st) {
          log::Error("alert_store_failed", {{"site", alert->site},
                                            {"rule", alert->rule},
                                            {"error", st.error().ToString()}});
          return;
        }
        {
          std::lock_guard lock(mu_);
          auto it = firing_.find(key);
          if (it != firing_.end() && it->second.id == 0) it->second.id = alert->id;
        }
        alerts_total_->With({alert->severity, "firing"}).Inc();
        log::Error(alert->site.empty() ? "fleet_alert" : "site_down_alert",
                   {{"site", alert->site}, {"alert", alert->id}, {"rule", alert->rule}});
        if (notifier_) notifier_->Notify(*alert);
      });
  if (!st) {
    log::Error("alert_store_failed", {{"site", alert->site}, {"error", st.error().ToString()}});
  }
}

void AlertManager::Resolve(const std::string& site, const std::string& rule, WallTime when) {
  {
    std::lock_guard lock(mu_);
    auto it = firing_.find(AlertKey(site, rule));
    if (it == firing_.end()) return;
    firing_.erase(it);
    UpdateFiringGauges();
  }
  auto resolved = std::make_shared<std::vector<Alert>>();
  const int64_t at = ToUnixSeconds(when);
  auto st = store_->WriteAsync(
      [site, rule, at, resolved](store::Txn& txn) -> Status {
        // Runs after the raising job (jobs run in order), so the row is there.
        VIGIE_ASSIGN_OR_RETURN(auto rows,
                               txn.Query("SELECT id, rule, severity, started_at, detail FROM "
                                         "alerts WHERE site_id = ? AND rule = ? AND state = "
                                         "'firing'",
                                         {site, rule}));
        for (const auto& row : rows) {
          Alert a;
          VIGIE_ASSIGN_OR_RETURN(a.id, row.GetInt("id"));
          VIGIE_ASSIGN_OR_RETURN(a.rule, row.GetText("rule"));
          VIGIE_ASSIGN_OR_RETURN(a.severity, row.GetText("severity"));
          VIGIE_ASSIGN_OR_RETURN(int64_t started, row.GetInt("started_at"));
          VIGIE_ASSIGN_OR_RETURN(a.detail, row.GetText("detail"));
          a.site = site;
          a.state = "resolved";
          a.started_at = FromUnixSeconds(started);
          a.resolved_at = FromUnixSeconds(at);
          resolved->push_back(std::move(a));
        }
        return txn.Exec(
            "UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE site_id = ? AND rule = ? "
            "AND state = 'firing'",
            {at, site, rule});
      },
      [this, resolved, site](Status st) {
        if (!st) {
          log::Error("alert_resolve_failed", {{"site", site}, {"error", st.error().ToString()}});
          return;
        }
        for (const Alert& a : *resolved) {
          alerts_total_->With({a.severity, "resolved"}).Inc();
          log::Info("alert_resolved", {{"site", a.site}, {"rule", a.rule}, {"alert", a.id}});
          if (notifier_) notifier_->Notify(a);
        }
      });
  if (!st) log::Error("alert_resolve_failed", {{"site", site}, {"error", st.error().ToString()}});
}

Result<std::vector<Alert>> AlertManager::List(std::string_view site) const {
  std::string sql =
      "SELECT id, site_id, rule, severity, state, started_at, resolved_at, detail FROM alerts";
  std::vector<store::Value> params;
  if (!site.empty()) {
    sql += " WHERE site_id = ?";
    params.emplace_back(std::string(site));
  }
  sql += " ORDER BY id DESC";
  VIGIE_ASSIGN_OR_RETURN(auto rows, store_->Query(sql, std::move(params)));
  std::vector<Alert> out;
  for (const auto& row : rows) {
    Alert a;
    VIGIE_ASSIGN_OR_RETURN(a.id, row.GetInt("id"));
    VIGIE_ASSIGN_OR_RETURN(a.site, row.GetText("site_id"));
    VIGIE_ASSIGN_OR_RETURN(a.rule, row.GetText("rule"));
    VIGIE_ASSIGN_OR_RETURN(a.severity, row.GetText("severity"));
    VIGIE_ASSIGN_OR_RETURN(a.state, row.GetText("state"));
    VIGIE_ASSIGN_OR_RETURN(int64_t started, row.GetInt("started_at"));
    a.started_at = FromUnixSeconds(started);
    VIGIE_ASSIGN_OR_RETURN(auto resolved, row.GetIntOrNull("resolved_at"));
    if (resolved) a.resolved_at = FromUnixSeconds(*resolved);
    VIGIE_ASSIGN_OR_RETURN(a.detail, row.GetText("detail"));
    out.push_back(std::move(a));
  }
  return out;
}

void AlertManager::UpdateFiringGauges() {
  std::map<std::string, int, std::less<>> by_severity{{"critical", 0}, {"warning", 0}};
  for (const auto& [key, f] : firing_) ++by_severity[f.severity];
  for (const auto& [severity, n] : by_severity) {
    firing_family_->With({severity}).Set(static_cast<double>(n));
  }
}

size_t AlertManager::firing() const {
  std::lock_guard lock(mu_);
  return firing_.size();
}

}  // namespace vigie::fleet
